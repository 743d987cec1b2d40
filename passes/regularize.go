package passes

import (
	"fmt"

	"github.com/mlc-dev/mlc/graph"
)

// L2 adds the regularisation term λ/2·Σ‖w‖² to the loss, over the named
// parameters, or by default over the weights: parameters with two or more
// axes (matrices and embeddings), not biases or normalisation gains.
//
// Assumes: g has a loss and no gradients yet. Guarantees: the loss is the
// old loss plus the term (a forward node named "l2"), so autodiff adds λw to
// each chosen gradient; the old loss node keeps its name.
func L2(g *graph.Graph, lambda float64, names []string) error {
	if lambda == 0 {
		return nil
	}
	if lambda < 0 {
		return fmt.Errorf("%s: L2 strength must be positive, got %v", g.Name, lambda)
	}
	if g.Loss == nil {
		return fmt.Errorf("%s: L2 needs a loss", g.Name)
	}
	var chosen []*graph.Node
	if len(names) == 0 {
		for _, p := range g.Params() {
			if p.Type.Shape.Rank() >= 2 {
				chosen = append(chosen, p)
			}
		}
	} else {
		for _, name := range names {
			p := g.Find(name)
			if p == nil || p.Op != graph.OpParam {
				return fmt.Errorf("%s: L2: no parameter %q", g.Name, name)
			}
			chosen = append(chosen, p)
		}
	}
	if len(chosen) == 0 {
		return nil
	}
	b := &graph.Builder{G: g, Pos: g.Loss.Pos}
	var sum *graph.Node
	for _, p := range chosen {
		sq := b.Sum(b.Mul(p, p), false)
		if sum == nil {
			sum = sq
		} else {
			sum = b.Add(sum, sq)
		}
	}
	term := b.Scale(sum, nil, lambda/2)
	total := b.Add(g.Loss, term)
	if b.Err != nil {
		return fmt.Errorf("%s: L2: %w", g.Name, b.Err)
	}
	term.Name = "l2"
	total.Name = "total_loss"
	g.Loss = total
	return nil
}
