package codegen

import (
	"fmt"
	"math"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

func (g *gen) modelFile() ([]byte, error) {
	f := jen.NewFile(g.pkg)
	f.HeaderComment(Header(g.prog.Source))
	f.ImportName("fmt", "fmt")
	f.ImportName("math", "math")
	prog := g.prog
	doc := fmt.Sprintf("Package %s is the model %q compiled by mlc from %s", g.pkg, prog.Name, prog.Source)
	if prog.Config != "" {
		doc += " (config " + prog.Config + ")"
	}
	doc += ".\n\nIt is standalone: New allocates every buffer once, and no method allocates after that."
	f.PackageComment(lineComments(doc))

	pred := g.newEntry(prog.Predict)
	var small, train, prefill, decode *entry
	if prog.PredictSmall != nil {
		small = g.newEntry(prog.PredictSmall)
	}
	if prog.Train != nil {
		train = g.newEntry(prog.Train)
	}
	if prog.Decode != nil {
		prefill, decode = g.newEntry(prog.Prefill), g.newEntry(prog.Decode)
	}

	g.modelType(f)
	g.constructor(f)
	g.tensorAPI(f)
	if err := g.predictAPI(f, pred, small); err != nil {
		return nil, err
	}
	if err := g.tapAPI(f, pred); err != nil {
		return nil, err
	}
	if train != nil {
		if err := g.trainAPI(f, train); err != nil {
			return nil, err
		}
	}
	if decode != nil {
		if err := g.decodeAPI(f, prefill, decode); err != nil {
			return nil, err
		}
	}
	g.namedAPI(f, train)
	all := func(*graph.Node) bool { return true }
	g.method(f, pred, "predict", "predict runs the forward pass in eval mode.", all, nil)
	if small != nil {
		g.method(f, small, "predictSmall", "predictSmall runs the forward pass in eval mode at the smaller batch.", all, nil)
	}
	if train != nil {
		g.method(f, train, "forward", "forward runs the forward pass in training mode, keeping what backward needs.",
			func(n *graph.Node) bool { return n.Role == graph.RoleForward }, nil)
		g.method(f, train, "backward", "backward computes d loss/d param for the batch forward last saw,\nreading the forward pass in reverse: one block per forward op.",
			func(n *graph.Node) bool { return n.Role == graph.RoleBackward }, nil)
		g.method(f, train, "update", "update applies the optimizer to every parameter.",
			func(n *graph.Node) bool { return n.Role == graph.RoleUpdate }, nil)
	}
	if decode != nil {
		g.method(f, prefill, "prefill", "prefill runs the forward pass over the padded prompt and stores every\nattention's keys and values in the cache.", all, nil)
		g.method(f, decode, "decode", "decode runs one position against the cache.", all, nil)
	}
	for _, k := range g.kernels {
		f.Line()
		f.Add(k)
	}
	if g.usesPool {
		f.Line()
		g.parallelDecls(f)
	}
	g.constData(f)
	g.weightsDecls(f)
	g.errHelpers(f)
	return render(f)
}

// Sizes of the backing slices.
func (g *gen) modelType(f *jen.File) {
	l := g.lay
	var params, states, caches, low []string
	for _, v := range l.vars {
		switch {
		case v.param && v.node.Type.DType.IsStorage():
			low = append(low, v.name)
		case v.param:
			params = append(params, v.name)
		case v.cache:
			caches = append(caches, v.name)
		default:
			states = append(states, v.name)
		}
	}
	fields := []jen.Code{
		jen.Id("params").Index().Id(g.T).Comment(fmt.Sprintf("%d values: %s", l.paramSize, strings.Join(params, ", "))),
		jen.Id("grads").Index().Id(g.T).Comment("d loss/d param, laid out like params"),
		jen.Id("gradSum").Index().Id(g.T).Comment("AccumulateGrads: the gradients before this micro-batch"),
	}
	if l.qparamSize > 0 {
		fields = append(fields, jen.Id("qparams").Index().Int8().Comment(fmt.Sprintf("%d int8 weights (each output channel times its f32 scale): %s", l.qparamSize, strings.Join(low, ", "))))
	}
	if l.hparamSize > 0 {
		fields = append(fields, jen.Id("hparams").Index().Uint16().Comment(fmt.Sprintf("%d bf16 weights, as bit patterns, those of x·W with their rows paired (qMatMulBF16's layout): %s", l.hparamSize, strings.Join(low, ", "))))
	}
	if l.stateSize > 0 {
		fields = append(fields, jen.Id("state").Index().Id(g.T).Comment(fmt.Sprintf("%d values: %s", l.stateSize, strings.Join(states, ", "))))
	}
	if l.cacheSize > 0 {
		fields = append(fields, jen.Id("cache").Index().Id(g.T).Comment(fmt.Sprintf("%d values, the KV cache of decoding: %s", l.cacheSize, strings.Join(caches, ", "))))
	}
	if g.xentRows > 0 && g.usesPool {
		fields = append(fields, jen.Id("xent").Index().Float64().Comment("a split cross-entropy's per-row losses, summed in order"))
	}
	if g.scratch > 0 {
		fields = append(fields, jen.Id("scratch").Index().Id(g.T).Comment("DecodeStep: the attention weights of one query"))
	}
	if g.window() > 0 {
		fields = append(fields,
			jen.Id("window").Index().Int32().Comment("GenerateNoCache: the padded window of tokens"),
			jen.Id("sampler").Op("*").Id(internal("Sampler")).Types(jen.Id(g.T)).Comment("Generate's token sampler (SetSampling)"),
		)
	}
	fields = append(fields,
		jen.Id("arena").Index().Id(g.T).Comment("inputs and intermediate values of the entry points"),
		jen.Id("iarena").Index().Int32().Comment("integer values: token ids, labels"),
		jen.Id("barena").Index().Bool().Comment("masks"),
	)
	if l.bf16Arena {
		fields = append(fields, jen.Id("harena").Index().Uint16().Comment("arena's memory as bf16 bit patterns: the activations training stores in bf16"))
	}
	fields = append(fields,
		jen.Id("rng").Id("rng").Comment("dropout masks: the same stream as mlc's interpreter"),
		jen.Id("evalMode").Bool().Comment("set by Loss: dropout off"),
		jen.Line(),
		jen.Id("paramList").Index().Id("Tensor"),
		jen.Id("gradList").Index().Id("Tensor"),
	)
	if l.stateSize > 0 {
		fields = append(fields, jen.Id("stateList").Index().Id("Tensor"))
	}
	if g.usesPool {
		fields = append(fields,
			jen.Id("pool").Op("*").Id(internal("Pool")).Comment("worker threads of the matrix products and the parallel kernels"),
			jen.Id("task").Id("task").Comment("the parallel kernel running on the pool"),
		)
		if g.tunes() {
			fields = append(fields, jen.Id("tune").Index(jen.Lit(len(tunedPasses))).Id(internal("ThreadTuner")).
				Comment("each pass's thread count, measured on its first calls: "+strings.Join(tunedPasses, ", ")))
		}
	}
	docComment(f, "Model holds the parameters, their gradients and every intermediate value in\nbuffers allocated once by New. A Model is not safe for concurrent use.")
	f.Type().Id("Model").Struct(fields...)
	f.Line()
	docComment(f, "Tensor is a named view of a model buffer: row-major, with its static shape.")
	f.Type().Id("Tensor").Struct(
		jen.Id("Name").String(),
		jen.Id("Shape").Index().Int(),
		jen.Id("Data").Index().Id(g.T),
	)
	f.Line()
}

func intsLit(s graph.Shape) jen.Code {
	vals := make([]jen.Code, len(s))
	for i, d := range s {
		vals[i] = jen.Lit(d)
	}
	return jen.Index().Int().Values(vals...)
}

func (g *gen) floatsLit(data []float64) jen.Code {
	vals := make([]jen.Code, len(data))
	for i, v := range data {
		vals[i] = g.floatLit(v)
	}
	return jen.Index().Id(g.T).Values(vals...)
}

// floatLit is v as an element of a []T literal: an infinity is
// math.Inf, a float64, so float32 packages convert it.
func (g *gen) floatLit(v float64) jen.Code {
	if math.IsInf(v, 0) && g.T == "float32" {
		return jen.Id("float32").Call(floatCode(v))
	}
	return floatCode(v)
}

// floatCode is v as Go source; an infinity or NaN calls package math,
// through jen so that the file imports it.
func floatCode(v float64) *jen.Statement {
	switch {
	case math.IsInf(v, 1):
		return jen.Qual("math", "Inf").Call(jen.Lit(1))
	case math.IsInf(v, -1):
		return jen.Op("-").Qual("math", "Inf").Call(jen.Lit(1))
	case math.IsNaN(v):
		return jen.Qual("math", "NaN").Call()
	}
	return jen.Id(graph.FormatFloat(v))
}

func (g *gen) constructor(f *jen.File) {
	l := g.lay
	body := []jen.Code{
		jen.Id("m").Op(":=").Op("&").Id("Model").Values(jen.Dict{
			jen.Id("params"):  jen.Make(jen.Index().Id(g.T), jen.Lit(l.paramSize)),
			jen.Id("rng"):     jen.Id("rng").Values(jen.Id("seedFor").Call(jen.Id("seed"), jen.Lit("dropout"))),
			jen.Id("grads"):   jen.Make(jen.Index().Id(g.T), jen.Lit(l.paramSize)),
			jen.Id("gradSum"): jen.Make(jen.Index().Id(g.T), jen.Lit(l.paramSize)),
			jen.Id("arena"):   jen.Make(jen.Index().Id(g.T), jen.Lit(l.arenaSize[0])),
			jen.Id("iarena"):  jen.Make(jen.Index().Int32(), jen.Lit(l.arenaSize[1])),
			jen.Id("barena"):  jen.Make(jen.Index().Bool(), jen.Lit(l.arenaSize[2])),
		}),
	}
	if l.bf16Arena {
		// The bf16 values are planned into the float32 arena, two to a float.
		body = append(body, jen.Id("m").Dot("harena").Op("=").Qual("unsafe", "Slice").Call(
			jen.Parens(jen.Op("*").Uint16()).Call(jen.Qual("unsafe", "Pointer").Call(jen.Qual("unsafe", "SliceData").Call(jen.Id("m").Dot("arena")))),
			jen.Lit(2).Op("*").Len(jen.Id("m").Dot("arena"))))
	}
	if l.qparamSize > 0 {
		body = append(body, jen.Id("m").Dot("qparams").Op("=").Make(jen.Index().Int8(), jen.Lit(l.qparamSize)))
	}
	if l.hparamSize > 0 {
		body = append(body, jen.Id("m").Dot("hparams").Op("=").Make(jen.Index().Uint16(), jen.Lit(l.hparamSize)))
	}
	if l.stateSize > 0 {
		body = append(body, jen.Id("m").Dot("state").Op("=").Make(jen.Index().Id(g.T), jen.Lit(l.stateSize)))
	}
	if l.cacheSize > 0 {
		body = append(body, jen.Id("m").Dot("cache").Op("=").Make(jen.Index().Id(g.T), jen.Lit(l.cacheSize)))
	}
	if g.usesPool {
		body = append(body, jen.Id("m").Dot("pool").Op("=").Id(internal("NewPool")).Call(jen.Lit(0)).Comment("one thread per GOMAXPROCS"))
		body = append(body, jen.Comment("Packing buffers for every blocked product, so that no call allocates."))
		for _, r := range g.reserves {
			body = append(body, jen.Id(internal("Reserve")).Types(jen.Id(g.T)).Call(jen.Id("m").Dot("pool"), jen.Lit(r[0] == 1), jen.Lit(r[1] == 1), jen.Lit(r[2]), jen.Lit(r[3]), jen.Lit(r[4])))
		}
		for _, r := range g.bf16Reserves {
			body = append(body, jen.Id(internal("ReserveBF16")).Call(jen.Id("m").Dot("pool"), jen.Lit(r[0] == 1), jen.Lit(r[1] == 1), jen.Lit(r[2]), jen.Lit(r[3]), jen.Lit(r[4])))
		}
	}
	if g.xentRows > 0 && g.usesPool {
		body = append(body, jen.Id("m").Dot("xent").Op("=").Make(jen.Index().Float64(), jen.Lit(g.xentRows)))
	}
	switch {
	case g.scratch > 0 && g.usesPool:
		body = append(body, jen.Id("m").Dot("scratch").Op("=").Make(jen.Index().Id(g.T), jen.Lit(g.scratch).Op("*").Id("m").Dot("pool").Dot("Threads").Call()).Comment("a tile per thread"))
	case g.scratch > 0:
		body = append(body, jen.Id("m").Dot("scratch").Op("=").Make(jen.Index().Id(g.T), jen.Lit(g.scratch)))
	}
	if w := g.window(); w > 0 {
		_, _, vocab, _ := genShape(g.prog)
		body = append(body, jen.Id("m").Dot("window").Op("=").Make(jen.Index().Int32(), jen.Lit(w)),
			jen.Comment("Sampling at temperature 1 from seed 0 until SetSampling says otherwise; a\nvocabulary of at least one token and these options cannot fail."),
			jen.List(jen.Id("m").Dot("sampler"), jen.Id("_")).Op("=").Id(internal("NewSampler")).Types(jen.Id(g.T)).Call(jen.Lit(vocab), jen.Id(internal("Options")).Values(jen.Dict{jen.Id("Temperature"): jen.Lit(1)}), jen.Lit(0)))
	}
	for _, v := range l.vars {
		if v.cache {
			continue // starts empty
		}
		n := v.node
		size := n.Type.Shape.Size()
		region := "params"
		if !v.param {
			region = "state"
		}
		if lr, ok := lowRegion(n.Type.DType); ok {
			region = regionField(g, slot{region: lr})
		}
		dst := jen.Id("m").Dot(region).Index(jen.Lit(v.off).Op(":").Lit(v.off + size))
		var init jen.Code
		switch {
		case n.Type.DType.IsStorage() && n.Attrs.Init == "zeros":
		case n.Type.DType.IsStorage():
			init = g.lowValues(dst, n)
		case !v.param:
			if n.Attrs.Value != 0 {
				init = jen.For(jen.Id("i").Op(":=").Range().Add(dst)).Block(jen.Add(dst.Clone()).Index(jen.Id("i")).Op("=").Add(floatCode(n.Attrs.Value)))
			}
		case n.Attrs.Init == "zeros":
		case n.Attrs.Init == "ones":
			init = jen.For(jen.Id("i").Op(":=").Range().Add(dst)).Block(jen.Add(dst.Clone()).Index(jen.Id("i")).Op("=").Lit(1))
		case n.Attrs.Init == "values" && len(n.Attrs.Data) >= embedMinValues:
			init = g.embedValues(dst, n.Attrs.Data)
		case n.Attrs.Init == "values":
			init = jen.Copy(dst, g.floatsLit(n.Attrs.Data))
		default:
			init = jen.Id("initNormal").Call(dst, g.stdExpr(n), jen.Id("seed"), jen.Lit(n.Name))
		}
		if init != nil {
			body = append(body, jen.Comment(fmt.Sprintf("%s %s: %s", n.Name, n.Type, initDoc(n))), init)
		}
	}
	var plist, glist, slist []jen.Code
	for _, v := range l.vars {
		if v.cache || v.node.Type.DType.IsStorage() {
			continue // the low-precision weights are the package's own, not in Params
		}
		size := v.node.Type.Shape.Size()
		t := func(region string) jen.Code {
			return jen.Values(jen.Dict{
				jen.Id("Name"):  jen.Lit(v.name),
				jen.Id("Shape"): intsLit(v.node.Type.Shape),
				jen.Id("Data"):  jen.Id("m").Dot(region).Index(jen.Lit(v.off).Op(":").Lit(v.off + size).Op(":").Lit(v.off + size)),
			})
		}
		if v.param {
			plist = append(plist, t("params"))
			glist = append(glist, t("grads"))
		} else {
			slist = append(slist, t("state"))
		}
	}
	body = append(body,
		jen.Id("m").Dot("paramList").Op("=").Index().Id("Tensor").Values(plist...),
		jen.Id("m").Dot("gradList").Op("=").Index().Id("Tensor").Values(glist...),
	)
	if l.stateSize > 0 {
		body = append(body, jen.Id("m").Dot("stateList").Op("=").Index().Id("Tensor").Values(slist...))
	}
	body = append(body, jen.Return(jen.Id("m")))

	docComment(f, "New returns a Model with its parameters initialised as the model's DSL\nsays, drawing random initialisers from seed 0.")
	f.Func().Id("New").Params().Op("*").Id("Model").Block(jen.Return(jen.Id("NewSeeded").Call(jen.Lit(0))))
	f.Line()
	docComment(f, "NewSeeded is New with another seed for the random initialisers. The\nnumbers match mlc's interpreter for the same seed.")
	f.Func().Id("NewSeeded").Params(jen.Id("seed").Uint64()).Op("*").Id("Model").Block(body...)
	f.Line()
}

func initDoc(n *graph.Node) string {
	switch n.Op {
	case graph.OpState:
		return "starts at " + graph.FormatFloat(n.Attrs.Value)
	}
	switch n.Attrs.Init {
	case "normal":
		return "normal, std " + graph.FormatFloat(n.Attrs.Std)
	case "he":
		return "He: normal, std √(2/fan_in)"
	case "xavier":
		return "Xavier: normal, std √(2/(fan_in+fan_out))"
	}
	return n.Attrs.Init
}

// stdExpr is the standard deviation of a random initialiser, as a literal
// with the formula in view.
func (g *gen) stdExpr(n *graph.Node) jen.Code {
	s := n.Type.Shape
	fanIn, fanOut := 1, 1
	if len(s) > 0 {
		fanIn, fanOut = s[0], s[len(s)-1]
	}
	switch n.Attrs.Init {
	case "he":
		return jen.Qual("math", "Sqrt").Call(jen.Lit(2.0).Op("/").Lit(fanIn))
	case "xavier":
		return jen.Qual("math", "Sqrt").Call(jen.Lit(2.0).Op("/").Lit(fanIn + fanOut))
	}
	return jen.Id(graph.FormatFloat(n.Attrs.Std))
}

func (g *gen) tensorAPI(f *jen.File) {
	docComment(f, "Params lists every parameter with its name, shape and data. Writing to\nData changes the model.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Params").Params().Index().Id("Tensor").Block(jen.Return(jen.Id("m").Dot("paramList")))
	f.Line()
	docComment(f, "Grads lists d loss/d param for every parameter, in the order of Params,\nas the last Backward or TrainStep left them.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Grads").Params().Index().Id("Tensor").Block(jen.Return(jen.Id("m").Dot("gradList")))
	f.Line()
	if g.lay.stateSize > 0 {
		docComment(f, "State lists the non-trainable variables (optimizer moments, step count).")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("State").Params().Index().Id("Tensor").Block(jen.Return(jen.Id("m").Dot("stateList")))
		f.Line()
	}
	lookup := func(name, list, doc string) {
		docComment(f, doc)
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id(name).Params(jen.Id("name").String()).Index().Id(g.T).Block(
			jen.For(jen.List(jen.Id("_"), jen.Id("t")).Op(":=").Range().Id("m").Dot(list)).Block(
				jen.If(jen.Id("t").Dot("Name").Op("==").Id("name")).Block(jen.Return(jen.Id("t").Dot("Data"))),
			),
			jen.Return(jen.Nil()),
		)
		f.Line()
	}
	docComment(f, "RNGState is the state of the dropout generator, for checkpoints: restoring\nit with SetRNGState makes a resumed run draw what an unbroken one would.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("RNGState").Params().Uint64().Block(jen.Return(jen.Id("m").Dot("rng").Dot("state")))
	f.Line()
	docComment(f, "SetRNGState restores the dropout generator's state.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("SetRNGState").Params(jen.Id("s").Uint64()).Block(jen.Id("m").Dot("rng").Dot("state").Op("=").Id("s"))
	f.Line()
	// Every Model has Close, so that callers need not know whether a config
	// made its products large enough for the worker pool.
	if g.usesPool {
		docComment(f, "Close stops the worker goroutines of the matrix products and parallel\nkernels. The Model must not be used afterwards; a Model dropped\nwithout Close stops them too.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Close").Params().Block(jen.Id("m").Dot("pool").Dot("Close").Call())
	} else {
		docComment(f, "Close releases the Model. This one runs on the calling goroutine only\n(its products are too small for worker goroutines), so there is nothing\nto stop; the Model must not be used afterwards.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Close").Params().Block()
	}
	f.Line()
	lookup("Param", "paramList", "Param returns a parameter's data by its DSL name, or nil.")
	lookup("Grad", "gradList", "Grad returns d loss/d the named parameter, or nil.")
}

// inputArgs declares an entry point's input parameters and the statements that
// check and copy them into the model.
func (g *gen) inputArgs(e *entry, nm *namer, zero jen.Code) (params []jen.Code, stmts []jen.Code, docs []string) {
	params, stmts, docs, _ = g.namedInputArgs(e, nm, zero)
	return params, stmts, docs
}

// namedInputArgs is inputArgs that also returns the parameters' names.
func (g *gen) namedInputArgs(e *entry, nm *namer, zero jen.Code) (params []jen.Code, stmts []jen.Code, docs, names []string) {
	for _, n := range e.gr.Inputs() {
		name := nm.take(ident(n.Name))
		names = append(names, name)
		size := n.Type.Shape.Size()
		params = append(params, jen.Id(name).Add(g.goSliceType(n.Type.DType)))
		docs = append(docs, fmt.Sprintf("%s: %s", name, n.Type))
		stmts = append(stmts,
			jen.If(jen.Len(jen.Id(name)).Op("!=").Lit(size)).Block(
				jen.Return(zero, jen.Id("sizeError").Call(jen.Lit(n.Name), jen.Len(jen.Id(name)), jen.Lit(size), jen.Lit(n.Type.String()))),
			),
			jen.Copy(g.sliceOf(e.plan.slots[n]), jen.Id(name)),
		)
	}
	return params, stmts, docs, names
}

func (g *gen) predictAPI(f *jen.File, e, small *entry) error {
	nm := newNamer()
	outs, err := g.outputResults(e, nm)
	if err != nil {
		return err
	}
	params, stmts, inDocs, inNames := g.namedInputArgs(e, nm, outs.zero)
	doc := "Predict runs the model in eval mode (no dropout) on one batch.\n\nInputs, row-major:\n\t" + strings.Join(inDocs, "\n\t") +
		"\n\nIt returns:\n\t" + strings.Join(outs.docs, "\n\t")
	if small != nil {
		// A batch of the smaller size runs the forward pass compiled for it.
		first := small.gr.Inputs()[0]
		var args []jen.Code
		for _, name := range inNames {
			args = append(args, jen.Id(name))
		}
		snm := newNamer()
		souts, err := g.outputResults(small, snm)
		if err != nil {
			return err
		}
		sparams, sstmts, _ := g.inputArgs(small, snm, souts.zero)
		stmts = append([]jen.Code{jen.If(jen.Len(args[0]).Op("==").Lit(first.Type.Shape.Size())).Block(
			jen.Return(jen.Id("m").Dot("predictSmallBatch").Call(args...)),
		)}, stmts...)
		sbody := append(sstmts,
			jen.If(jen.Err().Op(":=").Id("m").Dot("predictSmall").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(souts.zero, jen.Err())),
			jen.Return(append(souts.rets, jen.Nil())...),
		)
		docComment(f, "predictSmallBatch is Predict at the smaller batch.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("predictSmallBatch").Params(sparams...).Params(souts.results...).Block(sbody...)
		f.Line()
		doc += fmt.Sprintf("\n\nIt also serves batches of %d (mlc compile -predict-batch %d): inputs of\nthat batch's sizes (%s: %s) run a forward pass compiled for them, and the\noutputs have that batch's sizes. Tap reads the compiled batch's values.",
			first.Type.Shape[0], first.Type.Shape[0], ident(first.Name), first.Type)
	}
	body := append(stmts,
		jen.If(jen.Err().Op(":=").Id("m").Dot("predict").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(outs.zero, jen.Err())),
		jen.Return(append(outs.rets, jen.Nil())...),
	)
	docComment(f, doc+"\n\nThe returned slices alias the model's memory: they stay valid until the\nnext call on m.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Predict").Params(params...).Params(outs.results...).Block(body...)
	f.Line()
	return nil
}

// tapAPI writes Tap, the view of a tapped value after Predict.
func (g *gen) tapAPI(f *jen.File, e *entry) error {
	taps := e.gr.Taps()
	if len(taps) == 0 {
		return nil
	}
	var cases []jen.Code
	var docs []string
	for _, t := range taps {
		s := e.plan.slots[t.Node]
		if s.region == inline || s.region == inConst || t.Node.Type.DType != g.prog.Float {
			return fmt.Errorf("codegen: tap %q must be a computed float value", t.Name)
		}
		cases = append(cases, jen.Case(jen.Lit(t.Name)).Block(jen.Return(jen.Id("m").Dot(regionField(g, s)).Index(jen.Lit(s.off).Op(":").Lit(s.off+s.size).Op(":").Lit(s.off+s.size)))))
		docs = append(docs, fmt.Sprintf("%s: %s (%s)", t.Name, t.Node.Type, t.Node.Pos))
	}
	docComment(f, "Tap returns a value tapped in the model's DSL, as the last Predict left it,\nor nil for a name that is not tapped. It aliases the model's memory: read\nit, do not write it; it stays valid until the next call on m. Taps:\n\t"+strings.Join(docs, "\n\t"))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Tap").Params(jen.Id("name").String()).Index().Id(g.T).Block(
		jen.Switch(jen.Id("name")).Block(cases...),
		jen.Return(jen.Nil()),
	)
	f.Line()
	return nil
}

// outputList is how an entry point returns its graph's outputs.
type outputList struct {
	names   []string   // result names
	results []jen.Code // the result list, err last
	rets    []jen.Code // the slices returned, without err
	docs    []string
	zero    jen.Code // "nil, nil, ..." for an early return
}

// outputResults names e's outputs first, so that inputs yield to outputs on
// a clash, and returns views of their storage.
func (g *gen) outputResults(e *entry, nm *namer) (outputList, error) {
	var o outputList
	for _, out := range e.gr.Results() {
		name := nm.take(strings.ToLower(ident(out.Name)[:1]) + ident(out.Name)[1:])
		s := e.plan.slots[out.Node]
		if s.region == inline || s.region == inConst {
			return o, fmt.Errorf("codegen: output %q is a constant; outputs must be computed values", out.Name)
		}
		o.names = append(o.names, name)
		o.results = append(o.results, jen.Id(name).Add(g.goSliceType(out.Node.Type.DType)))
		o.rets = append(o.rets, jen.Id("m").Dot(regionField(g, s)).Index(jen.Lit(s.off).Op(":").Lit(s.off+s.size).Op(":").Lit(s.off+s.size)))
		o.docs = append(o.docs, fmt.Sprintf("%s: %s", name, out.Node.Type))
	}
	o.results = append(o.results, jen.Err().Error())
	o.zero = jen.Id(zeroOuts(len(o.names)))
	return o, nil
}

// zeroOuts is the zero results "nil, nil" for n slice outputs.
func zeroOuts(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "nil"
	}
	return strings.Join(s, ", ")
}

func regionField(g *gen, s slot) string {
	switch s.region {
	case inParams:
		return "params"
	case inQParams:
		return "qparams"
	case inHParams:
		return "hparams"
	case inGrads:
		return "grads"
	case inState:
		return "state"
	case inCache:
		return "cache"
	}
	return g.arenaName(s.dtype)
}

func (g *gen) trainAPI(f *jen.File, e *entry) error {
	loss := e.gr.Loss
	s := e.plan.slots[loss]
	lossRead := jen.Id("float64").Call(jen.Id("m").Dot(regionField(g, s)).Index(jen.Lit(s.off)))
	for _, ep := range []struct {
		name, doc string
		calls     []string
	}{
		{"TrainStep", "TrainStep runs forward, backward and the optimizer update on one batch and\nreturns the loss before the update.", []string{"forward", "backward", "update"}},
		{"Backward", "Backward runs forward and backward on one batch, without updating, and\nreturns the loss; Grads and Grad then hold d loss/d param.", []string{"forward", "backward"}},
	} {
		nm := newNamer()
		nm.take("loss")
		params, stmts, inDocs := g.inputArgs(e, nm, jen.Lit(0))
		body := stmts
		for _, c := range ep.calls {
			body = append(body, jen.If(jen.Err().Op(":=").Id("m").Dot(c).Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Lit(0), jen.Err())))
		}
		body = append(body, jen.Return(lossRead, jen.Nil()))
		docComment(f, ep.doc+"\n\nInputs, row-major:\n\t"+strings.Join(inDocs, "\n\t"))
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id(ep.name).Params(params...).Params(jen.Id("loss").Float64(), jen.Err().Error()).Block(body...)
		f.Line()
	}

	// Loss: the training forward pass in eval mode, for validation.
	{
		nm := newNamer()
		nm.take("loss")
		params, stmts, inDocs := g.inputArgs(e, nm, jen.Lit(0))
		body := append([]jen.Code{}, stmts...)
		body = append(body,
			jen.Id("m").Dot("evalMode").Op("=").True(),
			jen.Err().Op("=").Id("m").Dot("forward").Call(),
			jen.Id("m").Dot("evalMode").Op("=").False(),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Lit(0), jen.Err())),
			jen.Return(lossRead, jen.Nil()),
		)
		docComment(f, "Loss evaluates the loss on one batch in eval mode (no dropout), without\ngradients or updates: the validation loss.\n\nInputs, row-major:\n\t"+strings.Join(inDocs, "\n\t"))
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Loss").Params(params...).Params(jen.Id("loss").Float64(), jen.Err().Error()).Block(body...)
		f.Line()
	}

	// Gradient accumulation over micro-batches: explicit, never by accident.
	nm := newNamer()
	nm.take("loss")
	params, stmts, inDocs := g.inputArgs(e, nm, jen.Lit(0))
	body := append([]jen.Code{}, stmts...)
	body = append(body,
		jen.Copy(jen.Id("m").Dot("gradSum"), jen.Id("m").Dot("grads")),
		jen.If(jen.Err().Op(":=").Id("m").Dot("forward").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Lit(0), jen.Err())),
		jen.If(jen.Err().Op(":=").Id("m").Dot("backward").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Lit(0), jen.Err())),
		jen.For(jen.List(jen.Id("i"), jen.Id("s")).Op(":=").Range().Id("m").Dot("gradSum")).Block(
			jen.Id("m").Dot("grads").Index(jen.Id("i")).Op("+=").Id("s"),
		),
		jen.Return(lossRead, jen.Nil()),
	)
	docComment(f, "AccumulateGrads runs forward and backward on one micro-batch and adds its\ngradients to those already held, returning the loss. Backward and\nTrainStep start the gradients from zero instead; call ZeroGrads, then\nAccumulateGrads k times, then Update to take one step over k micro-batches\n(with a mean loss, scale the learning rate by 1/k or average the batches).\n\nInputs, row-major:\n\t"+strings.Join(inDocs, "\n\t"))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("AccumulateGrads").Params(params...).Params(jen.Id("loss").Float64(), jen.Err().Error()).Block(body...)
	f.Line()
	docComment(f, "ZeroGrads sets every gradient to zero.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ZeroGrads").Params().Block(jen.Clear(jen.Id("m").Dot("grads")))
	f.Line()
	docComment(f, "Update applies the optimizer to the gradients held now (see AccumulateGrads).")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Update").Params().Error().Block(jen.Return(jen.Id("m").Dot("update").Call()))
	f.Line()
	return nil
}

func (g *gen) constData(f *jen.File) {
	for _, n := range g.lay.consts {
		name := g.lay.constNames[n]
		size := n.Type.Shape.Size()
		typ := jen.Index(jen.Lit(size)).Id(g.goType(n.Type.DType))
		switch {
		case n.Op == graph.OpCausalMask:
			T, S := n.Type.Shape[0], n.Type.Shape[1]
			docComment(f, fmt.Sprintf("%s is the causal mask %s (%s): key j is visible from query i when j ≤ i%+d.", name, n.Type, n.Pos, S-T))
			f.Var().Id(name).Op("=").Func().Params().Params(jen.Id("a").Add(typ)).Block(
				jen.For(jen.Id("i").Op(":=").Range().Lit(T)).Block(jen.For(jen.Id("j").Op(":=").Range().Lit(S)).Block(
					jen.Id("a").Index(jen.Id("i").Op("*").Lit(S).Op("+").Id("j")).Op("=").Id("j").Op("<=").Id("i").Op("+").Lit(S-T),
				)),
				jen.Return(),
			).Call()
		case n.Attrs.Data == nil:
			docComment(f, fmt.Sprintf("%s is a constant %s (%s), every element %s.", name, n.Type, n.Pos, graph.FormatFloat(n.Attrs.Value)))
			if n.Attrs.Value == 0 {
				f.Var().Id(name).Add(typ)
				continue
			}
			var v jen.Code = floatCode(n.Attrs.Value)
			switch n.Type.DType {
			case graph.Bool:
				v = jen.True()
			case graph.I32:
				v = jen.Lit(int(n.Attrs.Value))
			}
			f.Var().Id(name).Op("=").Func().Params().Params(jen.Id("a").Add(typ)).Block(
				jen.For(jen.Id("i").Op(":=").Range().Id("a")).Block(jen.Id("a").Index(jen.Id("i")).Op("=").Add(v)),
				jen.Return(),
			).Call()
		case n.Type.DType.IsFloat() && len(n.Attrs.Data) >= embedMinValues:
			docComment(f, fmt.Sprintf("%s is a constant %s (%s), read from %s.", name, n.Type, n.Pos, weightsFile))
			f.Var().Id(name).Op("=").Func().Params().Params(jen.Id("a").Add(typ)).Block(
				g.embedValues(jen.Id("a").Index(jen.Op(":")), n.Attrs.Data),
				jen.Return(),
			).Call()
		default:
			docComment(f, fmt.Sprintf("%s is a constant %s (%s).", name, n.Type, n.Pos))
			vals := make([]jen.Code, len(n.Attrs.Data))
			for i, v := range n.Attrs.Data {
				switch n.Type.DType {
				case graph.I32:
					vals[i] = jen.Lit(int(v))
				case graph.Bool:
					vals[i] = jen.Lit(v != 0)
				default:
					vals[i] = g.floatLit(v)
				}
			}
			f.Var().Id(name).Op("=").Add(typ).Values(vals...)
		}
	}
}

// goType is the Go element type of a dtype.
func (g *gen) goType(dt graph.DType) string {
	switch dt {
	case graph.I32:
		return "int32"
	case graph.Bool:
		return "bool"
	case graph.BF16:
		return "uint16"
	}
	return g.T
}

func (g *gen) errHelpers(f *jen.File) {
	docComment(f, "sizeError reports an input of the wrong length.")
	f.Func().Id("sizeError").Params(jen.Id("name").String(), jen.List(jen.Id("got"), jen.Id("want")).Int(), jen.Id("typ").String()).Error().Block(
		jen.Return(jen.Qual("fmt", "Errorf").Call(jen.Lit(g.prog.Name+": input %s has %d values, want %d (%s)"), jen.Id("name"), jen.Id("got"), jen.Id("want"), jen.Id("typ"))),
	)
}
