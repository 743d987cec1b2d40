package codegen

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// idLimit is the id range all graphs accept for the named i32 input, so the
// generated tests feed valid ids.
func idLimit(gs []*graph.Graph, name string) int {
	limit := 0
	for _, g := range gs {
		if in := g.Find(name); in != nil {
			if l := graph.IDLimit(g, in); l > 0 && (limit == 0 || l < limit) {
				limit = l
			}
		}
	}
	return max(limit, 1)
}

// testFile writes model_test.go: every entry point allocation-free after
// New, and a benchmark for each.
func (g *gen) testFile() ([]byte, error) {
	f := jen.NewFile(g.pkg)
	f.HeaderComment(Header(g.prog.Source))
	gs := g.prog.Graphs()

	// testInputs fills one buffer per input with fixed, valid values.
	seen := map[string]bool{}
	var decls []jen.Code
	for _, gr := range gs {
		for _, n := range gr.Inputs() {
			if seen[n.Name] {
				continue
			}
			seen[n.Name] = true
			name := "in" + exported(n.Name)
			size := n.Type.Shape.Size()
			var fill jen.Code
			switch n.Type.DType {
			case graph.I32:
				fill = jen.Id(name).Index(jen.Id("i")).Op("=").Int32().Call(jen.Id("i").Op("%").Lit(idLimit(gs, n.Name)))
			case graph.Bool:
				fill = jen.Id(name).Index(jen.Id("i")).Op("=").Id("i").Op("%").Lit(3).Op("!=").Lit(2)
			default:
				fill = jen.Id(name).Index(jen.Id("i")).Op("=").Id(g.T).Call(jen.Id("i").Op("%").Lit(7)).Op("*").Lit(0.25).Op("-").Lit(0.5)
			}
			decls = append(decls, jen.Id(name).Op(":=").Make(g.goSliceType(n.Type.DType), jen.Lit(size)),
				jen.For(jen.Id("i").Op(":=").Range().Id(name)).Block(fill))
		}
	}
	args := func(gr *graph.Graph) []jen.Code {
		var a []jen.Code
		for _, n := range gr.Inputs() {
			a = append(a, jen.Id("in"+exported(n.Name)))
		}
		return a
	}
	type ep struct {
		name string
		call jen.Code
	}
	var eps []ep
	nout := len(g.prog.Predict.Outputs)
	blanks := make([]jen.Code, nout)
	for i := range blanks {
		blanks[i] = jen.Id("_")
	}
	eps = append(eps, ep{"Predict", jen.List(append(blanks, jen.Err())...).Op(":=").Id("m").Dot("Predict").Call(args(g.prog.Predict)...)})
	if g.prog.Train != nil {
		eps = append(eps,
			ep{"TrainStep", jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot("TrainStep").Call(args(g.prog.Train)...)},
			ep{"Backward", jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot("Backward").Call(args(g.prog.Train)...)},
			ep{"AccumulateGrads", jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot("AccumulateGrads").Call(args(g.prog.Train)...)},
		)
	}
	// TestZeroAllocs
	var cases []jen.Code
	for _, e := range eps {
		cases = append(cases, jen.Values(jen.Lit(e.name), jen.Func().Params().Error().Block(e.call, jen.Return(jen.Err()))))
	}
	body := append([]jen.Code{jen.Id("m").Op(":=").Id("New").Call()}, decls...)
	body = append(body,
		jen.For(jen.List(jen.Id("_"), jen.Id("c")).Op(":=").Range().Index().Struct(jen.Id("name").String(), jen.Id("run").Func().Params().Error()).Values(cases...)).Block(
			jen.If(jen.Err().Op(":=").Id("c").Dot("run").Call(), jen.Err().Op("!=").Nil()).Block(
				jen.Id("t").Dot("Fatalf").Call(jen.Lit("%s: %v"), jen.Id("c").Dot("name"), jen.Err()),
			),
			jen.Id("allocs").Op(":=").Qual("testing", "AllocsPerRun").Call(jen.Lit(20), jen.Func().Params().Block(jen.Id("_").Op("=").Id("c").Dot("run").Call())),
			jen.If(jen.Id("allocs").Op("!=").Lit(0)).Block(
				jen.Id("t").Dot("Errorf").Call(jen.Lit("%s: %v allocations per call, want 0"), jen.Id("c").Dot("name"), jen.Id("allocs")),
			),
		),
	)
	docComment(f, "TestZeroAllocs proves that no entry point allocates after New.")
	f.Func().Id("TestZeroAllocs").Params(jen.Id("t").Op("*").Qual("testing", "T")).Block(body...)
	if g.prog.Train != nil {
		g.gradTest(f, decls, args(g.prog.Train))
	}
	for _, e := range eps {
		if e.name == "AccumulateGrads" {
			continue
		}
		f.Line()
		docComment(f, fmt.Sprintf("Benchmark%s measures one call of %s.", e.name, e.name))
		bb := append([]jen.Code{jen.Id("m").Op(":=").Id("New").Call()}, decls...)
		bb = append(bb,
			jen.Id("b").Dot("ReportAllocs").Call(),
			jen.For(jen.Id("b").Dot("Loop").Call()).Block(
				e.call,
				jen.If(jen.Err().Op("!=").Nil()).Block(jen.Id("b").Dot("Fatal").Call(jen.Err())),
			),
		)
		f.Func().Id("Benchmark" + e.name).Params(jen.Id("b").Op("*").Qual("testing", "B")).Block(bb...)
	}
	return render(f)
}

// gradTest writes TestGradientsStartFromZero: the reference text's first
// "common bug" (gradients that silently accumulate) cannot happen here.
func (g *gen) gradTest(f *jen.File, decls, args []jen.Code) {
	check := func(call string) jen.Code {
		return jen.If(jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot(call).Call(args...), jen.Err().Op("!=").Nil()).Block(jen.Id("t").Dot("Fatal").Call(jen.Err()))
	}
	body := append([]jen.Code{jen.Id("m").Op(":=").Id("New").Call()}, decls...)
	body = append(body,
		jen.Id("seed").Op(":=").Id("m").Dot("RNGState").Call().Comment("same dropout masks for every call"),
		check("Backward"),
		jen.Id("first").Op(":=").Append(jen.Index().Id(g.T).Values(), jen.Id("m").Dot("grads").Op("...")),
		jen.Id("m").Dot("SetRNGState").Call(jen.Id("seed")),
		check("Backward"),
		jen.For(jen.List(jen.Id("i"), jen.Id("v")).Op(":=").Range().Id("m").Dot("grads")).Block(
			jen.If(jen.Id("v").Op("!=").Id("first").Index(jen.Id("i"))).Block(
				jen.Id("t").Dot("Fatalf").Call(jen.Lit("gradient %d changed between two identical Backward calls: %v, then %v"), jen.Id("i"), jen.Id("first").Index(jen.Id("i")), jen.Id("v")),
			),
		),
		jen.Id("m").Dot("ZeroGrads").Call(),
		jen.Id("m").Dot("SetRNGState").Call(jen.Id("seed")),
		check("AccumulateGrads"),
		jen.Id("m").Dot("SetRNGState").Call(jen.Id("seed")),
		check("AccumulateGrads"),
		jen.For(jen.List(jen.Id("i"), jen.Id("v")).Op(":=").Range().Id("m").Dot("grads")).Block(
			jen.If(jen.Id("v").Op("!=").Lit(2).Op("*").Id("first").Index(jen.Id("i"))).Block(
				jen.Id("t").Dot("Fatalf").Call(jen.Lit("gradient %d: two accumulated micro-batches give %v, want 2 × %v"), jen.Id("i"), jen.Id("v"), jen.Id("first").Index(jen.Id("i"))),
			),
		),
	)
	f.Line()
	docComment(f, "TestGradientsStartFromZero: two identical Backward calls give identical\ngradients (nothing accumulates by accident), and accumulating is explicit.")
	f.Func().Id("TestGradientsStartFromZero").Params(jen.Id("t").Op("*").Qual("testing", "T")).Block(body...)
}
