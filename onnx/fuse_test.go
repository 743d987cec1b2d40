package onnx

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/graph"
)

// TestFuseGELU: the tanh form of GELU spelled out in elementwise ops, as
// PyTorch exports it and as Hugging Face writes it, becomes the IR's GELU
// when its constants are GELU's at the graph's precision, and stays as it
// is otherwise (the file's float32 constants in an f64 graph, or another
// constant).
func TestFuseGELU(t *testing.T) {
	type form func(b *graph.Builder, x *graph.Node, c func(float64) *graph.Node) *graph.Node
	torch := func(b *graph.Builder, x *graph.Node, c func(float64) *graph.Node) *graph.Node {
		x3 := b.Mul(x, b.Mul(x, x))
		u := b.Add(x, b.Mul(c(0.044715), x3))
		t := b.Apply(graph.OpTanh, graph.Attrs{}, b.Mul(c(math.Sqrt(2/math.Pi)), u))
		return b.Mul(c(0.5), b.Mul(x, b.Add(c(1), t)))
	}
	hf := func(b *graph.Builder, x *graph.Node, c func(float64) *graph.Node) *graph.Node {
		x3 := b.Apply(graph.OpPow, graph.Attrs{Exponent: 3}, x)
		u := b.Add(b.Mul(x3, c(0.044715)), x)
		t := b.Apply(graph.OpTanh, graph.Attrs{}, b.Mul(u, c(math.Sqrt(2/math.Pi))))
		return b.Mul(b.Mul(c(0.5), x), b.Add(t, c(1)))
	}
	for _, tc := range []struct {
		name   string
		float  graph.DType
		f      form
		round  bool    // constants rounded to float32, as a file stores them
		cubic  float64 // the x³ coefficient
		fusion bool
	}{
		{"torch f32", graph.F32, torch, true, 0.044715, true},
		{"hf f32", graph.F32, hf, true, 0.044715, true},
		{"torch f64 exact", graph.F64, torch, false, 0.044715, true},
		{"torch f64, f32 constants", graph.F64, torch, true, 0.044715, false},
		{"other coefficient", graph.F32, torch, true, 0.05, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("m", "m")
			x, err := g.Leaf(graph.OpInput, "x", graph.T(tc.float, 2, 3), graph.Attrs{})
			if err != nil {
				t.Fatal(err)
			}
			b := &graph.Builder{G: g}
			c := func(v float64) *graph.Node {
				if v == 0.044715 {
					v = tc.cubic
				}
				if tc.round {
					v = float64(float32(v))
				}
				return b.Const(tc.float, v)
			}
			y := tc.f(b, x, c)
			if b.Err != nil {
				t.Fatal(b.Err)
			}
			g.Outputs = []graph.Output{{Name: "y", Node: y}}
			fuseGELU(g, tc.float)
			if err := graph.Validate(g); err != nil {
				t.Fatal(err)
			}
			out := g.Output("y")
			fusedNow := out.Op == graph.OpGELU && out.Inputs[0] == x
			if fusedNow != tc.fusion {
				t.Fatalf("output %s, fused %v, want %v", out.Op, fusedNow, tc.fusion)
			}
			if fusedNow && len(g.NodesWithOp(graph.OpTanh)) != 0 {
				t.Error("the old chain is still there")
			}
		})
	}
}
