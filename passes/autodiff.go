package passes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mlc-dev/mlc/graph"
)

// AutodiffOptions choose what to differentiate.
type AutodiffOptions struct {
	// Params are the names of the parameters to differentiate; empty means every Param.
	Params []string
}

// Autodiff appends the backward graph: for the scalar loss of g and each
// chosen parameter, the nodes that compute d loss/d parameter.
//
// Assumes: g is valid and has a loss. Guarantees: every new node has role
// backward, records in Of the forward node whose gradient rule created it,
// and carries that node's source position; the gradients are listed in
// g.Grads in parameter order; nodes appear in reverse order of the forward
// ops they differentiate, so the backward pass reads as the forward pass
// reversed. Fan-out accumulates with Add; broadcasting is summed back;
// integer and mask operands get no gradient; NoGrad ops stop it.
//
// A reachable op without a gradient rule is an error, and every such op is
// listed at once. A parameter that does not reach the loss gets an explicit
// zero gradient and a warning.
func Autodiff(g *graph.Graph, opts AutodiffOptions) (warnings []string, err error) {
	if g.Loss == nil {
		return nil, fmt.Errorf("%s: autodiff: the model declares no loss (call b.Loss in its Build function)", g.Name)
	}
	if g.Loss.Type.Shape.Rank() != 0 || !g.Loss.Type.DType.IsFloat() {
		return nil, fmt.Errorf("%s: autodiff: the loss must be a float scalar, got %s", g.Loss.Pos, g.Loss.Type)
	}
	if len(g.Grads) > 0 {
		return nil, fmt.Errorf("%s: autodiff: the graph already has gradients", g.Name)
	}
	params, err := chooseParams(g, opts.Params)
	if err != nil {
		return nil, err
	}

	// needs[n]: n depends on a chosen parameter through differentiable values.
	needs := map[*graph.Node]bool{}
	for _, p := range params {
		needs[p] = true
	}
	for _, n := range g.Nodes {
		if n.Op.Info().Has(graph.NoGrad) || !n.Type.DType.IsFloat() {
			continue
		}
		for _, x := range n.Inputs {
			if needs[x] {
				needs[n] = true
				break
			}
		}
	}
	// reaches[n]: the loss depends on n.
	reaches := map[*graph.Node]bool{g.Loss: true}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if reaches[n] {
			for _, x := range n.Inputs {
				reaches[x] = true
			}
		}
	}
	active := func(n *graph.Node) bool { return needs[n] && reaches[n] }

	// Every op on the active path needs a rule: list all missing ones at once.
	var missing []string
	for _, n := range g.Nodes {
		if active(n) && !n.Op.Info().Has(graph.Leaf) && n.Op.Info().Grad == nil {
			missing = append(missing, fmt.Sprintf("%s: %s (%s) has no gradient rule", n.Pos, n.Op, n.Ref()))
		}
	}
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, "\n"))
	}

	contrib := map[*graph.Node][]*graph.Node{} // gradient pieces waiting to be summed
	grad := map[*graph.Node]*graph.Node{}      // d loss/d n, once summed
	seed := &graph.Builder{G: g, Role: graph.RoleBackward, Pos: g.Loss.Pos, Of: g.Loss}
	contrib[g.Loss] = []*graph.Node{seed.Const(g.Loss.Type.DType, 1)}

	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !active(n) || len(contrib[n]) == 0 {
			continue
		}
		b := &graph.Builder{G: g, Role: graph.RoleBackward, Pos: n.Pos, Of: n}
		dn := sumGrads(b, contrib[n])
		if b.Err != nil {
			return nil, fmt.Errorf("%s: autodiff of %s (%s): %w", n.Pos, n.Op, n.Ref(), b.Err)
		}
		if n.Name != "" && dn.Role == graph.RoleBackward && dn.Name == "" {
			dn.Name = "d" + n.Name
		}
		grad[n] = dn
		if n.Op.Info().Has(graph.Leaf) {
			continue
		}
		dxs := n.Op.Info().Grad(b, n, dn)
		if b.Err != nil {
			return nil, fmt.Errorf("%s: gradient rule of %s (%s): %w", n.Pos, n.Op, n.Ref(), b.Err)
		}
		if len(dxs) != len(n.Inputs) {
			return nil, fmt.Errorf("%s: gradient rule of %s returned %d gradients for %d operands", n.Pos, n.Op, len(dxs), len(n.Inputs))
		}
		for k, x := range n.Inputs {
			if !active(x) {
				continue
			}
			if dxs[k] == nil {
				return nil, fmt.Errorf("%s: gradient rule of %s gave no gradient for operand %d (%s), which needs one", n.Pos, n.Op, k, x.Ref())
			}
			if !dxs[k].Type.Equal(x.Type) {
				return nil, fmt.Errorf("%s: gradient rule of %s gave %s for operand %d of type %s", n.Pos, n.Op, dxs[k].Type, k, x.Type)
			}
			contrib[x] = append(contrib[x], dxs[k])
		}
	}

	for _, p := range params {
		d := grad[p]
		if d == nil {
			warnings = append(warnings, fmt.Sprintf("%s: parameter %q does not reach the loss; its gradient is zero", p.Pos, p.Name))
			b := &graph.Builder{G: g, Role: graph.RoleBackward, Pos: p.Pos, Of: p}
			d = b.BroadcastTo(b.Const(p.Type.DType, 0), p.Type.Shape)
			if b.Err != nil {
				return nil, b.Err
			}
		}
		if d.Role != graph.RoleBackward || d.Op == graph.OpParam {
			// The gradient is a forward value (e.g. the loss is the parameter itself);
			// give the param its own backward node so it can be named and stored.
			b := &graph.Builder{G: g, Role: graph.RoleBackward, Pos: p.Pos, Of: p}
			d = b.Apply(graph.OpReshape, graph.Attrs{Shape: p.Type.Shape.Clone()}, d)
			if b.Err != nil {
				return nil, b.Err
			}
		}
		if d.Name == "" {
			d.Name = "d" + p.Name
		}
		g.Grads = append(g.Grads, graph.GradOf{Param: p, Grad: d})
	}
	pruneBackward(g)
	if err := graph.Validate(g); err != nil {
		return warnings, fmt.Errorf("autodiff produced an invalid graph for %s: %w", g.Name, err)
	}
	return warnings, nil
}

func chooseParams(g *graph.Graph, names []string) ([]*graph.Node, error) {
	all := g.Params()
	if len(names) == 0 {
		return all, nil
	}
	var out []*graph.Node
	for _, name := range names {
		i := slices.IndexFunc(all, func(p *graph.Node) bool { return p.Name == name })
		if i < 0 {
			var have []string
			for _, p := range all {
				have = append(have, p.Name)
			}
			return nil, fmt.Errorf("autodiff: no parameter %q (parameters: %s)", name, strings.Join(have, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// sumGrads adds the gradient pieces of one value (fan-out accumulates).
func sumGrads(b *graph.Builder, parts []*graph.Node) *graph.Node {
	s := parts[0]
	for _, p := range parts[1:] {
		s = b.Add(s, p)
	}
	return s
}
