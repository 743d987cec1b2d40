package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

type jsonGraph struct {
	Format  int          `json:"format"`
	Name    string       `json:"name"`
	Source  string       `json:"source"`
	Nodes   []jsonNode   `json:"nodes"`
	Outputs []jsonOutput `json:"outputs"`
	Loss    *int         `json:"loss"`
	Grads   []jsonGrad   `json:"grads"`
}

type jsonNode struct {
	ID     int                        `json:"id"`
	Op     string                     `json:"op"`
	Type   string                     `json:"type"`
	Inputs []int                      `json:"inputs"`
	Attrs  map[string]json.RawMessage `json:"attrs,omitempty"`
	Name   string                     `json:"name,omitempty"`
	Role   string                     `json:"role"`
	Of     *int                       `json:"of,omitempty"`
	Pos    string                     `json:"pos,omitempty"`
}

type jsonOutput struct {
	Name string `json:"name"`
	Node int    `json:"node"`
	Tap  bool   `json:"tap,omitempty"`
}

type jsonGrad struct {
	Param int `json:"param"`
	Grad  int `json:"grad"`
}

// JSON renders g as JSON with a format version. Attribute values are JSON
// numbers, booleans and lists where possible, and strings otherwise
// (dtypes, initializer names, non-finite numbers such as "-inf").
func (g *Graph) JSON() ([]byte, error) {
	jg := jsonGraph{Format: FormatVersion, Name: g.Name, Source: g.Source, Nodes: []jsonNode{}, Outputs: []jsonOutput{}, Grads: []jsonGrad{}}
	for _, n := range g.Nodes {
		jn := jsonNode{ID: n.ID, Op: n.Op.String(), Type: n.Type.String(), Inputs: []int{}, Name: n.Name, Role: n.Role.String()}
		for _, x := range n.Inputs {
			jn.Inputs = append(jn.Inputs, x.ID)
		}
		for _, name := range n.Op.Info().Attrs {
			sp := attrSpecs[name]
			if !sp.isSet(&n.Attrs) {
				continue
			}
			if jn.Attrs == nil {
				jn.Attrs = map[string]json.RawMessage{}
			}
			v := sp.print(&n.Attrs)
			if !json.Valid([]byte(v)) || strings.HasPrefix(v, `"`) {
				q, _ := json.Marshal(v)
				v = string(q)
			}
			jn.Attrs[name] = json.RawMessage(v)
		}
		if n.Of != nil {
			id := n.Of.ID
			jn.Of = &id
		}
		if n.Pos.IsValid() {
			jn.Pos = n.Pos.String()
		}
		jg.Nodes = append(jg.Nodes, jn)
	}
	for _, o := range g.Outputs {
		jg.Outputs = append(jg.Outputs, jsonOutput{Name: o.Name, Node: o.Node.ID, Tap: o.Tap})
	}
	if g.Loss != nil {
		id := g.Loss.ID
		jg.Loss = &id
	}
	for _, gr := range g.Grads {
		jg.Grads = append(jg.Grads, jsonGrad{Param: gr.Param.ID, Grad: gr.Grad.ID})
	}
	return json.MarshalIndent(jg, "", "  ")
}

// ParseJSON reads what JSON writes, checking it like Parse does.
func ParseJSON(file string, data []byte) (*Graph, error) {
	var jg jsonGraph
	if err := json.Unmarshal(data, &jg); err != nil {
		return nil, fmt.Errorf("%s: %v", fileOr(file), err)
	}
	if jg.Format != FormatVersion {
		return nil, fmt.Errorf("%s: format version %d, this mlc reads %d", fileOr(file), jg.Format, FormatVersion)
	}
	// Rebuild the text form and parse it: one set of checks for both forms.
	var b strings.Builder
	fmt.Fprintf(&b, "mlc-ir %d\ngraph %q source %q\n", FormatVersion, jg.Name, jg.Source)
	for i, jn := range jg.Nodes {
		if jn.ID != i {
			return nil, fmt.Errorf("%s: node %d has id %d; ids must be dense", fileOr(file), i, jn.ID)
		}
		fmt.Fprintf(&b, "v%d = %s <%s>", jn.ID, jn.Op, jn.Type)
		for _, x := range jn.Inputs {
			fmt.Fprintf(&b, " v%d", x)
		}
		if len(jn.Attrs) > 0 {
			var parts []string
			op, _ := LookupOp(jn.Op)
			for _, name := range op.Info().Attrs {
				raw, ok := jn.Attrs[name]
				if !ok {
					continue
				}
				var compact bytes.Buffer
				if err := json.Compact(&compact, raw); err != nil {
					return nil, fmt.Errorf("%s: node %d: attribute %s: %v", fileOr(file), i, name, err)
				}
				v := compact.String()
				var s string
				if json.Unmarshal(raw, &s) == nil {
					v = s
				}
				parts = append(parts, name+"="+v)
			}
			if len(parts) != len(jn.Attrs) {
				return nil, fmt.Errorf("%s: node %d: attributes %v do not all belong to %s", fileOr(file), i, keys(jn.Attrs), jn.Op)
			}
			b.WriteString(" {" + strings.Join(parts, " ") + "}")
		}
		if jn.Role != "" {
			b.WriteString(" role=" + jn.Role)
		}
		if jn.Of != nil {
			fmt.Fprintf(&b, " of=v%d", *jn.Of)
		}
		if jn.Name != "" {
			fmt.Fprintf(&b, " name=%q", jn.Name)
		}
		if jn.Pos != "" {
			b.WriteString(" @ " + jn.Pos)
		}
		b.WriteByte('\n')
	}
	for _, o := range jg.Outputs {
		kw := "output"
		if o.Tap {
			kw = "tap"
		}
		fmt.Fprintf(&b, "%s %q v%d\n", kw, o.Name, o.Node)
	}
	if jg.Loss != nil {
		fmt.Fprintf(&b, "loss v%d\n", *jg.Loss)
	}
	for _, gr := range jg.Grads {
		fmt.Fprintf(&b, "grad v%d v%d\n", gr.Param, gr.Grad)
	}
	return Parse(file, b.String())
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
