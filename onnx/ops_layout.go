package onnx

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

func init() {
	converters["CumSum"] = converter{[]string{"exclusive", "reverse"}, convCumSum}
	converters["DepthToSpace"] = converter{[]string{"blocksize", "mode"}, convDepthToSpace}
	converters["SpaceToDepth"] = converter{[]string{"blocksize"}, convSpaceToDepth}
}

// shift moves x along axis a by s positions (towards higher indices when
// s > 0), filling with zeros: Slice then Pad.
func (im *importer) shift(x *graph.Node, a, s int) (*graph.Node, error) {
	xs := x.Type.Shape
	n := xs[a]
	starts, ends := make([]int, xs.Rank()), xs.Clone()
	pad := make([]int, xs.Rank())
	if s > 0 {
		ends[a] = n - s
		pad[a] = s
	} else {
		starts[a] = -s
	}
	c := &chain{im: im}
	y := c.op(graph.OpSlice, graph.Attrs{Starts: starts, Ends: ends}, x)
	return c.op(graph.OpPad, graph.Attrs{Starts: pad, Shape: xs.Clone()}, y), c.err
}

// convCumSum adds shifted copies in log₂ n rounds (Hillis–Steele), so that
// no element is ever multiplied: infinities elsewhere stay out of the sums.
func convCumSum(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	ax, err := constScalar(in[1], "input axis")
	if err != nil {
		return nil, err
	}
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		xs := x.Type.Shape
		a, err := axis(int64(ax), xs.Rank(), "axis")
		if err != nil {
			return nil, err
		}
		dir := 1
		if attrInt(nd, "reverse", 0) != 0 {
			dir = -1
		}
		y := x
		for s := 1; s < xs[a]; s *= 2 {
			sh, err := im.shift(y, a, dir*s)
			if err != nil {
				return nil, err
			}
			if y, err = im.apply(graph.OpAdd, graph.Attrs{}, y, sh); err != nil {
				return nil, err
			}
		}
		if attrInt(nd, "exclusive", 0) != 0 && xs[a] > 0 {
			return im.shift(y, a, dir)
		}
		return y, nil
	})
}

// blocks reshapes, permutes and reshapes x: the two layout ops.
func (im *importer) blocks(x *graph.Node, split []int, perm []int, out []int) (*graph.Node, error) {
	c := &chain{im: im}
	y := c.op(graph.OpReshape, graph.Attrs{Shape: split}, x)
	y = c.op(graph.OpTranspose, graph.Attrs{Perm: perm}, y)
	y = c.op(graph.OpReshape, graph.Attrs{Shape: out}, y)
	return y, c.err
}

func convDepthToSpace(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	b := int(attrInt(nd, "blocksize", 0))
	mode := attrString(nd, "mode", "DCR")
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		xs := x.Type.Shape
		if xs.Rank() != 4 || b < 1 || xs[1]%(b*b) != 0 {
			return nil, fmt.Errorf("input %v and blocksize %d: want [N, C, H, W] with C divisible by blocksize²", xs, b)
		}
		N, C, H, W := xs[0], xs[1], xs[2], xs[3]
		out := []int{N, C / (b * b), H * b, W * b}
		switch mode {
		case "DCR":
			return im.blocks(x, []int{N, b, b, C / (b * b), H, W}, []int{0, 3, 4, 1, 5, 2}, out)
		case "CRD":
			return im.blocks(x, []int{N, C / (b * b), b, b, H, W}, []int{0, 1, 4, 2, 5, 3}, out)
		}
		return nil, fmt.Errorf("attribute \"mode\" = %q", mode)
	})
}

func convSpaceToDepth(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	b := int(attrInt(nd, "blocksize", 0))
	return im.mapFloat(nd, in, func(x *graph.Node) (*graph.Node, error) {
		xs := x.Type.Shape
		if xs.Rank() != 4 || b < 1 || xs[2]%b != 0 || xs[3]%b != 0 {
			return nil, fmt.Errorf("input %v and blocksize %d: want [N, C, H, W] with H and W divisible by blocksize", xs, b)
		}
		N, C, H, W := xs[0], xs[1], xs[2], xs[3]
		return im.blocks(x, []int{N, C, H / b, b, W / b, b}, []int{0, 3, 5, 1, 2, 4}, []int{N, C * b * b, H / b, W / b})
	})
}

// gatherAxis takes x's elements at the known positions idx along axis a:
// a Gather for floats, else a Concat of slices (runs of consecutive
// positions), which every dtype supports.
func (im *importer) gatherAxis(x *value, a int, idx []int64) (*value, error) {
	if !x.known() && x.kind() != kFloat {
		xn, err := im.nodeOf(x)
		if err != nil {
			return nil, err
		}
		xs := xn.Type.Shape
		var parts []*graph.Node
		for i := 0; i < len(idx); {
			j := i + 1
			for j < len(idx) && idx[j] == idx[j-1]+1 {
				j++
			}
			starts, ends := make([]int, xs.Rank()), xs.Clone()
			starts[a], ends[a] = int(idx[i]), int(idx[j-1])+1
			p, err := im.apply(graph.OpSlice, graph.Attrs{Starts: starts, Ends: ends}, xn)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
			i = j
		}
		if len(parts) == 1 {
			return node(parts[0]), nil
		}
		y, err := im.apply(graph.OpConcat, graph.Attrs{Axis: a}, parts...)
		return node(y), err
	}
	nd := &onnxpb.NodeProto{OpType: ptr("Gather"), Attribute: []*onnxpb.AttributeProto{{Name: ptr("axis"), I: ptr(int64(a))}}}
	out, err := convGather(im, nd, []*value{x, known(intsConst(idx))})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// padByGather pads with mode edge (repeat the border) or reflect (mirror
// without repeating it): a gather of known positions per padded axis.
func (im *importer) padByGather(x *value, mode string, pads []int64) (*value, error) {
	xs := x.shape()
	r := len(xs)
	for a := range r {
		pb, pe := int(pads[a]), int(pads[r+a])
		if pb == 0 && pe == 0 {
			continue
		}
		d := xs[a]
		if pb+d+pe > maxConstElems {
			return nil, unsupported("padding to %d positions", pb+d+pe)
		}
		if d == 0 || mode == "reflect" && (d < 2 || pb >= d || pe >= d) {
			return nil, unsupported("%s padding of %d and %d on an axis of size %d", mode, pb, pe, d)
		}
		idx := make([]int64, pb+d+pe)
		for o := range idx {
			i := o - pb
			if mode == "edge" {
				i = min(max(i, 0), d-1)
			} else if i < 0 {
				i = -i
			} else if i >= d {
				i = 2*(d-1) - i
			}
			idx[o] = int64(i)
		}
		var err error
		if x, err = im.gatherAxis(x, a, idx); err != nil {
			return nil, err
		}
	}
	return x, nil
}
