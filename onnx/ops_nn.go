package onnx

import (
	"fmt"
	"slices"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

func convMatMul(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	a, err := im.floatNode(in[0], "MatMul")
	if err != nil {
		return nil, err
	}
	b, err := im.floatNode(in[1], "MatMul")
	if err != nil {
		return nil, err
	}
	as, bs := a.Type.Shape, b.Type.Shape
	if as.Rank() == 0 || bs.Rank() == 0 {
		return nil, fmt.Errorf("operands must have at least one axis, got %v and %v", as, bs)
	}
	// NumPy's rule for vectors: a [k] is [1, k], b [k] is [k, 1], and the
	// added axis is dropped from the result.
	if as.Rank() == 1 {
		if a, err = im.reshapeNode(a, []int{1, as[0]}); err != nil {
			return nil, err
		}
	}
	if bs.Rank() == 1 {
		if b, err = im.reshapeNode(b, []int{bs[0], 1}); err != nil {
			return nil, err
		}
	}
	y, err := im.apply(graph.OpMatMul, graph.Attrs{}, a, b)
	if err != nil {
		return nil, err
	}
	if as.Rank() == 1 || bs.Rank() == 1 {
		out := slices.Clone(y.Type.Shape)
		if bs.Rank() == 1 {
			out = out[:len(out)-1]
		}
		if as.Rank() == 1 {
			out = append(out[:len(out)-1-min(1, len(out)-1)], out[len(out)-1:]...)
			if bs.Rank() == 1 {
				out = graph.Shape{}
			}
		}
		if y, err = im.reshapeNode(y, out); err != nil {
			return nil, err
		}
	}
	return []*value{node(y)}, nil
}

func convGemm(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	a, err := im.floatNode(in[0], "Gemm")
	if err != nil {
		return nil, err
	}
	b, err := im.floatNode(in[1], "Gemm")
	if err != nil {
		return nil, err
	}
	if a.Type.Shape.Rank() != 2 || b.Type.Shape.Rank() != 2 {
		return nil, fmt.Errorf("A and B must be matrices, got %v and %v", a.Type.Shape, b.Type.Shape)
	}
	alpha, beta := attrFloat(nd, "alpha", 1), attrFloat(nd, "beta", 1)
	c := &chain{im: im}
	dt := a.Type.DType
	y := c.op(graph.OpMatMul, graph.Attrs{TransA: attrInt(nd, "transA", 0) != 0, TransB: attrInt(nd, "transB", 0) != 0}, a, b)
	if alpha != 1 {
		y = c.op(graph.OpMul, graph.Attrs{}, y, c.k(dt, alpha))
	}
	if get(in, 2) != nil && beta != 0 {
		cn, err := im.floatNode(in[2], "Gemm")
		if err != nil {
			return nil, err
		}
		if beta != 1 {
			cn = c.op(graph.OpMul, graph.Attrs{}, cn, c.k(dt, beta))
		}
		y = c.op(graph.OpAdd, graph.Attrs{}, y, cn)
		if c.err == nil && y.Type.Shape.Rank() != 2 {
			return nil, fmt.Errorf("C %v does not broadcast to the product", cn.Type.Shape)
		}
	}
	return []*value{node(y)}, c.err
}

// softmaxOp maps Softmax and LogSoftmax. From opset 13 the op works along
// one axis (default −1); before, it flattens the input to 2-D at axis
// (default 1) and normalises each row.
func softmaxOp(op graph.Op) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
			xs := x.Type.Shape
			r := xs.Rank()
			if r == 0 {
				return nil, fmt.Errorf("input must have at least one axis")
			}
			def := int64(-1)
			if im.opset < 13 {
				def = 1
			}
			a, err := axis(attrInt(nd, "axis", def), r, "attribute \"axis\"")
			if err != nil {
				return nil, err
			}
			if im.opset >= 13 || a == r-1 {
				return im.apply(op, graph.Attrs{Axis: a}, x)
			}
			flat, err := im.reshapeNode(x, []int{xs[:a].Size(), xs[a:].Size()})
			if err != nil {
				return nil, err
			}
			y, err := im.apply(op, graph.Attrs{Axis: 1}, flat)
			if err != nil {
				return nil, err
			}
			return im.reshapeNode(y, xs)
		})
	}
}

// convInstanceNorm normalises x [N, C, D…] over D… for every (n, c), then
// applies scale [C] and B [C]: the IR's last-axis LayerNorm on x reshaped
// to [N, C, ∏D].
func convInstanceNorm(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, err := im.floatNode(in[0], "InstanceNormalization")
	if err != nil {
		return nil, err
	}
	xs := x.Type.Shape
	if xs.Rank() < 2 {
		return nil, fmt.Errorf("input %v must be [N, C, D…]", xs)
	}
	xf, err := im.reshapeNode(x, []int{xs[0], xs[1], xs[2:].Size()})
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	y := c.op(graph.OpLayerNorm, graph.Attrs{Eps: attrFloat(nd, "epsilon", 1e-5)}, xf)
	if c.err != nil {
		return nil, c.err
	}
	if y, err = im.reshapeNode(y, xs); err != nil {
		return nil, err
	}
	// scale and B [C] broadcast as [C, 1…] against [N, C, D…].
	perChannel := slices.Repeat([]int{1}, xs.Rank()-1)
	perChannel[0] = xs[1]
	for i, what := range []string{"scale", "B"} {
		v, err := im.floatNode(in[1+i], what)
		if err != nil {
			return nil, err
		}
		if !v.Type.Shape.Equal(graph.Shape{xs[1]}) {
			return nil, fmt.Errorf("%s is %v; want [%d], one per channel", what, v.Type.Shape, xs[1])
		}
		if v, err = im.reshapeNode(v, perChannel); err != nil {
			return nil, err
		}
		op := graph.OpMul
		if i == 1 {
			op = graph.OpAdd
		}
		y = c.op(op, graph.Attrs{}, y, v)
	}
	if c.err != nil {
		return nil, c.err
	}
	return []*value{node(y)}, nil
}

func convLayerNorm(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if st := attrInt(nd, "stash_type", 1); st != 1 {
		return nil, unsupported("attribute \"stash_type\" = %d", st)
	}
	eps := attrFloat(nd, "epsilon", 1e-5)
	x, err := im.floatNode(in[0], "LayerNormalization")
	if err != nil {
		return nil, err
	}
	xs := x.Type.Shape
	if xs.Rank() == 0 {
		return nil, fmt.Errorf("input must have at least one axis")
	}
	a, err := axis(attrInt(nd, "axis", -1), xs.Rank(), "attribute \"axis\"")
	if err != nil {
		return nil, err
	}
	// The IR normalises over the last axis: flatten axes a… into one.
	flat := append(slices.Clone(xs[:a]), xs[a:].Size())
	xf, err := im.reshapeNode(x, flat)
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	y := c.op(graph.OpLayerNorm, graph.Attrs{Eps: eps}, xf)
	if c.err != nil {
		return nil, c.err
	}
	if y, err = im.reshapeNode(y, xs); err != nil {
		return nil, err
	}
	scale, err := im.floatNode(in[1], "Scale")
	if err != nil {
		return nil, err
	}
	y = c.op(graph.OpMul, graph.Attrs{}, y, scale)
	if get(in, 2) != nil {
		b, err := im.floatNode(in[2], "B")
		if err != nil {
			return nil, err
		}
		y = c.op(graph.OpAdd, graph.Attrs{}, y, b)
	}
	if c.err == nil && !y.Type.Shape.Equal(xs) {
		return nil, fmt.Errorf("Scale or B does not broadcast to %v", xs)
	}
	outs := []*value{node(y)}
	if len(nd.GetOutput()) > 1 {
		// Mean and 1/σ, shaped xs[:a] followed by ones.
		stat := slices.Clone(xs)
		for i := a; i < len(stat); i++ {
			stat[i] = 1
		}
		last := []int{len(flat) - 1}
		mean := c.op(graph.OpMean, graph.Attrs{Axes: last, KeepDims: true}, xf)
		d := c.op(graph.OpSub, graph.Attrs{}, xf, mean)
		v := c.op(graph.OpMean, graph.Attrs{Axes: last, KeepDims: true}, c.op(graph.OpMul, graph.Attrs{}, d, d))
		inv := c.op(graph.OpRsqrt, graph.Attrs{}, c.op(graph.OpAdd, graph.Attrs{}, v, c.k(x.Type.DType, eps)))
		if c.err != nil {
			return nil, c.err
		}
		for _, n := range []*graph.Node{mean, inv} {
			r, err := im.reshapeNode(n, stat)
			if err != nil {
				return nil, err
			}
			outs = append(outs, node(r))
		}
	}
	return outs, c.err
}

func convBatchNorm(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 4); err != nil {
		return nil, err
	}
	if attrInt(nd, "training_mode", 0) != 0 {
		return nil, unsupported("attribute \"training_mode\" = 1")
	}
	if attrInt(nd, "spatial", 1) != 1 {
		return nil, unsupported("attribute \"spatial\" = 0")
	}
	if attr(nd, "is_test") != nil && attrInt(nd, "is_test", 0) == 0 {
		return nil, unsupported("attribute \"is_test\" = 0 (training mode)")
	}
	eps := attrFloat(nd, "epsilon", 1e-5)
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		xs := x.Type.Shape
		if xs.Rank() < 2 {
			return nil, fmt.Errorf("input needs a channel axis, got %v", xs)
		}
		shape := make([]int, xs.Rank()-1)
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = xs[1]
		var p [4]*graph.Node
		for i, what := range []string{"scale", "B", "mean", "var"} {
			v := in[i+1]
			if i >= 2 && v.param {
				// Running statistics are not trained: their initial values
				// are constants (the unused parameter drops out).
				v = known(v.c)
			}
			n, err := im.floatNode(v, what)
			if err != nil {
				return nil, err
			}
			if n.Type.Shape.Size() != xs[1] {
				return nil, fmt.Errorf("%s %v does not have one value per channel (%d)", what, n.Type.Shape, xs[1])
			}
			if p[i], err = im.reshapeNode(n, shape); err != nil {
				return nil, err
			}
		}
		c := &chain{im: im}
		dt := x.Type.DType
		// y = (x − mean) · scale/√(var + eps) + B
		k := c.op(graph.OpMul, graph.Attrs{}, p[0], c.op(graph.OpRsqrt, graph.Attrs{}, c.op(graph.OpAdd, graph.Attrs{}, p[3], c.k(dt, eps))))
		y := c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpMul, graph.Attrs{}, c.op(graph.OpSub, graph.Attrs{}, x, p[2]), k), p[1])
		return y, c.err
	})
}

// reduceAxes reads a reduction's axes (attribute, or input 1 from the
// opsets that made it one) and keepdims; none means the op is the identity.
func reduceAxes(nd *onnxpb.NodeProto, in []*value, r int) (axes []int, keep, identity bool, err error) {
	as, given, err := axesInput(nd, in, 1)
	if err != nil {
		return nil, false, false, err
	}
	keep = attrInt(nd, "keepdims", 1) != 0
	if !given || len(as) == 0 {
		if attrInt(nd, "noop_with_empty_axes", 0) != 0 {
			return nil, keep, true, nil
		}
		axes = make([]int, r)
		for i := range axes {
			axes[i] = i
		}
		return axes, keep, false, nil
	}
	axes, err = axesOf(as, r, "axis")
	return axes, keep, false, err
}

// reduceOp maps ReduceSum, ReduceMean, ReduceMax and (negated, through
// max) ReduceMin.
func reduceOp(op graph.Op, negate bool) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		if err := need(in, 0); err != nil {
			return nil, err
		}
		axes, keep, identity, err := reduceAxes(nd, in, len(in[0].shape()))
		if err != nil {
			return nil, err
		}
		if identity {
			return passThrough(in)
		}
		return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
			return im.reduce(op, negate, x, axes, keep)
		})
	}
}

func (im *importer) reduce(op graph.Op, negate bool, x *graph.Node, axes []int, keep bool) (*graph.Node, error) {
	if x.Type.Shape.Rank() == 0 {
		return im.copyNode(x)
	}
	for _, a := range axes {
		if x.Type.Shape[a] == 0 {
			return nil, unsupported("reducing an empty axis")
		}
	}
	c := &chain{im: im}
	if negate {
		x = c.op(graph.OpNeg, graph.Attrs{}, x)
	}
	if len(axes) == x.Type.Shape.Rank() {
		axes = nil // the IR's "all axes"
	}
	y := c.op(op, graph.Attrs{Axes: axes, KeepDims: keep}, x)
	if negate {
		y = c.op(graph.OpNeg, graph.Attrs{}, y)
	}
	return y, c.err
}

func reduceSumSquare(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	axes, keep, identity, err := reduceAxes(nd, in, len(in[0].shape()))
	if err != nil {
		return nil, err
	}
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		sq, err := im.apply(graph.OpMul, graph.Attrs{}, x, x)
		if err != nil || identity {
			return sq, err
		}
		return im.reduce(graph.OpSum, false, sq, axes, keep)
	})
}

func convArgMax(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if attrInt(nd, "select_last_index", 0) != 0 {
		return nil, unsupported("attribute \"select_last_index\" = 1")
	}
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		a, err := axis(attrInt(nd, "axis", 0), x.Type.Shape.Rank(), "attribute \"axis\"")
		if err != nil {
			return nil, err
		}
		if nd.GetOpType() == "ArgMin" { // the first minimum is the first maximum of −x
			if x, err = im.apply(graph.OpNeg, graph.Attrs{}, x); err != nil {
				return nil, err
			}
		}
		return im.apply(graph.OpArgMax, graph.Attrs{Axis: a, KeepDims: attrInt(nd, "keepdims", 1) != 0}, x)
	})
}

// globalPool averages or takes the max over the spatial axes (2…) of
// [N, C, …], keeping them as size 1.
func globalPool(op graph.Op) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
			r := x.Type.Shape.Rank()
			if r < 3 {
				return nil, fmt.Errorf("input must be [N, C, spatial…], got %v", x.Type.Shape)
			}
			var axes []int
			for a := 2; a < r; a++ {
				axes = append(axes, a)
			}
			return im.apply(op, graph.Attrs{Axes: axes, KeepDims: true}, x)
		})
	}
}
