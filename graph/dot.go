package graph

import (
	"fmt"
	"strings"
)

// Colours of the DOT drawing, by role. Backward nodes stand out in salmon and
// carry a dashed edge to the forward node they differentiate.
var dotFill = map[Role]string{
	RoleInput:    "#cfe2f3",
	RoleParam:    "#d9ead3",
	RoleState:    "#fff2cc",
	RoleForward:  "#ffffff",
	RoleBackward: "#f4b183",
	RoleUpdate:   "#d5a6bd",
}

// DOT renders g for Graphviz.
func (g *Graph) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n", g.Name)
	// Bounded crossing minimisation and network simplex keep big backward
	// graphs (their "grad of" edges do not constrain ranks) quick to lay out.
	b.WriteString("  rankdir=TB; mclimit=0.3; nslimit=2; nslimit1=2;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n  edge [fontsize=8];\n")
	b.WriteString("  legend [shape=plaintext, style=\"\", label=\"salmon: backward node; dashed edge: the forward node it differentiates\"];\n")
	for _, n := range g.Nodes {
		label := n.Ref()
		if n.Name != "" {
			label += " " + n.Name
		}
		label += "\\n" + n.Op.String() + " " + n.Type.String()
		if a := n.AttrString(); a != "" && n.Op != OpConst && n.Op != OpParam {
			label += "\\n" + a
		}
		shape := ""
		if n.Op.Info().Has(Leaf) {
			shape = ", shape=ellipse"
		}
		fmt.Fprintf(&b, "  %s [label=%s, fillcolor=%q%s];\n", n.Ref(), dotQuote(label), dotFill[n.Role], shape)
	}
	for _, n := range g.Nodes {
		for _, x := range n.Inputs {
			fmt.Fprintf(&b, "  %s -> %s;\n", x.Ref(), n.Ref())
		}
		if n.Of != nil {
			fmt.Fprintf(&b, "  %s -> %s [style=dashed, color=\"#c55a11\", constraint=false, arrowhead=open];\n", n.Ref(), n.Of.Ref())
		}
	}
	for i, o := range g.Outputs {
		fmt.Fprintf(&b, "  out%d [label=%s, shape=plaintext, style=\"\"];\n  %s -> out%d;\n", i, dotQuote(map[bool]string{false: "output ", true: "tap "}[o.Tap]+o.Name), o.Node.Ref(), i)
	}
	if g.Loss != nil {
		fmt.Fprintf(&b, "  loss [label=\"loss\", shape=plaintext, style=\"\"];\n  %s -> loss;\n", g.Loss.Ref())
	}
	for i, gr := range g.Grads {
		fmt.Fprintf(&b, "  grad%d [label=%s, shape=plaintext, style=\"\"];\n  %s -> grad%d;\n", i, dotQuote("d"+gr.Param.Label()), gr.Grad.Ref(), i)
	}
	b.WriteString("}\n")
	return b.String()
}

// dotQuote quotes a label; "\n" sequences already in s stay line breaks.
func dotQuote(s string) string {
	r := strings.NewReplacer(`"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
