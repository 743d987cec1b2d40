package codegen

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// fnGen emits the body of one method of the Model: a straight-line sequence
// of blocks, one per node, each commented with the math and the DSL line.
type fnGen struct {
	g    *gen
	gr   *graph.Graph
	p    *plan
	nm   *namer
	used map[*graph.Node]bool
	body []jen.Code
}

// T is the Go element type of float values.
func (f *fnGen) T() string { return f.g.T }

func (f *fnGen) f32() bool { return f.g.T == "float32" }

// goType is the Go element type of a dtype.
func (f *fnGen) goType(dt graph.DType) string {
	switch dt {
	case graph.I32:
		return "int32"
	case graph.Bool:
		return "bool"
	case graph.BF16:
		return "uint16"
	}
	return f.g.T
}

// ref names a value's slice in this function.
func (f *fnGen) ref(n *graph.Node) *jen.Statement {
	f.used[n] = true
	return jen.Id(f.nm.name(n))
}

// lit is a float constant usable where a T is expected.
func (f *fnGen) lit(v float64) jen.Code {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		var c *jen.Statement
		if math.IsNaN(v) {
			c = jen.Qual("math", "NaN").Call()
		} else if v > 0 {
			c = jen.Qual("math", "Inf").Call(jen.Lit(1))
		} else {
			c = jen.Qual("math", "Inf").Call(jen.Lit(-1))
		}
		if f.f32() {
			return jen.Id("float32").Call(c)
		}
		return c
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return jen.Id(strconv.FormatFloat(v, 'f', -1, 64))
	}
	return jen.Id(strconv.FormatFloat(v, 'g', -1, 64))
}

// to64 converts a T expression to float64 for a call into package math.
func (f *fnGen) to64(x jen.Code) jen.Code {
	if f.f32() {
		return jen.Id("float64").Call(x)
	}
	return x
}

// toT converts a float64 expression back to T.
func (f *fnGen) toT(x jen.Code) jen.Code {
	if f.f32() {
		return jen.Id("float32").Call(x)
	}
	return x
}

// call64 is T(fn(float64(args)...)) for a float64 function.
func (f *fnGen) call64(fn jen.Code, args ...jen.Code) jen.Code {
	conv := make([]jen.Code, len(args))
	for i, a := range args {
		conv[i] = f.to64(a)
	}
	return f.toT(jen.Add(fn).Call(conv...))
}

func (f *fnGen) mathCall(name string, args ...jen.Code) jen.Code {
	return f.call64(jen.Qual("math", name), args...)
}

// indexExpr is the flat index into an operand of shape s read at loop
// variables vars of an output of shape out (NumPy broadcasting).
func indexExpr(s, out graph.Shape, vars []string) string {
	st := s.Strides()
	var terms []string
	for d := range out {
		j := d - (len(out) - len(s))
		if j < 0 || s[j] == 1 {
			continue
		}
		switch st[j] {
		case 1:
			terms = append(terms, vars[d])
		default:
			terms = append(terms, vars[d]+"*"+strconv.Itoa(st[j]))
		}
	}
	if len(terms) == 0 {
		return "0"
	}
	return strings.Join(terms, " + ")
}

// elem is the expression for one element of operand x, at index idx (flat
// loops) or at loop variables vars of an output shaped out.
func (f *fnGen) elem(x *graph.Node, out graph.Shape, vars []string, flat string) jen.Code {
	s := f.p.slots[x]
	if s.region == inline {
		switch x.Op {
		case graph.OpConst:
			switch x.Type.DType {
			case graph.Bool:
				return jen.Lit(x.Attrs.Value != 0)
			case graph.I32:
				return jen.Lit(int(x.Attrs.Value))
			}
			return f.lit(x.Attrs.Value)
		case graph.OpCausalMask:
			// key j ≤ query i + (S − T), read off the last two loop variables
			r := len(out)
			T, S := x.Type.Shape[0], x.Type.Shape[1]
			qi, kj := "0", "0"
			if r >= 1 && out[r-1] != 1 {
				kj = vars[r-1]
			}
			if r >= 2 && out[r-2] != 1 {
				qi = vars[r-2]
			}
			if S == T {
				return jen.Id(kj + " <= " + qi)
			}
			return jen.Id(kj + " <= " + qi + "+" + strconv.Itoa(S-T))
		}
	}
	if x.Type.Shape.Size() == 1 {
		return f.ref(x).Index(jen.Lit(0))
	}
	if flat != "" && x.Type.Shape.Equal(out) {
		return f.ref(x).Index(jen.Id(flat))
	}
	return f.ref(x).Index(jen.Id(indexExpr(x.Type.Shape, out, vars)))
}

// loops wraps body in a loop nest over shape: one flat loop when flat is
// true, else one loop per axis. body gets the loop variables and, for a flat
// loop, the index.
func loops(shape graph.Shape, flat bool, body func(vars []string, idx string) []jen.Code) jen.Code {
	code, _ := loopNest(shape, flat, false, body)
	return code
}

// rangedLoops is loops whose outermost loop runs over [lo, hi) instead of
// its whole extent, which it returns: the body of a kernel that the pool's
// threads run in parallel, each over its own range. shape.Size() > 1.
func rangedLoops(shape graph.Shape, flat bool, body func(vars []string, idx string) []jen.Code) (jen.Code, int) {
	return loopNest(shape, flat, true, body)
}

// outerAxis is the first axis of shape with more than one element, the one
// loops' outermost loop runs over; -1 when there is none.
func outerAxis(shape graph.Shape) int {
	for d, e := range shape {
		if e != 1 {
			return d
		}
	}
	return -1
}

// outerExtent is the length of loops' outermost loop over shape: the whole
// size when flat, else the first axis longer than one.
func outerExtent(shape graph.Shape, flat bool) int {
	if d := outerAxis(shape); !flat && d >= 0 {
		return shape[d]
	}
	return shape.Size()
}

func loopNest(shape graph.Shape, flat, ranged bool, body func(vars []string, idx string) []jen.Code) (jen.Code, int) {
	header := func(v string, extent int) jen.Code {
		if ranged {
			return jen.Id(v).Op(":=").Id("lo").Op(";").Id(v).Op("<").Id("hi").Op(";").Id(v).Op("++")
		}
		return jen.Id(v).Op(":=").Range().Lit(extent)
	}
	if shape.Size() == 1 {
		vars := make([]string, shape.Rank())
		return jen.Block(body(vars, "0")...), 1
	}
	if flat {
		vars := make([]string, shape.Rank())
		return jen.For(header("i", shape.Size())).Block(body(vars, "i")...), shape.Size()
	}
	vars := make([]string, shape.Rank())
	for d := range vars {
		vars[d] = loopVar(d)
	}
	outer := outerAxis(shape)
	var nest func(d int) jen.Code
	nest = func(d int) jen.Code {
		if d == shape.Rank() {
			return nil
		}
		if shape[d] == 1 { // a loop of one: index terms for this axis are omitted anyway
			if inner := nest(d + 1); inner != nil {
				return inner
			}
			return jen.Block(body(vars, "")...)
		}
		inner := nest(d + 1)
		var stmts []jen.Code
		if inner == nil {
			stmts = body(vars, "")
		} else {
			stmts = []jen.Code{inner}
		}
		if d == outer {
			return jen.For(header(vars[d], shape[d])).Block(stmts...)
		}
		return jen.For(jen.Id(vars[d]).Op(":=").Range().Lit(shape[d])).Block(stmts...)
	}
	return nest(0), shape[outer]
}

// flatOK reports whether every operand is either the output's shape or a
// single element, so one flat loop covers the op.
func flatOK(out graph.Shape, xs []*graph.Node) bool {
	for _, x := range xs {
		if x.Op == graph.OpCausalMask {
			return false
		}
		if !x.Type.Shape.Equal(out) && x.Type.Shape.Size() != 1 {
			return false
		}
	}
	return true
}

// elementwise emits out[idx] = expr(f, operands...) over the output shape,
// split between the pool's threads when it is large.
func (f *fnGen) elementwise(n *graph.Node, expr func(f *fnGen, a []jen.Code) jen.Code) []jen.Code {
	out := n.Type.Shape
	return f.loopKernel("loop", n, out, flatOK(out, n.Inputs), func(f *fnGen) func(vars []string, idx string) []jen.Code {
		return func(vars []string, idx string) []jen.Code {
			args := make([]jen.Code, len(n.Inputs))
			for i, x := range n.Inputs {
				args[i] = f.elem(x, out, vars, idx)
			}
			target := idx
			if target == "" {
				target = indexExpr(out, out, vars)
			}
			return []jen.Code{f.ref(n).Index(jen.Id(target)).Op("=").Add(expr(f, args))}
		}
	})
}

// bindings declares the slices this function uses, in ID order.
func (f *fnGen) bindings() []jen.Code {
	var nodes []*graph.Node
	for n := range f.used {
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, func(a, b *graph.Node) int { return a.ID - b.ID })
	var out []jen.Code
	for _, n := range nodes {
		s := f.p.slots[n]
		var src *jen.Statement
		switch s.region {
		case inParams:
			src = jen.Id("m").Dot("params")
		case inQParams:
			src = jen.Id("m").Dot("qparams")
		case inHParams:
			src = jen.Id("m").Dot("hparams")
		case inGrads:
			src = jen.Id("m").Dot("grads")
		case inState:
			src = jen.Id("m").Dot("state")
		case inCache:
			src = jen.Id("m").Dot("cache")
		case inConst:
			out = append(out, jen.Id(f.nm.name(n)).Op(":=").Id(f.g.lay.constNames[n]).Index(jen.Op(":")).Comment(n.Type.String()))
			continue
		case inline:
			continue
		default:
			src = jen.Id("m").Dot(arenaNames[arenaIndex(s.dtype)])
		}
		out = append(out, jen.Id(f.nm.name(n)).Op(":=").Add(src).Index(jen.Lit(s.off).Op(":").Lit(s.off+s.size)).Comment(n.Type.String()))
	}
	return out
}

// comment is "// <label> = <math>  (file:line)" for a node.
func (f *fnGen) comment(n *graph.Node) string {
	s := f.label(n) + " = " + f.math(n, 1)
	if n.Type.DType == graph.Void {
		s = f.math(n, 0)
	}
	if n.Pos.IsValid() {
		s += "  (" + n.Pos.String() + ")"
	}
	return s
}

// label is how comments name a value: its Go name, or for inline constants the literal.
func (f *fnGen) label(n *graph.Node) string {
	if n.Op == graph.OpConst && n.Attrs.Data == nil {
		return graph.FormatFloat(n.Attrs.Value)
	}
	if n.Op == graph.OpCausalMask {
		return "causal"
	}
	return f.nm.name(n)
}

// math renders n's op over its operands' labels; unnamed single-use operands
// are expanded (depth levels) so that a comment shows z2 = a1 · W2 + b2.
func (f *fnGen) math(n *graph.Node, depth int) string {
	info := n.Op.Info()
	if info.Math == nil {
		return n.Op.String()
	}
	args := make([]string, len(n.Inputs))
	for i, x := range n.Inputs {
		if depth > 0 && x.Name == "" && !x.Op.Info().Has(graph.Leaf) && f.g.uses[x] == 1 && x.Op.Info().Math != nil {
			if sub := f.math(x, depth-1); len(sub) <= 32 { // expand only what stays short
				args[i] = sub
				if strings.Contains(sub, " ") && x.Op != graph.OpMatMul {
					args[i] = "(" + sub + ")"
				}
				continue
			}
		}
		args[i] = f.label(x)
	}
	return info.Math(n, args)
}

// errorf is a return of a formatted error from a method that returns error.
func errorf(format string, args ...jen.Code) jen.Code {
	return jen.Return(jen.Qual("fmt", "Errorf").Call(append([]jen.Code{jen.Lit(format)}, args...)...))
}

func posPrefix(n *graph.Node) string {
	if n.Pos.IsValid() {
		return n.Pos.String() + ": "
	}
	return ""
}

var _ = fmt.Sprint
