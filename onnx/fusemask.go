package onnx

import "github.com/mlc-dev/mlc/graph"

// fuseCausalMask turns a constant boolean mask that is causal attention's
// into the IR's CausalMask, so that an imported decoder's attention fuses
// as the DSL's does (passes' fused attention skips the score tiles above
// the diagonal, which a masked product computes and throws away).
//
// PyTorch exports the mask as data: tril(ones) read as mask == 0, or a
// Trilu, folded at import into a bool constant [1, …, 1, T, S] that every
// reader uses as Where's condition (and that is no output). When the constant is
// CausalMask[T, S]'s pattern (j ≤ i + S − T) its readers keep their
// operands; when it is the complement (the positions to hide) each Where
// swaps its two branches. Either way the node becomes the CausalMask in
// place (Where broadcasts the [T, S] mask over the leading axes).
func fuseCausalMask(g *graph.Graph) {
	uses := g.Uses()
	out := map[*graph.Node]bool{} // outputs: their value must stay a constant
	for _, o := range g.Outputs {
		out[o.Node] = true
	}
	for _, c := range g.Nodes {
		if c.Op != graph.OpConst || c.Type.DType != graph.Bool || len(uses[c]) == 0 || out[c] {
			continue
		}
		sh := c.Type.Shape
		r := sh.Rank()
		if r < 2 || sh.Size() != sh[r-2]*sh[r-1] || sh[r-2] > sh[r-1] {
			continue
		}
		T, S := sh[r-2], sh[r-1]
		var tril, triu = true, true // causal's pattern, its complement
		for i := range T {
			for j := range S {
				v := c.Attrs.Value != 0
				if c.Attrs.Data != nil {
					v = c.Attrs.Data[i*S+j] != 0
				}
				causal := j <= i+S-T
				tril = tril && v == causal
				triu = triu && v != causal
			}
		}
		if !tril && !triu {
			continue
		}
		readers := uses[c]
		ok := true
		for _, u := range readers {
			ok = ok && u.Op == graph.OpWhere && u.Inputs[0] == c && u.Inputs[1] != c && u.Inputs[2] != c
		}
		if !ok {
			continue
		}
		c.Op, c.Attrs = graph.OpCausalMask, graph.Attrs{Shape: []int{T, S}}
		c.Type = graph.Type{DType: graph.Bool, Shape: graph.Shape{T, S}}
		if triu {
			for _, u := range readers {
				u.Inputs[1], u.Inputs[2] = u.Inputs[2], u.Inputs[1]
			}
		}
	}
}
