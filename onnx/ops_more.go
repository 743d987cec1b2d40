package onnx

import (
	"fmt"
	"math"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// Ops composed from a few IR ops each.

func init() {
	red := []string{"axes", "keepdims", "noop_with_empty_axes"}
	more := map[string]converter{
		"ArgMin":          {[]string{"axis", "keepdims", "select_last_index"}, convArgMax},
		"ReduceL1":        {red, reduceComposite(graph.OpAbs, graph.OpInvalid)},
		"ReduceL2":        {red, reduceComposite(graph.OpInvalid, graph.OpSqrt)},
		"ReduceLogSum":    {red, reduceComposite(graph.OpInvalid, graph.OpLog)},
		"ReduceLogSumExp": {red, reduceComposite(graph.OpExp, graph.OpLog)},
		"Xor":             {nil, convXor},
		"Softsign": {nil, unaryComposite(func(c *chain, x *graph.Node) *graph.Node {
			return c.op(graph.OpDiv, graph.Attrs{}, x, c.op(graph.OpAdd, graph.Attrs{}, c.k(x.Type.DType, 1), c.op(graph.OpAbs, graph.Attrs{}, x)))
		})},
		"Sign": {nil, unaryComposite(func(c *chain, x *graph.Node) *graph.Node {
			dt := x.Type.DType
			neg := c.op(graph.OpWhere, graph.Attrs{}, c.op(graph.OpLess, graph.Attrs{}, x, c.k(dt, 0)), c.k(dt, -1), c.k(dt, 0))
			return c.op(graph.OpWhere, graph.Attrs{}, c.op(graph.OpGreater, graph.Attrs{}, x, c.k(dt, 0)), c.k(dt, 1), neg)
		})},
		"IsNaN":           {nil, isOp(false)},
		"IsInf":           {[]string{"detect_positive", "detect_negative"}, isOp(true)},
		"ThresholdedRelu": {[]string{"alpha"}, convThresholdedRelu},
		"Shrink":          {[]string{"bias", "lambd"}, convShrink},
		"Celu":            {[]string{"alpha"}, convCelu},
		"HardSwish": {nil, unaryComposite(func(c *chain, x *graph.Node) *graph.Node {
			dt := x.Type.DType
			z := c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpMul, graph.Attrs{}, x, c.k(dt, 1.0/6)), c.k(dt, 0.5))
			h := c.op(graph.OpMaximum, graph.Attrs{}, c.op(graph.OpMinimum, graph.Attrs{}, z, c.k(dt, 1)), c.k(dt, 0))
			return c.op(graph.OpMul, graph.Attrs{}, x, h)
		})},
		"Hardmax":  {[]string{"axis"}, convHardmax},
		"EyeLike":  {[]string{"dtype", "k"}, convEyeLike},
		"OneHot":   {[]string{"axis"}, convOneHot},
		"CastLike": {[]string{"saturate"}, convCastLike},
	}
	for k, v := range more {
		converters[k] = v
	}
}

func unaryComposite(build func(c *chain, x *graph.Node) *graph.Node) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
			c := &chain{im: im}
			y := build(c, x)
			return y, c.err
		})
	}
}

// reduceComposite reduces with a sum between an elementwise op before
// (pre) and one after (post); OpInvalid skips one. ReduceL2 squares first.
func reduceComposite(pre, post graph.Op) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		if err := need(in, 0); err != nil {
			return nil, err
		}
		axes, keep, identity, err := reduceAxes(nd, in, len(in[0].shape()))
		if err != nil {
			return nil, err
		}
		return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
			c := &chain{im: im}
			switch {
			case nd.GetOpType() == "ReduceL2":
				x = c.op(graph.OpMul, graph.Attrs{}, x, x)
			case pre != graph.OpInvalid:
				x = c.op(pre, graph.Attrs{}, x)
			}
			if c.err != nil {
				return nil, c.err
			}
			y := x
			if !identity {
				if y, err = im.reduce(graph.OpSum, false, x, axes, keep); err != nil {
					return nil, err
				}
			}
			if post != graph.OpInvalid {
				y = c.op(post, graph.Attrs{}, y)
			}
			return y, c.err
		})
	}
}

func convXor(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if in[0].kind() != kBool || in[1].kind() != kBool {
		return nil, fmt.Errorf("operands must be bool")
	}
	ns, err := im.nodes(in[0], in[1])
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	or := c.op(graph.OpOr, graph.Attrs{}, ns...)
	and := c.op(graph.OpAnd, graph.Attrs{}, ns...)
	y := c.op(graph.OpAnd, graph.Attrs{}, or, c.op(graph.OpNot, graph.Attrs{}, and))
	return []*value{node(y)}, c.err
}

// isOp maps IsNaN (x ≠ x) and IsInf (|x| = ∞, by sign as asked).
func isOp(inf bool) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		if err := need(in, 0); err != nil {
			return nil, err
		}
		x, err := im.floatNode(in[0], nd.GetOpType())
		if err != nil {
			return nil, err
		}
		c := &chain{im: im}
		dt := x.Type.DType
		var y *graph.Node
		switch pos, neg := attrInt(nd, "detect_positive", 1) != 0, attrInt(nd, "detect_negative", 1) != 0; {
		case !inf:
			y = c.op(graph.OpNotEqual, graph.Attrs{}, x, x)
		case pos && neg:
			y = c.op(graph.OpEqual, graph.Attrs{}, c.op(graph.OpAbs, graph.Attrs{}, x), c.k(dt, math.Inf(1)))
		case pos:
			y = c.op(graph.OpEqual, graph.Attrs{}, x, c.k(dt, math.Inf(1)))
		case neg:
			y = c.op(graph.OpEqual, graph.Attrs{}, x, c.k(dt, math.Inf(-1)))
		default:
			y = c.op(graph.OpNotEqual, graph.Attrs{}, x, x)
			y = c.op(graph.OpAnd, graph.Attrs{}, y, c.op(graph.OpNot, graph.Attrs{}, y)) // always false
		}
		return []*value{node(y)}, c.err
	}
}

func convThresholdedRelu(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	alpha := attrFloat(nd, "alpha", 1)
	return unaryComposite(func(c *chain, x *graph.Node) *graph.Node {
		dt := x.Type.DType
		return c.op(graph.OpWhere, graph.Attrs{}, c.op(graph.OpGreater, graph.Attrs{}, x, c.k(dt, alpha)), x, c.k(dt, 0))
	})(im, nd, in)
}

func convShrink(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	bias, lambd := attrFloat(nd, "bias", 0), attrFloat(nd, "lambd", 0.5)
	return unaryComposite(func(c *chain, x *graph.Node) *graph.Node {
		dt := x.Type.DType
		hi := c.op(graph.OpWhere, graph.Attrs{}, c.op(graph.OpGreater, graph.Attrs{}, x, c.k(dt, lambd)), c.op(graph.OpSub, graph.Attrs{}, x, c.k(dt, bias)), c.k(dt, 0))
		return c.op(graph.OpWhere, graph.Attrs{}, c.op(graph.OpLess, graph.Attrs{}, x, c.k(dt, -lambd)), c.op(graph.OpAdd, graph.Attrs{}, x, c.k(dt, bias)), hi)
	})(im, nd, in)
}

func convCelu(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	alpha := attrFloat(nd, "alpha", 1)
	// max(0, x) + min(0, α(e^(x/α) − 1))
	return unaryComposite(func(c *chain, x *graph.Node) *graph.Node {
		dt := x.Type.DType
		e := c.op(graph.OpExp, graph.Attrs{}, c.op(graph.OpDiv, graph.Attrs{}, x, c.k(dt, alpha)))
		neg := c.op(graph.OpMinimum, graph.Attrs{}, c.op(graph.OpMul, graph.Attrs{}, c.op(graph.OpSub, graph.Attrs{}, e, c.k(dt, 1)), c.k(dt, alpha)), c.k(dt, 0))
		return c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpReLU, graph.Attrs{}, x), neg)
	})(im, nd, in)
}

// convHardmax is 1 at the first maximum along axis (default −1), else 0:
// a one-hot of ArgMax, moved back to the axis.
func convHardmax(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if im.opset < 13 {
		return nil, unsupported("Hardmax before opset 13 (it flattens to 2-D)")
	}
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		xs := x.Type.Shape
		a, err := axis(attrInt(nd, "axis", -1), xs.Rank(), "attribute \"axis\"")
		if err != nil {
			return nil, err
		}
		c := &chain{im: im}
		arg := c.op(graph.OpArgMax, graph.Attrs{Axis: a}, x)
		oh := c.op(graph.OpOneHot, graph.Attrs{Depth: xs[a], To: x.Type.DType}, arg)
		if c.err != nil || a == xs.Rank()-1 {
			return oh, c.err
		}
		// oh is [xs without a…, xs[a]]: move the last axis back to a.
		perm := make([]int, 0, xs.Rank())
		for i := range xs.Rank() - 1 {
			if i == a {
				perm = append(perm, xs.Rank()-1)
			}
			perm = append(perm, i)
		}
		return c.op(graph.OpTranspose, graph.Attrs{Perm: perm}, oh), c.err
	})
}

func convEyeLike(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	s := in[0].shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("input must be 2-D, got %v", s)
	}
	k := in[0].kind()
	if a := attr(nd, "dtype"); a != nil {
		var err error
		if k, err = elemKind(int32(a.GetI())); err != nil {
			return nil, fmt.Errorf("attribute \"dtype\": %w", err)
		}
	}
	off := attrInt(nd, "k", 0)
	c, err := newConstant(k, s)
	if err != nil {
		return nil, err
	}
	for i := range s[0] {
		j := int64(i) + off
		if j >= 0 && j < int64(s[1]) {
			if k == kInt {
				c.i[i*s[1]+int(j)] = 1
			} else {
				c.f[i*s[1]+int(j)] = 1
			}
		}
	}
	return []*value{known(c)}, nil
}

// convOneHot: indices (negative ones count from the end), a known depth and
// [off, on] values.
func convOneHot(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	ids, dv, vals := in[0], in[1], in[2]
	d, err := constScalar(dv, "input depth")
	if err != nil {
		return nil, err
	}
	if !(d >= 1 && d <= maxElems) {
		return nil, fmt.Errorf("depth %v is out of range", d)
	}
	depth := int(d)
	if !vals.known() {
		return nil, needConst(vals, "input values")
	}
	if vals.c.size() != 2 {
		return nil, fmt.Errorf("input values must be 2 numbers")
	}
	if vals.kind() != kFloat {
		return nil, unsupported("OneHot with %s values", vals.kind())
	}
	if ids.kind() != kInt {
		return nil, unsupported("OneHot of %s indices", ids.kind())
	}
	idn, err := im.nodeOf(ids)
	if err != nil {
		return nil, err
	}
	r := idn.Type.Shape.Rank() + 1
	a, err := axis(attrInt(nd, "axis", -1), r, "attribute \"axis\"")
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	dt := im.float
	// Negative ids count from the end: id + depth where id < 0.
	neg := c.op(graph.OpLess, graph.Attrs{}, idn, c.k(graph.I32, 0))
	wrapped := c.op(graph.OpCast, graph.Attrs{To: graph.I32}, c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpCast, graph.Attrs{To: dt}, idn), c.k(dt, float64(depth))))
	idn = c.op(graph.OpWhere, graph.Attrs{}, neg, wrapped, idn)
	oh := c.op(graph.OpOneHot, graph.Attrs{Depth: depth, To: dt}, idn)
	off, on := vals.c.at(0), vals.c.at(1)
	y := c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpMul, graph.Attrs{}, oh, c.k(dt, on-off)), c.k(dt, off))
	if c.err == nil && a != r-1 {
		perm := make([]int, 0, r)
		for i := range r - 1 {
			if i == a {
				perm = append(perm, r-1)
			}
			perm = append(perm, i)
		}
		y = c.op(graph.OpTranspose, graph.Attrs{Perm: perm}, y)
	}
	return []*value{node(y)}, c.err
}

// convCastLike casts to the kind of the second input. The exact ONNX type
// of a value is not tracked, so only casts whose result the kind fixes
// (to an integer or bool, or between kinds to the graph's float) qualify.
func convCastLike(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if in[0].kind() == in[1].kind() {
		if in[0].kind() == kFloat {
			return nil, unsupported("CastLike between float types (the target's precision is not tracked)")
		}
		return passThrough(in)
	}
	to := map[kind]onnxpb.TensorProto_DataType{kFloat: onnxpb.TensorProto_FLOAT, kInt: onnxpb.TensorProto_INT64, kBool: onnxpb.TensorProto_BOOL}[in[1].kind()]
	if in[1].kind() == kFloat && im.float == graph.F64 {
		to = onnxpb.TensorProto_DOUBLE
	}
	n := &onnxpb.NodeProto{OpType: nd.OpType, Attribute: []*onnxpb.AttributeProto{{Name: ptr("to"), I: ptr(int64(to))}}}
	return convCast(im, n, in[:1])
}

func ptr[T any](v T) *T { return &v }
