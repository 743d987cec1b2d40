package passes

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// DropoutInputPrefix names the inputs DropoutInputs makes: the masks in
// the order the model draws them, "dropout.0", "dropout.1", ...
const DropoutInputPrefix = "dropout."

// DropoutInputs turns every dropout mask of a training graph into an input
// the caller gives: a bool keep mask of the mask's shape (true keeps the
// element), scaled by 1/(1−p) as the drawn mask is. A step can then be
// checked against another framework that drew its own masks.
//
// Assumes: g has no gradients yet (autodiff runs after). Guarantees: each
// DropoutMask node is replaced, in place, by Cast(keep)·1/(1−p) over a new
// bool Input named DropoutInputPrefix+k, k counting the masks in node order
// (the order the generator would have drawn them); it returns their names.
func DropoutInputs(g *graph.Graph) ([]string, error) {
	if len(g.Grads) > 0 {
		return nil, fmt.Errorf("%s: dropout inputs: run before autodiff", g.Name)
	}
	old := g.Nodes
	b := &graph.Builder{G: g, Role: graph.RoleForward}
	replaced := map[*graph.Node][]*graph.Node{}
	var names []string
	for _, n := range old {
		if n.Op != graph.OpDropoutMask {
			continue
		}
		name := fmt.Sprintf("%s%d", DropoutInputPrefix, len(names))
		if g.Find(name) != nil {
			return nil, fmt.Errorf("%s: dropout inputs: the model already has a value named %q", g.Name, name)
		}
		start := len(g.Nodes)
		keep, err := g.Leaf(graph.OpInput, name, graph.T(graph.Bool, n.Type.Shape...), graph.Attrs{})
		if err != nil {
			return nil, err
		}
		b.Pos = n.Pos
		scale := b.Const(n.Type.DType, 1/(1-n.Attrs.P))
		mask := b.Mul(b.Apply(graph.OpCast, graph.Attrs{To: n.Type.DType}, keep), scale)
		if b.Err != nil {
			return nil, fmt.Errorf("%s: dropout inputs: %w", g.Name, b.Err)
		}
		replaced[n] = append([]*graph.Node(nil), g.Nodes[start:]...)
		names = append(names, name)
		g.Replace(n, mask)
	}
	if len(names) == 0 {
		return nil, nil
	}
	// Put each mask's nodes where the mask was, so operands still precede
	// their users, and drop the masks.
	nodes := make([]*graph.Node, 0, len(g.Nodes))
	for _, n := range old {
		if r, ok := replaced[n]; ok {
			nodes = append(nodes, r...)
		} else {
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	g.Renumber()
	return names, graph.Validate(g)
}
