package codegen_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
)

// bf16Program is y = x·W (or x·Wᵀ with transB, and both when both) for a
// bf16 parameter W 4×3 holding 1…12 as bf16 values.
func bf16Program(t *testing.T, plain, transB bool) (*compile.Result, error) {
	t.Helper()
	return compile.Build("lowp", "lowp.go", func(b *dsl.Builder) {
		data := make([]float64, 12)
		for i := range data {
			data[i] = float64(i + 1)
		}
		w, err := b.Graph().Leaf(graph.OpParam, "w", graph.T(graph.BF16, 4, 3), graph.Attrs{Init: "values", Data: data})
		if err != nil {
			t.Fatal(err)
		}
		apply := func(x *dsl.Tensor, tb bool) *dsl.Tensor {
			n, err := b.Graph().Apply(graph.OpQMatMul, graph.Attrs{TransB: tb}, x.Node(), w)
			if err != nil {
				t.Fatal(err)
			}
			return dsl.Wrap(b, n)
		}
		if plain {
			b.Output("y", apply(b.Input("x", 2, 4), false))
		}
		if transB {
			b.Output("z", apply(b.Input("u", 2, 3), true))
		}
	}, compile.Options{Float: graph.F32})
}

// TestBF16PairLayout: a bf16 weight read as x·W is written into the package
// with its rows paired (kernels.PairBF16: W[0][j], W[1][j] side by side,
// then rows 2 and 3), one read as x·Wᵀ as it is; one read both ways is a
// one-line error.
func TestBF16PairLayout(t *testing.T) {
	lit := regexp.MustCompile(`\[\]uint16\{([^}]*)\}`)
	for _, c := range []struct {
		transB bool
		want   string // the values, as bf16 of 1…12, in their stored order
	}{
		{false, "1 4 2 5 3 6 7 10 8 11 9 12"},
		{true, "1 2 3 4 5 6 7 8 9 10 11 12"},
	} {
		res, err := bf16Program(t, !c.transB, c.transB)
		if err != nil {
			t.Fatal(err)
		}
		files, err := compile.Generate(res, "lowp")
		if err != nil {
			t.Fatal(err)
		}
		m := lit.FindStringSubmatch(string(files[0].Data))
		if m == nil {
			t.Fatalf("transB=%v: no []uint16 literal for w", c.transB)
		}
		var got []string
		for _, f := range strings.Split(m[1], ",") {
			if f = strings.TrimSpace(f); f != "" {
				got = append(got, f)
			}
		}
		var want []string
		for _, v := range strings.Fields(c.want) {
			want = append(want, bf16Lit(v))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("transB=%v: w stored as %v, want %v", c.transB, got, want)
		}
	}
	res, err := bf16Program(t, true, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = compile.Generate(res, "lowp")
	if err == nil || !strings.Contains(err.Error(), "read both as W and as Wᵀ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("a bf16 weight read both ways: error %v, want one line saying so", err)
	}
}

// bf16Lit is the Go literal of the bf16 bit pattern of a small integer.
func bf16Lit(v string) string {
	return map[string]string{
		"1": "16256", "2": "16384", "3": "16448", "4": "16512", "5": "16544", "6": "16576",
		"7": "16608", "8": "16640", "9": "16656", "10": "16672", "11": "16688", "12": "16704",
	}[v]
}
