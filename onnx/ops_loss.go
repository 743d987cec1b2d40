package onnx

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// The training losses of opset 12+, without per-class weights.

func init() {
	converters["SoftmaxCrossEntropyLoss"] = converter{[]string{"ignore_index", "reduction"}, convSCELoss}
	converters["NegativeLogLikelihoodLoss"] = converter{[]string{"ignore_index", "reduction"}, convNLLLoss}
}

// lossInputs checks scores [N, C, D…] and labels [N, D…] and returns the
// scores with the class axis moved last, the labels as i32 and the mask of
// counted positions (nil without ignore_index).
func (im *importer) lossInputs(nd *onnxpb.NodeProto, in []*value) (z, t, mask *graph.Node, err error) {
	if err := need(in, 1); err != nil {
		return nil, nil, nil, err
	}
	if get(in, 2) != nil {
		return nil, nil, nil, unsupported("per-class weights (input 2)")
	}
	x, err := im.floatNode(in[0], nd.GetOpType())
	if err != nil {
		return nil, nil, nil, err
	}
	if in[1].kind() != kInt {
		return nil, nil, nil, fmt.Errorf("labels must be integers, got %s", in[1].kind())
	}
	if t, err = im.nodeOf(in[1]); err != nil {
		return nil, nil, nil, err
	}
	xs := x.Type.Shape
	if xs.Rank() < 2 || !t.Type.Shape.Equal(append(graph.Shape{xs[0]}, xs[2:]...)) {
		return nil, nil, nil, fmt.Errorf("scores %v and labels %v must be [N, C, D…] and [N, D…]", xs, t.Type.Shape)
	}
	z = x
	if xs.Rank() > 2 {
		perm := []int{0}
		for i := 2; i < xs.Rank(); i++ {
			perm = append(perm, i)
		}
		if z, err = im.apply(graph.OpTranspose, graph.Attrs{Perm: append(perm, 1)}, x); err != nil {
			return nil, nil, nil, err
		}
	}
	if a := attr(nd, "ignore_index"); a != nil {
		ig := a.GetI()
		if ig < -1<<31 || ig >= 1<<31 {
			return nil, nil, nil, fmt.Errorf("attribute \"ignore_index\" %d does not fit in i32", ig)
		}
		c := &chain{im: im}
		mask = c.op(graph.OpNotEqual, graph.Attrs{}, t, c.k(graph.I32, float64(ig)))
		if c.err != nil {
			return nil, nil, nil, c.err
		}
	}
	return z, t, mask, nil
}

func reduction(nd *onnxpb.NodeProto) (string, error) {
	switch r := attrString(nd, "reduction", "mean"); r {
	case "mean", "sum", "none":
		return r, nil
	default:
		return "", fmt.Errorf("attribute \"reduction\" = %q", r)
	}
}

func convSCELoss(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	red, err := reduction(nd)
	if err != nil {
		return nil, err
	}
	z, t, mask, err := im.lossInputs(nd, in)
	if err != nil {
		return nil, err
	}
	ins := []*graph.Node{z, t}
	if mask != nil {
		ins = append(ins, mask)
	}
	loss, err := im.apply(graph.OpCrossEntropy, graph.Attrs{Reduce: red}, ins...)
	if err != nil {
		return nil, err
	}
	outs := []*value{node(loss)}
	if len(nd.GetOutput()) > 1 && nd.GetOutput()[1] != "" {
		x, _ := im.nodeOf(in[0])
		lp, err := im.apply(graph.OpLogSoftmax, graph.Attrs{Axis: 1}, x)
		if err != nil {
			return nil, err
		}
		outs = append(outs, node(lp))
	}
	return outs, nil
}

// convNLLLoss: −x[n, t, d…] (ignored positions read class 0 and count 0).
func convNLLLoss(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	red, err := reduction(nd)
	if err != nil {
		return nil, err
	}
	z, t, mask, err := im.lossInputs(nd, in)
	if err != nil {
		return nil, err
	}
	dt := z.Type.DType
	zs := z.Type.Shape
	c := &chain{im: im}
	if mask != nil {
		t = c.op(graph.OpWhere, graph.Attrs{}, mask, t, c.k(graph.I32, 0))
	}
	if c.err != nil {
		return nil, c.err
	}
	picked, err := im.pick(z, t, zs[zs.Rank()-1])
	if err != nil {
		return nil, err
	}
	loss := c.op(graph.OpNeg, graph.Attrs{}, picked)
	var count *graph.Node
	if mask != nil {
		loss = c.op(graph.OpWhere, graph.Attrs{}, mask, loss, c.k(dt, 0))
		count = c.op(graph.OpSum, graph.Attrs{}, c.op(graph.OpCast, graph.Attrs{To: dt}, mask))
	} else {
		count = c.k(dt, float64(t.Type.Shape.Size()))
	}
	switch red {
	case "sum":
		loss = c.op(graph.OpSum, graph.Attrs{}, loss)
	case "mean":
		loss = c.op(graph.OpDiv, graph.Attrs{}, c.op(graph.OpSum, graph.Attrs{}, loss), count)
	}
	return []*value{node(loss)}, c.err
}

// pick selects along the last axis of x [..., D] (broadcast against ids
// [..., n] with a size-1 axis inserted) the elements ids name: Σ_d where(ids
// = d, x, 0), so that infinities elsewhere in x do not leak in as NaN.
// ids must lie in [0, D); out-of-range ids select nothing (0).
func (im *importer) pick(x, ids *graph.Node, depth int) (*graph.Node, error) {
	iota, err := newConstant(kInt, []int{depth})
	if err != nil {
		return nil, err
	}
	for i := range iota.i {
		iota.i[i] = int64(i)
	}
	in, err := im.nodeOf(known(iota))
	if err != nil {
		return nil, err
	}
	ids, err = im.reshapeNode(ids, append(ids.Type.Shape.Clone(), 1))
	if err != nil {
		return nil, err
	}
	c := &chain{im: im}
	hit := c.op(graph.OpEqual, graph.Attrs{}, ids, in)
	sel := c.op(graph.OpWhere, graph.Attrs{}, hit, x, c.k(x.Type.DType, 0))
	if c.err != nil {
		return nil, c.err
	}
	return c.op(graph.OpSum, graph.Attrs{Axes: []int{sel.Type.Shape.Rank() - 1}}, sel), c.err
}

func init() {
	converters["GatherElements"] = converter{[]string{"axis"}, convGatherElements}
}

func convGatherElements(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x, err := im.floatNode(in[0], "GatherElements")
	if err != nil {
		return nil, err
	}
	if in[1].kind() != kInt {
		return nil, fmt.Errorf("indices must be integers, got %s", in[1].kind())
	}
	xs, is := x.Type.Shape, graph.Shape(in[1].shape())
	r := xs.Rank()
	a, err := axis(attrInt(nd, "axis", 0), r, "attribute \"axis\"")
	if err != nil {
		return nil, err
	}
	if is.Rank() != r {
		return nil, fmt.Errorf("indices %v and data %v differ in rank", is, xs)
	}
	ends := xs.Clone()
	for i := range r {
		if i != a && is[i] > xs[i] {
			return nil, fmt.Errorf("indices %v exceed data %v off axis %d", is, xs, a)
		}
		if i != a {
			ends[i] = is[i]
		}
	}
	ids := in[1]
	d := xs[a]
	if ids.known() { // wrap negative indices, check the range
		c := &constant{kind: kInt, shape: ids.c.shape, i: make([]int64, len(ids.c.i))}
		for j, k := range ids.c.i {
			if k < 0 {
				k += int64(d)
			}
			if k < 0 || k >= int64(d) {
				return nil, fmt.Errorf("index %d is out of range for axis %d of %v", ids.c.i[j], a, xs)
			}
			c.i[j] = k
		}
		ids = known(c)
	}
	idn, err := im.nodeOf(ids)
	if err != nil {
		return nil, err
	}
	ch := &chain{im: im}
	if !ids.known() {
		idn = ch.wrapIndices(idn, d)
	}
	if !graph.Shape(ends).Equal(xs) {
		x = ch.op(graph.OpSlice, graph.Attrs{Starts: make([]int, r), Ends: ends}, x)
	}
	if ch.err != nil {
		return nil, ch.err
	}
	// Move axis a last in both; x gets a size-1 axis for the index positions.
	perm := []int{}
	for i := range r {
		if i != a {
			perm = append(perm, i)
		}
	}
	perm = append(perm, a)
	xt, err := im.transposeValue(node(x), perm)
	if err != nil {
		return nil, err
	}
	it, err := im.transposeValue(node(idn), perm)
	if err != nil {
		return nil, err
	}
	xts := xt.node.Type.Shape
	xr, err := im.reshapeNode(xt.node, append(append(xts[:r-1].Clone(), 1), d))
	if err != nil {
		return nil, err
	}
	y, err := im.pick(xr, it.node, d)
	if err != nil {
		return nil, err
	}
	back := make([]int, r)
	for i, p := range perm {
		back[p] = i
	}
	v, err := im.transposeValue(node(y), back)
	return []*value{v}, err
}

// wrapIndices makes run-time indices into an axis of size d count from the
// end when negative, as ONNX's Gather and GatherElements do: ids < 0 ?
// ids + d : ids. The IR has no integer arithmetic, so the sum goes through
// the graph's float type, which holds every index exactly while d ≤ 2²⁴ in
// f32 (2⁵³ in f64); beyond that the ids stay as they are and a negative one
// is left to the op's own range check.
func (c *chain) wrapIndices(ids *graph.Node, d int) *graph.Node {
	fl := c.im.float
	if fl == graph.F32 && d > 1<<24 {
		return ids
	}
	neg := c.op(graph.OpLess, graph.Attrs{}, ids, c.k(graph.I32, 0))
	wrapped := c.op(graph.OpCast, graph.Attrs{To: graph.I32}, c.op(graph.OpAdd, graph.Attrs{}, c.op(graph.OpCast, graph.Attrs{To: fl}, ids), c.k(fl, float64(d))))
	return c.op(graph.OpWhere, graph.Attrs{}, neg, wrapped, ids)
}
