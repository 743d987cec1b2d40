package compile_test

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// mixedProgram compiles the small gpt for training, with bf16 rounding
// points when bf16.
func mixedProgram(t *testing.T, bf16 bool) (*graph.Program, map[string]runtime.JSONTensor) {
	var o compile.Options
	if bf16 {
		o.Precision = graph.BF16
	}
	return smallGPT(t, o)
}

// TestMixedPrecisionInterpreter: with bf16 mixed precision every matrix
// product of the training graph, forward and backward, reads bf16-rounded
// operands while the parameters stay f32; the loss and the gradients stay
// near f32's (bf16 keeps 8 significant bits) but differ from them.
func TestMixedPrecisionInterpreter(t *testing.T) {
	ref, inputs := mixedProgram(t, false)
	prog, _ := mixedProgram(t, true)
	products, rounded := 0, 0
	for _, n := range prog.Train.Nodes {
		if n.Op == graph.OpMatMul {
			products++
			if n.Inputs[0].Op == graph.OpRoundBF16 && n.Inputs[1].Op == graph.OpRoundBF16 {
				rounded++
			}
		}
		if n.Op == graph.OpParam && n.Type.DType != graph.F32 {
			t.Errorf("parameter %s is %s, want the f32 master", n.Name, n.Type)
		}
	}
	if products == 0 || rounded != products {
		t.Errorf("%d of %d products read rounded operands", rounded, products)
	}
	if len(prog.Predict.NodesWithOp(graph.OpRoundBF16)) != 0 {
		t.Error("Predict has rounding points; only training should")
	}
	req := compile.RunRequest{Inputs: inputs, Loss: true, Grads: true}
	want, err := compile.RunInterpreted(ref, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := compile.RunInterpreted(prog, req)
	if err != nil {
		t.Fatal(err)
	}
	l, l0 := float64(*got.Loss), float64(*want.Loss)
	if d := math.Abs(l-l0) / l0; d > 0.01 || d == 0 {
		t.Errorf("loss %v with bf16 rounding, %v in f32: relative difference %.3g, want in (0, 0.01]", l, l0, d)
	}
	for name, g := range want.Grads {
		if maxAbs(g) < 1e-6 {
			continue // the key biases: their gradient is 0 up to rounding (softmax ignores a shift)
		}
		if e := relErr(got.Grads[name], g); e > 0.05 {
			t.Errorf("d%s: relative error %.3g against f32", name, e)
		}
	}
}

func maxAbs(x runtime.JSONTensor) float64 {
	m := 0.0
	for _, v := range x.Data {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// TestMixedPrecisionEngines: generated code and the interpreter agree on the
// loss and the gradients of a bf16 mixed-precision step (to 1e-3 of each
// gradient's largest element: the same rounding points, but sums in other
// orders can move a value across a bf16 rounding boundary), and after
// three training steps on the parameters.
func TestMixedPrecisionEngines(t *testing.T) {
	testutil.Long(t, "builds generated packages")
	prog, inputs := mixedProgram(t, true)
	srv := startRunner(t, prog)
	req := compile.RunRequest{Inputs: inputs, Loss: true, Grads: true, Steps: 3}
	want, err := compile.RunInterpreted(prog, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Grads) == 0 || len(want.Params) == 0 || len(got.Params) != len(want.Params) {
		t.Fatalf("%d gradients, %d and %d parameters after the steps", len(want.Grads), len(want.Params), len(got.Params))
	}
	if d := math.Abs(float64(*got.Loss)-float64(*want.Loss)) / float64(*want.Loss); d > 1e-4 {
		t.Errorf("loss: generated %v, interpreter %v", *got.Loss, *want.Loss)
	}
	for name, g := range want.Grads {
		if maxAbs(g) < 1e-6 {
			continue
		}
		if e := relErr(got.Grads[name], g); e > 1e-3 {
			t.Errorf("d%s: generated differs from the interpreter by %.3g", name, e)
		}
	}
	for name, p := range want.Params {
		if e := relErr(got.Params[name], p); e > 1e-3 {
			t.Errorf("%s after 3 steps: generated differs from the interpreter by %.3g", name, e)
		}
	}
}
