package mechinterp

import (
	"math"
	"testing"
)

// TestSAEStats: dead features, L0, L1, MSE and the fraction of variance
// explained on a hand-made case:
//
//	codes          x       x̂
//	[0 1.5 0]      [1 2]   [1 1]    1 active, squared error 1
//	[0 0.5 2]      [3 0]   [2 0]    2 active, squared error 1
//	[0 0   0]      [2 1]   [2 1]    0 active, squared error 0
//
// Feature 0 never fires: 1 of 3 dead. L0 = 3/3, L1 = 4/3, MSE = 2/(3·2).
// x̄ = (2, 1), Σ‖x − x̄‖² = 4, so FVE = 1 − 2/4.
func TestSAEStats(t *testing.T) {
	s := NewSAEStats(3, 2)
	s.Add([]float64{0, 1.5, 0}, []float64{1, 2}, []float64{1, 1})
	s.Add([]float64{0, 0.5, 2}, []float64{3, 0}, []float64{2, 0})
	s.Add([]float64{0, 0, 0}, []float64{2, 1}, []float64{2, 1})
	got := s.Metrics()
	want := SAEMetrics{Tokens: 3, Features: 3, Dead: 1, DeadFraction: 1.0 / 3, L0: 1, L1: 4.0 / 3, MSE: 1.0 / 3, FVE: 0.5}
	close := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if got.Tokens != want.Tokens || got.Features != want.Features || got.Dead != want.Dead ||
		!close(got.DeadFraction, want.DeadFraction) || !close(got.L0, want.L0) || !close(got.L1, want.L1) ||
		!close(got.MSE, want.MSE) || !close(got.FVE, want.FVE) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// No rows: every feature is dead and nothing divides by zero.
	if m := NewSAEStats(4, 2).Metrics(); m.Dead != 4 || m.DeadFraction != 1 || m.L0 != 0 || math.IsNaN(m.FVE) {
		t.Errorf("empty: %+v", m)
	}
}

func TestTokenContext(t *testing.T) {
	text := "ab\tc\ndéf"
	d := &Doc{Text: []byte(text), Off: []int{0, 1, 2, 3, 4, 5, 6, 8, 9}}
	d.IDs = make([]int32, len(d.Off)-1)
	cases := []struct {
		tok, before, after int
		want               string
	}{
		{3, 2, 2, "b ⟦c⟧⏎d"},
		{5, 0, 1, "⟦d⟧é"},       // 1 byte after cuts é in half: the cut moves to its end
		{6, 1, 0, "d⟦é⟧"},       // a two-byte token
		{0, 5, 1, "⟦a⟧b"},       // at the start
		{7, 9, 9, "ab c⏎dé⟦f⟧"}, // at the end
	}
	for _, c := range cases {
		if got := TokenContext(d, c.tok, c.before, c.after); got != c.want {
			t.Errorf("token %d (%d before, %d after): %q, want %q", c.tok, c.before, c.after, got, c.want)
		}
	}
}
