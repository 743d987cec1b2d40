package passes

import (
	"strings"

	"github.com/mlc-dev/mlc/graph"
)

// CSE merges nodes that compute the same value: same op, attributes, type
// and operands. The earlier node stays; later uses point to it. Autodiff's
// Softmax for the cross-entropy gradient, for example, merges with the
// forward pass's probabilities.
//
// Assumes: g is valid. Guarantees: g is valid. Random ops (dropout masks),
// effects and variables are never merged.
func CSE(g *graph.Graph, st *Stats) error {
	seen := map[string]*graph.Node{}
	rw := newRewriter(g)
	n, err := rw.run(func(n *graph.Node) *graph.Node {
		switch {
		case n.Op == graph.OpInput, n.IsVariable(), n.Op == graph.OpDropoutMask, n.Op.Info().Has(graph.Effect):
			return nil
		}
		key := cseKey(n)
		if prev, ok := seen[key]; ok {
			return prev
		}
		seen[key] = n
		return nil
	})
	st.Count("cse/merge", n)
	return err
}

// cseKey identifies a node's computation: its printed form without its ID,
// name, role and position, which do not change the value.
func cseKey(n *graph.Node) string {
	var b strings.Builder
	b.WriteString(n.Op.String())
	b.WriteString(" ")
	b.WriteString(n.Type.String())
	for _, x := range n.Inputs {
		b.WriteString(" ")
		b.WriteString(x.Ref())
	}
	b.WriteString(" {")
	b.WriteString(n.AttrString())
	b.WriteString("}")
	return b.String()
}
