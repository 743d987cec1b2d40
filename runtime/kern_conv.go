package runtime

import "github.com/mlc-dev/mlc/graph"

func init() {
	kernels[graph.OpIm2Col] = kernIm2Col
	kernels[graph.OpCol2Im] = kernCol2Im
}

// patchWalk calls f(image index or −1 for padding, column index) for every
// element of the columns [N, C, K…, O…] of an image [N, C, D…].
func patchWalk(p graph.Patches, nc int, f func(src, col int)) {
	r := len(p.Kernel)
	kn := graph.Shape(p.Kernel).Size()
	on := graph.Shape(p.Out).Size()
	img := graph.Shape(p.In).Size()
	ks, os, is := graph.Shape(p.Kernel).Strides(), graph.Shape(p.Out).Strides(), graph.Shape(p.In).Strides()
	col := 0
	for c := range nc {
		for k := range kn {
			for o := range on {
				src := c * img
				for i := range r {
					x, ok := p.Source(i, k/ks[i]%p.Kernel[i], o/os[i]%p.Out[i])
					if !ok {
						src = -1
						break
					}
					src += x * is[i]
				}
				f(src, col)
				col++
			}
		}
	}
}

func kernIm2Col(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	x := in[0]
	p, err := graph.PatchesOf(n, x.Shape[2:])
	if err != nil {
		return err
	}
	fill := n.Attrs.Value
	patchWalk(p, x.Shape[0]*x.Shape[1], func(src, col int) {
		if src < 0 {
			out.Set(col, fill)
		} else {
			out.Set(col, x.At(src))
		}
	})
	return nil
}

func kernCol2Im(_ *Interpreter, n *graph.Node, out *Tensor, in []*Tensor) error {
	cols := in[0]
	p, err := graph.PatchesOf(n, n.Attrs.Shape)
	if err != nil {
		return err
	}
	// Accumulate in the result's own precision, as the generated code does.
	for i := range out.Len() {
		out.Set(i, 0)
	}
	patchWalk(p, cols.Shape[0]*cols.Shape[1], func(src, col int) {
		if src >= 0 {
			out.Set(src, out.At(src)+cols.At(col))
		}
	})
	return nil
}
