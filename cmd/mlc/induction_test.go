package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
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
	if !equalInt32(x.ids, y.ids) || equalInt32(x.ids, z.ids) || equalInt32(x.ids, a.batch(&a.val).ids) {
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

func equalInt32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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

// The test's run: a smaller model on shorter sequences, whose induction
// head forms after about 1,000-1,500 steps (ten seconds) instead of the
// default's 1,500-2,000 steps of a model four times as costly per step.
const (
	inductionTestConfig = "vocab=32,ctx=16,d=32,heads=2,batch=32"
	inductionTestSteps  = "2500"
)

// TestInduction trains the demo briefly through the generated code: the
// repeat's loss falls far below the first copy's, the top head scores far
// above chance, the heatmap is a real picture, and a seed fixes the JSON.
func TestInduction(t *testing.T) {
	testutil.Long(t, "trains a model with generated code")
	dir := t.TempDir()
	png := filepath.Join(dir, "head.png")
	code, out, errs := runCLI("induction", "-steps", inductionTestSteps, "-config", inductionTestConfig, "-o", png, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep inductionReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("loss first %.4f second %.4f; top layer %d head %d score %.4f (chance %.4f)\n%s", rep.Loss.FirstHalf, rep.Loss.SecondHalf, rep.Top.Layer, rep.Top.Head, rep.Top.Induction, rep.Chance, errs)
	if !(rep.Loss.SecondHalf < rep.Loss.FirstHalf-1) {
		t.Errorf("second-half loss %.4f is not far below the first half's %.4f", rep.Loss.SecondHalf, rep.Loss.FirstHalf)
	}
	if !(rep.Top.Induction > 3*rep.Chance) {
		t.Errorf("top head scores %.4f, chance is %.4f", rep.Top.Induction, rep.Chance)
	}
	if len(rep.Heads) != 4 || rep.PNG != png || rep.Sequences != 128 {
		t.Errorf("%d heads, png %q, %d sequences", len(rep.Heads), rep.PNG, rep.Sequences)
	}
	img := decodePNG(t, png)
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 600 {
		t.Errorf("heatmap is %dx%d", b.Dx(), b.Dy())
	}
	if n := distinctColors(img); n < 50 {
		t.Errorf("only %d distinct colours: the heatmap looks blank", n)
	}

	// A seed fixes the run: two short runs print the same JSON.
	var first []byte
	for i := range 2 {
		code, out, errs := runCLI("induction", "-steps", "10", "-config", inductionTestConfig, "-seed", "3", "-o", "", "-json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if i == 0 {
			first = []byte(out)
		} else if !bytes.Equal(first, []byte(out)) {
			t.Errorf("the same seed printed different JSON:\n%s\n%s", first, out)
		}
	}
}

func TestInductionBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-steps", "0"}, "mlc induction: -steps must be positive, got 0"},
		{[]string{"-lr", "-1"}, "mlc induction: -lr must be positive, got -1"},
		{[]string{"-log", "0"}, "mlc induction: -log must be positive, got 0"},
		{[]string{"-o", "head.svg"}, "mlc induction: -o head.svg: the heatmap is a PNG, give a .png file"},
		{[]string{"-config", "vocab=16"}, "mlc induction: vocab 16 is too small for ctx 64: sequences need 49 distinct tokens"},
		{[]string{"-config", "depth=3"}, `mlc induction: unknown config key "depth" for gpt`},
	} {
		code, out, errs := runCLI(append([]string{"induction"}, tc.args...)...)
		if code != 1 || out != "" || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", tc.args, code, out, errs, tc.want)
		}
	}
}
