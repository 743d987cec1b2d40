package codegen_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
)

// TestBiasEpilogue: a Linear layer's bias, with or without ReLU, runs as one
// biasRows call after the product, in the forward of training as in
// Predict, for both float types; an addend that is not a row of the product
// (a whole matrix here) keeps the loop. The kernel's arithmetic is tested
// in codegen/kernels (TestBiasRows), the generated packages against the
// interpreter by the zoo's tests.
func TestBiasEpilogue(t *testing.T) {
	for _, dt := range []graph.DType{graph.F32, graph.F64} {
		res, err := compile.Build("lin", "lin.go", func(b *dsl.Builder) {
			x := b.Input("x", 16, 24)
			w1 := b.Param("w1", dsl.He(), 24, 32)
			b1 := b.Param("b1", dsl.Zeros(), 32)
			w2 := b.Param("w2", dsl.He(), 32, 8)
			b2 := b.Param("b2", dsl.Zeros(), 8)
			w3 := b.Param("w3", dsl.He(), 24, 8)
			full := b.Param("full", dsl.Zeros(), 16, 8)
			h := x.MatMul(w1).Add(b1).ReLU()
			y := h.MatMul(w2).Add(b2)
			b.Output("y", y)
			b.Output("z", x.MatMul(w3).Add(full))
			b.Loss(dsl.MSE(y, b.Const(0, 16, 8)))
		}, compile.Options{Float: dt})
		if err != nil {
			t.Fatal(err)
		}
		files, err := compile.Generate(res, "lin")
		if err != nil {
			t.Fatal(err)
		}
		src := string(files[0].Data)
		calls := regexp.MustCompile(`biasRows\((\w+), \w+, (\w+), (\d+), (\w+)\)`).FindAllStringSubmatch(src, -1)
		got := map[string]int{}
		for _, c := range calls {
			got[c[2]+" "+c[3]+" "+c[4]]++
		}
		// Predict and the training forward have both layers; training
		// keeps the first layer's value before its ReLU for backward.
		if got["b1 16 true"] != 1 || got["b2 16 false"] != 2 || len(got) != 2 {
			t.Errorf("%s: biasRows calls %v, want b1 with ReLU once and b2 without twice\n%s", dt, got, src)
		}
		if n := len(regexp.MustCompile(`biasReLURows\(\w+, \w+, \w+, b1, 16\)`).FindAllString(src, -1)); n != 1 {
			t.Errorf("%s: %d biasReLURows calls for the training forward's first layer, want 1", dt, n)
		}
		if strings.Contains(src, "biasRows(z") {
			t.Errorf("%s: the full-matrix addend became a biasRows call", dt)
		}
	}
}
