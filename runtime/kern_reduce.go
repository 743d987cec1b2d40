package runtime

import (
	"math"

	"github.com/mlc-dev/mlc/graph"
)

// reduceMap maps each operand element to the output element it reduces into.
func reduceMap(n *graph.Node) []int32 {
	in := n.Inputs[0].Type.Shape
	axes := n.Attrs.Axes
	keep := graph.ReducedShape(in, axes, true) // same rank as in, reduced axes 1
	st := keep.Strides()
	m := make([]int32, in.Size())
	idx := make([]int, len(in))
	for k := range m {
		off := 0
		for a := range idx {
			if keep[a] != 1 || in[a] == 1 {
				off += idx[a] * st[a]
			}
		}
		m[k] = int32(off)
		increment(idx, in)
	}
	return m
}

// kernReduce computes Sum, Mean and Max, accumulating in float64.
func kernReduce(it *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	m, ok := it.aux[n.ID].([]int32)
	if !ok {
		m = reduceMap(n)
		it.aux[n.ID] = m
	}
	x := in[0]
	acc := it.scratch(n, out.Len())
	switch n.Op {
	case graph.OpMax:
		for i := range acc {
			acc[i] = math.Inf(-1)
		}
		for i, j := range m {
			acc[j] = maxF(acc[j], x.At(i))
		}
	default:
		for i, j := range m {
			acc[j] += x.At(i)
		}
		if n.Op == graph.OpMean {
			cnt := float64(x.Len() / max(out.Len(), 1))
			for i := range acc {
				acc[i] /= cnt
			}
		}
	}
	for i, v := range acc {
		out.Set(i, v)
	}
	return nil
}

// axisDims splits a shape around one axis: outer × n × inner.
func axisDims(s graph.Shape, axis int) (outer, n, inner int) {
	return graph.Shape(s[:axis]).Size(), s[axis], graph.Shape(s[axis+1:]).Size()
}

func kernArgMax(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x := in[0]
	outer, k, inner := axisDims(x.Shape, n.Attrs.Axis)
	for o := range outer {
		for i := range inner {
			best, bi := math.Inf(-1), 0
			for j := range k {
				v := x.At((o*k+j)*inner + i)
				if j == 0 || v > best || (v != v && best == best) { // first maximum; NaN wins, as in NumPy
					best, bi = v, j
				}
			}
			out.I32[o*inner+i] = int32(bi)
		}
	}
	return nil
}
