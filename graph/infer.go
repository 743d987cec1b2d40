package graph

import (
	"fmt"
	"math"
	"slices"
)

// ShapeError is a shape or dtype mistake found by an op's shape rule. Hint, when
// set, suggests the likely fix.
type ShapeError struct {
	Op   string
	Msg  string
	Hint string
}

func (e *ShapeError) Error() string {
	s := e.Op + ": " + e.Msg
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func shapeErr(n *Node, format string, args ...any) error {
	return &ShapeError{Op: n.Op.String(), Msg: fmt.Sprintf(format, args...)}
}

// BroadcastShapes returns the NumPy broadcast of a and b: dimensions are aligned
// on the right and must be equal or 1.
func BroadcastShapes(a, b Shape) (Shape, bool) {
	n := max(len(a), len(b))
	out := make(Shape, n)
	for i := range n {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

// CanBroadcastTo reports whether from broadcasts to the shape to exactly.
func CanBroadcastTo(from, to Shape) bool {
	s, ok := BroadcastShapes(from, to)
	return ok && s.Equal(to)
}

func inferLeaf(n *Node) (Type, error) { return n.Type, nil }

func inferParam(n *Node) (Type, error) {
	if n.Type.DType.IsStorage() {
		if n.Attrs.Init != "values" && n.Attrs.Init != "zeros" {
			return Type{}, shapeErr(n, "a %s parameter is initialised by values or zeros, not %q", n.Type.DType, n.Attrs.Init)
		}
	} else if !n.Type.DType.IsFloat() {
		return Type{}, shapeErr(n, "parameters must be f32, f64, bf16 or i8, got %s", n.Type.DType)
	}
	switch n.Attrs.Init {
	case "zeros", "ones", "he", "xavier":
	case "normal":
		if !(n.Attrs.Std > 0) {
			return Type{}, shapeErr(n, "init normal needs std > 0, got %v", n.Attrs.Std)
		}
	case "values":
		if len(n.Attrs.Data) != n.Type.Shape.Size() {
			return Type{}, shapeErr(n, "init values has %d numbers for shape %s (%d elements)", len(n.Attrs.Data), n.Type.Shape, n.Type.Shape.Size())
		}
	default:
		return Type{}, shapeErr(n, "unknown initializer %q (want zeros, ones, normal, he, xavier or values)", n.Attrs.Init)
	}
	return n.Type, nil
}

func inferConst(n *Node) (Type, error) {
	if n.Attrs.Data != nil && len(n.Attrs.Data) != n.Type.Shape.Size() {
		return Type{}, shapeErr(n, "data has %d numbers for shape %s", len(n.Attrs.Data), n.Type.Shape)
	}
	if n.Type.DType == Void || n.Type.DType == Invalid {
		return Type{}, shapeErr(n, "constant needs a value dtype")
	}
	return n.Type, nil
}

func needFloat(n *Node, x *Node) error {
	if !x.Type.DType.IsFloat() {
		return shapeErr(n, "operand %s is %s, want f32 or f64", x.Label(), x.Type)
	}
	return nil
}

func inferUnaryFloat(n *Node) (Type, error) {
	x := n.Inputs[0]
	if err := needFloat(n, x); err != nil {
		return Type{}, err
	}
	if (n.Op == OpLayerNorm || n.Op == OpRMSNorm) && x.Type.Shape.Rank() == 0 {
		return Type{}, shapeErr(n, "needs at least one axis, got a scalar")
	}
	return Type{DType: x.Type.DType, Shape: x.Type.Shape.Clone()}, nil
}

func inferCast(n *Node) (Type, error) {
	to, from := n.Attrs.To, n.Inputs[0].Type.DType
	switch {
	case to == BF16 && from != F32:
		return Type{}, shapeErr(n, "cannot cast %s to bf16: only f32 values are stored in bf16", from)
	case to == BF16:
	case from == BF16 && to != F32:
		return Type{}, shapeErr(n, "cannot cast bf16 to %s: bf16 values widen to f32", to)
	case to != F32 && to != F64 && to != I32 && to != Bool:
		return Type{}, shapeErr(n, "cannot cast to %s", to)
	}
	return Type{DType: to, Shape: n.Inputs[0].Type.Shape.Clone()}, nil
}

func broadcastPair(n *Node, a, b *Node) (Shape, error) {
	s, ok := BroadcastShapes(a.Type.Shape, b.Type.Shape)
	if !ok {
		return nil, &ShapeError{Op: n.Op.String(), Msg: fmt.Sprintf("shapes %s and %s do not broadcast", a.Type.Shape, b.Type.Shape),
			Hint: "dimensions must match or be 1, aligned from the right"}
	}
	return s, nil
}

func inferBinaryArith(n *Node) (Type, error) {
	a, b := n.Inputs[0], n.Inputs[1]
	if a.Type.DType != b.Type.DType {
		return Type{}, shapeErr(n, "dtypes differ: %s and %s", a.Type, b.Type)
	}
	if !a.Type.DType.IsFloat() {
		return Type{}, shapeErr(n, "operands are %s, want f32 or f64", a.Type.DType)
	}
	s, err := broadcastPair(n, a, b)
	return Type{DType: a.Type.DType, Shape: s}, err
}

func inferCompare(n *Node) (Type, error) {
	a, b := n.Inputs[0], n.Inputs[1]
	if a.Type.DType != b.Type.DType {
		return Type{}, shapeErr(n, "dtypes differ: %s and %s", a.Type, b.Type)
	}
	if a.Type.DType == Bool || a.Type.DType == Void {
		return Type{}, shapeErr(n, "cannot compare %s values", a.Type.DType)
	}
	s, err := broadcastPair(n, a, b)
	return Type{DType: Bool, Shape: s}, err
}

func inferLogical(n *Node) (Type, error) {
	for _, x := range n.Inputs {
		if x.Type.DType != Bool {
			return Type{}, shapeErr(n, "operand %s is %s, want a bool mask", x.Label(), x.Type)
		}
	}
	if len(n.Inputs) == 1 {
		return Type{DType: Bool, Shape: n.Inputs[0].Type.Shape.Clone()}, nil
	}
	s, err := broadcastPair(n, n.Inputs[0], n.Inputs[1])
	return Type{DType: Bool, Shape: s}, err
}

func inferWhere(n *Node) (Type, error) {
	m, a, b := n.Inputs[0], n.Inputs[1], n.Inputs[2]
	if m.Type.DType != Bool {
		return Type{}, shapeErr(n, "condition %s is %s, want a bool mask", m.Label(), m.Type)
	}
	if a.Type.DType != b.Type.DType {
		return Type{}, shapeErr(n, "dtypes differ: %s and %s", a.Type, b.Type)
	}
	s, err := broadcastPair(n, a, b)
	if err != nil {
		return Type{}, err
	}
	s2, ok := BroadcastShapes(m.Type.Shape, s)
	if !ok {
		return Type{}, shapeErr(n, "mask shape %s does not broadcast with %s", m.Type.Shape, s)
	}
	return Type{DType: a.Type.DType, Shape: s2}, nil
}

func inferQMatMul(n *Node) (Type, error) {
	x, w := n.Inputs[0], n.Inputs[1]
	if !x.Type.DType.IsFloat() {
		return Type{}, shapeErr(n, "x is %s, want f32 or f64", x.Type)
	}
	if w.Op != OpParam || !w.Type.DType.IsStorage() {
		return Type{}, shapeErr(n, "W %s must be a bf16 or i8 parameter", w.Label())
	}
	xs, ws := x.Type.Shape, w.Type.Shape
	if xs.Rank() < 2 || ws.Rank() != 2 {
		return Type{}, shapeErr(n, "want x with at least 2 axes and W with 2: %s x %s", xs, ws)
	}
	k, nn := ws[0], ws[1]
	if n.Attrs.TransB {
		k, nn = nn, k
	}
	if xs[len(xs)-1] != k {
		return Type{}, shapeErr(n, "inner dimensions differ: %s x %s", xs, ws)
	}
	switch {
	case w.Type.DType == I8 && len(n.Inputs) != 3:
		return Type{}, shapeErr(n, "i8 weights %s need their f32 scales", w.Label())
	case w.Type.DType == BF16 && len(n.Inputs) != 2:
		return Type{}, shapeErr(n, "bf16 weights %s take no scales", w.Label())
	case len(n.Inputs) == 3 && !n.Inputs[2].Type.Equal(T(F32, nn)):
		return Type{}, shapeErr(n, "scales are %s, want f32[%d]", n.Inputs[2].Type, nn)
	}
	out := append(xs[:len(xs)-1].Clone(), nn)
	return Type{DType: x.Type.DType, Shape: out}, nil
}

func inferMatMul(n *Node) (Type, error) {
	a, b := n.Inputs[0], n.Inputs[1]
	if a.Type.DType != b.Type.DType {
		return Type{}, shapeErr(n, "dtypes differ: %s and %s", a.Type, b.Type)
	}
	if !a.Type.DType.IsFloat() {
		return Type{}, shapeErr(n, "operands are %s, want f32 or f64", a.Type.DType)
	}
	as, bs := a.Type.Shape, b.Type.Shape
	if as.Rank() < 2 || bs.Rank() < 2 {
		return Type{}, shapeErr(n, "operands need at least 2 axes: %s x %s", as, bs)
	}
	m, k := as[len(as)-2], as[len(as)-1]
	if n.Attrs.TransA {
		m, k = k, m
	}
	k2, nn := bs[len(bs)-2], bs[len(bs)-1]
	if n.Attrs.TransB {
		k2, nn = nn, k2
	}
	if k != k2 {
		e := &ShapeError{Op: "MatMul", Msg: fmt.Sprintf("inner dimensions differ: %s x %s", as, bs)}
		// The reference text's classic bug: a weight stored [out, in] where [in, out] was meant.
		bn := bs[len(bs)-1]
		if n.Attrs.TransB {
			bn = bs[len(bs)-2]
		}
		if bn == k {
			e.Hint = fmt.Sprintf("did you mean Transpose(%s)?", b.Label())
		} else if m == k2 && !n.Attrs.TransA {
			e.Hint = fmt.Sprintf("did you mean Transpose(%s)?", a.Label())
		}
		return Type{}, e
	}
	batch, ok := BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	if !ok {
		return Type{}, shapeErr(n, "batch dimensions do not broadcast: %s x %s", as, bs)
	}
	return Type{DType: a.Type.DType, Shape: append(batch, m, nn)}, nil
}

func inferTranspose(n *Node) (Type, error) {
	x := n.Inputs[0]
	p := n.Attrs.Perm
	if len(p) != x.Type.Shape.Rank() {
		return Type{}, shapeErr(n, "perm %s has %d axes, operand %s has %d", intList(p), len(p), x.Type.Shape, x.Type.Shape.Rank())
	}
	seen := make([]bool, len(p))
	out := make(Shape, len(p))
	for i, ax := range p {
		if ax < 0 || ax >= len(p) || seen[ax] {
			return Type{}, shapeErr(n, "perm %s is not a permutation of 0..%d", intList(p), len(p)-1)
		}
		seen[ax] = true
		out[i] = x.Type.Shape[ax]
	}
	return Type{DType: x.Type.DType, Shape: out}, nil
}

func inferReshape(n *Node) (Type, error) {
	x := n.Inputs[0]
	s := Shape(n.Attrs.Shape)
	for _, d := range s {
		if d < 0 {
			return Type{}, shapeErr(n, "negative dimension in %s", s)
		}
	}
	if s.Size() != x.Type.Shape.Size() {
		return Type{}, shapeErr(n, "cannot reshape %s (%d elements) to %s (%d elements)", x.Type.Shape, x.Type.Shape.Size(), s, s.Size())
	}
	return Type{DType: x.Type.DType, Shape: s.Clone()}, nil
}

func inferBroadcastTo(n *Node) (Type, error) {
	x := n.Inputs[0]
	s := Shape(n.Attrs.Shape)
	if !CanBroadcastTo(x.Type.Shape, s) {
		return Type{}, shapeErr(n, "cannot broadcast %s to %s", x.Type.Shape, s)
	}
	return Type{DType: x.Type.DType, Shape: s.Clone()}, nil
}

func inferSlice(n *Node) (Type, error) {
	x := n.Inputs[0]
	st, en := n.Attrs.Starts, n.Attrs.Ends
	r := x.Type.Shape.Rank()
	if len(st) != r || len(en) != r {
		return Type{}, shapeErr(n, "needs a start and end for each of the %d axes of %s, got starts %s ends %s", r, x.Type.Shape, intList(st), intList(en))
	}
	out := make(Shape, r)
	for i := range r {
		if st[i] < 0 || en[i] > x.Type.Shape[i] || st[i] > en[i] {
			return Type{}, shapeErr(n, "range %d:%d on axis %d is outside %s", st[i], en[i], i, x.Type.Shape)
		}
		out[i] = en[i] - st[i]
	}
	return Type{DType: x.Type.DType, Shape: out}, nil
}

func inferPad(n *Node) (Type, error) {
	x := n.Inputs[0]
	st, s := n.Attrs.Starts, Shape(n.Attrs.Shape)
	r := x.Type.Shape.Rank()
	if len(st) != r || len(s) != r {
		return Type{}, shapeErr(n, "needs a start and size for each of the %d axes of %s", r, x.Type.Shape)
	}
	for i := range r {
		if st[i] < 0 || st[i]+x.Type.Shape[i] > s[i] {
			return Type{}, shapeErr(n, "%s at offset %s does not fit in %s", x.Type.Shape, intList(st), s)
		}
	}
	return Type{DType: x.Type.DType, Shape: s.Clone()}, nil
}

func inferConcat(n *Node) (Type, error) {
	first := n.Inputs[0]
	ax := n.Attrs.Axis
	r := first.Type.Shape.Rank()
	if ax < 0 || ax >= r {
		return Type{}, shapeErr(n, "axis %d out of range for %s", ax, first.Type.Shape)
	}
	out := first.Type.Shape.Clone()
	for _, x := range n.Inputs[1:] {
		if x.Type.DType != first.Type.DType {
			return Type{}, shapeErr(n, "dtypes differ: %s and %s", first.Type, x.Type)
		}
		if x.Type.Shape.Rank() != r {
			return Type{}, shapeErr(n, "ranks differ: %s and %s", first.Type.Shape, x.Type.Shape)
		}
		for i := range r {
			if i != ax && x.Type.Shape[i] != first.Type.Shape[i] {
				return Type{}, shapeErr(n, "shapes %s and %s differ off axis %d", first.Type.Shape, x.Type.Shape, ax)
			}
		}
		out[ax] += x.Type.Shape[ax]
	}
	return Type{DType: first.Type.DType, Shape: out}, nil
}

func inferGather(n *Node) (Type, error) {
	table, ids := n.Inputs[0], n.Inputs[1]
	if ids.Type.DType != I32 {
		return Type{}, shapeErr(n, "ids %s are %s, want i32", ids.Label(), ids.Type)
	}
	if table.Type.Shape.Rank() < 1 {
		return Type{}, shapeErr(n, "table %s needs at least one axis", table.Type)
	}
	// The kernels gather floats: an integer or mask table would read zeros.
	if err := needFloat(n, table); err != nil {
		return Type{}, err
	}
	out := append(ids.Type.Shape.Clone(), table.Type.Shape[1:]...)
	return Type{DType: table.Type.DType, Shape: out}, nil
}

func inferScatterAdd(n *Node) (Type, error) {
	ids, upd := n.Inputs[0], n.Inputs[1]
	if ids.Type.DType != I32 {
		return Type{}, shapeErr(n, "ids %s are %s, want i32", ids.Label(), ids.Type)
	}
	if err := needFloat(n, upd); err != nil {
		return Type{}, err
	}
	k := ids.Type.Shape.Rank()
	if upd.Type.Shape.Rank() < k || !upd.Type.Shape[:k].Equal(ids.Type.Shape) {
		return Type{}, shapeErr(n, "updates %s must start with the ids shape %s", upd.Type.Shape, ids.Type.Shape)
	}
	if n.Attrs.Depth <= 0 {
		return Type{}, shapeErr(n, "depth must be positive, got %d", n.Attrs.Depth)
	}
	out := append(Shape{n.Attrs.Depth}, upd.Type.Shape[k:]...)
	return Type{DType: upd.Type.DType, Shape: out}, nil
}

func inferOneHot(n *Node) (Type, error) {
	ids := n.Inputs[0]
	if ids.Type.DType != I32 {
		return Type{}, shapeErr(n, "ids %s are %s, want i32", ids.Label(), ids.Type)
	}
	if n.Attrs.Depth <= 0 {
		return Type{}, shapeErr(n, "depth must be positive, got %d", n.Attrs.Depth)
	}
	if !n.Attrs.To.IsFloat() {
		return Type{}, shapeErr(n, "result dtype must be f32 or f64, got %s", n.Attrs.To)
	}
	return Type{DType: n.Attrs.To, Shape: append(ids.Type.Shape.Clone(), n.Attrs.Depth)}, nil
}

// ReducedShape is the shape left after reducing axes (all when axes is empty).
func ReducedShape(s Shape, axes []int, keep bool) Shape {
	out := Shape{}
	for i, d := range s {
		if len(axes) == 0 || slices.Contains(axes, i) {
			if keep {
				out = append(out, 1)
			}
			continue
		}
		out = append(out, d)
	}
	return out
}

func checkAxes(n *Node, s Shape, axes []int) error {
	for i, ax := range axes {
		if ax < 0 || ax >= s.Rank() {
			return shapeErr(n, "axis %d out of range for %s", ax, s)
		}
		if i > 0 && axes[i-1] >= ax {
			return shapeErr(n, "axes %s must be increasing and distinct", intList(axes))
		}
	}
	return nil
}

func inferReduce(n *Node) (Type, error) {
	x := n.Inputs[0]
	if err := needFloat(n, x); err != nil {
		return Type{}, err
	}
	if err := checkAxes(n, x.Type.Shape, n.Attrs.Axes); err != nil {
		return Type{}, err
	}
	return Type{DType: x.Type.DType, Shape: ReducedShape(x.Type.Shape, n.Attrs.Axes, n.Attrs.KeepDims)}, nil
}

func inferArgMax(n *Node) (Type, error) {
	x := n.Inputs[0]
	if err := needFloat(n, x); err != nil {
		return Type{}, err
	}
	if err := checkAxes(n, x.Type.Shape, []int{n.Attrs.Axis}); err != nil {
		return Type{}, err
	}
	return Type{DType: I32, Shape: ReducedShape(x.Type.Shape, []int{n.Attrs.Axis}, n.Attrs.KeepDims)}, nil
}

func inferAxisFloat(n *Node) (Type, error) {
	x := n.Inputs[0]
	if err := needFloat(n, x); err != nil {
		return Type{}, err
	}
	if err := checkAxes(n, x.Type.Shape, []int{n.Attrs.Axis}); err != nil {
		return Type{}, err
	}
	return Type{DType: x.Type.DType, Shape: x.Type.Shape.Clone()}, nil
}

// inferPairSame: two float operands of one type (backward helpers).
func inferPairSame(n *Node) (Type, error) {
	a, b := n.Inputs[0], n.Inputs[1]
	if err := needFloat(n, a); err != nil {
		return Type{}, err
	}
	if !a.Type.Equal(b.Type) {
		return Type{}, shapeErr(n, "operands differ: %s and %s", a.Type, b.Type)
	}
	if n.Op == OpSoftmaxGrad || n.Op == OpLogSoftmaxGrad {
		if err := checkAxes(n, a.Type.Shape, []int{n.Attrs.Axis}); err != nil {
			return Type{}, err
		}
	}
	return Type{DType: a.Type.DType, Shape: a.Type.Shape.Clone()}, nil
}

func inferCausalMask(n *Node) (Type, error) {
	s := n.Attrs.Shape
	if len(s) != 2 || s[0] <= 0 || s[1] < s[0] {
		return Type{}, shapeErr(n, "shape must be [T, S] with 0 < T ≤ S, got %s", intList(s))
	}
	return Type{DType: Bool, Shape: Shape(s).Clone()}, nil
}

func lossType(n *Node, elems Shape, dt DType) (Type, error) {
	switch n.Attrs.Reduce {
	case "mean", "sum":
		return Type{DType: dt, Shape: Shape{}}, nil
	case "none":
		return Type{DType: dt, Shape: elems.Clone()}, nil
	}
	return Type{}, shapeErr(n, "reduce must be mean, sum or none, got %q", n.Attrs.Reduce)
}

func inferCrossEntropy(n *Node) (Type, error) {
	z, t := n.Inputs[0], n.Inputs[1]
	if err := needFloat(n, z); err != nil {
		return Type{}, err
	}
	if t.Type.DType != I32 {
		return Type{}, shapeErr(n, "targets %s are %s, want i32 class ids", t.Label(), t.Type)
	}
	zs := z.Type.Shape
	if zs.Rank() < 1 || !zs[:zs.Rank()-1].Equal(t.Type.Shape) {
		return Type{}, &ShapeError{Op: "CrossEntropy", Msg: fmt.Sprintf("logits %s and targets %s disagree", zs, t.Type.Shape),
			Hint: "logits must be the targets' shape plus a class axis"}
	}
	if len(n.Inputs) == 3 {
		m := n.Inputs[2]
		if m.Type.DType != Bool || !m.Type.Shape.Equal(t.Type.Shape) {
			return Type{}, shapeErr(n, "mask %s must be bool%s like the targets", m.Type, t.Type.Shape)
		}
	}
	return lossType(n, t.Type.Shape, z.Type.DType)
}

func inferLoss2(n *Node) (Type, error) {
	a, b := n.Inputs[0], n.Inputs[1]
	if err := needFloat(n, a); err != nil {
		return Type{}, err
	}
	if !a.Type.Equal(b.Type) {
		return Type{}, shapeErr(n, "operands differ: %s and %s", a.Type, b.Type)
	}
	return lossType(n, a.Type.Shape, a.Type.DType)
}

// inferApply checks an optimizer update: operand 0 is the variable written,
// operand 1 its gradient, then state variables shaped like it, then scalars.
func inferApply(n *Node) (Type, error) {
	p, g := n.Inputs[0], n.Inputs[1]
	if !p.IsVariable() {
		return Type{}, shapeErr(n, "updates %s, which is not a Param or State", p.Label())
	}
	if !g.Type.Equal(p.Type) {
		return Type{}, shapeErr(n, "gradient %s is %s, parameter %s is %s", g.Label(), g.Type, p.Label(), p.Type)
	}
	for _, x := range n.Inputs[2:] {
		if x.Type.Shape.Rank() == 0 {
			if !x.Type.DType.IsFloat() {
				return Type{}, shapeErr(n, "scalar operand %s is %s, want a float", x.Label(), x.Type)
			}
			continue
		}
		if !x.IsVariable() || !x.Type.Equal(p.Type) {
			return Type{}, shapeErr(n, "operand %s (%s) must be a state variable shaped like %s or a scalar", x.Label(), x.Type, p.Type)
		}
	}
	return Type{DType: Void}, nil
}

func inferDropoutMask(n *Node) (Type, error) {
	if !(n.Attrs.P >= 0 && n.Attrs.P < 1) {
		return Type{}, shapeErr(n, "p must be in [0, 1), got %v", n.Attrs.P)
	}
	if !n.Attrs.To.IsFloat() {
		return Type{}, shapeErr(n, "mask dtype must be f32 or f64, got %s", n.Attrs.To)
	}
	for _, d := range n.Attrs.Shape {
		if d <= 0 {
			return Type{}, shapeErr(n, "dimensions must be positive, got %s", intList(n.Attrs.Shape))
		}
	}
	return Type{DType: n.Attrs.To, Shape: Shape(n.Attrs.Shape).Clone()}, nil
}

func inferAssign(n *Node) (Type, error) {
	v, x := n.Inputs[0], n.Inputs[1]
	if !v.IsVariable() {
		return Type{}, shapeErr(n, "assigns to %s, which is not a Param or State", v.Label())
	}
	if !x.Type.Equal(v.Type) {
		return Type{}, shapeErr(n, "value %s is %s, variable %s is %s", x.Label(), x.Type, v.Label(), v.Type)
	}
	return Type{DType: Void}, nil
}

// inferScalarOf: a float scalar of the operand's dtype (the schedule of a step).
func inferScalarOf(n *Node) (Type, error) {
	x := n.Inputs[0]
	if !x.Type.DType.IsFloat() || x.Type.Shape.Rank() != 0 {
		return Type{}, shapeErr(n, "operand %s is %s, want a float scalar", x.Label(), x.Type)
	}
	if n.Op == OpLRSchedule {
		a := n.Attrs
		if a.Warmup < 0 || a.Steps < 0 || (a.Steps > 0 && a.Steps <= a.Warmup) {
			return Type{}, shapeErr(n, "need 0 ≤ warmup < steps (or steps = 0), got warmup %d, steps %d", a.Warmup, a.Steps)
		}
	}
	return Type{DType: x.Type.DType, Shape: Shape{}}, nil
}

func inferGlobalNorm(n *Node) (Type, error) {
	dt := n.Inputs[0].Type.DType
	for _, x := range n.Inputs {
		if x.Type.DType != dt || !dt.IsFloat() {
			return Type{}, shapeErr(n, "operands must share one float dtype, got %s and %s", n.Inputs[0].Type, x.Type)
		}
	}
	return Type{DType: dt, Shape: Shape{}}, nil
}

func inferAttendCache(n *Node) (Type, error) {
	q, kc, vc, kn, vn, pos := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Inputs[3], n.Inputs[4], n.Inputs[5]
	qs := q.Type.Shape
	if qs.Rank() < 2 {
		return Type{}, shapeErr(n, "q must be [..., R, d], got %s", q.Type)
	}
	row := qs.Clone()
	row[row.Rank()-2] = 1
	if !kn.Type.Equal(vn.Type) || !kn.Type.Shape.Equal(row) || kn.Type.DType != q.Type.DType {
		return Type{}, shapeErr(n, "new key %s and value %s must be one row [..., 1, d] like q %s", kn.Type, vn.Type, q.Type)
	}
	cs := kc.Type.Shape
	if !kc.Type.Equal(vc.Type) || cs.Rank() != qs.Rank() || !cs[:cs.Rank()-2].Equal(qs[:qs.Rank()-2]) || cs[cs.Rank()-1] != qs[qs.Rank()-1] {
		return Type{}, shapeErr(n, "caches %s and %s must be [..., S, d] like q %s", kc.Type, vc.Type, q.Type)
	}
	if err := checkPositions(n, pos, qs); err != nil {
		return Type{}, err
	}
	return Type{DType: q.Type.DType, Shape: qs.Clone()}, nil
}

func inferCacheWrite(n *Node) (Type, error) {
	c, x, pos := n.Inputs[0], n.Inputs[1], n.Inputs[2]
	if !c.IsVariable() {
		return Type{}, shapeErr(n, "writes %s, which is not a State", c.Label())
	}
	cs, xs := c.Type.Shape, x.Type.Shape
	if c.Type.DType != x.Type.DType || cs.Rank() != xs.Rank() || cs.Rank() < 2 || xs[xs.Rank()-2] != 1 ||
		!cs[:cs.Rank()-2].Equal(xs[:xs.Rank()-2]) || cs[cs.Rank()-1] != xs[xs.Rank()-1] {
		return Type{}, shapeErr(n, "row %s does not fit the cache %s", x.Type, c.Type)
	}
	if err := checkPositions(n, pos, cs); err != nil {
		return Type{}, err
	}
	return Type{DType: Void}, nil
}

// checkPositions checks the position operand of the KV-cache ops against x
// [B, ..., T, d]: a float scalar (every row of the batch at the same
// position), or a float vector [B] of one position per entry of x's first
// axis (continuous batching: each sequence of the batch at its own).
func checkPositions(n, pos *Node, x Shape) error {
	ps := pos.Type.Shape
	switch {
	case !pos.Type.DType.IsFloat():
	case ps.Rank() == 0:
		return nil
	case ps.Rank() == 1 && x.Rank() >= 3 && ps[0] == x[0]:
		return nil
	}
	return shapeErr(n, "pos must be a float scalar, or a float vector of one position per entry of the first axis of %s, got %s", x, pos.Type)
}

func inferRoPE(n *Node) (Type, error) {
	x := n.Inputs[0]
	if err := needFloat(n, x); err != nil {
		return Type{}, err
	}
	s := x.Type.Shape
	if s.Rank() < 2 || s[s.Rank()-1]%2 != 0 {
		return Type{}, shapeErr(n, "x must be [..., T, d] with d even, got %s", x.Type)
	}
	if !(n.Attrs.Theta > 0) || math.IsInf(n.Attrs.Theta, 0) {
		return Type{}, shapeErr(n, "theta must be positive and finite, got %s", FormatFloat(n.Attrs.Theta))
	}
	if n.Attrs.Offset < 0 {
		return Type{}, shapeErr(n, "offset must not be negative, got %d", n.Attrs.Offset)
	}
	if len(n.Inputs) == 2 {
		if err := checkPositions(n, n.Inputs[1], s); err != nil {
			return Type{}, err
		}
	}
	return Type{DType: x.Type.DType, Shape: s.Clone()}, nil
}

// KVGroup reports how many consecutive matrices of a batch q [...] share
// each matrix of the batch k [...] of the same rank: 1 when they are equal;
// under grouped-query attention, where k's trailing axes are 1 and q's are
// the query heads of one key head, their product.
func KVGroup(q, k Shape) (int, bool) {
	if len(q) != len(k) {
		return 0, false
	}
	j := 0
	for j < len(q) && q[j] == k[j] {
		j++
	}
	g := 1
	for i := j; i < len(q); i++ {
		if k[i] != 1 {
			return 0, false
		}
		g *= q[i]
	}
	return g, true
}
