package graph

import (
	"errors"
	"fmt"
)

// Validate checks the invariants every pass must keep: dense IDs, operands
// defined before use, types equal to what the shape rules derive, roles
// consistent with ops and with each other, and outputs, loss and gradients
// that refer to nodes of this graph. It returns all problems found, joined.
func Validate(g *Graph) error {
	var errs []error
	bad := func(n *Node, format string, args ...any) {
		where := ""
		if n != nil {
			where = n.Ref() + " (" + n.Op.String()
			if n.Pos.IsValid() {
				where += " @ " + n.Pos.String()
			}
			where += "): "
		}
		errs = append(errs, errors.New(where+fmt.Sprintf(format, args...)))
	}
	in := make(map[*Node]bool, len(g.Nodes))
	varNames := map[string]*Node{}
	for i, n := range g.Nodes {
		if n == nil {
			bad(nil, "node %d is nil", i)
			continue
		}
		if n.ID != i {
			bad(n, "ID %d at position %d: IDs must be dense (call Renumber)", n.ID, i)
		}
		for k, x := range n.Inputs {
			switch {
			case x == nil:
				bad(n, "operand %d is nil", k)
			case !in[x]:
				bad(n, "operand %d (%s) is not defined earlier in the graph", k, x.Ref())
			}
		}
		if len(errs) > 0 && !in[n] && hasNilOrUndefined(n, in) {
			in[n] = true
			continue
		}
		if err := CheckArity(n); err != nil {
			bad(n, "%v", err)
		} else if t, err := n.Op.Info().Infer(n); err != nil {
			bad(n, "%v", err)
		} else if !t.Equal(n.Type) {
			bad(n, "type %s, but the shape rule gives %s", n.Type, t)
		}
		checkRole(n, in, bad)
		if n.IsVariable() || n.Op == OpInput {
			if n.Name == "" {
				bad(n, "%s needs a name", n.Op)
			} else if prev, dup := varNames[n.Name]; dup {
				bad(n, "name %q already used by %s", n.Name, prev.Ref())
			} else {
				varNames[n.Name] = n
			}
		}
		in[n] = true
	}
	outNames := map[string]bool{}
	for _, o := range g.Outputs {
		if o.Node == nil || !in[o.Node] {
			bad(nil, "output %q refers to a node not in the graph", o.Name)
		}
		if outNames[o.Name] {
			bad(nil, "output name %q used twice", o.Name)
		}
		outNames[o.Name] = true
	}
	if g.Loss != nil {
		switch {
		case !in[g.Loss]:
			bad(nil, "loss refers to a node not in the graph")
		case g.Loss.Type.Shape.Rank() != 0 || !g.Loss.Type.DType.IsFloat():
			bad(g.Loss, "loss must be a float scalar, got %s", g.Loss.Type)
		}
	}
	for _, gr := range g.Grads {
		switch {
		case gr.Param == nil || !in[gr.Param] || gr.Param.Op != OpParam:
			bad(nil, "gradient entry names something that is not a Param of this graph")
		case gr.Grad == nil || !in[gr.Grad]:
			bad(gr.Param, "gradient refers to a node not in the graph")
		case !gr.Grad.Type.Equal(gr.Param.Type):
			bad(gr.Grad, "gradient of %s has type %s, want %s", gr.Param.Label(), gr.Grad.Type, gr.Param.Type)
		}
	}
	return errors.Join(errs...)
}

func hasNilOrUndefined(n *Node, in map[*Node]bool) bool {
	for _, x := range n.Inputs {
		if x == nil || !in[x] {
			return true
		}
	}
	return false
}

func checkRole(n *Node, in map[*Node]bool, bad func(*Node, string, ...any)) {
	switch n.Op {
	case OpInput, OpParam, OpState:
		if n.Role != defaultRole(n.Op) {
			bad(n, "%s must have role %s, has %s", n.Op, defaultRole(n.Op), n.Role)
		}
		return
	}
	switch n.Role {
	case RoleInput, RoleParam, RoleState:
		bad(n, "role %s is only for %s nodes", n.Role, n.Role)
	case RoleBackward:
		if n.Of == nil {
			bad(n, "backward node does not say which forward node it differentiates (of=)")
		} else if !in[n.Of] {
			bad(n, "of=%s is not defined earlier in the graph", n.Of.Ref())
		} else if n.Of.Role == RoleBackward || n.Of.Role == RoleUpdate {
			bad(n, "of=%s is a %s node, want a forward node", n.Of.Ref(), n.Of.Role)
		}
	}
	if n.Op.Info().Has(Effect) && n.Role != RoleUpdate {
		bad(n, "%s writes a variable, so it must have role update, has %s", n.Op, n.Role)
	}
	if n.Of != nil && n.Role != RoleBackward {
		bad(n, "only backward nodes may say of=")
	}
	for _, x := range n.Inputs {
		if x == nil {
			continue
		}
		if x.Type.DType == Void {
			bad(n, "reads %s, which has no value", x.Ref())
		} else if x.Role == RoleUpdate && n.Role != RoleUpdate {
			bad(n, "reads %s, an update node", x.Ref())
		}
		if n.Role == RoleForward && x.Role == RoleBackward {
			bad(n, "forward node reads backward node %s", x.Ref())
		}
	}
}
