package stream

import (
	"math"
	"testing"
)

// TestSum checks the vectorised sum against a float64 sum, and against the
// portable one, over lengths that exercise one and many iterations.
func TestSum(t *testing.T) {
	for _, n := range []int{64, 128, 64 * 37, 1 << 16} {
		x := make([]float32, n)
		want := 0.0
		for i := range x {
			x[i] = float32((i*7)%13) - 6.5
			want += float64(x[i])
		}
		x[n-1] += 1000 // the last block is read too
		want += 1000
		got := Sum(x)
		if math.Abs(float64(got)-want) > 1e-3*math.Max(1, math.Abs(want)) {
			t.Errorf("n=%d: Sum %v, want %v (vectorised %v)", n, got, want, Vectorised())
		}
		if g := sumGo(x); math.Abs(float64(g)-want) > 1e-3*math.Max(1, math.Abs(want)) {
			t.Errorf("n=%d: sumGo %v, want %v", n, g, want)
		}
	}
}

// TestRead checks that Read reads every thread's part and reports a time.
func TestRead(t *testing.T) {
	b := New(1<<20, 2)
	if b.Bytes() != 1<<20 {
		t.Fatalf("Bytes %d, want %d", b.Bytes(), 1<<20)
	}
	sink = 0
	if d := b.Read(3); d <= 0 {
		t.Fatalf("Read: %v", d)
	}
	// Each pass sums every value: 3 passes of the whole buffer.
	want := 0.0
	for _, v := range b.data {
		want += float64(v)
	}
	if math.Abs(float64(sink)-3*want) > 1e-3*3*want {
		t.Errorf("sums %v, want %v", sink, 3*want)
	}
}
