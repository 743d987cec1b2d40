package mechinterp

import (
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// TestInductionData: every sequence is a prefix and a segment of distinct
// tokens, then the segment again; targets are the ids shifted by one; the
// segment lengths cover their range; a seed fixes the sequences.
func TestInductionData(t *testing.T) {
	const vocab, ctx, batch = 64, 64, 16
	d, err := newInductionData(vocab, ctx, batch, 7)
	if err != nil {
		t.Fatal(err)
	}
	lengths := map[int]bool{}
	for range 50 {
		ib := d.batch(&d.train)
		if ib.b != batch || ib.t != ctx || len(ib.ids) != batch*ctx || len(ib.targets) != batch*ctx {
			t.Fatalf("batch %dx%d with %d ids, %d targets", ib.b, ib.t, len(ib.ids), len(ib.targets))
		}
		for b := range batch {
			p, n := ib.prefix[b], ib.n[b]
			lengths[n] = true
			if n < ctx/4 || n > (ctx+1)/2 || p != ctx+1-2*n {
				t.Fatalf("prefix %d, segment %d: want segment in [%d, %d] and prefix ctx+1-2n", p, n, ctx/4, (ctx+1)/2)
			}
			seq := append(append([]int32(nil), ib.ids[b*ctx:(b+1)*ctx]...), ib.targets[(b+1)*ctx-1])
			for i := range ctx {
				if ib.targets[b*ctx+i] != seq[i+1] {
					t.Fatalf("targets are not the ids shifted by one at %d", i)
				}
			}
			seen := map[int32]bool{}
			for i, id := range seq[:p+n] {
				if id < 0 || id >= vocab || seen[id] {
					t.Fatalf("token %d at %d: not a fresh token in [0, %d)", id, i, vocab)
				}
				seen[id] = true
			}
			for i := range n {
				if seq[p+n+i] != seq[p+i] {
					t.Fatalf("the repeat differs from the segment at %d", i)
				}
			}
		}
	}
	if len(lengths) < (ctx+1)/2-ctx/4 {
		t.Errorf("only %d segment lengths in 800 sequences", len(lengths))
	}
	// The same seed draws the same sequences; training and held-out differ.
	a, _ := newInductionData(vocab, ctx, batch, 7)
	b, _ := newInductionData(vocab, ctx, batch, 7)
	c, _ := newInductionData(vocab, ctx, batch, 8)
	x, y, z := a.batch(&a.train), b.batch(&b.train), c.batch(&c.train)
	if !slices.Equal(x.ids, y.ids) || slices.Equal(x.ids, z.ids) || slices.Equal(x.ids, a.batch(&a.val).ids) {
		t.Errorf("seeds do not decide the sequences")
	}
	for _, tc := range []struct {
		vocab, ctx int
		want       string
	}{
		{32, 64, "vocab 32 is too small for ctx 64: sequences need 49 distinct tokens"},
		{8, 2, "ctx 2 is too short for repeated segments"},
	} {
		if _, err := newInductionData(tc.vocab, tc.ctx, 1, 0); err == nil || err.Error() != tc.want {
			t.Errorf("vocab %d ctx %d: %v, want %q", tc.vocab, tc.ctx, err, tc.want)
		}
	}
}

// TestInductionScores scores hand-made attention and logits: a head that
// attends exactly to the induction target scores 1, a previous-token head
// scores 1 as such, uniform attention scores the chance level, and the
// losses are the cross-entropies of logits that favour the target by a
// known margin.
func TestInductionScores(t *testing.T) {
	const vocab, ctx, batch, heads = 16, 12, 3, 3
	d, err := newInductionData(vocab, ctx, batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	ib := d.batch(&d.val)
	T := ctx
	w := make([]runtime.JSONFloat, batch*heads*T*T)
	logits := make([]runtime.JSONFloat, batch*T*vocab)
	// With logit a on the target and 0 elsewhere, the cross-entropy is
	// log(e^a + V-1) - a: a = 0 in the first copy, a = 5 in the repeat.
	ce := func(a float64) float64 { return math.Log(math.Exp(a)+vocab-1) - a }
	wantChance := 0.0
	nInd := 0
	for b := range batch {
		p, n := ib.prefix[b], ib.n[b]
		for q := range T {
			set := func(h, k int, v float64) { w[((b*heads+h)*T+q)*T+k] = runtime.JSONFloat(v) }
			// head 0: induction where it applies, else the first token
			if q >= p+n {
				set(0, q-n+1, 1)
			} else {
				set(0, 0, 1)
			}
			set(1, max(q-1, 0), 1) // head 1: the previous token
			for k := 0; k <= q; k++ {
				set(2, k, 1/float64(q+1)) // head 2: uniform
			}
			if q >= p+n {
				logits[(b*T+q)*vocab+int(ib.targets[b*T+q])] = 5
				wantChance += 1 / float64(q+1)
				nInd++
			}
		}
	}
	s := newInductionScores(2, heads, vocab)
	if err := s.add(ib, logits, [][]runtime.JSONFloat{w, w}); err != nil {
		t.Fatal(err)
	}
	s.finish()
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %.15g, want %.15g", name, got, want)
		}
	}
	near("first-half loss", s.first, ce(0))
	near("second-half loss", s.second, ce(5))
	near("chance", s.chance, wantChance/float64(nInd))
	for l := range 2 {
		near("induction score of the induction head", s.induction[l][0], 1)
		near("prev-token score of the previous-token head", s.prev[l][1], 1)
		near("induction score of the uniform head", s.induction[l][2], s.chance)
		if s.induction[l][1] > 0.5 {
			t.Errorf("the previous-token head scores %g as an induction head", s.induction[l][1])
		}
	}
	if s.sequences != batch || s.example == nil || len(s.example.maps) != 2 || len(s.example.maps[0]) != heads {
		t.Errorf("%d sequences, example %v", s.sequences, s.example != nil)
	}
	if err := s.add(ib, logits[1:], [][]runtime.JSONFloat{w, w}); err == nil || !strings.Contains(err.Error(), "logits") {
		t.Errorf("short logits: %v", err)
	}
	if err := s.add(ib, logits, [][]runtime.JSONFloat{w}); err == nil || !strings.Contains(err.Error(), "2") {
		t.Errorf("one layer of two: %v", err)
	}
}

// TestInductionInterp runs the demo briefly on the interpreter: the report
// has every head, its figures are in range, the heatmap is written, and a
// seed fixes the result.
func TestInductionInterp(t *testing.T) {
	png := filepath.Join(t.TempDir(), "head.png")
	var progress []string
	opts := InductionOptions{Steps: 6, Seed: 3, Config: "vocab=32,ctx=16,d=16,heads=2,batch=4", PNG: png, Engine: EngineInterp, LogEvery: 3,
		Progress: func(format string, args ...any) { progress = append(progress, format) }}
	rep, err := Induction(opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Heads) != 4 || rep.Sequences != 4*InductionEval || rep.PNG != png || rep.Steps != 6 || len(progress) != 3 {
		t.Errorf("%d heads, %d sequences, png %q, %d steps, %d progress lines", len(rep.Heads), rep.Sequences, rep.PNG, rep.Steps, len(progress))
	}
	for _, h := range rep.Heads {
		if !(h.Induction >= 0 && h.Induction <= 1 && h.PrevToken >= 0 && h.PrevToken <= 1) || h.Induction > rep.Top.Induction {
			t.Errorf("head %+v (top %+v)", h, rep.Top)
		}
	}
	if !(rep.Loss.FirstHalf > 0 && rep.Loss.SecondHalf > 0 && math.Abs(rep.Loss.Uniform-math.Log(32)) < 1e-6) {
		t.Errorf("losses %+v", rep.Loss)
	}
	if img := testutil.DecodePNG(t, png); testutil.DistinctColors(img) < 20 {
		t.Errorf("the heatmap looks blank")
	}
	opts.PNG, opts.Progress = "", nil
	again, err := Induction(opts)
	if err != nil {
		t.Fatal(err)
	}
	again.PNG = png
	if !reflect.DeepEqual(rep, again) {
		t.Errorf("the same seed gave\n%+v\n%+v", rep, again)
	}
	for _, c := range []struct {
		opts InductionOptions
		want string
	}{
		{InductionOptions{Steps: -1}, "-steps must be positive"},
		{InductionOptions{LR: -1}, "-lr must be positive"},
		{InductionOptions{PNG: "x.svg"}, "give a .png file"},
		{InductionOptions{Config: "vocab=16"}, "vocab 16 is too small for ctx 64"},
		{InductionOptions{Engine: "tpu"}, "engine must be gen or interp"},
	} {
		if _, err := Induction(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opts, err, c.want)
		}
	}
}
