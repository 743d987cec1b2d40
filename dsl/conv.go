package dsl

import "github.com/mlc-dev/mlc/graph"

// Window is the geometry of Im2Col and Col2Im per spatial axis: kernel
// size, stride, dilation and padding (Pads: every axis's begin pad, then
// its end pad). Nil Strides and Dilations mean 1; nil Pads means none.
type Window struct {
	Kernel, Strides, Dilations, Pads []int
}

func (w Window) attrs() graph.Attrs {
	r := len(w.Kernel)
	ones := func(v []int) []int {
		if v != nil {
			return append([]int{}, v...)
		}
		o := make([]int, r)
		for i := range o {
			o[i] = 1
		}
		return o
	}
	pads := append([]int{}, w.Pads...)
	if w.Pads == nil {
		pads = make([]int, 2*r)
	}
	return graph.Attrs{Kernel: append([]int{}, w.Kernel...), Strides: ones(w.Strides), Dilations: ones(w.Dilations), Pads: pads}
}

// Im2Col gathers the kernel windows of an image t [N, C, D…] into columns
// [N, C, K…, O…], with fill where a window reaches into the padding.
func (t *Tensor) Im2Col(w Window, fill float64) *Tensor {
	a := w.attrs()
	a.Value = fill
	return t.b.apply(graph.OpIm2Col, a, t)
}

// Col2Im adds columns [N, C, K…, O…] back into images [N, C, image…].
func (t *Tensor) Col2Im(w Window, image ...int) *Tensor {
	a := w.attrs()
	a.Shape = append([]int{}, image...)
	return t.b.apply(graph.OpCol2Im, a, t)
}
