package passes_test

import (
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// TestL2 adds λ/2‖W‖² for the weight matrix only (not the bias): the
// gradient of W grows by λW and the bias gradient is unchanged.
func TestL2(t *testing.T) {
	build := func(lambda float64) *runtime.Interpreter {
		g, err := dsl.Build("l2", "l2", dsl.Options{}, func(b *dsl.Builder) {
			x := b.Input("x", 2, 3)
			W := b.Param("W", dsl.Values(0.5, -1, 2, 0.25, 1.5, -0.75), 3, 2)
			bias := b.Param("bias", dsl.Values(0.1, -0.2), 2)
			b.Loss(x.MatMul(W).Add(bias).Tanh().Sum())
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := passes.L2(g, lambda, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
			t.Fatal(err)
		}
		it, err := runtime.NewInterpreter(g, runtime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		x, _ := runtime.FromFloat64(g.Inputs()[0].Type.DType, []int{2, 3}, []float64{1, -2, 0.5, 0.3, 0.7, -1})
		if err := it.Run(map[string]*runtime.Tensor{"x": x}); err != nil {
			t.Fatal(err)
		}
		return it
	}
	const lambda = 0.3
	plain, reg := build(0), build(lambda)
	W := reg.Var("W").Float64s()
	want := plain.Grad("W").Float64s()
	sq := 0.0
	for i := range want {
		want[i] += lambda * W[i]
		sq += W[i] * W[i]
	}
	if d := testutil.CompareSlices(reg.Grad("W").Float64s(), want, 1e-14); d != "" {
		t.Errorf("dW: %s", d)
	}
	if d := testutil.CompareSlices(reg.Grad("bias").Float64s(), plain.Grad("bias").Float64s(), 0); d != "" {
		t.Errorf("the bias is regularised: %s", d)
	}
	if !testutil.Close(reg.Loss(), plain.Loss()+lambda/2*sq, 1e-14) {
		t.Errorf("loss %v, want %v", reg.Loss(), plain.Loss()+lambda/2*sq)
	}
}
