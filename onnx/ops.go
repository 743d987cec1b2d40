package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

type convFn = func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error)

// converters is the importer's op table: ONNX op type → converter.
var converters map[string]converter

func init() {
	converters = map[string]converter{
		// Elementwise, one float operand.
		"Neg":     {nil, unaryOp(graph.OpNeg, func(x float64) float64 { return -x })},
		"Exp":     {nil, unaryOp(graph.OpExp, math.Exp)},
		"Log":     {nil, unaryOp(graph.OpLog, math.Log)},
		"Sqrt":    {nil, unaryOp(graph.OpSqrt, math.Sqrt)},
		"Tanh":    {nil, unaryOp(graph.OpTanh, math.Tanh)},
		"Sigmoid": {nil, unaryOp(graph.OpSigmoid, nil)},
		"Relu":    {nil, unaryOp(graph.OpReLU, nil)},
		"Abs":     {nil, unaryOp(graph.OpAbs, math.Abs)},
		"Erf":     {nil, unaryOp(graph.OpErf, math.Erf)},
		"Reciprocal": {nil, func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
			return im.arith(graph.OpDiv, known(scalarConst(kFloat, 1)), in[0], nil)
		}},
		"Softplus":    {nil, convSoftplus},
		"LeakyRelu":   {[]string{"alpha"}, convLeakyRelu},
		"Elu":         {[]string{"alpha"}, convElu},
		"Selu":        {[]string{"alpha", "gamma"}, convElu},
		"PRelu":       {nil, convPRelu},
		"HardSigmoid": {[]string{"alpha", "beta"}, convHardSigmoid},
		"Clip":        {[]string{"min", "max"}, convClip},
		"Pow":         {nil, convPow},
		"Identity":    {nil, func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) { return passThrough(in) }},
		"Dropout":     {[]string{"ratio", "is_test", "seed"}, convDropout},
		"Cast":        {[]string{"to", "saturate"}, convCast},

		// Two operands with broadcasting.
		"Add": {[]string{"broadcast", "axis"}, binaryOp(graph.OpAdd)},
		"Sub": {[]string{"broadcast", "axis"}, binaryOp(graph.OpSub)},
		"Mul": {[]string{"broadcast", "axis"}, binaryOp(graph.OpMul)},
		"Div": {[]string{"broadcast", "axis"}, binaryOp(graph.OpDiv)},
		"Min": {nil, variadic(graph.OpMinimum)},
		"Max": {nil, variadic(graph.OpMaximum)},
		"Sum": {nil, variadic(graph.OpAdd)},
		"Mean": {nil, func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
			s, err := variadic(graph.OpAdd)(im, nd, in)
			if err != nil {
				return nil, err
			}
			return im.arith(graph.OpDiv, s[0], known(scalarConst(kFloat, float64(len(in)))), nil)
		}},
		"Equal":          {nil, compareOp(graph.OpEqual)},
		"Less":           {nil, compareOp(graph.OpLess)},
		"LessOrEqual":    {nil, compareOp(graph.OpLessEqual)},
		"Greater":        {nil, compareOp(graph.OpGreater)},
		"GreaterOrEqual": {nil, compareOp(graph.OpGreaterEqual)},
		"And":            {nil, logicOp(graph.OpAnd)},
		"Or":             {nil, logicOp(graph.OpOr)},
		"Not":            {nil, logicOp(graph.OpNot)},
		"Where":          {nil, convWhere},

		// Linear algebra and normalisation.
		"MatMul":                {nil, convMatMul},
		"Gemm":                  {[]string{"alpha", "beta", "transA", "transB", "broadcast"}, convGemm},
		"Softmax":               {[]string{"axis"}, softmaxOp(graph.OpSoftmax)},
		"LogSoftmax":            {[]string{"axis"}, softmaxOp(graph.OpLogSoftmax)},
		"LayerNormalization":    {[]string{"axis", "epsilon", "stash_type"}, convLayerNorm},
		"InstanceNormalization": {[]string{"epsilon"}, convInstanceNorm},
		"BatchNormalization":    {[]string{"epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"}, convBatchNorm},

		// Shapes and data movement.
		"Constant":          {[]string{"value", "value_float", "value_floats", "value_int", "value_ints"}, convConstant},
		"ConstantOfShape":   {[]string{"value"}, convConstantOfShape},
		"Shape":             {[]string{"start", "end"}, convShape},
		"Size":              {nil, convSize},
		"Range":             {nil, convRange},
		"Reshape":           {[]string{"shape", "allowzero"}, convReshape},
		"Flatten":           {[]string{"axis"}, convFlatten},
		"Squeeze":           {[]string{"axes"}, convSqueeze},
		"Unsqueeze":         {[]string{"axes"}, convUnsqueeze},
		"Transpose":         {[]string{"perm"}, convTranspose},
		"Concat":            {[]string{"axis"}, convConcat},
		"Split":             {[]string{"axis", "split", "num_outputs"}, convSplit},
		"Slice":             {[]string{"starts", "ends", "axes"}, convSlice},
		"Gather":            {[]string{"axis"}, convGather},
		"Expand":            {nil, convExpand},
		"Tile":              {nil, convTile},
		"Trilu":             {[]string{"upper"}, convTrilu},
		"Pad":               {[]string{"mode", "pads", "value"}, convPad},
		"ReduceMean":        {[]string{"axes", "keepdims", "noop_with_empty_axes"}, reduceOp(graph.OpMean, false)},
		"ReduceSum":         {[]string{"axes", "keepdims", "noop_with_empty_axes"}, reduceOp(graph.OpSum, false)},
		"ReduceMax":         {[]string{"axes", "keepdims", "noop_with_empty_axes"}, reduceOp(graph.OpMax, false)},
		"ReduceMin":         {[]string{"axes", "keepdims", "noop_with_empty_axes"}, reduceOp(graph.OpMax, true)},
		"ReduceSumSquare":   {[]string{"axes", "keepdims", "noop_with_empty_axes"}, reduceSumSquare},
		"ArgMax":            {[]string{"axis", "keepdims", "select_last_index"}, convArgMax},
		"GlobalAveragePool": {nil, globalPool(graph.OpMean)},
		"GlobalMaxPool":     {nil, globalPool(graph.OpMax)},
	}
}

func passThrough(in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	v := *in[0]
	return []*value{&v}, nil
}

// unaryOp maps a float elementwise op; fold folds known values (nil: never).
func unaryOp(op graph.Op, fold func(float64) float64) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		if err := need(in, 0); err != nil {
			return nil, err
		}
		x := in[0]
		if !isFloat(x) {
			return nil, unsupported("%s of %s values", nd.GetOpType(), x.kind())
		}
		if fold != nil && x.known() {
			c, _ := newConstant(kFloat, x.c.shape)
			for j := range c.f {
				c.f[j] = fold(x.c.f[j])
			}
			return []*value{known(im.roundFloat(c))}, nil
		}
		n, err := im.nodeOf(x)
		if err != nil {
			return nil, err
		}
		y, err := im.apply(op, graph.Attrs{}, n)
		return []*value{node(y)}, err
	}
}

// arith applies a broadcasting binary arithmetic op, folding known values
// (ints exactly, floats in float64 rounded to the graph's dtype).
func (im *importer) arith(op graph.Op, a, b *value, nd *onnxpb.NodeProto) ([]*value, error) {
	if a.kind() != b.kind() || a.kind() == kBool {
		return nil, fmt.Errorf("operands are %s and %s", a.kind(), b.kind())
	}
	if a.known() && b.known() {
		f := map[graph.Op]func(x, y float64) float64{
			graph.OpAdd: func(x, y float64) float64 { return x + y },
			graph.OpSub: func(x, y float64) float64 { return x - y },
			graph.OpMul: func(x, y float64) float64 { return x * y },
			graph.OpDiv: func(x, y float64) float64 { return x / y },
			graph.OpMinimum: func(x, y float64) float64 {
				if x != x || x <= y {
					return x
				}
				return y
			},
			graph.OpMaximum: func(x, y float64) float64 {
				if x != x || x >= y {
					return x
				}
				return y
			},
		}[op]
		fi := func(x, y int64) (int64, error) {
			switch op {
			case graph.OpAdd:
				return x + y, nil
			case graph.OpSub:
				return x - y, nil
			case graph.OpMul:
				return x * y, nil
			case graph.OpDiv:
				if y == 0 {
					return 0, fmt.Errorf("integer division by zero")
				}
				return x / y, nil
			case graph.OpMinimum:
				return min(x, y), nil
			}
			return max(x, y), nil
		}
		c, err := foldBinary(a.c, b.c, a.kind(), f, fi)
		if err != nil {
			return nil, err
		}
		return []*value{known(im.roundFloat(c))}, nil
	}
	if a.kind() != kFloat {
		return nil, unsupported("integer arithmetic on values computed at run time")
	}
	ns, err := im.nodes(a, b)
	if err != nil {
		return nil, err
	}
	y, err := im.apply(op, graph.Attrs{}, ns...)
	return []*value{node(y)}, err
}

func binaryOp(op graph.Op) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if attrInt(nd, "broadcast", 0) != 0 {
			if ax := attr(nd, "axis"); ax != nil {
				// Opset < 7: b's dimensions line up with a's from axis on.
				r := len(a.shape())
				start, err := axis(ax.GetI(), r, "axis")
				if err != nil {
					return nil, err
				}
				pad := r - start - len(b.shape())
				if pad < 0 {
					return nil, fmt.Errorf("attribute \"axis\": %v does not fit in %v at %d", b.shape(), a.shape(), start)
				}
				shape := append(slices.Clone(b.shape()), make([]int, pad)...)
				for i := len(b.shape()); i < len(shape); i++ {
					shape[i] = 1
				}
				var err2 error
				if b, err2 = im.reshapeValue(b, shape); err2 != nil {
					return nil, err2
				}
			}
		}
		return im.arith(op, a, b, nd)
	}
}

func variadic(op graph.Op) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		if err := need(in, 0); err != nil {
			return nil, err
		}
		acc := in[0]
		for i, v := range in[1:] {
			if v == nil {
				return nil, fmt.Errorf("input %d is missing", i+1)
			}
			r, err := im.arith(op, acc, v, nd)
			if err != nil {
				return nil, err
			}
			acc = r[0]
		}
		if len(in) == 1 {
			return passThrough(in)
		}
		return []*value{acc}, nil
	}
}

func compareOp(op graph.Op) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if a.kind() != b.kind() {
			return nil, fmt.Errorf("operands are %s and %s", a.kind(), b.kind())
		}
		if a.kind() == kBool && op != graph.OpEqual {
			return nil, unsupported("%s of bool values", nd.GetOpType())
		}
		if allKnown(a, b) {
			cmp := map[graph.Op]func(x, y float64) bool{
				graph.OpEqual:        func(x, y float64) bool { return x == y },
				graph.OpLess:         func(x, y float64) bool { return x < y },
				graph.OpLessEqual:    func(x, y float64) bool { return x <= y },
				graph.OpGreater:      func(x, y float64) bool { return x > y },
				graph.OpGreaterEqual: func(x, y float64) bool { return x >= y },
			}[op]
			if a.kind() == kInt {
				// Compare exactly, not through float64.
				c, err := foldBinary(a.c, b.c, kInt, nil, func(x, y int64) (int64, error) {
					r := map[graph.Op]bool{graph.OpEqual: x == y, graph.OpLess: x < y, graph.OpLessEqual: x <= y, graph.OpGreater: x > y, graph.OpGreaterEqual: x >= y}[op]
					return int64(b2f(r)), nil
				})
				if err != nil {
					return nil, err
				}
				out := &constant{kind: kBool, shape: c.shape, f: make([]float64, len(c.i))}
				for j, x := range c.i {
					out.f[j] = float64(x)
				}
				return []*value{known(out)}, nil
			}
			c, err := foldBinary(a.c, b.c, kBool, func(x, y float64) float64 { return b2f(cmp(x, y)) }, nil)
			return []*value{known(c)}, err
		}
		if a.kind() == kBool { // Equal of masks is ¬(a xor b)
			ns, err := im.nodes(a, b)
			if err != nil {
				return nil, err
			}
			ab, err := im.apply(graph.OpAnd, graph.Attrs{}, ns...)
			if err != nil {
				return nil, err
			}
			na, err := im.apply(graph.OpNot, graph.Attrs{}, ns[0])
			if err != nil {
				return nil, err
			}
			nb, err := im.apply(graph.OpNot, graph.Attrs{}, ns[1])
			if err != nil {
				return nil, err
			}
			nab, err := im.apply(graph.OpAnd, graph.Attrs{}, na, nb)
			if err != nil {
				return nil, err
			}
			y, err := im.apply(graph.OpOr, graph.Attrs{}, ab, nab)
			return []*value{node(y)}, err
		}
		ns, err := im.nodes(a, b)
		if err != nil {
			return nil, err
		}
		y, err := im.apply(op, graph.Attrs{}, ns...)
		return []*value{node(y)}, err
	}
}

func logicOp(op graph.Op) convFn {
	return func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
		arity := 2
		if op == graph.OpNot {
			arity = 1
		}
		if err := need(in, arity-1); err != nil {
			return nil, err
		}
		for _, v := range in[:arity] {
			if v.kind() != kBool {
				return nil, fmt.Errorf("operands must be bool, got %s", v.kind())
			}
		}
		if allKnown(in[:arity]...) {
			if op == graph.OpNot {
				c := &constant{kind: kBool, shape: in[0].c.shape, f: make([]float64, len(in[0].c.f))}
				for j, x := range in[0].c.f {
					c.f[j] = 1 - x
				}
				return []*value{known(c)}, nil
			}
			c, err := foldBinary(in[0].c, in[1].c, kBool, func(x, y float64) float64 {
				if op == graph.OpAnd {
					return x * y
				}
				return max(x, y)
			}, nil)
			return []*value{known(c)}, err
		}
		ns, err := im.nodes(in[:arity]...)
		if err != nil {
			return nil, err
		}
		y, err := im.apply(op, graph.Attrs{}, ns...)
		return []*value{node(y)}, err
	}
}

func convWhere(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	c, a, b := in[0], in[1], in[2]
	if c.kind() != kBool {
		return nil, fmt.Errorf("condition must be bool, got %s", c.kind())
	}
	if a.kind() != b.kind() {
		return nil, fmt.Errorf("operands are %s and %s", a.kind(), b.kind())
	}
	if allKnown(c, a, b) {
		s1, ok1 := graph.BroadcastShapes(a.c.shape, b.c.shape)
		out, ok2 := graph.BroadcastShapes(c.c.shape, s1)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("shapes %v, %v and %v do not broadcast", c.c.shape, a.c.shape, b.c.shape)
		}
		r, err := newConstant(a.kind(), out)
		if err != nil {
			return nil, err
		}
		ic, ia, ib := bcastIndex(out, c.c.shape), bcastIndex(out, a.c.shape), bcastIndex(out, b.c.shape)
		for j := range ic {
			src, k := b.c, ib[j]
			if c.c.f[ic[j]] != 0 {
				src, k = a.c, ia[j]
			}
			if r.kind == kInt {
				r.i[j] = src.i[k]
			} else {
				r.f[j] = src.f[k]
			}
		}
		return []*value{known(r)}, nil
	}
	ns, err := im.nodes(c, a, b)
	if err != nil {
		return nil, err
	}
	y, err := im.apply(graph.OpWhere, graph.Attrs{}, ns...)
	return []*value{node(y)}, err
}

// floatNode is v as a node, requiring a float value.
func (im *importer) floatNode(v *value, what string) (*graph.Node, error) {
	if v == nil {
		return nil, fmt.Errorf("%s is missing", what)
	}
	if v.kind() != kFloat {
		return nil, unsupported("%s of %s values", what, v.kind())
	}
	return im.nodeOf(v)
}

// mapFloat runs build on the float node of in[0].
func (im *importer) mapFloat(nd *onnxpb.NodeProto, in []*value, build func(x *graph.Node) (*graph.Node, error)) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	x, err := im.floatNode(in[0], nd.GetOpType())
	if err != nil {
		return nil, err
	}
	y, err := build(x)
	if err != nil {
		return nil, err
	}
	return []*value{node(y)}, nil
}

// chain applies ops in sequence, stopping at the first error.
type chain struct {
	im  *importer
	err error
}

func (c *chain) op(op graph.Op, attrs graph.Attrs, ins ...*graph.Node) *graph.Node {
	if c.err != nil {
		return nil
	}
	n, err := c.im.apply(op, attrs, ins...)
	c.err = err
	return n
}

func (c *chain) k(dt graph.DType, x float64) *graph.Node {
	if c.err != nil {
		return nil
	}
	n, err := c.im.scalar(dt, x)
	c.err = err
	return n
}

func convSoftplus(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	// log(1 + eˣ) = max(x, 0) + log(1 + e^−|x|), without overflow.
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		c := &chain{im: im}
		dt := x.Type.DType
		e := c.op(graph.OpExp, graph.Attrs{}, c.op(graph.OpNeg, graph.Attrs{}, c.op(graph.OpAbs, graph.Attrs{}, x)))
		l := c.op(graph.OpLog, graph.Attrs{}, c.op(graph.OpAdd, graph.Attrs{}, c.k(dt, 1), e))
		y := c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpReLU, graph.Attrs{}, x), l)
		return y, c.err
	})
}

func convLeakyRelu(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	alpha := attrFloat(nd, "alpha", 0.01)
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		c := &chain{im: im}
		dt := x.Type.DType
		pos := c.op(graph.OpGreater, graph.Attrs{}, x, c.k(dt, 0))
		y := c.op(graph.OpWhere, graph.Attrs{}, pos, x, c.op(graph.OpMul, graph.Attrs{}, x, c.k(dt, alpha)))
		return y, c.err
	})
}

// convElu covers Elu (α(eˣ − 1) below 0) and Selu (γ times that, α and γ
// with SELU's defaults).
func convElu(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	alpha, gamma := attrFloat(nd, "alpha", 1), 1.0
	if nd.GetOpType() == "Selu" {
		alpha = attrFloat(nd, "alpha", 1.67326319217681884765625)
		gamma = attrFloat(nd, "gamma", 1.05070102214813232421875)
	}
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		c := &chain{im: im}
		dt := x.Type.DType
		pos := c.op(graph.OpGreater, graph.Attrs{}, x, c.k(dt, 0))
		neg := c.op(graph.OpMul, graph.Attrs{}, c.op(graph.OpSub, graph.Attrs{}, c.op(graph.OpExp, graph.Attrs{}, x), c.k(dt, 1)), c.k(dt, alpha))
		y := c.op(graph.OpWhere, graph.Attrs{}, pos, x, neg)
		if gamma != 1 {
			y = c.op(graph.OpMul, graph.Attrs{}, y, c.k(dt, gamma))
		}
		return y, c.err
	})
}

func convPRelu(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	slope, err := im.floatNode(in[1], "slope")
	if err != nil {
		return nil, err
	}
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		xs, ss := x.Type.Shape, slope.Type.Shape
		if _, ok := graph.BroadcastShapes(xs, ss); !ok && ss.Rank() == 1 && xs.Rank() >= 2 && ss[0] == xs[1] {
			// Opset < 7: a per-channel slope [C] for x [N, C, …].
			shape := make([]int, xs.Rank()-1)
			for i := range shape {
				shape[i] = 1
			}
			shape[0] = ss[0]
			var err error
			if slope, err = im.reshapeNode(slope, shape); err != nil {
				return nil, err
			}
		}
		c := &chain{im: im}
		pos := c.op(graph.OpGreater, graph.Attrs{}, x, c.k(x.Type.DType, 0))
		y := c.op(graph.OpWhere, graph.Attrs{}, pos, x, c.op(graph.OpMul, graph.Attrs{}, x, slope))
		return y, c.err
	})
}

func convHardSigmoid(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	alpha, beta := attrFloat(nd, "alpha", 0.2), attrFloat(nd, "beta", 0.5)
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		c := &chain{im: im}
		dt := x.Type.DType
		z := c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpMul, graph.Attrs{}, x, c.k(dt, alpha)), c.k(dt, beta))
		y := c.op(graph.OpMaximum, graph.Attrs{}, c.op(graph.OpMinimum, graph.Attrs{}, z, c.k(dt, 1)), c.k(dt, 0))
		return y, c.err
	})
}

func convClip(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	lo, hi := value{}, value{}
	var los, his *value
	if a := attr(nd, "min"); a != nil {
		lo.c = scalarConst(kFloat, float64(a.GetF()))
		los = &lo
	}
	if a := attr(nd, "max"); a != nil {
		hi.c = scalarConst(kFloat, float64(a.GetF()))
		his = &hi
	}
	if len(in) > 1 && in[1] != nil {
		los = in[1]
	}
	if len(in) > 2 && in[2] != nil {
		his = in[2]
	}
	x := []*value{in[0]}
	if in[0].kind() != kFloat {
		return nil, unsupported("Clip of %s values", in[0].kind())
	}
	var err error
	if los != nil {
		if x, err = im.arith(graph.OpMaximum, x[0], los, nd); err != nil {
			return nil, err
		}
	}
	if his != nil {
		if x, err = im.arith(graph.OpMinimum, x[0], his, nd); err != nil {
			return nil, err
		}
	}
	if los == nil && his == nil {
		return passThrough(in)
	}
	return x, nil
}

func convPow(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x, p := in[0], in[1]
	if x.kind() != kFloat {
		return nil, unsupported("Pow of %s values", x.kind())
	}
	if allKnown(x, p) {
		c, err := foldBinary(x.c, p.c, kFloat, math.Pow, nil)
		if err != nil {
			return nil, err
		}
		return []*value{known(im.roundFloat(c))}, nil
	}
	xn, err := im.nodeOf(x)
	if err != nil {
		return nil, err
	}
	if p.c == nil {
		return im.powTensor(xn, p)
	}
	var exps []float64 // the distinct exponents, in order of appearance
	for j := range p.c.size() {
		if e := p.c.at(j); !slices.Contains(exps, e) {
			if e != e {
				return nil, unsupported("Pow with a NaN exponent")
			}
			exps = append(exps, e)
		}
	}
	if len(exps) > 16 {
		return im.powTensor(xn, p)
	}
	if _, ok := graph.BroadcastShapes(xn.Type.Shape, p.c.shape); !ok {
		return nil, fmt.Errorf("base %v and exponent %v do not broadcast", xn.Type.Shape, p.c.shape)
	}
	// One Pow per distinct exponent, each taken where the exponent has it.
	c := &chain{im: im}
	var y *graph.Node
	for i := len(exps) - 1; i >= 0; i-- {
		pw := c.op(graph.OpPow, graph.Attrs{Exponent: exps[i]}, xn)
		if y == nil {
			y = pw
			if len(p.c.shape) > 0 && !xn.Type.Shape.Equal(p.c.shape) {
				// The exponent's shape may widen the result.
				out, _ := graph.BroadcastShapes(xn.Type.Shape, p.c.shape)
				if !out.Equal(xn.Type.Shape) {
					y = c.op(graph.OpBroadcastTo, graph.Attrs{Shape: out}, y)
				}
			}
			continue
		}
		mask := &constant{kind: kBool, shape: p.c.shape, f: make([]float64, p.c.size())}
		for j := range mask.f {
			mask.f[j] = b2f(p.c.at(j) == exps[i])
		}
		if c.err != nil {
			return nil, c.err
		}
		mn, err := im.nodeOf(known(mask))
		if err != nil {
			return nil, err
		}
		y = c.op(graph.OpWhere, graph.Attrs{}, mn, pw, y)
	}
	return []*value{node(y)}, c.err
}

// powTensor is xʸ for an exponent tensor y known only at run time (or
// holding too many distinct values for one Pow op each), as NumPy's power
// computes it: |x|ʸ = exp(y·log|x|), negative where x < 0 and y is an odd
// integer, NaN where x < 0 and y is not an integer; 1 where y = 0, x = 1
// or x = −1 and y = ±∞; 0, 1 or +∞ where x = 0 and y > 0, y = 0, y < 0.
// Whether y is an integer, and odd, is read through i32 casts of its low
// part: |y| = h·2³⁰ + l with h = ⌊|y|/2³⁰⌋, exact in either float type;
// from 2⁵³ on every float is an even integer. The log and exp see |x|
// replaced by 1 where x = 0, so that no masked-out position computes an
// infinity or NaN whose gradient would leak through the selection.
func (im *importer) powTensor(xn *graph.Node, p *value) ([]*value, error) {
	yn, err := im.nodeOf(p)
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	dt := xn.Type.DType
	if p.kind() != kFloat {
		yn = c.op(graph.OpCast, graph.Attrs{To: dt}, yn)
	}
	k := func(v float64) *graph.Node { return c.k(dt, v) }
	op := func(o graph.Op, ins ...*graph.Node) *graph.Node { return c.op(o, graph.Attrs{}, ins...) }
	trunc := func(v *graph.Node) *graph.Node {
		return c.op(graph.OpCast, graph.Attrs{To: dt}, c.op(graph.OpCast, graph.Attrs{To: graph.I32}, v))
	}
	ay := op(graph.OpAbs, yn)
	big := op(graph.OpGreaterEqual, ay, k(1<<53))
	ays := op(graph.OpWhere, big, k(0), ay)
	hi := trunc(op(graph.OpMul, ays, k(1.0/(1<<30))))
	lo := op(graph.OpSub, ays, op(graph.OpMul, hi, k(1<<30)))
	integer := op(graph.OpOr, big, op(graph.OpEqual, trunc(lo), lo))
	half := op(graph.OpMul, lo, k(0.5))
	odd := op(graph.OpAnd, op(graph.OpAnd, integer, op(graph.OpNot, big)), op(graph.OpNotEqual, trunc(half), half))

	neg := op(graph.OpLess, xn, k(0))
	zero := op(graph.OpEqual, xn, k(0))
	ax := op(graph.OpAbs, xn)
	r := op(graph.OpExp, op(graph.OpMul, yn, op(graph.OpLog, op(graph.OpWhere, zero, k(1), ax))))
	r = op(graph.OpWhere, op(graph.OpAnd, neg, odd), op(graph.OpNeg, r), r)
	r = op(graph.OpWhere, op(graph.OpAnd, neg, op(graph.OpNot, integer)), k(math.NaN()), r)
	// 0ʸ: 0 for y > 0, +∞ for y < 0, 1 for y = 0 (below), NaN for NaN.
	atZero := op(graph.OpWhere, op(graph.OpGreater, yn, k(0)), k(0), op(graph.OpWhere, op(graph.OpLess, yn, k(0)), k(math.Inf(1)), yn))
	r = op(graph.OpWhere, zero, atZero, r)
	one := op(graph.OpOr, op(graph.OpEqual, yn, k(0)), op(graph.OpOr, op(graph.OpEqual, xn, k(1)),
		op(graph.OpAnd, op(graph.OpEqual, xn, k(-1)), op(graph.OpEqual, ay, k(math.Inf(1))))))
	r = op(graph.OpWhere, one, k(1), r)
	if c.err != nil {
		return nil, c.err
	}
	return []*value{node(r)}, nil
}

func convDropout(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	if len(in) > 2 && in[2] != nil {
		t, err := constScalar(in[2], "training_mode")
		if err != nil {
			return nil, err
		}
		if t != 0 {
			return nil, unsupported("Dropout in training mode (input training_mode is true)")
		}
	}
	if attr(nd, "is_test") != nil && attrInt(nd, "is_test", 0) == 0 {
		return nil, unsupported("attribute \"is_test\" = 0 (Dropout in training mode)")
	}
	out, _ := passThrough(in)
	mask, err := newConstant(kBool, in[0].shape())
	if err != nil {
		return out, nil // too big to fold: the mask stays unsupported
	}
	for j := range mask.f {
		mask.f[j] = 1
	}
	return append(out, known(mask)), nil
}

// irType is the IR dtype of values of kind k.
func (im *importer) irType(k kind) graph.DType {
	switch k {
	case kInt:
		return graph.I32
	case kBool:
		return graph.Bool
	}
	return im.float
}

func convCast(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	to := int32(attrInt(nd, "to", 0))
	switch onnxpb.TensorProto_DataType(to) {
	case onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		return nil, unsupported("attribute \"to\" = %s (mlc has no half-precision values)", dtypeName(to))
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE:
		if im.float == graph.F64 && onnxpb.TensorProto_DataType(to) == onnxpb.TensorProto_FLOAT && in[0].kind() == kFloat {
			// Rounding to float32 inside an f64 graph: the one float dtype cannot show it.
			return nil, unsupported("attribute \"to\" = %s in a %s graph", dtypeName(to), im.float)
		}
	}
	k, err := elemKind(to)
	if err != nil {
		return nil, fmt.Errorf("attribute \"to\": %w", err)
	}
	x := in[0]
	if x.kind() == k {
		return passThrough(in)
	}
	if x.known() {
		c, err := newConstant(k, x.c.shape)
		if err != nil {
			return nil, err
		}
		for j := range x.c.size() {
			v := x.c.at(j)
			switch k {
			case kInt:
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, unsupported("casting %v to an integer", v)
				}
				c.i[j] = int64(math.Trunc(v))
			case kBool:
				c.f[j] = b2f(v != 0)
			default:
				c.f[j] = v
			}
		}
		return []*value{known(im.roundFloat(c))}, nil
	}
	n, err := im.nodeOf(x)
	if err != nil {
		return nil, err
	}
	y, err := im.apply(graph.OpCast, graph.Attrs{To: im.irType(k)}, n)
	return []*value{node(y)}, err
}
