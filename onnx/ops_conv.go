package onnx

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// Convolution and pooling lower onto the IR's Im2Col (windows into
// columns): Conv is a MatMul of the weights with the columns, MaxPool a Max
// and AveragePool a Sum over the kernel axes.

func init() {
	win := []string{"auto_pad", "dilations", "kernel_shape", "pads", "strides"}
	converters["Conv"] = converter{append([]string{"group"}, win...), convConv}
	converters["MaxPool"] = converter{append([]string{"ceil_mode", "storage_order"}, win...), convPool}
	converters["AveragePool"] = converter{append([]string{"ceil_mode", "count_include_pad"}, win...), convPool}
}

// window reads the window attributes for images with spatial dims in and
// kernel k (from kernel_shape or the weights).
func window(nd *onnxpb.NodeProto, in, k []int, ceil bool) (graph.Attrs, error) {
	r := len(in)
	if ks, ok := attrInts(nd, "kernel_shape"); ok {
		kk, err := toInts(ks)
		if err != nil || len(kk) != r {
			return graph.Attrs{}, fmt.Errorf("attribute \"kernel_shape\" %v does not fit %d spatial axes", ks, r)
		}
		if k != nil && !graph.Shape(kk).Equal(k) {
			return graph.Attrs{}, fmt.Errorf("attribute \"kernel_shape\" %v differs from the weights' %v", ks, k)
		}
		k = kk
	}
	if len(k) != r {
		return graph.Attrs{}, fmt.Errorf("attribute \"kernel_shape\" is missing")
	}
	list := func(name string, def, n int) ([]int, error) {
		v, ok := attrInts(nd, name)
		if !ok {
			out := make([]int, n)
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		out, err := toInts(v)
		if err != nil || len(out) != n {
			return nil, fmt.Errorf("attribute %q %v needs %d values", name, v, n)
		}
		return out, nil
	}
	strides, err := list("strides", 1, r)
	if err != nil {
		return graph.Attrs{}, err
	}
	dil, err := list("dilations", 1, r)
	if err != nil {
		return graph.Attrs{}, err
	}
	pads, err := list("pads", 0, 2*r)
	if err != nil {
		return graph.Attrs{}, err
	}
	for i := range r {
		if k[i] < 1 || strides[i] < 1 || dil[i] < 1 || pads[i] < 0 || pads[r+i] < 0 {
			return graph.Attrs{}, fmt.Errorf("bad window: kernel %v, strides %v, dilations %v, pads %v", k, strides, dil, pads)
		}
	}
	switch ap := attrString(nd, "auto_pad", "NOTSET"); ap {
	case "NOTSET":
	case "VALID":
		pads = make([]int, 2*r)
	case "SAME_UPPER", "SAME_LOWER":
		for i := range r {
			out := (in[i] + strides[i] - 1) / strides[i]
			total := max((out-1)*strides[i]+dil[i]*(k[i]-1)+1-in[i], 0)
			small := total / 2
			pads[i], pads[r+i] = small, total-small
			if ap == "SAME_LOWER" {
				pads[i], pads[r+i] = total-small, small
			}
		}
	default:
		return graph.Attrs{}, fmt.Errorf("attribute \"auto_pad\" = %q", ap)
	}
	if ceil {
		// Output sizes round up: pad the end so that the floor rule gives
		// them, dropping a last window that would start in the end padding.
		for i := range r {
			span := dil[i]*(k[i]-1) + 1
			padded := in[i] + pads[i] + pads[r+i]
			if padded < span {
				continue // the shape rule reports it
			}
			out := (padded-span+strides[i]-1)/strides[i] + 1
			if (out-1)*strides[i] >= in[i]+pads[i] {
				out--
			}
			pads[r+i] += max((out-1)*strides[i]+span-padded, 0)
		}
	}
	return graph.Attrs{Kernel: k, Strides: strides, Dilations: dil, Pads: pads}, nil
}

func convConv(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x, err := im.floatNode(in[0], "Conv")
	if err != nil {
		return nil, err
	}
	w, err := im.floatNode(in[1], "Conv weights")
	if err != nil {
		return nil, err
	}
	xs, ws := x.Type.Shape, w.Type.Shape
	if xs.Rank() < 3 || ws.Rank() != xs.Rank() {
		return nil, fmt.Errorf("input %v and weights %v must be [N, C, spatial…] and [M, C/group, kernel…]", xs, ws)
	}
	r := xs.Rank() - 2
	if r > graph.MaxSpatial {
		return nil, unsupported("Conv with %d spatial axes (at most %d)", r, graph.MaxSpatial)
	}
	g := int(attrInt(nd, "group", 1))
	N, C, M := xs[0], xs[1], ws[0]
	if g < 1 || C%g != 0 || M%g != 0 || ws[1]*g != C {
		return nil, fmt.Errorf("attribute \"group\" = %d does not split input channels %d and weights %v", g, C, ws)
	}
	a, err := window(nd, xs[2:], ws[2:], false)
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	cols := c.op(graph.OpIm2Col, a, x)
	if c.err != nil {
		return nil, c.err
	}
	out := cols.Type.Shape[2+r:]
	ck := (C / g) * graph.Shape(a.Kernel).Size()
	cr, err := im.reshapeNode(cols, []int{N, g, ck, out.Size()})
	if err != nil {
		return nil, err
	}
	wr, err := im.reshapeNode(w, []int{g, M / g, ck})
	if err != nil {
		return nil, err
	}
	y := c.op(graph.OpMatMul, graph.Attrs{}, wr, cr) // [N, g, M/g, O]
	if c.err != nil {
		return nil, c.err
	}
	if y, err = im.reshapeNode(y, append([]int{N, M}, out...)); err != nil {
		return nil, err
	}
	if get(in, 2) != nil {
		b, err := im.floatNode(in[2], "Conv bias")
		if err != nil {
			return nil, err
		}
		if b.Type.Shape.Size() != M {
			return nil, fmt.Errorf("bias %v needs %d values", b.Type.Shape, M)
		}
		shape := make([]int, r+1)
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = M
		if b, err = im.reshapeNode(b, shape); err != nil {
			return nil, err
		}
		y = c.op(graph.OpAdd, graph.Attrs{}, y, b)
	}
	return []*value{node(y)}, c.err
}

func convPool(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	maxPool := nd.GetOpType() == "MaxPool"
	if !maxPool && attrInt(nd, "ceil_mode", 0) != 0 {
		return nil, unsupported("attribute \"ceil_mode\" = 1 for AveragePool")
	}
	if err := need(in, 0); err != nil {
		return nil, err
	}
	x, err := im.floatNode(in[0], nd.GetOpType())
	if err != nil {
		return nil, err
	}
	xs := x.Type.Shape
	if xs.Rank() < 3 {
		return nil, fmt.Errorf("input %v must be [N, C, spatial…]", xs)
	}
	r := xs.Rank() - 2
	if r > graph.MaxSpatial {
		return nil, unsupported("%s with %d spatial axes (at most %d)", nd.GetOpType(), r, graph.MaxSpatial)
	}
	a, err := window(nd, xs[2:], nil, attrInt(nd, "ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	if maxPool {
		a.Value = negInf
	}
	cols := c.op(graph.OpIm2Col, a, x)
	if c.err != nil {
		return nil, c.err
	}
	out := cols.Type.Shape[2+r:]
	kn := graph.Shape(a.Kernel).Size()
	flat, err := im.reshapeNode(cols, []int{xs[0], xs[1], kn, out.Size()})
	if err != nil {
		return nil, err
	}
	var y *graph.Node
	if maxPool {
		y = c.op(graph.OpMax, graph.Attrs{Axes: []int{2}}, flat)
	} else {
		y = c.op(graph.OpSum, graph.Attrs{Axes: []int{2}}, flat)
		// Divide by the taps inside the image, or by the kernel size when
		// padding counts.
		if out.Size() > maxConstElems/max(kn, 1) {
			return nil, unsupported("AveragePool with %d windows of %d", out.Size(), kn)
		}
		count := &constant{kind: kFloat, shape: []int{out.Size()}, f: make([]float64, out.Size())}
		p := graph.Patches{In: xs[2:], Kernel: a.Kernel, Strides: a.Strides, Dilations: a.Dilations, Pads: a.Pads, Out: out}
		ks, os := graph.Shape(a.Kernel).Strides(), out.Strides()
		for o := range out.Size() {
			for k := range kn {
				inside := true
				for i := range r {
					if _, ok := p.Source(i, k/ks[i]%a.Kernel[i], o/os[i]%out[i]); !ok {
						inside = false
					}
				}
				if inside || attrInt(nd, "count_include_pad", 0) != 0 {
					count.f[o]++
				}
			}
		}
		cn, err := im.nodeOf(known(count))
		if err != nil {
			return nil, err
		}
		y = c.op(graph.OpDiv, graph.Attrs{}, y, cn)
	}
	if c.err != nil {
		return nil, c.err
	}
	if y, err = im.reshapeNode(y, append([]int{xs[0], xs[1]}, out...)); err != nil {
		return nil, err
	}
	return []*value{node(y)}, nil // MaxPool's Indices output stays unsupported
}

var negInf = math.Inf(-1)

func init() {
	converters["ConvTranspose"] = converter{[]string{"auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"}, convConvTranspose}
}

// convConvTranspose is the adjoint of Conv: each input position's weighted
// window, a MatMul of the transposed weights with the input, is added into
// the output by Col2Im.
func convConvTranspose(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x, err := im.floatNode(in[0], "ConvTranspose")
	if err != nil {
		return nil, err
	}
	w, err := im.floatNode(in[1], "ConvTranspose weights")
	if err != nil {
		return nil, err
	}
	xs, ws := x.Type.Shape, w.Type.Shape
	if xs.Rank() < 3 || ws.Rank() != xs.Rank() {
		return nil, fmt.Errorf("input %v and weights %v must be [N, C, spatial…] and [C, M/group, kernel…]", xs, ws)
	}
	r := xs.Rank() - 2
	if r > graph.MaxSpatial {
		return nil, unsupported("ConvTranspose with %d spatial axes (at most %d)", r, graph.MaxSpatial)
	}
	g := int(attrInt(nd, "group", 1))
	N, C := xs[0], xs[1]
	if g < 1 || C%g != 0 || ws[0] != C {
		return nil, fmt.Errorf("attribute \"group\" = %d does not split input channels %d and weights %v", g, C, ws)
	}
	M := ws[1] * g
	k := []int(ws[2:])
	if ks, ok := attrInts(nd, "kernel_shape"); ok {
		kk, err := toInts(ks)
		if err != nil || !graph.Shape(kk).Equal(k) {
			return nil, fmt.Errorf("attribute \"kernel_shape\" %v differs from the weights' %v", ks, k)
		}
	}
	list := func(name string, def, n int) ([]int, error) {
		v, ok := attrInts(nd, name)
		if !ok {
			out := make([]int, n)
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		out, err := toInts(v)
		if err != nil || len(out) != n {
			return nil, fmt.Errorf("attribute %q %v needs %d values", name, v, n)
		}
		return out, nil
	}
	strides, err := list("strides", 1, r)
	if err != nil {
		return nil, err
	}
	dil, err := list("dilations", 1, r)
	if err != nil {
		return nil, err
	}
	pads, err := list("pads", 0, 2*r)
	if err != nil {
		return nil, err
	}
	outPad, err := list("output_padding", 0, r)
	if err != nil {
		return nil, err
	}
	autoPad := attrString(nd, "auto_pad", "NOTSET")
	outShape, haveOut := attrInts(nd, "output_shape")
	if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" || haveOut {
		target := make([]int, r)
		for i := range r {
			target[i] = xs[2+i] * strides[i]
		}
		if haveOut {
			o, err := toInts(outShape)
			if err != nil || len(o) < r {
				return nil, fmt.Errorf("attribute \"output_shape\" %v needs the %d spatial sizes", outShape, r)
			}
			copy(target, o[len(o)-r:])
		}
		for i := range r {
			total := strides[i]*(xs[2+i]-1) + outPad[i] + (k[i]-1)*dil[i] + 1 - target[i]
			if total < 0 { // a larger output: the extra end positions get no windows
				pads[i], pads[r+i] = 0, 0
				outPad[i] -= total
				continue
			}
			if autoPad == "SAME_UPPER" {
				pads[i], pads[r+i] = total/2, total-total/2
			} else {
				pads[i], pads[r+i] = total-total/2, total/2
			}
		}
	} else if autoPad != "NOTSET" && autoPad != "VALID" {
		return nil, fmt.Errorf("attribute \"auto_pad\" = %q", autoPad)
	}
	img := make([]int, r)
	for i := range r {
		if outPad[i] < 0 || outPad[i] >= max(strides[i], dil[i]) {
			return nil, fmt.Errorf("attribute \"output_padding\" %v must be below the stride or dilation", outPad)
		}
		img[i] = strides[i]*(xs[2+i]-1) + outPad[i] + (k[i]-1)*dil[i] + 1 - pads[i] - pads[r+i]
		if img[i] < 1 {
			return nil, fmt.Errorf("the output would be empty (pads %v)", pads)
		}
	}
	c := &chain{im: im}
	ck := (M / g) * graph.Shape(k).Size()
	xr, err := im.reshapeNode(x, []int{N, g, C / g, graph.Shape(xs[2:]).Size()})
	if err != nil {
		return nil, err
	}
	wr, err := im.reshapeNode(w, []int{g, C / g, ck})
	if err != nil {
		return nil, err
	}
	cols := c.op(graph.OpMatMul, graph.Attrs{TransA: true}, wr, xr) // [N, g, (M/g)·K, D]
	if c.err != nil {
		return nil, c.err
	}
	cols, err = im.reshapeNode(cols, append(append([]int{N, M}, k...), xs[2:]...))
	if err != nil {
		return nil, err
	}
	y := c.op(graph.OpCol2Im, graph.Attrs{Kernel: k, Strides: strides, Dilations: dil, Pads: pads, Shape: img}, cols)
	if c.err != nil {
		return nil, c.err
	}
	if get(in, 2) != nil {
		b, err := im.floatNode(in[2], "ConvTranspose bias")
		if err != nil {
			return nil, err
		}
		if b.Type.Shape.Size() != M {
			return nil, fmt.Errorf("bias %v needs %d values", b.Type.Shape, M)
		}
		shape := make([]int, r+1)
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = M
		if b, err = im.reshapeNode(b, shape); err != nil {
			return nil, err
		}
		y = c.op(graph.OpAdd, graph.Attrs{}, y, b)
	}
	return []*value{node(y)}, c.err
}
