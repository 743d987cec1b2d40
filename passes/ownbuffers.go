package passes

import (
	"slices"

	"github.com/mlc-dev/mlc/graph"
)

// OwnBuffers gives the loss and every gradient a value of their own where
// they would share memory with something an update overwrites or that a
// gradient does not own: a copy (BroadcastTo to the same shape), computed
// before the first update.
//
//   - Updates write variables in place. A gradient that is a variable
//     (d loss/d q = p once −(−p) simplifies, or straight from autodiff for
//     p⊙q) was read by q's update after p's update had changed it, and a
//     loss that is a Param (or a reshape of one) was reported by TrainStep
//     after the update.
//   - Generated code keeps gradients in m.grads, where AccumulateGrads sums
//     them and Update reads them; a gradient that is a constant, an input,
//     or the gradient of two parameters is not stored there, so its update
//     read it from elsewhere.
//
// Autodiff makes such graphs as well as the rewrites, so the pass is
// required.
//
// Assumes: g is valid; updates, if any, come after every forward and
// backward node. Guarantees: g is valid; the loss is not a variable or a
// reshape of one, every gradient is a computed value used as the gradient of
// one parameter only, and each update reads its parameter's gradient. The
// copies are the last forward (loss) and backward (gradient) nodes, so the
// passes that would fold them away must run before.
func OwnBuffers(g *graph.Graph, st *Stats) error {
	if !slices.ContainsFunc(g.Nodes, func(n *graph.Node) bool { return n.Op.Info().Has(graph.Effect) }) {
		return nil // no updates: nothing can change a value after it is read
	}
	copyOf := func(x *graph.Node, role graph.Role, of *graph.Node) *graph.Node {
		c, err := graph.NewNode(graph.OpBroadcastTo, graph.Attrs{Shape: x.Type.Shape.Clone()}, x)
		if err != nil {
			panic(err) // a broadcast to the operand's own shape always applies
		}
		c.Role, c.Pos, c.Of = role, x.Pos, of
		return c
	}
	var fwd, bwd []*graph.Node
	root := g.Loss
	for root != nil && root.Op == graph.OpReshape { // a reshape shares its operand's memory
		root = root.Inputs[0]
	}
	if root != nil && root.IsVariable() {
		c := copyOf(g.Loss, graph.RoleForward, nil)
		fwd = append(fwd, c)
		g.Loss = c
	}
	count := map[*graph.Node]int{}
	for _, gr := range g.Grads {
		count[gr.Grad]++
	}
	for i, gr := range g.Grads {
		d := gr.Grad
		if count[d] == 1 && !d.IsVariable() && d.Op != graph.OpConst && d.Op != graph.OpInput {
			continue
		}
		c := copyOf(d, graph.RoleBackward, gr.Param)
		c.Pos = gr.Param.Pos
		c.Name = "d" + gr.Param.Name // as autodiff names gradients
		if d.Name == c.Name && !d.IsVariable() && d.Op != graph.OpInput {
			d.Name = "" // the copy is dq now
		}
		bwd = append(bwd, c)
		g.Grads[i].Grad = c
		// The parameter's update reads the copy. (Clipping's global norm may
		// go on reading d: it runs before any update.)
		for _, u := range g.Nodes {
			if u.Role == graph.RoleUpdate && u.Op.Info().Has(graph.Effect) && len(u.Inputs) > 1 && u.Inputs[0] == gr.Param && u.Inputs[1] == d {
				u.Inputs[1] = c
			}
		}
	}
	if len(fwd)+len(bwd) == 0 {
		return nil
	}
	firstOf := func(roles ...graph.Role) int {
		if i := slices.IndexFunc(g.Nodes, func(n *graph.Node) bool { return slices.Contains(roles, n.Role) }); i >= 0 {
			return i
		}
		return len(g.Nodes)
	}
	i, j := firstOf(graph.RoleBackward, graph.RoleUpdate), firstOf(graph.RoleUpdate)
	g.Nodes = slices.Concat(g.Nodes[:i], fwd, g.Nodes[i:j], bwd, g.Nodes[j:])
	g.Renumber()
	st.Count("ownbuffers/copy", len(fwd)+len(bwd))
	return nil
}
