package graph

import (
	"strconv"
	"strings"
)

// FormatVersion is the version of the text and JSON forms.
const FormatVersion = 1

// String prints g in the canonical text form. It is deterministic and Parse
// reads it back to an identical graph:
//
//	mlc-ir 1
//	graph "xor" source "models/xor/xor.go"
//	v6 = MatMul <f64[4,4]> v0 v2 name="z1" @ models/xor/xor.go:17
//	output "yhat" v9
//	loss v12
//	grad v2 v30
func (g *Graph) String() string {
	var b strings.Builder
	b.WriteString("mlc-ir " + strconv.Itoa(FormatVersion) + "\n")
	b.WriteString("graph " + strconv.Quote(g.Name) + " source " + strconv.Quote(g.Source) + "\n")
	for _, n := range g.Nodes {
		b.WriteString(n.String())
		b.WriteByte('\n')
	}
	for _, o := range g.Outputs {
		kw := "output "
		if o.Tap {
			kw = "tap "
		}
		b.WriteString(kw + strconv.Quote(o.Name) + " " + o.Node.Ref() + "\n")
	}
	if g.Loss != nil {
		b.WriteString("loss " + g.Loss.Ref() + "\n")
	}
	for _, gr := range g.Grads {
		b.WriteString("grad " + gr.Param.Ref() + " " + gr.Grad.Ref() + "\n")
	}
	return b.String()
}

// defaultRole is the role a node of this op has unless stated otherwise.
func defaultRole(op Op) Role {
	switch op {
	case OpInput:
		return RoleInput
	case OpParam:
		return RoleParam
	case OpState:
		return RoleState
	}
	return RoleForward
}

// String prints one node in the canonical text form.
func (n *Node) String() string {
	var b strings.Builder
	b.WriteString(n.Ref())
	b.WriteString(" = ")
	b.WriteString(n.Op.String())
	b.WriteString(" <" + n.Type.String() + ">")
	for _, x := range n.Inputs {
		b.WriteString(" " + x.Ref())
	}
	if a := n.AttrString(); a != "" {
		b.WriteString(" {" + a + "}")
	}
	if n.Role != defaultRole(n.Op) {
		b.WriteString(" role=" + n.Role.String())
	}
	if n.Of != nil {
		b.WriteString(" of=" + n.Of.Ref())
	}
	if n.Name != "" {
		b.WriteString(" name=" + strconv.Quote(n.Name))
	}
	if n.Pos.IsValid() {
		b.WriteString(" @ " + n.Pos.String())
	}
	return b.String()
}

// AttrString prints the op's set attributes as "k=v k=v" in table order.
func (n *Node) AttrString() string {
	var parts []string
	for _, name := range n.Op.Info().Attrs {
		sp := attrSpecs[name]
		if sp.isSet(&n.Attrs) {
			parts = append(parts, name+"="+sp.print(&n.Attrs))
		}
	}
	return strings.Join(parts, " ")
}
