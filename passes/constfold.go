package passes

import (
	"math"

	"github.com/mlc-dev/mlc/graph"
)

// ConstFold evaluates elementwise ops whose operands are all uniform
// constants (every element equal) and replaces them by a constant: the
// scalar arithmetic of learning rates, loss scales and ε terms.
//
// Assumes: g is valid. Guarantees: g is valid; a folded value is computed
// in float64 and rounded to the node's dtype, as the interpreter computes it.
func ConstFold(g *graph.Graph, st *Stats) error {
	rw := newRewriter(g)
	n, err := rw.run(func(n *graph.Node) *graph.Node { return fold(rw, n) })
	st.Count("constfold/fold", n)
	if n > 0 {
		DCE(g)
	}
	return err
}

// fold returns the constant n evaluates to when every operand is a uniform
// float constant, else nil.
func fold(rw *rewriter, n *graph.Node) *graph.Node {
	f := foldable[n.Op]
	if f == nil || !n.Type.DType.IsFloat() {
		return nil
	}
	args := make([]float64, len(n.Inputs))
	for i, x := range n.Inputs {
		v, ok := x.Uniform()
		if !ok || !x.Type.DType.IsFloat() {
			return nil
		}
		args[i] = v
	}
	return rw.constant(n.Type, roundTo(n.Type.DType, f(n, args)))
}

// foldable are the ops ConstFold evaluates, on float64 operands.
var foldable = map[graph.Op]func(n *graph.Node, a []float64) float64{
	graph.OpAdd:     func(_ *graph.Node, a []float64) float64 { return a[0] + a[1] },
	graph.OpSub:     func(_ *graph.Node, a []float64) float64 { return a[0] - a[1] },
	graph.OpMul:     func(_ *graph.Node, a []float64) float64 { return a[0] * a[1] },
	graph.OpDiv:     func(_ *graph.Node, a []float64) float64 { return a[0] / a[1] },
	graph.OpNeg:     func(_ *graph.Node, a []float64) float64 { return -a[0] },
	graph.OpExp:     func(_ *graph.Node, a []float64) float64 { return math.Exp(a[0]) },
	graph.OpLog:     func(_ *graph.Node, a []float64) float64 { return math.Log(a[0]) },
	graph.OpSqrt:    func(_ *graph.Node, a []float64) float64 { return math.Sqrt(a[0]) },
	graph.OpRsqrt:   func(_ *graph.Node, a []float64) float64 { return 1 / math.Sqrt(a[0]) },
	graph.OpErf:     func(_ *graph.Node, a []float64) float64 { return math.Erf(a[0]) },
	graph.OpPow:     func(n *graph.Node, a []float64) float64 { return math.Pow(a[0], n.Attrs.Exponent) },
	graph.OpMaximum: func(_ *graph.Node, a []float64) float64 { return maxNaN(a[0], a[1]) },
	graph.OpMinimum: func(_ *graph.Node, a []float64) float64 { return minNaN(a[0], a[1]) },
}

func maxNaN(a, b float64) float64 {
	if a != a || a >= b {
		return a
	}
	return b
}

func minNaN(a, b float64) float64 {
	if a != a || a <= b {
		return a
	}
	return b
}
