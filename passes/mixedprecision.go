package passes

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// MixedPrecision puts bf16 mixed precision's rounding points into a
// training graph: every matrix product, of the forward pass and of the
// backward pass, reads its operands rounded to bf16 (RoundBF16) and
// accumulates in f32. The parameters stay f32 (the master weights, which
// the update writes), and so do the optimizer state, the loss, the
// reductions and every other op. This is the arithmetic of bf16 training,
// computed in f32 storage: the numbers bf16 matrices and bf16 product
// kernels would give, not yet their speed or memory.
//
// Assumes: autodiff and the optimizer have run (the rounding points are
// not differentiated); the graph computes in f32. Guarantees: one
// RoundBF16 per distinct operand, placed before its first reader, with
// that reader's role; the graph validates.
func MixedPrecision(g *graph.Graph) error {
	rounded := map[*graph.Node]*graph.Node{}
	old := g.Nodes
	g.Nodes = nil
	for _, n := range old {
		if n.Op == graph.OpMatMul {
			if n.Type.DType != graph.F32 {
				g.Nodes = old
				return fmt.Errorf("%s: bf16 mixed precision needs an f32 graph, %s is %s", g.Name, n.Label(), n.Type)
			}
			for i, x := range n.Inputs {
				if x.Op == graph.OpRoundBF16 {
					continue
				}
				r := rounded[x]
				if r == nil {
					var err error
					if r, err = graph.NewNode(graph.OpRoundBF16, graph.Attrs{}, x); err != nil {
						g.Nodes = old
						return fmt.Errorf("%s: mixed precision: %w", g.Name, err)
					}
					r.Role, r.Of, r.Pos = n.Role, n.Of, n.Pos
					if n.Role != graph.RoleForward && n.Role != graph.RoleBackward {
						r.Role = graph.RoleForward
					}
					g.Append(r)
					rounded[x] = r
				}
				n.Inputs[i] = r
			}
		}
		g.Append(n)
	}
	g.Renumber()
	return graph.Validate(g)
}
