package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// converter turns one ONNX node into IR nodes or folded constants. attrs
// lists the attributes it understands; any other is an error.
type converter struct {
	attrs []string
	fn    func(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error)
}

// knownOp checks that the importer has a converter for the node's op.
func knownOp(nd *onnxpb.NodeProto) error {
	if d := nd.GetDomain(); d != "" && d != "ai.onnx" {
		return unsupported("op domain %q", d)
	}
	if _, ok := converters[nd.GetOpType()]; !ok {
		return unsupported("op %s", nd.GetOpType())
	}
	return nil
}

func (im *importer) convert(nd *onnxpb.NodeProto) error {
	if err := knownOp(nd); err != nil {
		return err
	}
	cv := converters[nd.GetOpType()]
	for _, a := range nd.GetAttribute() {
		if a.GetRefAttrName() != "" {
			return unsupported("attribute %q refers to a function attribute", a.GetName())
		}
		if !slices.Contains(cv.attrs, a.GetName()) {
			return unsupported("attribute %q", a.GetName())
		}
	}
	in := make([]*value, len(nd.GetInput()))
	for i, name := range nd.GetInput() {
		if name == "" {
			continue // an optional input left out
		}
		v, ok := im.vals[name]
		if !ok {
			return fmt.Errorf("input %q is not defined before this node", name)
		}
		if v.missing != "" {
			return unsupported("input %q is %s", name, v.missing)
		}
		in[i] = v
	}
	outs, err := cv.fn(im, nd, in)
	if err != nil {
		return err
	}
	for i, name := range nd.GetOutput() {
		if name == "" {
			continue
		}
		if _, dup := im.vals[name]; dup {
			return fmt.Errorf("output %q is already defined", name)
		}
		if i >= len(outs) || outs[i] == nil {
			// An optional output the importer does not compute: an error
			// only if a later node or the graph reads it.
			im.vals[name] = &value{name: name, missing: fmt.Sprintf("output %d of %s, which mlc does not compute", i, nd.GetOpType())}
			continue
		}
		outs[i].name = name
		im.vals[name] = outs[i]
	}
	return nil
}

// ---- helpers ----

func (im *importer) pos() graph.Pos { return graph.Pos{File: im.source, Line: im.index + 1} }

func (im *importer) apply(op graph.Op, attrs graph.Attrs, ins ...*graph.Node) (*graph.Node, error) {
	n, err := im.g.Apply(op, attrs, ins...)
	if err != nil {
		return nil, err
	}
	if _, err := checkedSize(n.Type.Shape, maxElems); err != nil {
		return nil, err
	}
	n.Pos = im.pos()
	return n, nil
}

// nodeOf is v as an IR node, materializing a constant as a Const.
func (im *importer) nodeOf(v *value) (*graph.Node, error) {
	if v.node != nil {
		return v.node, nil
	}
	c := v.c
	var dt graph.DType
	switch c.kind {
	case kFloat:
		dt = im.float
	case kInt:
		dt = graph.I32
	case kBool:
		dt = graph.Bool
	}
	data := make([]float64, c.size())
	uniform := len(data) > 0
	for j := range data {
		x := c.at(j)
		if c.kind == kInt && (c.i[j] < math.MinInt32 || c.i[j] > math.MaxInt32) {
			return nil, unsupported("integer constant %d does not fit in i32", c.i[j])
		}
		if dt == graph.F32 {
			x = float64(float32(x))
		}
		data[j] = x
		if j > 0 && x != data[0] && !(x != x && data[0] != data[0]) {
			uniform = false
		}
	}
	attrs := graph.Attrs{Data: data}
	if uniform && data[0] == data[0] {
		attrs = graph.Attrs{Value: data[0]}
	}
	n, err := im.g.Leaf(graph.OpConst, "", graph.Type{DType: dt, Shape: graph.Shape(c.shape).Clone()}, attrs)
	if err != nil {
		return nil, err
	}
	n.Pos = im.pos()
	v.node = n
	return n, nil
}

func (im *importer) nodes(vs ...*value) ([]*graph.Node, error) {
	out := make([]*graph.Node, len(vs))
	for i, v := range vs {
		n, err := im.nodeOf(v)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// copyNode returns a computed copy of a leaf, so that it can be an output.
func (im *importer) copyNode(n *graph.Node) (*graph.Node, error) {
	return im.apply(graph.OpReshape, graph.Attrs{Shape: n.Type.Shape.Clone()}, n)
}

func node(n *graph.Node) *value { return &value{node: n} }

func known(c *constant) *value { return &value{c: c} }

func attr(nd *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range nd.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInt(nd *onnxpb.NodeProto, name string, def int64) int64 {
	if a := attr(nd, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrFloat(nd *onnxpb.NodeProto, name string, def float64) float64 {
	if a := attr(nd, name); a != nil {
		return float64(a.GetF())
	}
	return def
}

func attrInts(nd *onnxpb.NodeProto, name string) ([]int64, bool) {
	if a := attr(nd, name); a != nil {
		return a.GetInts(), true
	}
	return nil, false
}

func attrString(nd *onnxpb.NodeProto, name, def string) string {
	if a := attr(nd, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// need fails when one of the required inputs 0…k is missing.
func need(in []*value, k int) error {
	for i := range k + 1 {
		if i >= len(in) || in[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	return nil
}

// constInts reads a known integer input (shapes, axes, pads).
func constInts(v *value, what string) ([]int64, error) {
	if v == nil {
		return nil, fmt.Errorf("%s is missing", what)
	}
	if !v.known() {
		return nil, needConst(v, what)
	}
	if v.c.kind != kInt {
		return nil, fmt.Errorf("%s must be integers, got %s", what, v.c.kind)
	}
	return v.c.i, nil
}

// constScalar reads a known one-element input as a float64. Initializers
// count (their stored value) since such inputs are attributes in all but name.
func constScalar(v *value, what string) (float64, error) {
	if v == nil {
		return 0, fmt.Errorf("%s is missing", what)
	}
	if v.c == nil {
		return 0, needConst(v, what)
	}
	if v.c.size() != 1 {
		return 0, fmt.Errorf("%s must have one element, got shape %v", what, v.c.shape)
	}
	return v.c.at(0), nil
}

// axis normalizes a possibly negative axis for rank r.
func axis(a int64, r int, what string) (int, error) {
	if a < int64(-r) || a >= int64(r) {
		return 0, fmt.Errorf("%s %d is out of range for rank %d", what, a, r)
	}
	if a < 0 {
		a += int64(r)
	}
	return int(a), nil
}

func axesOf(as []int64, r int, what string) ([]int, error) {
	out := make([]int, 0, len(as))
	for _, a := range as {
		x, err := axis(a, r, what)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, x) {
			return nil, fmt.Errorf("%s %d repeats", what, a)
		}
		out = append(out, x)
	}
	slices.Sort(out)
	return out, nil
}

func toInts(v []int64) ([]int, error) {
	out := make([]int, len(v))
	for i, x := range v {
		if x < -maxElems || x > maxElems {
			return nil, fmt.Errorf("value %d is out of range", x)
		}
		out[i] = int(x)
	}
	return out, nil
}

// isFloat reports whether every value is a float.
func isFloat(vs ...*value) bool {
	for _, v := range vs {
		if v.kind() != kFloat {
			return false
		}
	}
	return true
}

func allKnown(vs ...*value) bool {
	for _, v := range vs {
		if v != nil && !v.known() {
			return false
		}
	}
	return true
}

// roundFloat rounds a folded float result to the graph's precision.
func (im *importer) roundFloat(c *constant) *constant {
	if c.kind == kFloat && im.float == graph.F32 {
		for j, x := range c.f {
			c.f[j] = float64(float32(x))
		}
	}
	return c
}

// reshapeNode reshapes n unless it already has the shape.
func (im *importer) reshapeNode(n *graph.Node, shape []int) (*graph.Node, error) {
	if n.Type.Shape.Equal(shape) {
		return n, nil
	}
	return im.apply(graph.OpReshape, graph.Attrs{Shape: append([]int{}, shape...)}, n)
}

// reshapeValue reshapes v (folding a known value).
func (im *importer) reshapeValue(v *value, shape []int) (*value, error) {
	if _, err := checkedSize(shape, maxElems); err != nil {
		return nil, err
	}
	if graph.Shape(shape).Size() != graph.Shape(v.shape()).Size() {
		return nil, fmt.Errorf("cannot reshape %v to %v", v.shape(), shape)
	}
	if v.known() {
		return known(v.c.reshaped(shape)), nil
	}
	n, err := im.nodeOf(v)
	if err != nil {
		return nil, err
	}
	n, err = im.reshapeNode(n, shape)
	if err != nil {
		return nil, err
	}
	return node(n), nil
}

// scalar is a constant node of dtype dt with the one element x.
func (im *importer) scalar(dt graph.DType, x float64) (*graph.Node, error) {
	n, err := im.g.Leaf(graph.OpConst, "", graph.Type{DType: dt, Shape: graph.Shape{}}, graph.Attrs{Value: x})
	if err != nil {
		return nil, err
	}
	n.Pos = im.pos()
	return n, nil
}

// NeedConstError is an input that the importer needs as a constant (a
// shape, axes, a Resize scale) but that the model computes at run time.
// When it is a graph input, Options.Frozen can supply its value.
type NeedConstError struct {
	Input string // the ONNX value's name
	What  string // the operand, e.g. "input shape"
}

func (e *NeedConstError) Error() string {
	return fmt.Sprintf("%s (%q) must be known at import: a constant, computed from shapes, or a frozen graph input", e.What, e.Input)
}

// Unwrap makes it an ErrUnsupported.
func (e *NeedConstError) Unwrap() error { return ErrUnsupported }

func needConst(v *value, what string) error { return &NeedConstError{Input: v.name, What: what} }
