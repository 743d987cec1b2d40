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
	// Prefill and Decode take Predict's ids (a prefix of them, for Decode).
	gs := []*graph.Graph{g.prog.Predict}
	if g.prog.Train != nil {
		gs = append(gs, g.prog.Train)
	}

	// testInputs fills one buffer per input with fixed, valid values.
	g.inVars = varNames("in", gs, inputNames)
	seen := map[string]bool{}
	var decls []jen.Code
	for _, gr := range gs {
		for _, n := range gr.Inputs() {
			if seen[n.Name] {
				continue
			}
			seen[n.Name] = true
			name := g.inVars[n.Name]
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
			a = append(a, jen.Id(g.inVars[n.Name]))
		}
		return a
	}
	var eps []ep
	nout := len(g.prog.Predict.Results())
	blanks := make([]jen.Code, nout)
	for i := range blanks {
		blanks[i] = jen.Id("_")
	}
	eps = append(eps, ep{"Predict", jen.List(append(blanks, jen.Err())...).Op(":=").Id("m").Dot("Predict").Call(args(g.prog.Predict)...)})
	if small := g.prog.PredictSmall; small != nil {
		eps = append(eps, ep{"PredictSmallBatch", jen.List(append(blanks, jen.Err())...).Op(":=").Id("m").Dot("Predict").Call(g.smallArgs()...)})
	}
	if g.prog.Train != nil {
		eps = append(eps,
			ep{"TrainStep", jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot("TrainStep").Call(args(g.prog.Train)...)},
			ep{"Backward", jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot("Backward").Call(args(g.prog.Train)...)},
			ep{"AccumulateGrads", jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot("AccumulateGrads").Call(args(g.prog.Train)...)},
			// The named API of libraries (train.Local): find a buffer, step.
			ep{"StepInPlace", nil},
			ep{"LossInPlace", nil},
		)
		for i := len(eps) - 2; i < len(eps); i++ {
			call := jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot(eps[i].name).Call()
			if ins := g.prog.Train.Inputs(); len(ins) > 0 {
				call = jen.List(jen.Id("_"), jen.Id("_"), jen.Id("_")).Op("=").Id("m").Dot("TrainInput").Call(jen.Lit(ins[0].Name)).Line().Add(call)
			}
			eps[i].call = call
		}
	}
	if g.prog.Decode != nil {
		eps = append(eps, g.decodeTestCalls(decls)...)
	}
	// TestZeroAllocs
	var cases []jen.Code
	for _, e := range eps {
		cases = append(cases, jen.Values(jen.Lit(e.name), jen.Func().Params().Error().Block(e.call, jen.Return(jen.Err()))))
	}
	body := append([]jen.Code{jen.Id("m").Op(":=").Id("New").Call()}, decls...)
	if ok, ctx, vocab, _ := genShape(g.prog); ok {
		body = append(body,
			jen.Comment("A generation loop: sampling top-k at temperature 1, into a buffer with room."),
			jen.If(jen.Err().Op(":=").Id("m").Dot("SetSampling").Call(jen.Lit(1), jen.Lit(min(10, vocab)), jen.Lit(0), jen.Lit(1)), jen.Err().Op("!=").Nil()).Block(jen.Id("t").Dot("Fatal").Call(jen.Err())),
			jen.Id("tokens").Op(":=").Make(jen.Index().Int32(), jen.Lit(0), jen.Lit(ctx+3)),
		)
	}
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
		if e.name == "AccumulateGrads" || e.name == "Generate" || e.name == "GenerateNoCache" {
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
	if g.prog.PredictSmall != nil {
		g.smallBatchTest(f, decls, args(g.prog.Predict))
	}
	if g.prog.Decode != nil {
		g.pastContextTest(f, gs)
	}
	if ok, ctx, vocab, src := genShape(g.prog); ok {
		g.generateBenchmarks(f, ctx, vocab, src)
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

// ep is an entry point's call in the generated tests: statements that set
// err.
type ep struct {
	name string
	call jen.Code
}

// decodeTestCalls are the KV-cache entry points for TestZeroAllocs: Prefill
// on the test ids, DecodeStep (starting again when the cache is full), and
// for a language model a generation loop with sampling from a prompt one
// short of the context, so that the cache fills and the window slides.
func (g *gen) decodeTestCalls(decls []jen.Code) []ep {
	ids, context := g.decodeInputs()
	in := jen.Id(g.inVars[ids.Name])
	var args []jen.Code // Prefill's: the context inputs, then the ids
	for _, c := range context {
		args = append(args, jen.Id(g.inVars[c.Name]))
	}
	full := ids.Type.Shape
	ctx := full[len(full)-1]
	rows := full.Size() / ctx
	eps := []ep{
		{"Prefill", jen.List(blanks(g.prog.Prefill)...).Op(":=").Id("m").Dot("Prefill").Call(append(args, in)...)},
		{"DecodeStep", jen.If(jen.Id("m").Dot("Pos").Call().Op("==").Lit(ctx)).Block(jen.Id("m").Dot("Reset").Call()).Line().
			List(blanks(g.prog.Decode)...).Op(":=").Id("m").Dot("DecodeStep").Call(in.Clone().Index(jen.Op(":").Lit(rows)))},
	}
	if ok, _, _, src := s2sShape(g.prog); ok {
		// An output of 4 tokens after the first decoder id, for the test source.
		for _, name := range []string{"Generate", "GenerateNoCache"} {
			eps = append(eps, ep{name, jen.Id("tokens").Op("=").Append(jen.Id("tokens").Index(jen.Op(":").Lit(0)), in.Clone().Index(jen.Op(":").Lit(1)).Op("...")).Line().
				Var().Err().Error().Line().
				List(jen.Id("tokens"), jen.Err()).Op("=").Id("m").Dot(name).Call(jen.Id(g.inVars[src.Name]), jen.Id("tokens"), jen.Lit(min(4, ctx)), jen.Nil())})
		}
	}
	if ok, _, _ := lmShape(g.prog); ok {
		for _, name := range []string{"Generate", "GenerateNoCache"} {
			eps = append(eps, ep{name, jen.Id("tokens").Op("=").Append(jen.Id("tokens").Index(jen.Op(":").Lit(0)), in.Clone().Index(jen.Op(":").Lit(ctx-1)).Op("...")).Line().
				Var().Err().Error().Line().
				List(jen.Id("tokens"), jen.Err()).Op("=").Id("m").Dot(name).Call(jen.Id("tokens"), jen.Lit(4), jen.Nil())})
		}
	}
	return eps
}

// generateBenchmarks writes BenchmarkGenerate and BenchmarkGenerateNoCache:
// greedy generation of a whole context from a one-token prompt, reported
// per token, so that the two show what the KV cache saves.
func (g *gen) generateBenchmarks(f *jen.File, ctx, vocab int, src *graph.Node) {
	args := []jen.Code{jen.Op("*").Id("Model"), jen.Index().Int32(), jen.Int(), jen.Func().Params(jen.Int32()).Error()}
	setup := []jen.Code{
		jen.Id("m").Op(":=").Id("New").Call(),
		jen.Comment("Greedy: every token costs the same, whatever the weights."),
		jen.Err().Op(":=").Id("m").Dot("SetSampling").Call(jen.Lit(0), jen.Lit(0), jen.Lit(0), jen.Lit(1)),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Id("b").Dot("Fatal").Call(jen.Err())),
		jen.Id("tokens").Op(":=").Make(jen.Index().Int32(), jen.Lit(0), jen.Lit(ctx)),
	}
	callArgs := []jen.Code{jen.Id("m"), jen.Append(jen.Id("tokens").Index(jen.Op(":").Lit(0)), jen.Lit(1)), jen.Lit(ctx - 1), jen.Nil()}
	what := "after one"
	if src != nil { // an encoder-decoder: a whole source, no padding
		args = append([]jen.Code{args[0], jen.Index().Int32()}, args[1:]...)
		setup = append(setup,
			jen.Id("src").Op(":=").Make(jen.Index().Int32(), jen.Lit(src.Type.Shape.Size())),
			jen.For(jen.Id("i").Op(":=").Range().Id("src")).Block(jen.Id("src").Index(jen.Id("i")).Op("=").Int32().Call(jen.Lit(1).Op("+").Id("i").Op("%").Lit(max(vocab-1, 1)))),
		)
		callArgs = append([]jen.Code{callArgs[0], jen.Id("src")}, callArgs[1:]...)
		what = fmt.Sprintf("for a source of %d ids, after one", src.Type.Shape.Size())
	}
	fnType := jen.Func().Params(args...).Params(jen.Index().Int32(), jen.Error())
	f.Line()
	docComment(f, fmt.Sprintf("benchmarkGenerate generates %d tokens %s and reports the time per token.", ctx-1, what))
	f.Func().Id("benchmarkGenerate").Params(jen.Id("b").Op("*").Qual("testing", "B"), jen.Id("generate").Add(fnType)).Block(append(setup,
		jen.Id("b").Dot("ReportAllocs").Call(),
		jen.For(jen.Id("b").Dot("Loop").Call()).Block(
			jen.If(jen.List(jen.Id("tokens"), jen.Err()).Op("=").Id("generate").Call(callArgs...), jen.Err().Op("!=").Nil()).Block(
				jen.Id("b").Dot("Fatal").Call(jen.Err()),
			),
		),
		jen.Id("b").Dot("ReportMetric").Call(jen.Id("float64").Call(jen.Id("b").Dot("Elapsed").Call().Dot("Nanoseconds").Call()).Op("/").Id("float64").Call(jen.Id("b").Dot("N").Op("*").Lit(ctx-1)), jen.Lit("ns/token")),
	)...)
	for _, name := range []string{"Generate", "GenerateNoCache"} {
		f.Line()
		docComment(f, fmt.Sprintf("Benchmark%s measures %s over a whole context, per token.", name, name))
		f.Func().Id("Benchmark" + name).Params(jen.Id("b").Op("*").Qual("testing", "B")).Block(
			jen.Id("benchmarkGenerate").Call(jen.Id("b"), jen.Parens(jen.Op("*").Id("Model")).Dot(name)),
		)
	}
}

// pastContextTest writes TestDecodePastContext: a full prompt fills the
// cache, DecodeStep then fails and changes nothing, and Reset empties it.
func (g *gen) pastContextTest(f *jen.File, gs []*graph.Graph) {
	ids, context := g.decodeInputs()
	full := ids.Type.Shape
	ctx := full[len(full)-1]
	rows := full.Size() / ctx
	fatalIf := func(cond jen.Code, format string, args ...jen.Code) jen.Code {
		return jen.If(cond).Block(jen.Id("t").Dot("Fatalf").Call(append([]jen.Code{jen.Lit(format)}, args...)...))
	}
	f.Line()
	docComment(f, "TestDecodePastContext: DecodeStep past the context is an error that\nchanges nothing, and Reset empties the cache.")
	var setup, args []jen.Code
	for _, in := range append(context, ids) {
		v := ident(in.Name)
		setup = append(setup,
			jen.Id(v).Op(":=").Make(jen.Index().Int32(), jen.Lit(in.Type.Shape.Size())),
			jen.For(jen.Id("i").Op(":=").Range().Id(v)).Block(jen.Id(v).Index(jen.Id("i")).Op("=").Int32().Call(jen.Id("i").Op("%").Lit(idLimit(gs, in.Name)))))
		args = append(args, jen.Id(v))
	}
	idv := ident(ids.Name)
	f.Func().Id("TestDecodePastContext").Params(jen.Id("t").Op("*").Qual("testing", "T")).Block(append(append([]jen.Code{
		jen.Id("m").Op(":=").Id("New").Call()}, setup...),
		jen.If(jen.List(blanks(g.prog.Prefill)...).Op(":=").Id("m").Dot("Prefill").Call(args...), jen.Err().Op("!=").Nil()).Block(jen.Id("t").Dot("Fatal").Call(jen.Err())),
		fatalIf(jen.Id("m").Dot("Pos").Call().Op("!=").Lit(ctx), "Pos after a full prompt = %d, want "+fmt.Sprint(ctx), jen.Id("m").Dot("Pos").Call()),
		jen.Id("before").Op(":=").Append(jen.Index().Id(g.T).Values(), jen.Id("m").Dot("cache").Op("...")),
		jen.If(jen.List(blanks(g.prog.Decode)...).Op(":=").Id("m").Dot("DecodeStep").Call(jen.Id(idv).Index(jen.Op(":").Lit(rows))), jen.Err().Op("==").Nil()).Block(
			jen.Id("t").Dot("Fatal").Call(jen.Lit("DecodeStep past the context: no error")),
		),
		jen.For(jen.List(jen.Id("i"), jen.Id("v")).Op(":=").Range().Id("m").Dot("cache")).Block(
			fatalIf(jen.Id("v").Op("!=").Id("before").Index(jen.Id("i")), "a refused DecodeStep changed the cache at %d", jen.Id("i")),
		),
		jen.Id("m").Dot("Reset").Call(),
		fatalIf(jen.Id("m").Dot("Pos").Call().Op("!=").Lit(0), "Pos after Reset = %d", jen.Id("m").Dot("Pos").Call()),
	)...)
}

// decodeInputs are Prefill's token ids (the decoder's) and its context
// inputs (an encoder-decoder's source, in input order).
func (g *gen) decodeInputs() (ids *graph.Node, context []*graph.Node) {
	ids = g.prog.Prefill.Find(g.prog.Decode.Inputs()[0].Name)
	for _, n := range g.prog.Prefill.Inputs() {
		if n != ids && n.Name != graph.KVLengthName {
			context = append(context, n)
		}
	}
	return ids, context
}

// blanks is "_, _, err": an entry point's results ignored but the error.
func blanks(gr *graph.Graph) []jen.Code {
	b := make([]jen.Code, len(gr.Results()))
	for i := range b {
		b[i] = jen.Id("_")
	}
	return append(b, jen.Err())
}

// smallArgs are the test inputs cut to PredictSmall's batch: their first
// rows.
func (g *gen) smallArgs() []jen.Code {
	var a []jen.Code
	for _, n := range g.prog.PredictSmall.Inputs() {
		a = append(a, jen.Id(g.inVars[n.Name]).Index(jen.Op(":").Lit(n.Type.Shape.Size())))
	}
	return a
}

// smallBatchTest writes TestPredictSmallBatch: Predict on the first rows
// of a batch gives the outputs the whole batch gives those rows.
func (g *gen) smallBatchTest(f *jen.File, decls, args []jen.Code) {
	res := g.prog.PredictSmall.Results()
	var bigs, smalls []jen.Code
	for i := range res {
		bigs = append(bigs, jen.Id(fmt.Sprintf("big%d", i)))
		smalls = append(smalls, jen.Id(fmt.Sprintf("small%d", i)))
	}
	fatal := jen.If(jen.Err().Op("!=").Nil()).Block(jen.Id("t").Dot("Fatal").Call(jen.Err()))
	body := append([]jen.Code{jen.Id("m").Op(":=").Id("New").Call()}, decls...)
	body = append(body, jen.List(append(bigs, jen.Err())...).Op(":=").Id("m").Dot("Predict").Call(args...), fatal)
	for i, o := range res {
		// Copies: the next call reuses the memory the results alias.
		body = append(body, jen.Id(fmt.Sprintf("want%d", i)).Op(":=").Append(g.goSliceType(o.Node.Type.DType).Values(), bigs[i].(*jen.Statement).Clone().Index(jen.Op(":").Lit(o.Node.Type.Shape.Size())).Op("...")))
	}
	body = append(body, jen.List(append(smalls, jen.Err())...).Op(":=").Id("m").Dot("Predict").Call(g.smallArgs()...), fatal)
	tol := 1e-9
	if g.prog.Float == graph.F32 {
		tol = 1e-4
	}
	for i, o := range res {
		want := jen.Id(fmt.Sprintf("want%d", i)).Index(jen.Id("j"))
		got := smalls[i].(*jen.Statement).Clone().Index(jen.Id("j"))
		bad := jen.Id("got").Op("!=").Id("want")
		pre := []jen.Code{jen.List(jen.Id("got"), jen.Id("want")).Op(":=").List(got, want)}
		if o.Node.Type.DType != graph.Bool {
			pre = []jen.Code{jen.List(jen.Id("got"), jen.Id("want")).Op(":=").List(jen.Float64().Call(got), jen.Float64().Call(want))}
			bad = jen.Op("!").Parens(jen.Qual("math", "Abs").Call(jen.Id("got").Op("-").Id("want")).Op("<=").Lit(tol).Op("*").Parens(jen.Lit(1).Op("+").Qual("math", "Abs").Call(jen.Id("want"))))
		}
		body = append(body,
			jen.If(jen.Len(smalls[i]).Op("!=").Len(jen.Id(fmt.Sprintf("want%d", i)))).Block(
				jen.Id("t").Dot("Fatalf").Call(jen.Lit(o.Name+": %d values at the small batch, want %d"), jen.Len(smalls[i]), jen.Len(jen.Id(fmt.Sprintf("want%d", i)))),
			),
			jen.For(jen.Id("j").Op(":=").Range().Add(smalls[i])).Block(append(pre,
				jen.If(bad).Block(jen.Id("t").Dot("Fatalf").Call(jen.Lit(o.Name+"[%d] = %v at the small batch, %v in the whole batch"), jen.Id("j"), jen.Id("got"), jen.Id("want"))),
			)...),
		)
	}
	f.Line()
	docComment(f, "TestPredictSmallBatch: Predict on the first rows of a batch, at the\nsmaller batch it was also compiled for, gives the outputs the whole batch\ngives those rows.")
	f.Func().Id("TestPredictSmallBatch").Params(jen.Id("t").Op("*").Qual("testing", "T")).Block(body...)
}
