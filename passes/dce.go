package passes

import "github.com/mlc-dev/mlc/graph"

// DCE removes nodes whose values no root needs. Roots are the outputs, the
// loss, the gradients and update (effect) nodes; Inputs, Params and State
// always stay, since they are the model's interface and storage.
//
// Assumes: g is valid. Guarantees: g is valid, every remaining non-leaf node
// is used by a root, and node order is otherwise unchanged.
func DCE(g *graph.Graph) (removed int) {
	live := liveSet(g)
	return g.Remove(func(n *graph.Node) bool { return !live[n] })
}

func liveSet(g *graph.Graph) map[*graph.Node]bool {
	live := map[*graph.Node]bool{}
	for _, r := range g.Roots() {
		live[r] = true
	}
	for _, n := range g.Nodes {
		if n.Op == graph.OpInput || n.IsVariable() {
			live[n] = true
		}
	}
	// A backward node's Of link is metadata, not a use: it keeps nothing alive.
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if live[n] {
			for _, x := range n.Inputs {
				live[x] = true
			}
		}
	}
	return live
}

// pruneBackward removes backward nodes that no gradient needs, leaving the
// forward graph untouched. Gradient rules compute every operand's gradient;
// this drops the ones for operands that are not being differentiated.
func pruneBackward(g *graph.Graph) int {
	live := liveSet(g)
	return g.Remove(func(n *graph.Node) bool { return n.Role == graph.RoleBackward && !live[n] })
}

// PruneInputs removes Input nodes nothing reads, so an entry point asks only
// for what it uses (Predict does not take the training targets).
func PruneInputs(g *graph.Graph) (removed int) {
	used := g.Read()
	return g.Remove(func(n *graph.Node) bool { return n.Op == graph.OpInput && !used[n] })
}
