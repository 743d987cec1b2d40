package onnx

import (
	"fmt"
	"math"
	"sort"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

// Resize (opset 11+) is separable: along each resized axis every output
// position is a weighted sum of a few input positions, all known at import.
// The importer computes the positions and weights as ONNX's reference
// does (neighbours chosen in the edge-padded input, coefficients of the
// mode) and builds gathers of known positions, scaled and added. Nearest
// is a single gather, so it copies values exactly.

func init() {
	converters["Resize"] = converter{[]string{"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "extrapolation_value", "mode", "nearest_mode"}, convResize}
}

// taps are, per output position, the input positions and their weights;
// outside marks positions that take the extrapolation value instead.
type taps struct {
	idx     [][]int
	w       [][]float64
	outside []bool
}

func convResize(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if im.opset < 11 {
		return nil, unsupported("Resize before opset 11")
	}
	if err := need(in, 0); err != nil {
		return nil, err
	}
	x := in[0]
	if x.kind() != kFloat {
		return nil, unsupported("Resize of %s values", x.kind())
	}
	xs := x.shape()
	r := len(xs)
	mode := attrString(nd, "mode", "nearest")
	ctm := attrString(nd, "coordinate_transformation_mode", "half_pixel")
	nearest := attrString(nd, "nearest_mode", "round_prefer_floor")
	cubicA := attrFloat(nd, "cubic_coeff_a", -0.75)
	exclude := attrInt(nd, "exclude_outside", 0) != 0
	extrap := attrFloat(nd, "extrapolation_value", 0)
	switch mode {
	case "nearest", "linear", "cubic":
	default:
		return nil, fmt.Errorf("attribute \"mode\" = %q", mode)
	}
	var roi []float64
	if v := get(in, 1); v != nil && graph.Shape(v.shape()).Size() > 0 {
		if v.c == nil {
			return nil, needConst(v, "input roi")
		}
		for j := range v.c.size() {
			roi = append(roi, v.c.at(j))
		}
		if len(roi) != 2*r {
			return nil, fmt.Errorf("roi has %d values, want %d", len(roi), 2*r)
		}
	}
	scales := make([]float64, r)
	out := make([]int, r)
	if v := get(in, 3); v != nil && graph.Shape(v.shape()).Size() > 0 {
		s, err := constInts(v, "input sizes")
		if err != nil {
			return nil, err
		}
		if len(s) != r {
			return nil, fmt.Errorf("sizes %v need %d values", s, r)
		}
		for i := range r {
			if s[i] < 1 || s[i] > maxElems {
				return nil, fmt.Errorf("bad size %d", s[i])
			}
			out[i] = int(s[i])
			scales[i] = float64(out[i]) / float64(xs[i])
		}
	} else if v := get(in, 2); v != nil && graph.Shape(v.shape()).Size() > 0 {
		if !v.known() {
			return nil, needConst(v, "input scales")
		}
		if v.kind() != kFloat || v.c.size() != r {
			return nil, fmt.Errorf("input scales must be %d floats", r)
		}
		if ctm == "tf_crop_and_resize" {
			// How the reference sizes the crop from scales is not pinned
			// down by a test; refuse rather than guess.
			return nil, unsupported("tf_crop_and_resize with scales (give sizes)")
		}
		for i := range r {
			scales[i] = v.c.at(i)
			o := math.Floor(float64(xs[i]) * scales[i])
			if !(scales[i] > 0) || !(o >= 1 && o <= maxElems) {
				return nil, fmt.Errorf("bad scale %v for axis %d", scales[i], i)
			}
			out[i] = int(o)
		}
	} else {
		return nil, fmt.Errorf("neither scales nor sizes is given")
	}
	if _, err := checkedSize(out, maxElems); err != nil {
		return nil, err
	}
	for _, o := range out {
		if o > maxConstElems {
			return nil, unsupported("Resize to %d positions on an axis", o)
		}
	}
	cur := x
	for a := range r {
		tp, err := resizeTaps(xs[a], out[a], scales[a], a, r, roi, mode, ctm, nearest, cubicA, exclude)
		if err != nil {
			return nil, err
		}
		if tp.identity(xs[a]) {
			continue
		}
		if cur, err = im.applyTaps(cur, a, tp, extrap); err != nil {
			return nil, err
		}
	}
	if cur == x {
		return passThrough(in)
	}
	return []*value{cur}, nil
}

// resizeTaps follows ONNX's reference: the source coordinate of each output
// position, its n nearest neighbours in the input padded by edge values,
// and the mode's coefficients.
func resizeTaps(inLen, outLen int, scale float64, a, r int, roi []float64, mode, ctm, nearest string, cubicA float64, exclude bool) (*taps, error) {
	tp := &taps{}
	n := 2
	if mode == "cubic" {
		n = 4
	}
	pad := (n + 1) / 2
	// Like ONNX's reference, the formulas use the unrounded output length.
	outF := scale * float64(inLen)
	for o := range outLen {
		xo := float64(o)
		var x float64
		switch ctm {
		case "half_pixel":
			x = (xo+0.5)/scale - 0.5
		case "pytorch_half_pixel":
			x = -0.5
			if outF != 1 {
				x = (xo+0.5)/scale - 0.5
			}
		case "align_corners":
			if outF != 1 {
				x = xo * float64(inLen-1) / (outF - 1)
			}
		case "asymmetric":
			x = xo / scale
		case "tf_half_pixel_for_nn":
			x = (xo + 0.5) / scale
		case "tf_crop_and_resize":
			if roi == nil {
				return nil, fmt.Errorf("tf_crop_and_resize needs input roi")
			}
			start, end := roi[a], roi[r+a]
			if outF != 1 {
				x = start*float64(inLen-1) + xo*(end-start)*float64(inLen-1)/(outF-1)
			} else {
				x = 0.5 * (start + end) * float64(inLen-1)
			}
		default:
			return nil, fmt.Errorf("attribute \"coordinate_transformation_mode\" = %q", ctm)
		}
		if ctm == "tf_crop_and_resize" && (x < 0 || x > float64(inLen-1)) {
			tp.idx, tp.w, tp.outside = append(tp.idx, nil), append(tp.w, nil), append(tp.outside, true)
			continue
		}
		ratio := x - math.Floor(x)
		if ratio == 0 {
			ratio = 1 // an integer coordinate prefers the pixel on its left
		}
		var c []float64
		switch mode {
		case "nearest":
			switch {
			case ratio == 1:
				c = []float64{0, 1}
			case nearest == "round_prefer_floor":
				c = []float64{b2f(ratio <= 0.5), b2f(ratio > 0.5)}
			case nearest == "round_prefer_ceil":
				c = []float64{b2f(ratio < 0.5), b2f(ratio >= 0.5)}
			case nearest == "floor":
				c = []float64{1, 0}
			case nearest == "ceil":
				c = []float64{0, 1}
			default:
				return nil, fmt.Errorf("attribute \"nearest_mode\" = %q", nearest)
			}
		case "linear":
			c = []float64{1 - ratio, ratio}
		case "cubic":
			A, s, t := cubicA, ratio, 1-ratio
			c = []float64{
				((A*(s+1)-5*A)*(s+1)+8*A)*(s+1) - 4*A,
				((A+2)*s-(A+3))*s*s + 1,
				((A+2)*t-(A+3))*t*t + 1,
				((A*(t+1)-5*A)*(t+1)+8*A)*(t+1) - 4*A,
			}
		}
		// The n positions of the padded input nearest to x (ties: the
		// lower). They lie in a window of 2n+1 positions around x, clipped
		// to the padded input.
		xp := x + float64(pad)
		limit := inLen + 2*pad
		lo := 0
		if f := math.Floor(xp) - float64(n); f > 0 {
			lo = int(min(f, float64(max(limit-2*n-1, 0))))
		}
		cand := []int{}
		for i := lo; i < min(limit, lo+2*n+1); i++ {
			cand = append(cand, i)
		}
		sort.SliceStable(cand, func(i, j int) bool {
			di, dj := math.Abs(xp-float64(cand[i])), math.Abs(xp-float64(cand[j]))
			return di < dj || di == dj && cand[i] < cand[j]
		})
		nb := append([]int{}, cand[:n]...)
		sort.Ints(nb)
		idx := make([]int, n)
		for k, p := range nb {
			idx[k] = min(max(p-pad, 0), inLen-1)
			if exclude && (p-pad < 0 || p-pad >= inLen) {
				c[k] = 0
			}
		}
		if exclude {
			s := 0.0
			for _, v := range c {
				s += v
			}
			for k := range c {
				c[k] /= s
			}
		}
		tp.idx, tp.w, tp.outside = append(tp.idx, idx), append(tp.w, c), append(tp.outside, false)
	}
	return tp, nil
}

// identity reports taps that copy the axis unchanged.
func (tp *taps) identity(inLen int) bool {
	if len(tp.idx) != inLen {
		return false
	}
	for o := range tp.idx {
		if tp.outside[o] {
			return false
		}
		for k, i := range tp.idx[o] {
			if w := tp.w[o][k]; w != 0 && (w != 1 || i != o) {
				return false
			}
		}
	}
	return true
}

// applyTaps builds Σ_k w_k ⊙ gather(x, idx_k) along axis a, plus the
// extrapolation value where the source falls outside. A tap whose weights
// are all 0 or 1 with one 1 per position is a plain gather.
func (im *importer) applyTaps(x *value, a int, tp *taps, extrap float64) (*value, error) {
	n := 0
	for _, ix := range tp.idx {
		n = max(n, len(ix))
	}
	outLen := len(tp.idx)
	shapeW := make([]int, len(x.shape())-a) // the weights broadcast from axis a on
	for i := range shapeW {
		shapeW[i] = 1
	}
	shapeW[0] = outLen
	single := true // nearest without extrapolation: one gather
	for o := range tp.idx {
		ones := 0
		for _, w := range tp.w[o] {
			switch w {
			case 0:
			case 1:
				ones++
			default:
				single = false
			}
		}
		single = single && ones == 1 && !tp.outside[o]
	}
	if single {
		pos := make([]int64, outLen)
		for o := range tp.idx {
			for k, w := range tp.w[o] {
				if w == 1 {
					pos[o] = int64(tp.idx[o][k])
				}
			}
		}
		return im.gatherAxis(x, a, pos)
	}
	var sum *value
	for k := range n {
		pos := make([]int64, outLen)
		w, err := newConstant(kFloat, shapeW)
		if err != nil {
			return nil, err
		}
		for o := range tp.idx {
			if !tp.outside[o] {
				pos[o] = int64(tp.idx[o][k])
				w.f[o] = tp.w[o][k]
			}
		}
		g, err := im.gatherAxis(x, a, pos)
		if err != nil {
			return nil, err
		}
		term, err := im.arith(graph.OpMul, g, known(im.roundFloat(w)), nil)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = term[0]
		} else {
			s, err := im.arith(graph.OpAdd, sum, term[0], nil)
			if err != nil {
				return nil, err
			}
			sum = s[0]
		}
	}
	hasOutside := false
	ex, err := newConstant(kFloat, shapeW)
	if err != nil {
		return nil, err
	}
	for o, out := range tp.outside {
		if out {
			hasOutside = true
			ex.f[o] = extrap
		}
	}
	if hasOutside {
		s, err := im.arith(graph.OpAdd, sum, known(im.roundFloat(ex)), nil)
		if err != nil {
			return nil, err
		}
		sum = s[0]
	}
	return sum, nil
}
