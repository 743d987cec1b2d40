package passes

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// rewriter walks a graph once in order and lets a rule replace each node.
// A replacement may be an earlier node or new nodes the rule creates, which
// are placed where the replaced node stood, so operands still precede
// their users. Uses of replaced nodes (operands, outputs, loss, gradients)
// are redirected.
type rewriter struct {
	g    *graph.Graph
	out  []*graph.Node
	repl map[*graph.Node]*graph.Node
	cur  *graph.Node // the node being rewritten: new nodes inherit its role and position
	err  error
}

func newRewriter(g *graph.Graph) *rewriter {
	return &rewriter{g: g, repl: map[*graph.Node]*graph.Node{}}
}

// resolve follows replacements.
func (rw *rewriter) resolve(n *graph.Node) *graph.Node {
	for {
		r, ok := rw.repl[n]
		if !ok {
			return n
		}
		n = r
	}
}

// node creates a new node in place of the current one.
func (rw *rewriter) node(op graph.Op, attrs graph.Attrs, inputs ...*graph.Node) *graph.Node {
	if rw.err != nil {
		return nil
	}
	n, err := graph.NewNode(op, attrs, inputs...)
	if err != nil {
		rw.err = fmt.Errorf("rewriting %s (%s): %w", rw.cur.Ref(), rw.cur.Op, err)
		return nil
	}
	n.Role, n.Pos, n.Of = rw.cur.Role, rw.cur.Pos, rw.cur.Of
	rw.out = append(rw.out, n)
	return n
}

// constant creates a uniform constant like the current node's role.
func (rw *rewriter) constant(t graph.Type, v float64) *graph.Node {
	n := &graph.Node{Op: graph.OpConst, Type: graph.Type{DType: t.DType, Shape: t.Shape.Clone()}, Attrs: graph.Attrs{Value: v}}
	n.Role, n.Pos, n.Of = rw.cur.Role, rw.cur.Pos, rw.cur.Of
	rw.out = append(rw.out, n)
	return n
}

// run applies rule to every node; rule returns the node's replacement, or
// nil to keep it. It returns how many nodes were replaced.
func (rw *rewriter) run(rule func(n *graph.Node) *graph.Node) (int, error) {
	count := 0
	for _, n := range rw.g.Nodes {
		for i, x := range n.Inputs {
			n.Inputs[i] = rw.resolve(x)
		}
		if n.Of != nil {
			n.Of = rw.resolve(n.Of)
		}
		rw.cur = n
		r := rule(n)
		if rw.err != nil {
			return count, rw.err
		}
		if r == nil || r == n {
			rw.out = append(rw.out, n)
			continue
		}
		if !r.Type.Equal(n.Type) {
			return count, fmt.Errorf("rewriting %s (%s): replacement has type %s, want %s", n.Ref(), n.Op, r.Type, n.Type)
		}
		// Keep the DSL's name on the value, where the replacement has none.
		if n.Name != "" && r.Name == "" && !r.IsVariable() && r.Op != graph.OpInput {
			r.Name = n.Name
		}
		rw.repl[n] = r
		count++
	}
	rw.g.Nodes = rw.out
	for i := range rw.g.Outputs {
		rw.g.Outputs[i].Node = rw.resolve(rw.g.Outputs[i].Node)
	}
	if rw.g.Loss != nil {
		rw.g.Loss = rw.resolve(rw.g.Loss)
	}
	for i := range rw.g.Grads {
		rw.g.Grads[i].Grad = rw.resolve(rw.g.Grads[i].Grad)
	}
	for _, n := range rw.g.Nodes {
		if n.Of != nil {
			n.Of = rw.resolve(n.Of)
		}
	}
	rw.g.Renumber()
	return count, nil
}
