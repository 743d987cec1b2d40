package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/onnx/internal/onnxpb"
)

func convConstant(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if len(nd.GetAttribute()) != 1 {
		return nil, fmt.Errorf("needs exactly one value attribute, got %d", len(nd.GetAttribute()))
	}
	a := nd.GetAttribute()[0]
	var c *constant
	switch a.GetName() {
	case "value":
		var err error
		if c, err = decodeTensor(a.GetT(), im.dir); err != nil {
			return nil, fmt.Errorf("attribute \"value\": %w", err)
		}
		if _, err := checkedSize(c.shape, maxConstElems); err != nil {
			return nil, fmt.Errorf("attribute \"value\": %w", err)
		}
	case "value_float":
		c = scalarConst(kFloat, float64(a.GetF()))
	case "value_int":
		c = scalarConst(kInt, float64(a.GetI()))
		c.i[0] = a.GetI()
	case "value_floats":
		c = &constant{kind: kFloat, shape: []int{len(a.GetFloats())}}
		for _, f := range a.GetFloats() {
			c.f = append(c.f, float64(f))
		}
	case "value_ints":
		c = intsConst(a.GetInts())
	}
	return []*value{known(im.roundFloat(c))}, nil
}

func convConstantOfShape(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	s, err := constInts(in[0], "input shape")
	if err != nil {
		return nil, err
	}
	shape, err := toInts(s)
	if err != nil {
		return nil, err
	}
	fill := scalarConst(kFloat, 0)
	if a := attr(nd, "value"); a != nil {
		if fill, err = decodeTensor(a.GetT(), ""); err != nil {
			return nil, fmt.Errorf("attribute \"value\": %w", err)
		}
		if fill.size() != 1 {
			return nil, fmt.Errorf("attribute \"value\" must have one element, got shape %v", fill.shape)
		}
	}
	c, err := newConstant(fill.kind, shape)
	if err != nil {
		return nil, err
	}
	for j := range c.size() {
		if c.kind == kInt {
			c.i[j] = fill.i[0]
		} else {
			c.f[j] = fill.f[0]
		}
	}
	return []*value{known(im.roundFloat(c))}, nil
}

func convShape(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	s := in[0].shape()
	r := int64(len(s))
	clamp := func(x int64) int64 {
		if x < 0 {
			x += r
		}
		return min(max(x, 0), r)
	}
	start, end := clamp(attrInt(nd, "start", 0)), clamp(attrInt(nd, "end", r))
	out := []int64{}
	for i := start; i < end; i++ {
		out = append(out, int64(s[i]))
	}
	return []*value{known(intsConst(out))}, nil
}

func convSize(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	c := scalarConst(kInt, 0)
	c.i[0] = int64(graph.Shape(in[0].shape()).Size())
	return []*value{known(c)}, nil
}

func convRange(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	for i, v := range in[:3] {
		if !v.known() {
			return nil, needConst(v, fmt.Sprintf("input %d", i))
		}
	}
	k := in[0].kind()
	if in[1].kind() != k || in[2].kind() != k || k == kBool {
		return nil, fmt.Errorf("start, limit and delta must be numbers of one type")
	}
	var sv, lv, dv float64
	for i, p := range []*float64{&sv, &lv, &dv} {
		x, err := constScalar(in[i], fmt.Sprintf("input %d", i))
		if err != nil {
			return nil, err
		}
		*p = x
	}
	if dv == 0 {
		return nil, fmt.Errorf("delta is 0")
	}
	n := math.Ceil((lv - sv) / dv)
	if !(n <= maxConstElems) {
		return nil, fmt.Errorf("range of %v elements is too long", n)
	}
	count := int(max(n, 0))
	c, err := newConstant(k, []int{count})
	if err != nil {
		return nil, err
	}
	for j := range count {
		if k == kInt {
			c.i[j] = in[0].c.i[0] + int64(j)*in[2].c.i[0]
		} else {
			c.f[j] = sv + float64(j)*dv
		}
	}
	return []*value{known(im.roundFloat(c))}, nil
}

func convReshape(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	s, ok := attrInts(nd, "shape")
	if !ok {
		var err error
		if s, err = constInts(get(in, 1), "input shape"); err != nil {
			return nil, err
		}
	}
	x := in[0]
	xs := x.shape()
	allowZero := attrInt(nd, "allowzero", 0) != 0
	shape := make([]int, len(s))
	infer := -1
	prod := 1
	for i, d := range s {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", s)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(xs) {
				return nil, fmt.Errorf("shape %v copies dimension %d of %v, which it lacks", s, i, xs)
			}
			shape[i] = xs[i]
		case d < 0 || d > maxElems:
			return nil, fmt.Errorf("bad dimension %d in shape %v", d, s)
		default:
			shape[i] = int(d)
		}
		if shape[i] != 0 && prod > maxElems/shape[i] {
			return nil, fmt.Errorf("shape %v is too large", s)
		}
		prod *= shape[i]
	}
	total := graph.Shape(xs).Size()
	if infer >= 0 {
		if prod == 0 || total%prod != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", xs, s)
		}
		shape[infer] = total / prod
	}
	v, err := im.reshapeValue(x, shape)
	if err != nil {
		return nil, err
	}
	return []*value{v}, nil
}

func convFlatten(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	xs := in[0].shape()
	a := attrInt(nd, "axis", 1)
	if a < int64(-len(xs)) || a > int64(len(xs)) {
		return nil, fmt.Errorf("attribute \"axis\" %d is out of range for rank %d", a, len(xs))
	}
	if a < 0 {
		a += int64(len(xs))
	}
	shape := []int{graph.Shape(xs[:a]).Size(), graph.Shape(xs[a:]).Size()}
	v, err := im.reshapeValue(in[0], shape)
	return []*value{v}, err
}

// axesInput reads axes from the attribute (older opsets) or input k.
func axesInput(nd *onnxpb.NodeProto, in []*value, k int) ([]int64, bool, error) {
	if a, ok := attrInts(nd, "axes"); ok {
		return a, true, nil
	}
	if len(in) > k && in[k] != nil {
		a, err := constInts(in[k], "input axes")
		return a, true, err
	}
	return nil, false, nil
}

func convSqueeze(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	xs := in[0].shape()
	as, given, err := axesInput(nd, in, 1)
	if err != nil {
		return nil, err
	}
	var axes []int
	if given {
		if axes, err = axesOf(as, len(xs), "axis"); err != nil {
			return nil, err
		}
	} else {
		for i, d := range xs {
			if d == 1 {
				axes = append(axes, i)
			}
		}
	}
	var shape []int
	for i, d := range xs {
		if slices.Contains(axes, i) {
			if d != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of %v: its size is not 1", i, xs)
			}
			continue
		}
		shape = append(shape, d)
	}
	v, err := im.reshapeValue(in[0], shape)
	return []*value{v}, err
}

func convUnsqueeze(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	xs := in[0].shape()
	as, given, err := axesInput(nd, in, 1)
	if err != nil {
		return nil, err
	}
	if !given {
		return nil, fmt.Errorf("axes are missing")
	}
	r := len(xs) + len(as)
	axes, err := axesOf(as, r, "axis")
	if err != nil {
		return nil, err
	}
	shape := make([]int, 0, r)
	j := 0
	for i := range r {
		if slices.Contains(axes, i) {
			shape = append(shape, 1)
		} else {
			shape = append(shape, xs[j])
			j++
		}
	}
	v, err := im.reshapeValue(in[0], shape)
	return []*value{v}, err
}

func (im *importer) transposeValue(x *value, perm []int) (*value, error) {
	if x.known() {
		out, idx := transposeIndex(x.c.shape, perm)
		return known(x.c.pick(out, idx)), nil
	}
	if slices.IsSorted(perm) {
		return x, nil
	}
	n, err := im.nodeOf(x)
	if err != nil {
		return nil, err
	}
	y, err := im.apply(graph.OpTranspose, graph.Attrs{Perm: perm}, n)
	return node(y), err
}

func convTranspose(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	r := len(in[0].shape())
	perm := make([]int, r)
	if p, ok := attrInts(nd, "perm"); ok {
		if len(p) != r {
			return nil, fmt.Errorf("attribute \"perm\" %v has %d axes, the operand %d", p, len(p), r)
		}
		seen := make([]bool, r)
		for i, a := range p {
			if a < 0 || a >= int64(r) || seen[a] {
				return nil, fmt.Errorf("attribute \"perm\" %v is not a permutation", p)
			}
			seen[a] = true
			perm[i] = int(a)
		}
	} else {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	v, err := im.transposeValue(in[0], perm)
	return []*value{v}, err
}

func convConcat(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	var parts []*value
	for i, v := range in {
		if v == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
		if v.kind() != in[0].kind() {
			return nil, fmt.Errorf("inputs are %s and %s", in[0].kind(), v.kind())
		}
		if graph.Shape(v.shape()).Size() == 0 && len(v.shape()) == len(in[0].shape()) {
			continue // an empty part adds nothing
		}
		parts = append(parts, v)
	}
	ax := attr(nd, "axis")
	if ax == nil {
		return nil, fmt.Errorf("attribute \"axis\" is missing")
	}
	a, err := axis(ax.GetI(), len(in[0].shape()), "attribute \"axis\"")
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 { // every part is empty: so is the result
		want := slices.Clone(in[0].shape())
		want[a] = 0
		for _, v := range in[1:] {
			want[a] += v.shape()[a]
		}
		if !graph.Shape(want).Equal(in[0].shape()) {
			return nil, unsupported("Concat of empty tensors into %v", want)
		}
		return passThrough(in)
	}
	if allKnown(parts...) {
		cs := make([]*constant, len(parts))
		for i, p := range parts {
			cs[i] = p.c
		}
		c, err := concatConst(cs, a)
		return []*value{known(c)}, err
	}
	if len(parts) == 1 {
		return []*value{parts[0]}, nil
	}
	ns, err := im.nodes(parts...)
	if err != nil {
		return nil, err
	}
	y, err := im.apply(graph.OpConcat, graph.Attrs{Axis: a}, ns...)
	return []*value{node(y)}, err
}

// sliceValue takes x[starts:ends] with step 1 (steps for known values).
func (im *importer) sliceValue(x *value, starts, ends, steps []int) (*value, error) {
	xs := x.shape()
	if x.known() {
		out, idx := sliceIndex(xs, starts, ends, steps)
		return known(x.c.pick(out, idx)), nil
	}
	for a := range xs {
		if steps[a] != 1 { // other steps: gather the positions
			out, _ := sliceIndex([]int{xs[a]}, []int{starts[a]}, []int{ends[a]}, []int{steps[a]})
			if out[0] > maxConstElems {
				return nil, unsupported("Slice of %d positions", out[0])
			}
			pos := make([]int64, out[0])
			for i := range pos {
				pos[i] = int64(starts[a] + i*steps[a])
			}
			if len(pos) == 0 {
				return nil, unsupported("an empty Slice")
			}
			var err error
			if x, err = im.gatherAxis(x, a, pos); err != nil {
				return nil, err
			}
			starts[a], ends[a], steps[a] = 0, len(pos), 1
			xs = x.shape()
		}
	}
	full := true
	for a := range xs {
		ends[a] = max(ends[a], starts[a])
		full = full && starts[a] == 0 && ends[a] == xs[a]
	}
	if full {
		return x, nil
	}
	n, err := im.nodeOf(x)
	if err != nil {
		return nil, err
	}
	y, err := im.apply(graph.OpSlice, graph.Attrs{Starts: starts, Ends: ends}, n)
	return node(y), err
}

func convSlice(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	x := in[0]
	xs := x.shape()
	r := len(xs)
	var st, en, ax, sp []int64
	if s, ok := attrInts(nd, "starts"); ok { // opset < 10
		st = s
		en, _ = attrInts(nd, "ends")
		ax, _ = attrInts(nd, "axes")
	} else {
		var err error
		if st, err = constInts(get(in, 1), "input starts"); err != nil {
			return nil, err
		}
		if en, err = constInts(get(in, 2), "input ends"); err != nil {
			return nil, err
		}
		if get(in, 3) != nil {
			if ax, err = constInts(in[3], "input axes"); err != nil {
				return nil, err
			}
		}
		if get(in, 4) != nil {
			if sp, err = constInts(in[4], "input steps"); err != nil {
				return nil, err
			}
		}
	}
	if ax == nil {
		for i := range st {
			ax = append(ax, int64(i))
		}
	}
	if sp == nil {
		sp = make([]int64, len(st))
		for i := range sp {
			sp[i] = 1
		}
	}
	if len(en) != len(st) || len(ax) != len(st) || len(sp) != len(st) {
		return nil, fmt.Errorf("starts, ends, axes and steps differ in length")
	}
	starts, ends, steps := make([]int, r), slices.Clone(xs), make([]int, r)
	for i := range steps {
		steps[i] = 1
	}
	seen := map[int]bool{}
	for i := range st {
		a, err := axis(ax[i], r, "axis")
		if err != nil {
			return nil, err
		}
		if seen[a] {
			return nil, fmt.Errorf("axis %d repeats", ax[i])
		}
		seen[a] = true
		d := int64(xs[a])
		s, e, step := st[i], en[i], sp[i]
		if step == 0 {
			return nil, fmt.Errorf("step 0 on axis %d", a)
		}
		if s < 0 {
			s += d
		}
		if e < 0 {
			e += d
		}
		if step > 0 {
			s, e = min(max(s, 0), d), min(max(e, 0), d)
		} else {
			s, e = min(max(s, 0), d-1), min(max(e, -1), d-1)
		}
		starts[a], ends[a], steps[a] = int(s), int(e), int(step)
	}
	v, err := im.sliceValue(x, starts, ends, steps)
	return []*value{v}, err
}

func get(in []*value, k int) *value {
	if k < len(in) {
		return in[k]
	}
	return nil
}

func convSplit(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	x := in[0]
	xs := x.shape()
	a, err := axis(attrInt(nd, "axis", 0), len(xs), "attribute \"axis\"")
	if err != nil {
		return nil, err
	}
	sizes, ok := attrInts(nd, "split")
	if !ok && get(in, 1) != nil {
		if sizes, err = constInts(in[1], "input split"); err != nil {
			return nil, err
		}
	}
	nout := len(nd.GetOutput())
	if sizes == nil {
		n := int(attrInt(nd, "num_outputs", int64(nout)))
		if n <= 0 {
			return nil, fmt.Errorf("no outputs")
		}
		chunk := (xs[a] + n - 1) / n
		for i := range n {
			sizes = append(sizes, int64(min(chunk, max(xs[a]-i*chunk, 0))))
		}
	}
	total := int64(0)
	for _, s := range sizes {
		if s < 0 {
			return nil, fmt.Errorf("negative split size %d", s)
		}
		total += s
	}
	if total != int64(xs[a]) || len(sizes) != nout {
		return nil, fmt.Errorf("split %v does not cut axis %d of %v into %d outputs", sizes, a, xs, nout)
	}
	var outs []*value
	off := 0
	for _, s := range sizes {
		starts, ends, steps := make([]int, len(xs)), slices.Clone(xs), make([]int, len(xs))
		for i := range steps {
			steps[i] = 1
		}
		starts[a], ends[a] = off, off+int(s)
		off += int(s)
		v, err := im.sliceValue(x, starts, ends, steps)
		if err != nil {
			return nil, err
		}
		if v == x {
			v = &value{node: x.node, c: x.c, param: x.param}
		}
		outs = append(outs, v)
	}
	return outs, nil
}

func convGather(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x, ids := in[0], in[1]
	xs := x.shape()
	if ids.kind() != kInt {
		return nil, fmt.Errorf("indices must be integers, got %s", ids.kind())
	}
	a, err := axis(attrInt(nd, "axis", 0), len(xs), "attribute \"axis\"")
	if err != nil {
		return nil, err
	}
	if ids.known() { // normalize negative indices and check the range
		c := &constant{kind: kInt, shape: ids.c.shape, i: make([]int64, len(ids.c.i))}
		for j, k := range ids.c.i {
			if k < 0 {
				k += int64(xs[a])
			}
			if k < 0 || k >= int64(xs[a]) {
				return nil, fmt.Errorf("index %d is out of range for axis %d of %v", ids.c.i[j], a, xs)
			}
			c.i[j] = k
		}
		ids = known(c)
	}
	outShape := append(append(slices.Clone(xs[:a]), ids.shape()...), xs[a+1:]...)
	if x.known() && ids.known() {
		if _, err := checkedSize(outShape, maxConstElems); err != nil {
			return nil, err
		}
		outer := graph.Shape(xs[:a]).Size()
		inner := graph.Shape(xs[a+1:]).Size()
		var idx []int
		for o := range outer {
			for _, k := range ids.c.i {
				for q := range inner {
					idx = append(idx, (o*xs[a]+int(k))*inner+q)
				}
			}
		}
		return []*value{known(x.c.pick(outShape, idx))}, nil
	}
	if x.kind() != kFloat {
		// The IR's Gather is an embedding lookup over float tables.
		return nil, unsupported("Gather from %s values computed at run time", x.kind())
	}
	// The IR gathers rows of axis 0: move axis a to the front and back.
	perm := []int{a}
	for i := range xs {
		if i != a {
			perm = append(perm, i)
		}
	}
	xt, err := im.transposeValue(x, perm)
	if err != nil {
		return nil, err
	}
	ns, err := im.nodes(xt, ids)
	if err != nil {
		return nil, err
	}
	if !ids.known() { // negative ids count from the end
		ch := &chain{im: im}
		if ns[1] = ch.wrapIndices(ns[1], xs[a]); ch.err != nil {
			return nil, ch.err
		}
	}
	y, err := im.apply(graph.OpGather, graph.Attrs{}, ns...)
	if err != nil {
		return nil, err
	}
	if a == 0 {
		return []*value{node(y)}, nil
	}
	// y is [ids…, xs without a…]; want [xs[:a]…, ids…, xs[a+1:]…].
	k := len(ids.shape())
	back := make([]int, 0, len(outShape))
	for i := range a {
		back = append(back, k+i)
	}
	for i := range k {
		back = append(back, i)
	}
	for i := a + 1; i < len(xs); i++ {
		back = append(back, k+i-1)
	}
	v, err := im.transposeValue(node(y), back)
	return []*value{v}, err
}

func convExpand(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	s, err := constInts(in[1], "input shape")
	if err != nil {
		return nil, err
	}
	target, err := toInts(s)
	if err != nil {
		return nil, err
	}
	x := in[0]
	out, ok := graph.BroadcastShapes(x.shape(), target)
	if !ok {
		return nil, fmt.Errorf("cannot expand %v to %v", x.shape(), target)
	}
	if _, err := checkedSize(out, maxElems); err != nil {
		return nil, err
	}
	if x.known() {
		if _, err := checkedSize(out, maxConstElems); err != nil {
			return nil, err
		}
		return []*value{known(x.c.pick(out, bcastIndex(out, x.c.shape)))}, nil
	}
	if out.Equal(x.shape()) {
		return passThrough(in)
	}
	n, err := im.nodeOf(x)
	if err != nil {
		return nil, err
	}
	y, err := im.apply(graph.OpBroadcastTo, graph.Attrs{Shape: out}, n)
	return []*value{node(y)}, err
}

func convTile(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	reps, err := constInts(in[1], "input repeats")
	if err != nil {
		return nil, err
	}
	x := in[0]
	if len(reps) != len(x.shape()) {
		return nil, fmt.Errorf("repeats %v do not match rank %d", reps, len(x.shape()))
	}
	out := slices.Clone(x.shape())
	for a, r := range reps {
		if r < 0 || r > maxElems {
			return nil, fmt.Errorf("bad repeat %d", r)
		}
		out[a] *= int(r)
	}
	if _, err := checkedSize(out, maxElems); err != nil {
		return nil, err
	}
	if x.known() {
		if _, err := checkedSize(out, maxConstElems); err != nil {
			return nil, err
		}
	}
	cur := x
	for a, r := range reps {
		if r == 1 {
			continue
		}
		if r > 1<<12 {
			return nil, unsupported("Tile with %d repeats", r)
		}
		parts := make([]*value, r)
		for i := range parts {
			parts[i] = cur
		}
		if r == 0 {
			return nil, unsupported("Tile with a repeat of 0")
		}
		if cur.known() {
			cs := make([]*constant, r)
			for i := range cs {
				cs[i] = cur.c
			}
			c, err := concatConst(cs, a)
			if err != nil {
				return nil, err
			}
			cur = known(c)
			continue
		}
		ns, err := im.nodes(parts...)
		if err != nil {
			return nil, err
		}
		y, err := im.apply(graph.OpConcat, graph.Attrs{Axis: a}, ns...)
		if err != nil {
			return nil, err
		}
		cur = node(y)
	}
	if cur == x {
		return passThrough(in)
	}
	return []*value{cur}, nil
}

func convTrilu(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	x := in[0]
	xs := x.shape()
	if len(xs) < 2 {
		return nil, fmt.Errorf("input needs at least 2 axes, got %v", xs)
	}
	upper := attrInt(nd, "upper", 1) != 0
	R, C := xs[len(xs)-2], xs[len(xs)-1]
	zero := scalarConst(x.kind(), 0)
	if x.kind() == kBool {
		zero = &constant{kind: kBool, shape: []int{}, f: []float64{0}}
	}
	kv := get(in, 1)
	if kv != nil && !kv.known() {
		// k known only at run time: compare the diagonal offsets j − i with it.
		if kv.kind() != kInt || graph.Shape(kv.shape()).Size() != 1 {
			return nil, fmt.Errorf("input k must be one integer")
		}
		diag, err := newConstant(kInt, []int{R, C})
		if err != nil {
			return nil, err
		}
		for i := range R {
			for j := range C {
				diag.i[i*C+j] = int64(j - i)
			}
		}
		kr, err := im.reshapeValue(kv, []int{})
		if err != nil {
			return nil, err
		}
		op := graph.OpGreaterEqual
		if !upper {
			op = graph.OpLessEqual
		}
		mask, err := compareOp(op)(im, nd, []*value{known(diag), kr})
		if err != nil {
			return nil, err
		}
		return convWhere(im, nd, []*value{mask[0], x, known(zero)})
	}
	k := int64(0)
	if kv != nil {
		ks, err := constInts(kv, "input k")
		if err != nil {
			return nil, err
		}
		if len(ks) != 1 {
			return nil, fmt.Errorf("input k must have one element")
		}
		k = ks[0]
	}
	mask, err := newConstant(kBool, []int{R, C})
	if err != nil {
		return nil, err
	}
	for i := range R {
		for j := range C {
			d := int64(j - i)
			mask.f[i*C+j] = b2f(upper && d >= k || !upper && d <= k)
		}
	}
	return convWhere(im, nd, []*value{known(mask), x, known(zero)})
}

func convPad(im *importer, nd *onnxpb.NodeProto, in []*value) ([]*value, error) {
	if err := need(in, 0); err != nil {
		return nil, err
	}
	mode := attrString(nd, "mode", "constant")
	if mode != "constant" && mode != "edge" && mode != "reflect" {
		return nil, unsupported("attribute \"mode\" = %q", mode)
	}
	x := in[0]
	xs := x.shape()
	pads, ok := attrInts(nd, "pads")
	fill := attrFloat(nd, "value", 0)
	if !ok {
		var err error
		if pads, err = constInts(get(in, 1), "input pads"); err != nil {
			return nil, err
		}
		if get(in, 2) != nil {
			if fill, err = constScalar(in[2], "input constant_value"); err != nil {
				return nil, err
			}
		}
		if get(in, 3) != nil {
			return nil, unsupported("input axes")
		}
	}
	if len(pads) != 2*len(xs) {
		return nil, fmt.Errorf("pads %v need 2 numbers per axis of %v", pads, xs)
	}
	if mode != "constant" {
		for _, p := range pads {
			if p < 0 || p > maxElems {
				return nil, unsupported("pads %v", pads)
			}
		}
		v, err := im.padByGather(x, mode, pads)
		return []*value{v}, err
	}
	starts, shape := make([]int, len(xs)), make([]int, len(xs))
	for a, d := range xs {
		if pads[a] < 0 || pads[a+len(xs)] < 0 {
			return nil, unsupported("negative pads %v", pads)
		}
		if pads[a] > maxElems || pads[a+len(xs)] > maxElems {
			return nil, fmt.Errorf("pads %v are too large", pads)
		}
		starts[a] = int(pads[a])
		shape[a] = d + int(pads[a]) + int(pads[a+len(xs)])
	}
	if _, err := checkedSize(shape, maxElems); err != nil {
		return nil, err
	}
	xn, err := im.floatNode(x, "Pad")
	if err != nil {
		return nil, err
	}
	y, err := im.apply(graph.OpPad, graph.Attrs{Starts: starts, Shape: shape}, xn)
	if err != nil || fill == 0 {
		return []*value{node(y)}, err
	}
	// The IR pads with zeros: add fill outside the block where x sits.
	border, err := newConstant(kFloat, shape)
	if err != nil {
		return nil, err
	}
	st := graph.Shape(shape).Strides()
	for j := range border.f {
		inside := true
		for a := range shape {
			c := j / st[a] % shape[a]
			inside = inside && c >= starts[a] && c < starts[a]+xs[a]
		}
		if !inside {
			border.f[j] = fill
		}
	}
	bn, err := im.nodeOf(known(im.roundFloat(border)))
	if err != nil {
		return nil, err
	}
	y, err = im.apply(graph.OpAdd, graph.Attrs{}, y, bn)
	return []*value{node(y)}, err
}
