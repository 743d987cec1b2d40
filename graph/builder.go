package graph

import "fmt"

// Builder appends nodes to a graph with a fixed role, source position and
// "differentiates" link. Gradient rules and passes use it; it records the first
// error instead of returning one from every call, so rules read like the math.
type Builder struct {
	G    *Graph
	Role Role
	Pos  Pos
	Of   *Node
	Err  error

	consts map[constKey]*Node // constants made by this builder, shared
}

type constKey struct {
	dt    DType
	v     float64
	shape string
}

func (b *Builder) fail(err error) *Node {
	if b.Err == nil {
		b.Err = err
	}
	return nil
}

// Apply creates op(inputs...) through the op's shape rule.
func (b *Builder) Apply(op Op, attrs Attrs, inputs ...*Node) *Node {
	if b.Err != nil {
		return nil
	}
	for _, x := range inputs {
		if x == nil {
			return b.fail(fmt.Errorf("%s: nil operand", op))
		}
	}
	n, err := b.G.Apply(op, attrs, inputs...)
	if err != nil {
		return b.fail(err)
	}
	n.Role, n.Pos, n.Of = b.Role, b.Pos, b.Of
	return n
}

// Const is a constant of dtype dt and shape dims, every element v.
func (b *Builder) Const(dt DType, v float64, dims ...int) *Node {
	if b.Err != nil {
		return nil
	}
	key := constKey{dt, v, Shape(dims).String()}
	if n := b.consts[key]; n != nil && v == v {
		return n
	}
	n, err := b.G.Leaf(OpConst, "", T(dt, dims...), Attrs{Value: v})
	if err != nil {
		return b.fail(err)
	}
	n.Role, n.Pos, n.Of = b.Role, b.Pos, b.Of
	if b.consts == nil {
		b.consts = map[constKey]*Node{}
	}
	b.consts[key] = n
	return n
}

// Scalar is a float constant of x's dtype and shape [].
func (b *Builder) Scalar(like *Node, v float64) *Node {
	if like == nil {
		return nil
	}
	dt := like.Type.DType
	if !dt.IsFloat() {
		dt = F64
	}
	return b.Const(dt, v)
}

func (b *Builder) Add(x, y *Node) *Node { return b.Apply(OpAdd, Attrs{}, x, y) }
func (b *Builder) Sub(x, y *Node) *Node { return b.Apply(OpSub, Attrs{}, x, y) }
func (b *Builder) Mul(x, y *Node) *Node { return b.Apply(OpMul, Attrs{}, x, y) }
func (b *Builder) Div(x, y *Node) *Node { return b.Apply(OpDiv, Attrs{}, x, y) }
func (b *Builder) Neg(x *Node) *Node    { return b.Apply(OpNeg, Attrs{}, x) }

// Unary applies a one-operand op without attributes.
func (b *Builder) Unary(op Op, x *Node) *Node { return b.Apply(op, Attrs{}, x) }

// MatMul is x·y with optional transposes.
func (b *Builder) MatMul(x, y *Node, transA, transB bool) *Node {
	return b.Apply(OpMatMul, Attrs{TransA: transA, TransB: transB}, x, y)
}

// Where is mask ? x : y.
func (b *Builder) Where(mask, x, y *Node) *Node { return b.Apply(OpWhere, Attrs{}, mask, x, y) }

// Reshape gives x a new shape.
func (b *Builder) Reshape(x *Node, dims ...int) *Node {
	if x != nil && x.Type.Shape.Equal(dims) {
		return x
	}
	return b.Apply(OpReshape, Attrs{Shape: Shape(dims).Clone()}, x)
}

// BroadcastTo repeats x to the shape dims (no node when already that shape).
func (b *Builder) BroadcastTo(x *Node, dims Shape) *Node {
	if x != nil && x.Type.Shape.Equal(dims) {
		return x
	}
	return b.Apply(OpBroadcastTo, Attrs{Shape: dims.Clone()}, x)
}

// Sum reduces x over axes.
func (b *Builder) Sum(x *Node, keep bool, axes ...int) *Node {
	return b.Apply(OpSum, Attrs{Axes: append([]int{}, axes...), KeepDims: keep}, x)
}

// SumTo sums x over the axes that broadcasting added or stretched, so that
// the result has shape target: the adjoint of broadcasting.
func (b *Builder) SumTo(x *Node, target Shape) *Node {
	if b.Err != nil || x == nil {
		return nil
	}
	s := x.Type.Shape
	if s.Equal(target) {
		return x
	}
	lead := len(s) - len(target)
	var axes []int
	for i := range s {
		if i < lead || (target[i-lead] == 1 && s[i] != 1) {
			axes = append(axes, i)
		}
	}
	if len(axes) == 0 {
		return b.Reshape(x, target...)
	}
	if axes[len(axes)-1] < lead { // only new leading axes: a plain sum lands on target
		return b.Sum(x, false, axes...)
	}
	r := b.Sum(x, true, axes...)
	return b.Reshape(r, target...)
}
