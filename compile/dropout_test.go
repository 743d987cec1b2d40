package compile_test

import (
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// twoDropouts is L = Σ dropout₀(x)·w + Σ dropout₁(x·w)·x, whose gradient
// dL/dw = d₀⊙x + d₁⊙x⊙x reads both masks.
func twoDropouts(b *dsl.Builder) {
	x := b.Input("x", 2, 3)
	w := b.Param("w", dsl.Values(0.5, -1, 2, 0.25, 3, -0.5), 2, 3)
	first := x.Dropout(0.5).Mul(w).Sum()
	second := x.Mul(w).Dropout(0.2).Mul(x).Sum()
	b.Output("y", x.Mul(w))
	b.Loss(first.Add(second))
}

func tensor(shape []int, data ...float64) runtime.JSONTensor {
	j := runtime.JSONTensor{Shape: shape}
	for _, v := range data {
		j.Data = append(j.Data, runtime.JSONFloat(v))
	}
	return j
}

// TestDropoutMasksAsInputs: with Options.DropoutInputs the caller's keep
// masks replace the drawn ones, scaled by 1/(1−p), in both engines.
func TestDropoutMasksAsInputs(t *testing.T) {
	res, err := compile.Build("drop", "drop.go", twoDropouts, compile.Options{Float: graph.F64, DropoutInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	xs := []float64{1, 2, -1, 0.5, 3, -2}
	keep0 := []float64{1, 0, 1, 1, 0, 0}
	keep1 := []float64{0, 1, 1, 0, 1, 1}
	in := map[string]runtime.JSONTensor{"x": tensor([]int{2, 3}, xs...)}
	masks := map[string]runtime.JSONTensor{"dropout.0": tensor([]int{2, 3}, keep0...), "dropout.1": tensor([]int{2, 3}, keep1...)}
	if err := compile.AddDropoutMasks(res.Program, "masks.json", masks, in); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 6)
	for i, x := range xs {
		want[i] = keep0[i]*x/0.5 + keep1[i]*x*x/0.8
	}
	req := compile.RunRequest{Inputs: in, Loss: true, Grads: true}
	engines := map[string]func() (*runtime.RunResult, error){
		"interp": func() (*runtime.RunResult, error) { return compile.RunInterpreted(res.Program, req) },
	}
	if testutil.LongTests() {
		engines["gen"] = func() (*runtime.RunResult, error) {
			bin, err := compile.BuildRunner(res.Program)
			if err != nil {
				return nil, err
			}
			return compile.RunGenerated(bin, req)
		}
	}
	for engine, run := range engines {
		out, err := run()
		if err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
		if d := testutil.CompareSlices(floats(out.Grads["w"]), want, 1e-15); d != "" {
			t.Errorf("%s: dL/dw: %s", engine, d)
		}
	}
}

func TestDropoutMaskErrors(t *testing.T) {
	res, err := compile.Build("drop", "drop.go", twoDropouts, compile.Options{Float: graph.F64, DropoutInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := compile.Build("drop", "drop.go", twoDropouts, compile.Options{Float: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	m := tensor([]int{2, 3}, 1, 0, 1, 1, 0, 0)
	for _, c := range []struct {
		prog  *graph.Program
		masks map[string]runtime.JSONTensor
		want  string
	}{
		{res.Program, map[string]runtime.JSONTensor{"dropout.0": m}, "f: lacks the dropout masks dropout.1"},
		{res.Program, map[string]runtime.JSONTensor{"dropout.0": m, "dropout.1": m, "dropout.2": m}, `f: drop has no dropout mask "dropout.2" (its masks are dropout.0, dropout.1)`},
		{plain.Program, map[string]runtime.JSONTensor{"dropout.0": m}, "f: drop draws no dropout masks in training"},
	} {
		err := compile.AddDropoutMasks(c.prog, "f", c.masks, map[string]runtime.JSONTensor{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	in := map[string]runtime.JSONTensor{"x": tensor([]int{2, 3}, 1, 2, 3, 4, 5, 6), "dropout.0": m, "dropout.1": tensor([]int{2, 3}, 1, 0.5, 1, 1, 0, 0)}
	if _, err := compile.CheckInputs(res.Program, "f", in); err == nil || !strings.Contains(err.Error(), "not a mask value (0 or 1)") {
		t.Errorf("a mask value of 0.5: %v", err)
	}
}
