package passes_test

import (
	"math"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/golden"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// TestXORTraining trains the text's XOR network for 10,000 epochs of full-batch
// gradient descent through the interpreter and compares with the NumPy run.
// Its loss is BCE from logits, whose gradient is exactly the program's a2 − y,
// so parameters agree to ~1e-12 and the recorded (1e-8-epsilon) losses to 2.5e-8.
func TestXORTraining(t *testing.T) {
	var gold golden.XORSeed
	golden.MustLoad("xor_seed.json", &gold)
	g := trainGraph(t, "xor", "")
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*runtime.Tensor{
		"X": mustTensor(t, graph.F64, gold.X.Shape, gold.X.Data),
		"y": mustTensor(t, graph.F64, gold.Y.Shape, gold.Y.Data),
	}
	for name, w := range gold.Init {
		if d := testutil.CompareSlices(it.Var(name).Float64s(), w.Data, 0); d != "" {
			t.Fatalf("initial %s differs from the text's: %s", name, d)
		}
	}
	params := []string{"W1", "b1", "W2", "b2"}
	for epoch := range gold.Epochs {
		if err := it.Run(in); err != nil {
			t.Fatal(err)
		}
		if epoch%100 == 0 {
			// The NumPy program's loss adds 1e-8 inside each log; ours is exact.
			if want := gold.LossesEvery100[epoch/100]; math.Abs(it.Loss()-want) > 3e-8 {
				t.Fatalf("epoch %d: loss %.12g, recorded %.12g", epoch, it.Loss(), want)
			}
		}
		for _, p := range params {
			w, dw := it.Var(p), it.Grad(p)
			for i := range w.F64 {
				w.F64[i] -= gold.LR * dw.F64[i]
			}
		}
	}
	for _, p := range params {
		if d := testutil.CompareSlices(it.Var(p).Float64s(), gold.Final[p].Data, 1e-10); d != "" {
			t.Errorf("final %s: %s", p, d)
		}
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	if d := testutil.CompareSlices(it.Output("yhat").Float64s(), gold.FinalPreds.Data, 1e-10); d != "" {
		t.Errorf("final predictions: %s", d)
	}
}

func build(t *testing.T, f func(b *dsl.Builder)) *graph.Graph {
	t.Helper()
	g, err := dsl.Build("test", "test", dsl.Options{}, f)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAutodiffErrors(t *testing.T) {
	t.Run("no loss", func(t *testing.T) {
		g := build(t, func(b *dsl.Builder) { b.Output("y", b.Param("w", dsl.Ones(), 2).Exp()) })
		_, err := passes.Autodiff(g, passes.AutodiffOptions{})
		if err == nil || !strings.Contains(err.Error(), "declares no loss") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("loss not scalar", func(t *testing.T) {
		_, err := dsl.Build("test", "test", dsl.Options{}, func(b *dsl.Builder) {
			b.Loss(b.Param("w", dsl.Ones(), 2).Exp())
		})
		if err == nil || !strings.Contains(err.Error(), "the loss must be a scalar, got f64[2]") || !strings.Contains(err.Error(), "autodiff_test.go:") {
			t.Fatalf("err = %v", err)
		}
		// A graph edited to a non-scalar loss is refused by autodiff too.
		g := build(t, func(b *dsl.Builder) { b.Loss(b.Param("w", dsl.Ones(), 2).Sum()) })
		g.Loss = g.Params()[0]
		if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err == nil || !strings.Contains(err.Error(), "float scalar") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("parameter does not reach loss", func(t *testing.T) {
		g := build(t, func(b *dsl.Builder) {
			w := b.Param("w", dsl.Ones(), 2)
			b.Param("unused", dsl.Ones(), 3)
			b.Loss(w.Exp().Sum())
		})
		warns, err := passes.Autodiff(g, passes.AutodiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(warns) != 1 || !strings.Contains(warns[0], `parameter "unused" does not reach the loss; its gradient is zero`) {
			t.Fatalf("warnings = %q", warns)
		}
		it, err := runtime.NewInterpreter(g, runtime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := it.Run(nil); err != nil {
			t.Fatal(err)
		}
		if d := testutil.CompareSlices(it.Grad("unused").Float64s(), []float64{0, 0, 0}, 0); d != "" {
			t.Fatal(d)
		}
	})
	t.Run("ops without rules listed together", func(t *testing.T) {
		g := build(t, func(b *dsl.Builder) {
			w := b.Param("w", dsl.Ones(), 2)
			// Backward-only ops have no gradient rule of their own.
			n1, _ := b.Graph().Apply(graph.OpGELUGrad, graph.Attrs{}, w.Node(), w.Node())
			n1.Pos = graph.Pos{File: "m.go", Line: 7}
			n2, _ := b.Graph().Apply(graph.OpLayerNormGrad, graph.Attrs{Eps: 1e-5}, n1, w.Node())
			n2.Pos = graph.Pos{File: "m.go", Line: 8}
			b.Loss(dsl.Wrap(b, n2).Sum())
		})
		_, err := passes.Autodiff(g, passes.AutodiffOptions{})
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{"m.go:7: GELUGrad (v1) has no gradient rule", "m.go:8: LayerNormGrad (v2) has no gradient rule"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("unknown parameter", func(t *testing.T) {
		g := build(t, func(b *dsl.Builder) { b.Loss(b.Param("w", dsl.Ones(), 2).Sum()) })
		_, err := passes.Autodiff(g, passes.AutodiffOptions{Params: []string{"v"}})
		if err == nil || err.Error() != `autodiff: no parameter "v" (parameters: w)` {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestGradientStops: integer, mask and NoGrad paths carry no gradient, and
// a gradient through a comparison's operand is not invented.
func TestGradientStops(t *testing.T) {
	g := build(t, func(b *dsl.Builder) {
		w := b.Param("w", dsl.Values(1, -2, 3), 3)
		m := w.Greater(b.Const(0)) // mask from w: no gradient through it
		idx := w.Reshape(1, 3).ArgMax(1)
		oh := idx.OneHot(3).Reshape(3) // from an integer: no gradient
		b.Loss(dsl.Where(m, w, w.Scale(0.5)).Add(oh).Sum())
	})
	if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
		t.Fatal(err)
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Run(nil); err != nil {
		t.Fatal(err)
	}
	if d := testutil.CompareSlices(it.Grad("w").Float64s(), []float64{1, 0.5, 1}, 0); d != "" {
		t.Fatal(d)
	}
}

// TestFanOutAccumulates: a value used twice gets the sum of both gradients.
func TestFanOutAccumulates(t *testing.T) {
	g := build(t, func(b *dsl.Builder) {
		w := b.Param("w", dsl.Values(2), 1)
		b.Loss(w.Mul(w).Add(w.Scale(3)).Sum()) // d/dw (w² + 3w) = 2w + 3
	})
	if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
		t.Fatal(err)
	}
	it, _ := runtime.NewInterpreter(g, runtime.Options{})
	if err := it.Run(nil); err != nil {
		t.Fatal(err)
	}
	if got := it.Grad("w").At(0); got != 7 {
		t.Fatalf("dw = %v, want 7", got)
	}
}
