package graph

import (
	"fmt"
	"slices"
)

// Output is a named result of a graph.
type Output struct {
	Name string
	Node *Node
	// Tap marks a value the caller may read after the call (an attention
	// map, the residual stream) without it being returned: every pass keeps
	// it computed and alive like an output.
	Tap bool
}

// GradOf pairs a parameter with the node holding d loss/d parameter.
type GradOf struct {
	Param *Node
	Grad  *Node
}

// Graph is a whole program stage: nodes in topological order, plus the named
// values callers read (outputs, loss, parameter gradients).
type Graph struct {
	Name    string   // model name
	Source  string   // where the model came from, e.g. models/xor/xor.go
	Nodes   []*Node  // topological order: every input precedes its user
	Outputs []Output // values returned to the caller, in declaration order
	Loss    *Node    // scalar training objective, nil for inference-only graphs
	Grads   []GradOf // filled by autodiff, in parameter order

	// Results of later passes, as data for codegen (not part of the text form).
	Fusion *FusionPlan // kernels formed by the fusion pass
	Plan   *MemPlan    // arena offsets from the memory planner
}

// New returns an empty graph.
func New(name, source string) *Graph { return &Graph{Name: name, Source: source} }

// Append adds a node built elsewhere (shape already known) and gives it the next ID.
func (g *Graph) Append(n *Node) *Node {
	n.ID = len(g.Nodes)
	g.Nodes = append(g.Nodes, n)
	return n
}

// Apply creates op(inputs...) with attrs, runs the op's shape rule and appends
// the node. On a shape error nothing is appended.
func (g *Graph) Apply(op Op, attrs Attrs, inputs ...*Node) (*Node, error) {
	n, err := NewNode(op, attrs, inputs...)
	if err != nil {
		return nil, err
	}
	return g.Append(n), nil
}

// NewNode creates op(inputs...) through the op's shape rule without adding
// it to a graph (passes place it themselves).
func NewNode(op Op, attrs Attrs, inputs ...*Node) (*Node, error) {
	n := &Node{Op: op, Inputs: inputs, Attrs: attrs}
	if err := CheckArity(n); err != nil {
		return nil, err
	}
	t, err := op.Info().Infer(n)
	if err != nil {
		return nil, err
	}
	if err := t.Shape.CheckSize(); err != nil {
		return nil, &ShapeError{Op: op.Info().Name, Msg: err.Error()}
	}
	n.Type = t
	return n, nil
}

// CheckArity checks the operand count against the op table.
func CheckArity(n *Node) error {
	info := n.Op.Info()
	if info.Infer == nil {
		return fmt.Errorf("unknown op %d", n.Op)
	}
	k := len(n.Inputs)
	if k < info.Min || (info.Max >= 0 && k > info.Max) {
		want := fmt.Sprint(info.Min)
		switch {
		case info.Max < 0:
			want = fmt.Sprintf("at least %d", info.Min)
		case info.Max != info.Min:
			want = fmt.Sprintf("%d to %d", info.Min, info.Max)
		}
		return &ShapeError{Op: info.Name, Msg: fmt.Sprintf("takes %s operands, got %d", want, k)}
	}
	for i, x := range n.Inputs {
		if x == nil {
			return &ShapeError{Op: info.Name, Msg: fmt.Sprintf("operand %d is missing", i)}
		}
	}
	return nil
}

// Leaf appends an Input, Param, State, Const or CausalMask node of type t.
func (g *Graph) Leaf(op Op, name string, t Type, attrs Attrs) (*Node, error) {
	n := &Node{Op: op, Type: t, Attrs: attrs, Name: name}
	switch op {
	case OpInput:
		n.Role = RoleInput
	case OpParam:
		n.Role = RoleParam
	case OpState:
		n.Role = RoleState
	}
	tt, err := op.Info().Infer(n)
	if err != nil {
		return nil, err
	}
	if err := tt.Shape.CheckSize(); err != nil {
		return nil, &ShapeError{Op: op.Info().Name, Msg: err.Error()}
	}
	n.Type = tt
	return g.Append(n), nil
}

// Renumber makes IDs dense and equal to positions in Nodes.
func (g *Graph) Renumber() {
	for i, n := range g.Nodes {
		n.ID = i
	}
}

// Output returns the named output (not a tap), or nil.
func (g *Graph) Output(name string) *Node {
	for _, o := range g.Outputs {
		if o.Name == name && !o.Tap {
			return o.Node
		}
	}
	return nil
}

// Results lists the outputs an entry point returns: Outputs without taps.
func (g *Graph) Results() []Output {
	var r []Output
	for _, o := range g.Outputs {
		if !o.Tap {
			r = append(r, o)
		}
	}
	return r
}

// Taps lists the tapped values.
func (g *Graph) Taps() []Output {
	var r []Output
	for _, o := range g.Outputs {
		if o.Tap {
			r = append(r, o)
		}
	}
	return r
}

// Tap returns the named tap, or nil.
func (g *Graph) Tap(name string) *Node {
	for _, o := range g.Outputs {
		if o.Name == name && o.Tap {
			return o.Node
		}
	}
	return nil
}

// Find returns the first node with the given name, or nil.
func (g *Graph) Find(name string) *Node {
	for _, n := range g.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NodesWithOp lists the nodes of one op, in order.
func (g *Graph) NodesWithOp(op Op) []*Node {
	var out []*Node
	for _, n := range g.Nodes {
		if n.Op == op {
			out = append(out, n)
		}
	}
	return out
}

// Inputs lists the Input nodes in order.
func (g *Graph) Inputs() []*Node { return g.NodesWithOp(OpInput) }

// Params lists the Param nodes in order.
func (g *Graph) Params() []*Node { return g.NodesWithOp(OpParam) }

// Grad returns the gradient node of a parameter, or nil.
func (g *Graph) Grad(param *Node) *Node {
	for _, gr := range g.Grads {
		if gr.Param == param {
			return gr.Grad
		}
	}
	return nil
}

// Uses maps each node to the nodes that read it, in graph order.
func (g *Graph) Uses() map[*Node][]*Node {
	uses := make(map[*Node][]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, x := range n.Inputs {
			if len(uses[x]) == 0 || uses[x][len(uses[x])-1] != n {
				uses[x] = append(uses[x], n)
			}
		}
	}
	return uses
}

// Read reports the nodes that another node or an output reads.
func (g *Graph) Read() map[*Node]bool {
	read := make(map[*Node]bool, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, x := range n.Inputs {
			read[x] = true
		}
	}
	for _, o := range g.Outputs {
		read[o.Node] = true
	}
	return read
}

// Roots lists the nodes a caller can observe: outputs, loss, gradients and
// effect (update) nodes. Dead-code elimination keeps exactly what they reach.
func (g *Graph) Roots() []*Node {
	var roots []*Node
	for _, o := range g.Outputs {
		roots = append(roots, o.Node)
	}
	if g.Loss != nil {
		roots = append(roots, g.Loss)
	}
	for _, gr := range g.Grads {
		roots = append(roots, gr.Grad)
	}
	for _, n := range g.Nodes {
		if n.Type.DType == Void || n.Role == RoleUpdate {
			roots = append(roots, n)
		}
	}
	return roots
}

// Clone returns a deep copy of g; node pointers are fresh.
func (g *Graph) Clone() *Graph {
	c := &Graph{Name: g.Name, Source: g.Source}
	m := make(map[*Node]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		cn := &Node{ID: n.ID, Op: n.Op, Type: Type{DType: n.Type.DType, Shape: n.Type.Shape.Clone()},
			Attrs: n.Attrs.Clone(), Name: n.Name, Pos: n.Pos, Role: n.Role}
		cn.Inputs = make([]*Node, len(n.Inputs))
		for i, x := range n.Inputs {
			cn.Inputs[i] = m[x]
		}
		if n.Of != nil {
			cn.Of = m[n.Of]
		}
		m[n] = cn
		c.Nodes = append(c.Nodes, cn)
	}
	for _, o := range g.Outputs {
		c.Outputs = append(c.Outputs, Output{Name: o.Name, Node: m[o.Node], Tap: o.Tap})
	}
	if g.Loss != nil {
		c.Loss = m[g.Loss]
	}
	for _, gr := range g.Grads {
		c.Grads = append(c.Grads, GradOf{Param: m[gr.Param], Grad: m[gr.Grad]})
	}
	return c
}

// Replace makes every use of old (operands, outputs, loss, grads, Of links) refer to new.
func (g *Graph) Replace(old, new *Node) {
	for _, n := range g.Nodes {
		for i, x := range n.Inputs {
			if x == old {
				n.Inputs[i] = new
			}
		}
		if n.Of == old {
			n.Of = new
		}
	}
	for i := range g.Outputs {
		if g.Outputs[i].Node == old {
			g.Outputs[i].Node = new
		}
	}
	if g.Loss == old {
		g.Loss = new
	}
	for i := range g.Grads {
		if g.Grads[i].Grad == old {
			g.Grads[i].Grad = new
		}
	}
}

// Uniform reports the value of a constant whose elements are all equal
// (a scalar value or data of one repeated number).
func (n *Node) Uniform() (float64, bool) {
	if n.Op != OpConst {
		return 0, false
	}
	if n.Attrs.Data == nil {
		return n.Attrs.Value, true
	}
	for _, v := range n.Attrs.Data[1:] {
		if v != n.Attrs.Data[0] {
			return 0, false
		}
	}
	return n.Attrs.Data[0], len(n.Attrs.Data) > 0
}

// Remove drops nodes for which dead is true, keeping order, then renumbers.
// A backward node whose forward node (Of) goes keeps differentiating what is
// left of it: the nearest live forward node that fed it (else the loss), so
// that the link still names an earlier forward node.
func (g *Graph) Remove(dead func(*Node) bool) int {
	gone := map[*Node]bool{}
	for _, n := range g.Nodes {
		if dead(n) {
			gone[n] = true
		}
	}
	if len(gone) == 0 {
		return 0
	}
	for _, n := range g.Nodes {
		if n.Of != nil && gone[n.Of] && !gone[n] {
			n.Of = liveForward(n.Of, gone, map[*Node]bool{})
			if n.Of == nil && g.Loss != nil && !gone[g.Loss] && g.Loss.Role != RoleBackward && g.Loss.Role != RoleUpdate {
				n.Of = g.Loss
			}
		}
	}
	before := len(g.Nodes)
	g.Nodes = slices.DeleteFunc(g.Nodes, func(n *Node) bool { return gone[n] })
	g.Renumber()
	return before - len(g.Nodes)
}

// liveForward finds, depth first through the operands of removed nodes, the
// first operand that stays and is a forward (or leaf) node.
func liveForward(n *Node, gone, seen map[*Node]bool) *Node {
	for _, x := range n.Inputs {
		if seen[x] {
			continue
		}
		seen[x] = true
		if !gone[x] {
			if x.Role != RoleBackward && x.Role != RoleUpdate {
				return x
			}
			continue
		}
		if y := liveForward(x, gone, seen); y != nil {
			return y
		}
	}
	return nil
}

// IDLimit is the size of the range every consumer of the i32 value n accepts
// (the rows of a table it indexes, the classes of a loss it labels), or 0 when
// nothing bounds it.
func IDLimit(g *Graph, n *Node) int {
	limit := 0
	tighten := func(v int) {
		if limit == 0 || v < limit {
			limit = v
		}
	}
	for _, u := range g.Nodes {
		for k, x := range u.Inputs {
			if x != n {
				continue
			}
			switch {
			case u.Op == OpGather && k == 1:
				tighten(u.Inputs[0].Type.Shape[0])
			case u.Op == OpScatterAdd && k == 0, u.Op == OpOneHot:
				tighten(u.Attrs.Depth)
			case u.Op == OpCrossEntropy && k == 1:
				s := u.Inputs[0].Type.Shape
				tighten(s[len(s)-1])
			}
		}
	}
	return limit
}
