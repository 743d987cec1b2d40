package compile_test

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// TestBiasGradColSumsF32: a float32 bias's gradient over 16×32 rows of 48
// columns (summed by the kernels' colSums, vector blocks and a Go tail) is
// the interpreter's bit for bit; the forward pass has no product, so the
// summed values agree exactly too.
func TestBiasGradColSumsF32(t *testing.T) {
	testutil.Long(t, "builds generated code")
	const b0, b1, c = 16, 32, 48
	x := runtime.JSONTensor{Shape: []int{b0, b1, c}}
	for i := range b0 * b1 * c {
		x.Data = append(x.Data, runtime.JSONFloat(float32(math.Sin(float64(i))*math.Exp(float64(i%7)))))
	}
	init := make([]float64, c)
	for i := range init {
		init[i] = float64(i) / 7
	}
	res, err := compile.Build("bias", "bias.go", func(b *dsl.Builder) {
		in := b.Input("x", b0, b1, c)
		bias := b.Param("bias", dsl.Values(init...), c)
		y := in.Add(bias)
		b.Output("y", y)
		b.Loss(y.Mul(y).Sum())
	}, compile.Options{Float: graph.F32})
	if err != nil {
		t.Fatal(err)
	}
	req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": x}, Grads: true}
	results := map[string][]float64{}
	for engine, run := range runEngines(res.Program, req) {
		out, err := run()
		if err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
		results[engine] = floats(out.Grads["bias"])
	}
	want, got := results["interp"], results["gen"]
	if len(want) != c || len(got) != c {
		t.Fatalf("dbias has %d (gen) and %d (interp) values, want %d", len(got), len(want), c)
	}
	for i := range want {
		if got[i] != want[i] || want[i] == 0 {
			t.Fatalf("dbias[%d]: generated %v, interpreter %v", i, got[i], want[i])
		}
	}
}

// TestTransposeRowsF32: transposes that keep the last axis last (attention
// heads split and merged), emitted as one copy per row, inline and on the
// pool, move every element where the interpreter does, forward and (as the
// inverse transpose) backward.
func TestTransposeRowsF32(t *testing.T) {
	testutil.Long(t, "builds generated code")
	for _, dims := range [][4]int{{2, 8, 4, 16}, {16, 64, 4, 32}} {
		size := dims[0] * dims[1] * dims[2] * dims[3]
		x := runtime.JSONTensor{Shape: dims[:]}
		for i := range size {
			x.Data = append(x.Data, runtime.JSONFloat(float32(i)*0.5-3))
		}
		res, err := compile.Build("tr", "tr.go", func(b *dsl.Builder) {
			in := b.Input("x", dims[:]...)
			w := b.Param("w", dsl.Values(0.5), 1)
			y := in.Mul(w).Transpose(0, 2, 1, 3)
			b.Output("y", y)
			b.Loss(y.Mul(y.Transpose(0, 2, 1, 3).Transpose(0, 2, 1, 3)).Sum())
		}, compile.Options{Float: graph.F32})
		if err != nil {
			t.Fatal(err)
		}
		req := compile.RunRequest{Inputs: map[string]runtime.JSONTensor{"x": x}, Grads: true}
		outs, grads := map[string][]float64{}, map[string][]float64{}
		for engine, run := range runEngines(res.Program, req) {
			out, err := run()
			if err != nil {
				t.Fatalf("%s: %v", engine, err)
			}
			outs[engine], grads[engine] = floats(out.Outputs["y"]), floats(out.Grads["w"])
		}
		if len(outs["gen"]) != size || len(outs["interp"]) != size {
			t.Fatalf("%v: y has %d (gen) and %d (interp) values, want %d", dims, len(outs["gen"]), len(outs["interp"]), size)
		}
		for i, want := range outs["interp"] {
			if outs["gen"][i] != want {
				t.Fatalf("%v: y[%d]: generated %v, interpreter %v", dims, i, outs["gen"][i], want)
			}
		}
		if g, w := grads["gen"], grads["interp"]; len(g) != 1 || len(w) != 1 || math.Abs(g[0]-w[0]) > 1e-6*math.Abs(w[0]) {
			t.Fatalf("%v: dw: generated %v, interpreter %v", dims, g, w)
		}
	}
}
