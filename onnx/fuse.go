package onnx

import (
	"math"

	"github.com/mlc-dev/mlc/graph"
)

// fuseGELU replaces GELU written out in elementwise ops by the IR's op for
// it, so that an imported model runs one elementwise op with a one-op
// gradient as the DSL's does:
//
//   - the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) — how
//     PyTorch exports gelu(approximate="tanh") and how Hugging Face's
//     NewGELU reads — becomes GELU (the generated code's vectorised
//     kernel);
//   - the exact form 0.5·x·(1 + erf(x/√2)) — how PyTorch exports its
//     default nn.GELU, erf(x/√2) or erf(x·(1/√2)) — becomes GELUErf.
//
// Only where the constants are GELU's in the graph's float type (the
// file's float32 0.044715 or √2 is GELU's constant in an f32 graph, not in
// an f64 one), so the result is the same function at that precision. x³
// may be x·(x·x), (x·x)·x or x^3; products and sums in either operand
// order; the 0.5 on the outside or on x. The ops left unread go.
func fuseGELU(g *graph.Graph, float graph.DType) {
	is := func(n *graph.Node, want float64) bool {
		v, ok := n.Uniform()
		if !ok || n.Type.Shape.Size() != 1 {
			return false
		}
		if float == graph.F32 {
			return float32(v) == float32(want)
		}
		return v == want
	}
	// pair matches op(a, b) in either order with a satisfying first; it
	// returns a and the other operand.
	pair := func(n *graph.Node, op graph.Op, first func(*graph.Node) bool) (*graph.Node, *graph.Node, bool) {
		if n.Op != op {
			return nil, nil, false
		}
		if first(n.Inputs[0]) {
			return n.Inputs[0], n.Inputs[1], true
		}
		if first(n.Inputs[1]) {
			return n.Inputs[1], n.Inputs[0], true
		}
		return nil, nil, false
	}
	constant := func(want float64) func(*graph.Node) bool { return func(n *graph.Node) bool { return is(n, want) } }
	cube := func(n, x *graph.Node) bool {
		if n.Op == graph.OpPow {
			return n.Inputs[0] == x && n.Attrs.Exponent == 3
		}
		if n.Op != graph.OpMul {
			return false
		}
		a, b := n.Inputs[0], n.Inputs[1]
		sq := func(m *graph.Node) bool { return m.Op == graph.OpMul && m.Inputs[0] == x && m.Inputs[1] == x }
		return a == x && sq(b) || b == x && sq(a)
	}
	// tanhOf matches the tanh(√(2/π)·(x + 0.044715·x³)) of x.
	tanhOf := func(t *graph.Node) *graph.Node {
		if t.Op != graph.OpTanh {
			return nil
		}
		_, u, ok := pair(t.Inputs[0], graph.OpMul, constant(math.Sqrt(2/math.Pi)))
		if !ok || u.Op != graph.OpAdd {
			return nil
		}
		for i, x := range u.Inputs {
			_, c3, ok := pair(u.Inputs[1-i], graph.OpMul, constant(0.044715))
			if ok && cube(c3, x) {
				return x
			}
		}
		return nil
	}
	// erfOf matches the erf(x/√2) or erf(x·(1/√2)) of x.
	erfOf := func(e *graph.Node) *graph.Node {
		if e.Op != graph.OpErf {
			return nil
		}
		u := e.Inputs[0]
		if u.Op == graph.OpDiv && is(u.Inputs[1], math.Sqrt2) {
			return u.Inputs[0]
		}
		if _, x, ok := pair(u, graph.OpMul, constant(1/math.Sqrt2)); ok {
			return x
		}
		return nil
	}
	// inner matches the tanh(…) or erf(…) of x in 1 + inner and names the
	// op the whole becomes.
	inner := func(t *graph.Node) (*graph.Node, graph.Op) {
		if x := tanhOf(t); x != nil {
			return x, graph.OpGELU
		}
		if x := erfOf(t); x != nil {
			return x, graph.OpGELUErf
		}
		return nil, graph.OpInvalid
	}
	fused := false
	for _, n := range g.Nodes {
		if n.Op != graph.OpMul || !n.Type.DType.IsFloat() {
			continue
		}
		var x *graph.Node
		var op graph.Op
		for i, a := range n.Inputs {
			other := n.Inputs[1-i]
			// 0.5·x·(1 + t(…)): a = 1 + t(…), other = 0.5·x.
			if _, t, ok := pair(a, graph.OpAdd, constant(1)); ok {
				if tx, top := inner(t); tx != nil {
					if _, y, ok := pair(other, graph.OpMul, constant(0.5)); ok && y == tx {
						x, op = tx, top
					}
				}
			}
			// 0.5·(x·(1 + t(…))): a = 0.5, other = x·(1 + t(…)).
			if x == nil && is(a, 0.5) && other.Op == graph.OpMul {
				for j, y := range other.Inputs {
					if _, t, ok := pair(other.Inputs[1-j], graph.OpAdd, constant(1)); ok {
						if tx, top := inner(t); tx == y {
							x, op = y, top
						}
					}
				}
			}
			if x != nil {
				break
			}
		}
		if x == nil || !x.Type.Equal(n.Type) {
			continue
		}
		gl, err := graph.NewNode(op, graph.Attrs{}, x)
		if err != nil {
			continue
		}
		// n becomes the GELU in place: its readers, name and position stay.
		n.Op, n.Inputs, n.Attrs = gl.Op, gl.Inputs, gl.Attrs
		fused = true
	}
	if !fused {
		return
	}
	// Drop what only the old chains read.
	for {
		uses := g.Uses()
		out := map[*graph.Node]bool{}
		for _, o := range g.Outputs {
			out[o.Node] = true
		}
		if g.Remove(func(n *graph.Node) bool {
			return !n.Op.Info().Has(graph.Leaf) && len(uses[n]) == 0 && !out[n]
		}) == 0 {
			return
		}
	}
}
