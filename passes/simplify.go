package passes

import (
	"slices"

	"github.com/mlc-dev/mlc/graph"
)

// Simplify applies algebraic rewrite rules until none applies or a bound of
// rounds is reached (then it warns). Each rule is named; Stats counts them.
//
// Assumes: g is valid. Guarantees: g is valid and computes the same values
// for every root (up to floating-point reassociation in scale-of-scale and
// the identities below, which hold for finite values).
func Simplify(g *graph.Graph, st *Stats) error {
	const maxRounds = 20
	for round := 0; ; round++ {
		if round == maxRounds {
			st.Warn("simplify: %s: still rewriting after %d rounds; stopped at the bound", g.Name, maxRounds)
			return nil
		}
		rw := newRewriter(g)
		n, err := rw.run(func(n *graph.Node) *graph.Node {
			for _, r := range simplifyRules {
				if out := r.apply(rw, n); out != nil {
					st.Count("simplify/"+r.name, 1)
					return out
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		DCE(g) // drop what the rewrites left unused before the next round
	}
}

// rule is one named rewrite: it returns the replacement of n, or nil.
type rule struct {
	name  string
	apply func(rw *rewriter, n *graph.Node) *graph.Node
}

func isConst(n *graph.Node, v float64) bool {
	u, ok := n.Uniform()
	return ok && u == v
}

// sameShape: the operand already has the result's shape, so dropping the op
// does not lose a broadcast.
func sameShape(x, n *graph.Node) bool { return x.Type.Equal(n.Type) }

var simplifyRules = []rule{
	// Ops of uniform constants fold as in constfold: broadcast-scalar and
	// the identities below make constants after constfold has run.
	{"fold", fold},
	// x ⊙ 1 = x and 1 ⊙ x = x, when the 1 does not broadcast x to a larger shape.
	{"mul-one", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpMul {
			return nil
		}
		a, b := n.Inputs[0], n.Inputs[1]
		switch {
		case isConst(b, 1) && sameShape(a, n):
			return a
		case isConst(a, 1) && sameShape(b, n):
			return b
		}
		return nil
	}},
	// x + 0 = x, x − 0 = x.
	{"add-zero", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpAdd && n.Op != graph.OpSub {
			return nil
		}
		a, b := n.Inputs[0], n.Inputs[1]
		switch {
		case isConst(b, 0) && sameShape(a, n):
			return a
		case n.Op == graph.OpAdd && isConst(a, 0) && sameShape(b, n):
			return b
		}
		return nil
	}},
	// x / 1 = x.
	{"div-one", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op == graph.OpDiv && isConst(n.Inputs[1], 1) && sameShape(n.Inputs[0], n) {
			return n.Inputs[0]
		}
		return nil
	}},
	// (x ⊙ c₁) ⊙ c₂ = x ⊙ (c₁c₂) for scalar constants: backward graphs scale
	// by the loss's 1/N and by the seed separately.
	{"scale-of-scale", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpMul {
			return nil
		}
		x, c2 := n.Inputs[0], n.Inputs[1]
		if c2.Type.Shape.Rank() != 0 || x.Op != graph.OpMul {
			return nil
		}
		v2, ok2 := c2.Uniform()
		v1, ok1 := x.Inputs[1].Uniform()
		if !ok1 || !ok2 || x.Inputs[1].Type.Shape.Rank() != 0 || !sameShape(x.Inputs[0], n) {
			return nil
		}
		return rw.node(graph.OpMul, graph.Attrs{}, x.Inputs[0], rw.constant(c2.Type, roundTo(c2.Type.DType, v1*v2)))
	}},
	// −(−x) = x.
	{"neg-neg", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op == graph.OpNeg && n.Inputs[0].Op == graph.OpNeg {
			return n.Inputs[0].Inputs[0]
		}
		return nil
	}},
	// exp(log x) = x (for x > 0, where log is defined).
	{"exp-log", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op == graph.OpExp && n.Inputs[0].Op == graph.OpLog {
			return n.Inputs[0].Inputs[0]
		}
		return nil
	}},
	// log(exp x) = x.
	{"log-exp", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op == graph.OpLog && n.Inputs[0].Op == graph.OpExp {
			return n.Inputs[0].Inputs[0]
		}
		return nil
	}},
	// A transpose of a transpose is one transpose, or none when the
	// permutations cancel.
	{"transpose-transpose", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpTranspose || n.Inputs[0].Op != graph.OpTranspose {
			return nil
		}
		inner := n.Inputs[0]
		perm := make([]int, len(n.Attrs.Perm))
		identity := true
		for i, p := range n.Attrs.Perm {
			perm[i] = inner.Attrs.Perm[p]
			identity = identity && perm[i] == i
		}
		if identity {
			return inner.Inputs[0]
		}
		return rw.node(graph.OpTranspose, graph.Attrs{Perm: perm}, inner.Inputs[0])
	}},
	// A reshape of a reshape is one reshape.
	{"reshape-reshape", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpReshape || n.Inputs[0].Op != graph.OpReshape {
			return nil
		}
		return rw.node(graph.OpReshape, graph.Attrs{Shape: slices.Clone(n.Attrs.Shape)}, n.Inputs[0].Inputs[0])
	}},
	// Reshapes and broadcasts to the shape a value already has do nothing.
	{"shape-identity", func(rw *rewriter, n *graph.Node) *graph.Node {
		if (n.Op == graph.OpReshape || n.Op == graph.OpBroadcastTo) && sameShape(n.Inputs[0], n) {
			return n.Inputs[0]
		}
		return nil
	}},
	// A broadcast of a uniform constant is a constant of the larger shape
	// (emitted as a literal, never stored).
	{"broadcast-scalar", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpBroadcastTo {
			return nil
		}
		if v, ok := n.Inputs[0].Uniform(); ok {
			return rw.constant(n.Type, v)
		}
		return nil
	}},
	// An elementwise op's operand broadcast explicitly can be broadcast
	// implicitly: Add(x, BroadcastTo(c)) = Add(x, c) when the result shape
	// stays the same. Autodiff's gradient of a sum produces these.
	{"implicit-broadcast", func(rw *rewriter, n *graph.Node) *graph.Node {
		info := n.Op.Info()
		if !info.Has(graph.Elementwise) || len(n.Inputs) < 2 {
			return nil
		}
		for i, x := range n.Inputs {
			if x.Op != graph.OpBroadcastTo {
				continue
			}
			ins := slices.Clone(n.Inputs)
			ins[i] = x.Inputs[0]
			if m, err := graph.NewNode(n.Op, n.Attrs.Clone(), ins...); err == nil && m.Type.Equal(n.Type) {
				return rw.node(n.Op, n.Attrs.Clone(), ins...)
			}
		}
		return nil
	}},
	// MatMul of a transposed operand uses the transposed kernel instead of
	// materialising the transpose: (Aᵀ)·B = MatMul(A, B, transA). A
	// permutation that also moves leading axes, such as PyTorch's k.permute(0,
	// 2, 3, 1) for q·kᵀ, becomes the one that keeps the last axis last (the
	// permutation with its last two entries exchanged: here (0, 2, 1, 3), a
	// copy of whole rows) and the transposed kernel, the form the DSL writes
	// and fused attention recognises.
	{"matmul-transpose", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpMatMul {
			return nil
		}
		for i, x := range n.Inputs {
			p := x.Attrs.Perm
			r := len(p)
			if x.Op != graph.OpTranspose || r < 2 || p[r-2] != r-1 {
				continue
			}
			y := x.Inputs[0]
			if !swapsLastTwo(p) {
				q := slices.Clone(p)
				q[r-2], q[r-1] = q[r-1], q[r-2]
				y = rw.node(graph.OpTranspose, graph.Attrs{Perm: q}, y)
			}
			a := n.Attrs.Clone()
			ins := slices.Clone(n.Inputs)
			ins[i] = y
			if i == 0 {
				a.TransA = !a.TransA
			} else {
				a.TransB = !a.TransB
			}
			return rw.node(graph.OpMatMul, a, ins...)
		}
		return nil
	}},
	// A sum that keeps its axes and is then reshaped to drop them is a sum
	// that does not keep them.
	{"sum-keepdims-reshape", func(rw *rewriter, n *graph.Node) *graph.Node {
		if n.Op != graph.OpReshape || n.Inputs[0].Op != graph.OpSum || !n.Inputs[0].Attrs.KeepDims {
			return nil
		}
		s := n.Inputs[0]
		a := s.Attrs.Clone()
		a.KeepDims = false
		if !graph.ReducedShape(s.Inputs[0].Type.Shape, a.Axes, false).Equal(n.Type.Shape) {
			return nil
		}
		return rw.node(graph.OpSum, a, s.Inputs[0])
	}},
}

// swapsLastTwo reports whether perm exchanges only the last two axes.
func swapsLastTwo(perm []int) bool {
	r := len(perm)
	if r < 2 {
		return false
	}
	for i := range r - 2 {
		if perm[i] != i {
			return false
		}
	}
	return perm[r-2] == r-1 && perm[r-1] == r-2
}

// roundTo rounds a folded constant to the dtype it is stored in.
func roundTo(dt graph.DType, v float64) float64 {
	if dt == graph.F32 {
		return float64(float32(v))
	}
	return v
}
