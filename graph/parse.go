package graph

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseError locates a problem in IR text.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	f := e.File
	if f == "" {
		f = "<ir>"
	}
	return fmt.Sprintf("%s:%d: %s", f, e.Line, e.Msg)
}

// Parse reads the canonical text form. file names the source in errors. The
// result has every type re-derived by the shape rules and is validated.
func Parse(file, text string) (*Graph, error) {
	p := &parser{file: file, refs: map[string]*Node{}}
	g, err := p.parse(text)
	if err != nil {
		return nil, err
	}
	if err := Validate(g); err != nil {
		return nil, fmt.Errorf("%s: %w", fileOr(file), err)
	}
	return g, nil
}

func fileOr(f string) string {
	if f == "" {
		return "<ir>"
	}
	return f
}

type parser struct {
	file string
	line int
	refs map[string]*Node
}

func (p *parser) errf(format string, args ...any) error {
	return &ParseError{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse(text string) (*Graph, error) {
	lines := strings.Split(text, "\n")
	g := &Graph{}
	state := 0 // 0: want header, 1: want graph line, 2: body
	for i, raw := range lines {
		p.line = i + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch state {
		case 0:
			if line != "mlc-ir "+strconv.Itoa(FormatVersion) {
				return nil, p.errf("want header %q, got %q", "mlc-ir "+strconv.Itoa(FormatVersion), clip(line))
			}
			state = 1
		case 1:
			if err := p.graphLine(g, line); err != nil {
				return nil, err
			}
			state = 2
		default:
			if err := p.bodyLine(g, line); err != nil {
				return nil, err
			}
		}
	}
	if state < 2 {
		p.line = len(lines)
		return nil, p.errf("missing %s", map[int]string{0: "header line \"mlc-ir 1\"", 1: "graph line"}[state])
	}
	return g, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// tokens splits a line on spaces, keeping quoted strings (also inside
// key="value") and {...} groups whole.
func (p *parser) tokens(line string) ([]string, error) {
	var toks []string
	for i := 0; i < len(line); {
		if c := line[i]; c == ' ' || c == '\t' {
			i++
			continue
		}
		j := i
		if line[i] == '{' {
			k := strings.IndexByte(line[i:], '}')
			if k < 0 {
				return nil, p.errf("unterminated attribute list")
			}
			toks = append(toks, line[i:i+k+1])
			i += k + 1
			continue
		}
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			if line[j] == '"' {
				j++
				for j < len(line) && line[j] != '"' {
					if line[j] == '\\' {
						j++
					}
					j++
				}
				if j >= len(line) {
					return nil, p.errf("unterminated string")
				}
			}
			j++
		}
		toks = append(toks, line[i:j])
		i = j
	}
	return toks, nil
}

func (p *parser) unquote(s string) (string, error) {
	u, err := strconv.Unquote(s)
	if err != nil {
		return "", p.errf("bad quoted string %s", clip(s))
	}
	return u, nil
}

func (p *parser) graphLine(g *Graph, line string) error {
	toks, err := p.tokens(line)
	if err != nil {
		return err
	}
	if len(toks) != 4 || toks[0] != "graph" || toks[2] != "source" {
		return p.errf("want: graph \"NAME\" source \"FILE\"")
	}
	if g.Name, err = p.unquote(toks[1]); err != nil {
		return err
	}
	g.Source, err = p.unquote(toks[3])
	return err
}

func (p *parser) ref(g *Graph, tok string) (*Node, error) {
	n, ok := p.refs[tok]
	if !ok {
		if strings.HasPrefix(tok, "v") {
			return nil, p.errf("%s is not defined before this line", tok)
		}
		return nil, p.errf("want a value like v3, got %q", clip(tok))
	}
	return n, nil
}

func (p *parser) bodyLine(g *Graph, line string) error {
	toks, err := p.tokens(line)
	if err != nil {
		return err
	}
	switch toks[0] {
	case "output", "tap":
		if len(toks) != 3 {
			return p.errf("want: %s \"NAME\" vN", toks[0])
		}
		name, err := p.unquote(toks[1])
		if err != nil {
			return err
		}
		n, err := p.ref(g, toks[2])
		if err != nil {
			return err
		}
		g.Outputs = append(g.Outputs, Output{Name: name, Node: n, Tap: toks[0] == "tap"})
		return nil
	case "loss":
		if len(toks) != 2 {
			return p.errf("want: loss vN")
		}
		if g.Loss != nil {
			return p.errf("second loss line")
		}
		g.Loss, err = p.ref(g, toks[1])
		return err
	case "grad":
		if len(toks) != 3 {
			return p.errf("want: grad vPARAM vGRAD")
		}
		pn, err := p.ref(g, toks[1])
		if err != nil {
			return err
		}
		gn, err := p.ref(g, toks[2])
		if err != nil {
			return err
		}
		g.Grads = append(g.Grads, GradOf{Param: pn, Grad: gn})
		return nil
	}
	return p.nodeLine(g, toks)
}

func (p *parser) nodeLine(g *Graph, toks []string) error {
	if len(toks) < 4 || toks[1] != "=" {
		return p.errf("want: vN = Op <type> operands... or output/loss/grad, got %q", clip(strings.Join(toks, " ")))
	}
	id := toks[0]
	if id != fmt.Sprintf("v%d", len(g.Nodes)) {
		return p.errf("value %s out of order: want v%d (values are numbered densely from v0)", clip(id), len(g.Nodes))
	}
	op, ok := LookupOp(toks[2])
	if !ok {
		return p.errf("unknown op %q", clip(toks[2]))
	}
	tt := toks[3]
	if len(tt) < 3 || tt[0] != '<' || tt[len(tt)-1] != '>' {
		return p.errf("want a type like <f32[4,2]>, got %q", clip(tt))
	}
	typ, err := ParseType(tt[1 : len(tt)-1])
	if err != nil {
		return p.errf("%v", err)
	}
	n := &Node{Op: op, Type: typ, Role: defaultRole(op)}
	rest := toks[4:]
	for len(rest) > 0 && strings.HasPrefix(rest[0], "v") {
		x, err := p.ref(g, rest[0])
		if err != nil {
			return err
		}
		n.Inputs = append(n.Inputs, x)
		rest = rest[1:]
	}
	if len(rest) > 0 && strings.HasPrefix(rest[0], "{") {
		if err := p.attrs(n, rest[0]); err != nil {
			return err
		}
		rest = rest[1:]
	}
	for len(rest) > 0 {
		t := rest[0]
		rest = rest[1:]
		switch {
		case strings.HasPrefix(t, "role="):
			if n.Role, err = ParseRole(t[5:]); err != nil {
				return p.errf("%v", err)
			}
		case strings.HasPrefix(t, "of="):
			if n.Of, err = p.ref(g, t[3:]); err != nil {
				return err
			}
		case strings.HasPrefix(t, "name="):
			if n.Name, err = p.unquote(t[5:]); err != nil {
				return err
			}
		case t == "@":
			if len(rest) != 1 {
				return p.errf("want: @ file:line at the end of the line")
			}
			pos := rest[0]
			rest = nil
			k := strings.LastIndexByte(pos, ':')
			if k <= 0 {
				return p.errf("bad position %q: want file:line", clip(pos))
			}
			ln, err := strconv.Atoi(pos[k+1:])
			if err != nil || ln <= 0 {
				return p.errf("bad line number in position %q", clip(pos))
			}
			n.Pos = Pos{File: pos[:k], Line: ln}
		default:
			return p.errf("unexpected %q", clip(t))
		}
	}
	if err := CheckArity(n); err != nil {
		return p.errf("%v", err)
	}
	want, err := op.Info().Infer(n)
	if err != nil {
		return p.errf("%v", err)
	}
	if !want.Equal(n.Type) {
		return p.errf("%s: declared type %s, but the operands give %s", op, n.Type, want)
	}
	g.Append(n)
	p.refs[id] = n
	return nil
}

func (p *parser) attrs(n *Node, group string) error {
	body := strings.TrimSpace(group[1 : len(group)-1])
	if body == "" {
		return nil
	}
	allowed := n.Op.Info().Attrs
	seen := map[string]bool{}
	for _, kv := range strings.Fields(body) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p.errf("attribute %q: want key=value", clip(kv))
		}
		okName := false
		for _, a := range allowed {
			okName = okName || a == k
		}
		if !okName {
			return p.errf("%s has no attribute %q (it takes %s)", n.Op, clip(k), strings.Join(allowed, ", "))
		}
		if seen[k] {
			return p.errf("attribute %q given twice", k)
		}
		seen[k] = true
		if err := attrSpecs[k].parse(&n.Attrs, v); err != nil {
			return p.errf("attribute %s: %v", k, err)
		}
	}
	return nil
}
