package onnx

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/graph"
)

// TestFuseGELU: GELU spelled out in elementwise ops, as PyTorch exports it
// and as Hugging Face writes it, becomes the IR's GELU (tanh form) or
// GELUErf (exact form) when its constants are GELU's at the graph's
// precision, and stays as it is otherwise (the file's float32 constants in
// an f64 graph, or another constant).
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
	// torch.onnx.export of nn.GELU(): (x·(1 + erf(x/√2)))·0.5.
	torchErf := func(b *graph.Builder, x *graph.Node, c func(float64) *graph.Node) *graph.Node {
		e := b.Apply(graph.OpErf, graph.Attrs{}, b.Apply(graph.OpDiv, graph.Attrs{}, x, c(math.Sqrt2)))
		return b.Mul(b.Mul(x, b.Add(e, c(1))), c(0.5))
	}
	// 0.5·x·(1 + erf(x·(1/√2))).
	hfErf := func(b *graph.Builder, x *graph.Node, c func(float64) *graph.Node) *graph.Node {
		e := b.Apply(graph.OpErf, graph.Attrs{}, b.Mul(c(1/math.Sqrt2), x))
		return b.Mul(b.Mul(c(0.5), x), b.Add(c(1), e))
	}
	for _, tc := range []struct {
		name  string
		float graph.DType
		f     form
		round bool    // constants rounded to float32, as a file stores them
		cubic float64 // the x³ coefficient
		want  graph.Op
	}{
		{"torch f32", graph.F32, torch, true, 0.044715, graph.OpGELU},
		{"hf f32", graph.F32, hf, true, 0.044715, graph.OpGELU},
		{"torch f64 exact", graph.F64, torch, false, 0.044715, graph.OpGELU},
		{"torch f64, f32 constants", graph.F64, torch, true, 0.044715, graph.OpInvalid},
		{"other coefficient", graph.F32, torch, true, 0.05, graph.OpInvalid},
		{"erf torch f32", graph.F32, torchErf, true, 0, graph.OpGELUErf},
		{"erf hf f32", graph.F32, hfErf, true, 0, graph.OpGELUErf},
		{"erf torch f64 exact", graph.F64, torchErf, false, 0, graph.OpGELUErf},
		{"erf hf f64 exact", graph.F64, hfErf, false, 0, graph.OpGELUErf},
		{"erf torch f64, f32 constants", graph.F64, torchErf, true, 0, graph.OpInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("m", "m")
			x, err := g.Leaf(graph.OpInput, "x", graph.T(tc.float, 2, 3), graph.Attrs{})
			if err != nil {
				t.Fatal(err)
			}
			b := &graph.Builder{G: g}
			c := func(v float64) *graph.Node {
				if v == 0.044715 && tc.cubic != 0 {
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
			fusedNow := (out.Op == graph.OpGELU || out.Op == graph.OpGELUErf) && out.Inputs[0] == x
			if tc.want == graph.OpInvalid && fusedNow || tc.want != graph.OpInvalid && (!fusedNow || out.Op != tc.want) {
				t.Fatalf("output %s (fused %v), want %s", out.Op, fusedNow, tc.want)
			}
			if fusedNow && len(g.NodesWithOp(graph.OpTanh))+len(g.NodesWithOp(graph.OpErf)) != 0 {
				t.Error("the old chain is still there")
			}
		})
	}
}

// TestFuseGELUErfTorchExports: PyTorch's exports of nn.GELU() (the MLP's
// F.gelu, the GPT's TransformerEncoderLayer(activation="gelu")) import as
// GELUErf in an f32 graph, with no Erf left; in an f64 graph the file's
// float32 √2 is not GELU's, so the chain stays (TestTorch checks both
// against PyTorch).
func TestFuseGELUErfTorchExports(t *testing.T) {
	for _, c := range []struct {
		model string
		n     int // GELUs in the model
	}{{"mlp", 1}, {"gpt", 2}} {
		for _, float := range []graph.DType{graph.F32, graph.F64} {
			m, err := Load("testdata/"+c.model+"/model.onnx", Options{Dims: map[string]int{"batch": 2}, Float: float})
			if err != nil {
				t.Fatal(err)
			}
			fused, erf := len(m.Graph.NodesWithOp(graph.OpGELUErf)), len(m.Graph.NodesWithOp(graph.OpErf))
			want := c.n
			if float == graph.F64 {
				want = 0
			}
			if fused != want || erf != c.n-want {
				t.Errorf("%s %s: %d GELUErf and %d Erf, want %d and %d", c.model, float, fused, erf, want, c.n-want)
			}
		}
	}
}
