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
