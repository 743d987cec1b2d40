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

// convNLLLoss: −x[n, t, d…], picked with a one-hot of the labels (ignored
// positions read class 0 and count 0).
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
	oh := c.op(graph.OpOneHot, graph.Attrs{Depth: zs[zs.Rank()-1], To: dt}, t)
	picked := c.op(graph.OpSum, graph.Attrs{Axes: []int{zs.Rank() - 1}}, c.op(graph.OpMul, graph.Attrs{}, z, oh))
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
