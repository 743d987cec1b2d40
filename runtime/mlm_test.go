package runtime_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/runtime"
)

var bertMLM = runtime.MLM{Vocab: 1000, Pad: 0, Mask: 1, Rate: 0.15}

// paddedBatch is rows of seqLen ids in [2, vocab) followed by padding, each
// row a different length (some all padding, some with none).
func paddedBatch(r *runtime.RNG, rows, seqLen, vocab int) []int32 {
	ids := make([]int32, rows*seqLen)
	for b := range rows {
		n := int(r.Uint64() % uint64(seqLen+1))
		for t := range n {
			ids[b*seqLen+t] = int32(2 + r.Uint64()%uint64(vocab-2))
		}
	}
	return ids
}

// TestMLMRates: over many draws, 15% of the nReal positions are selected, and
// of those 80% become [MASK], 10% a random token and 10% stay: each rate
// within five standard deviations of its binomial expectation.
func TestMLMRates(t *testing.T) {
	const rows, seqLen, draws = 64, 128, 40
	m := bertMLM
	data := runtime.RNG{State: 7}
	r := runtime.RNG{State: 8}
	var nReal, sel, toMask, toOther, kept int
	for range draws {
		ids := paddedBatch(&data, rows, seqLen, m.Vocab)
		masked, _, selected, err := m.Apply(&r, ids, seqLen)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if id != 0 {
				nReal++
			}
			if !selected[i] {
				continue
			}
			sel++
			switch masked[i] {
			case int32(m.Mask):
				toMask++
			case id:
				kept++
			default:
				toOther++
			}
		}
	}
	// A random token equals the original with probability 1/(vocab−2): it
	// then counts as kept.
	same := 1 / float64(m.Vocab-2)
	for _, c := range []struct {
		what     string
		got, of  int
		p, slack float64
	}{
		// Selection is an exact count per row, so only rounding moves it.
		{"selected of real", sel, nReal, 0.15, 0.002},
		{"[MASK] of selected", toMask, sel, 0.8, 0},
		{"random of selected", toOther, sel, 0.1 * (1 - same), 0},
		{"unchanged of selected", kept, sel, 0.1 + 0.1*same, 0},
	} {
		rate := float64(c.got) / float64(c.of)
		tol := 5*math.Sqrt(c.p*(1-c.p)/float64(c.of)) + c.slack
		if math.Abs(rate-c.p) > tol {
			t.Errorf("%s: %.4f (%d of %d), want %.4f ± %.4f", c.what, rate, c.got, c.of, c.p, tol)
		}
	}
	if sel < 10000 {
		t.Fatalf("only %d selections: too few for the tolerances", sel)
	}
}

// TestMLMInvariants: padding is never selected nor changed, unselected
// positions are untouched, targets are the original ids, random tokens are
// never pad or [MASK], each row gets max(1, round(0.15·n)) selections, and
// a row of padding only gets none.
func TestMLMInvariants(t *testing.T) {
	const rows, seqLen = 200, 24
	m := runtime.MLM{Vocab: 6, Pad: 3, Mask: 5, Rate: 0.15} // small vocab: random tokens hit every id
	data := runtime.RNG{State: 1}
	ids := make([]int32, rows*seqLen)
	for b := range rows {
		n := b % (seqLen + 1)
		for t := range seqLen {
			ids[b*seqLen+t] = int32(m.Pad)
			if t < n {
				ids[b*seqLen+t] = []int32{0, 1, 2, 4}[data.Uint64()%4]
			}
		}
	}
	masked, targets, selected, err := m.Apply(&runtime.RNG{State: 2}, ids, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(targets, ids) {
		t.Fatal("targets differ from the original ids")
	}
	randomSeen := map[int32]bool{}
	for b := range rows {
		n, k := 0, 0
		for i := b * seqLen; i < (b+1)*seqLen; i++ {
			switch {
			case ids[i] == int32(m.Pad) && (selected[i] || masked[i] != ids[i]):
				t.Fatalf("pad position %d: selected %v, masked to %d", i, selected[i], masked[i])
			case !selected[i] && masked[i] != ids[i]:
				t.Fatalf("unselected position %d changed from %d to %d", i, ids[i], masked[i])
			case selected[i] && masked[i] != int32(m.Mask) && masked[i] != ids[i]:
				randomSeen[masked[i]] = true
			}
			if ids[i] != int32(m.Pad) {
				n++
			}
			if selected[i] {
				k++
			}
		}
		want := 0
		if n > 0 {
			want = max(1, int(math.Round(0.15*float64(n))))
		}
		if k != want {
			t.Errorf("row %d with %d nReal tokens: %d selected, want %d", b, n, k, want)
		}
	}
	if randomSeen[int32(m.Pad)] || randomSeen[int32(m.Mask)] {
		t.Errorf("random replacements include pad or mask: %v", randomSeen)
	}
	if len(randomSeen) != 4 {
		t.Errorf("random replacements %v, want all of 0, 1, 2, 4", randomSeen)
	}
}

// TestMLMDeterministic: the same seed gives the same batch; another seed a
// different one.
func TestMLMDeterministic(t *testing.T) {
	ids := paddedBatch(&runtime.RNG{State: 3}, 16, 32, bertMLM.Vocab)
	draw := func(seed uint64) ([]int32, []bool) {
		masked, _, selected, err := bertMLM.Apply(&runtime.RNG{State: seed}, ids, 32)
		if err != nil {
			t.Fatal(err)
		}
		return masked, selected
	}
	m1, s1 := draw(42)
	m2, s2 := draw(42)
	if !slices.Equal(m1, m2) || !slices.Equal(s1, s2) {
		t.Error("the same seed gave different batches")
	}
	m3, s3 := draw(43)
	if slices.Equal(m1, m3) && slices.Equal(s1, s3) {
		t.Error("seeds 42 and 43 gave the same batch")
	}
}

func TestMLMErrors(t *testing.T) {
	for _, c := range []struct {
		m      runtime.MLM
		ids    []int32
		seqLen int
		want   string
	}{
		{runtime.MLM{Vocab: 2, Pad: 0, Mask: 1, Rate: 0.15}, []int32{0, 1}, 2, "vocab must hold pad, mask and at least one other token, got 2"},
		{runtime.MLM{Vocab: 10, Pad: 0, Mask: 10, Rate: 0.15}, []int32{0, 1}, 2, "pad 0 and mask 10 must be ids in [0, 10)"},
		{runtime.MLM{Vocab: 10, Pad: 4, Mask: 4, Rate: 0.15}, []int32{0, 1}, 2, "pad and mask are both 4"},
		{runtime.MLM{Vocab: 10, Pad: 0, Mask: 1, Rate: 0}, []int32{0, 1}, 2, "rate must be in (0, 1], got 0"},
		{bertMLM, []int32{5, 6, 7}, 2, "3 ids do not make rows of 2"},
		{bertMLM, []int32{5, 6, 7}, 0, "3 ids do not make rows of 0"},
		{bertMLM, []int32{5, 1000}, 2, "id 1000 at 1 is outside [0, 1000)"},
	} {
		_, _, _, err := c.m.Apply(&runtime.RNG{}, c.ids, c.seqLen)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.m, err, c.want)
		}
	}
}
