package codegen

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// This file emits KV-cache decoding: the AttendCache and CacheWrite ops,
// and the Prefill, DecodeStep, Reset, Pos and Generate methods over the
// graphs passes.KVCache derives.

// cacheDims are the context s and the row width d of a cache [..., s, d].
func cacheDims(c *graph.Node) (s, d int) {
	sh := c.Type.Shape
	return sh[len(sh)-2], sh[len(sh)-1]
}

// posCheck turns the position pos into t, failing past the context s. With
// a position per sequence (pos [B]) it checks every one and sets t to the
// largest.
func posCheck(f *fnGen, n *graph.Node, pos *graph.Node, s int) []jen.Code {
	fail := func(t jen.Code) jen.Code {
		return jen.If(jen.Id("t").Op("<").Lit(0).Op("||").Id("t").Op(">=").Lit(s)).Block(
			errorf(posPrefix(n)+n.Op.String()+": position %d is past the context of "+strconv.Itoa(s), t),
		)
	}
	if seqs(pos) > 1 {
		return []jen.Code{
			jen.Id("t").Op(":=").Lit(0),
			jen.For(jen.List(jen.Id("_"), jen.Id("p")).Op(":=").Range().Add(f.ref(pos))).Block(
				jen.If(jen.Id("p").Op(":=").Int().Call(jen.Id("p")), jen.Id("p").Op("<").Lit(0).Op("||").Id("p").Op(">=").Lit(s)).Block(
					errorf(posPrefix(n)+n.Op.String()+": position %d is past the context of "+strconv.Itoa(s), jen.Id("p")),
				),
				jen.Id("t").Op("=").Max(jen.Id("t"), jen.Int().Call(jen.Id("p"))),
			),
		}
	}
	return []jen.Code{
		jen.Id("t").Op(":=").Int().Call(f.ref(pos).Index(jen.Lit(0))),
		fail(jen.Id("t")),
	}
}

// seqs is the number of sequences with a position of their own: the length
// of a position vector, 1 for a scalar.
func seqs(pos *graph.Node) int { return pos.Type.Shape.Size() }

// keyTile is the positions per tile of a tiled key cache: keyTile in
// codegen/kernels/attend.go.
const keyTile = 16

// tiledKeyCaches names the key caches that float32 decoding stores in tiles
// of keyTile positions, each tile column-major ([d][keyTile] per tile, see
// attendRowTiled in codegen/kernels/attend.go), so that the scores of a
// query against the cache are vector products with no sums across lanes.
// The layout is the generated package's own: m.cache is private, and only
// AttendCache (its keys), CacheWrite and Prefill's Assign of the whole cache
// touch a cache, each emitted for it here. A cache qualifies when its
// context is a whole number of tiles, it holds float32 keys only (not
// values too), and nothing else reads it; f64 programs keep rows.
func tiledKeyCaches(prog *graph.Program, T string) map[string]bool {
	tiled := map[string]bool{}
	if T != "float32" || prog.Decode == nil {
		return tiled
	}
	for _, n := range prog.Decode.Nodes {
		if n.Op != graph.OpAttendCache {
			continue
		}
		if kc := n.Inputs[1]; kc != n.Inputs[2] && kc.Type.DType == graph.F32 {
			if s, _ := cacheDims(kc); s%keyTile == 0 {
				tiled[kc.Name] = true
			}
		}
	}
	// Any other use of the cache keeps it in rows.
	for _, gr := range []*graph.Graph{prog.Prefill, prog.Decode} {
		if gr == nil {
			continue
		}
		for _, n := range gr.Nodes {
			for i, x := range n.Inputs {
				if !x.IsVariable() || !tiled[x.Name] {
					continue
				}
				ok := (n.Op == graph.OpAttendCache && i == 1) || (n.Op == graph.OpCacheWrite && i == 0) ||
					(n.Op == graph.OpAssign && i == 0 && n.Inputs[1].Type.Shape.Equal(x.Type.Shape))
				if !ok {
					delete(tiled, x.Name)
				}
			}
		}
	}
	return tiled
}

// attendParallelMin is the smallest AttendCache, in cached key elements
// read (positions × heads × query rows × head width), whose heads run on
// the pool's threads: at 128 columns per position, a context of 256.
// Below it the hand-off costs about what the second thread saves.
const attendParallelMin = 1 << 15

// emitAttendCache writes, per head and query row (one, or a group of query
// heads sharing a key head), the attention over the t cached positions and
// the new one: attendRow (codegen/kernels/attend.go), or attendRowTiled for
// a tiled key cache, streams the head's keys once for the scores and its
// values once for the weighted sum, with SIMD kernels. The t+1 weights live in m.scratch, sized by New for the longest
// context (per thread with a pool). With a pool and enough work the heads
// are shared between its threads.
func emitAttendCache(f *fnGen, n *graph.Node) []jen.Code {
	q, kc, vc, kn, vn, pos := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Inputs[3], n.Inputs[4], n.Inputs[5]
	s, d := cacheDims(kc)
	heads := kn.Type.Shape.Size() / d
	rows := q.Type.Shape.Size() / (heads * d)
	B := seqs(pos)
	scale := jen.Id(graph.FormatFloat(n.Attrs.Value))
	attend := func(f *fnGen) []jen.Code {
		row := func(x *graph.Node) jen.Code { // x[h*d : h*d+d]
			return f.ref(x).Index(jen.Id("h").Op("*").Lit(d).Op(":").Id("h").Op("*").Lit(d).Op("+").Lit(d))
		}
		qrow := row
		if rows > 1 { // x[(h*rows+r)*d : (h*rows+r)*d+d]
			qrow = func(x *graph.Node) jen.Code {
				o := jen.Parens(jen.Id("h").Op("*").Lit(rows).Op("+").Id("r")).Op("*").Lit(d)
				return f.ref(x).Index(o.Clone().Op(":").Add(o.Clone()).Op("+").Lit(d))
			}
		}
		cache := func(x *graph.Node) jen.Code { // head h's rows of a cache
			return f.ref(x).Index(jen.Id("h").Op("*").Lit(s * d).Op(":"))
		}
		fn := "attendRow"
		if f.g.tiledKeys[kc.Name] {
			fn = "attendRowTiled"
		}
		call := jen.Id(fn).Call(qrow(q), cache(kc), cache(vc), row(kn), row(vn), qrow(n), jen.Id("w"), jen.Id("t"), jen.Lit(d), scale)
		var body []jen.Code
		if B > 1 { // head h belongs to sequence h/(heads/B), at its own position
			body = append(body, jen.Id("t").Op(":=").Int().Call(f.ref(pos).Index(jen.Id("h").Op("/").Lit(heads/B))))
		}
		if rows > 1 {
			return append(body, jen.For(jen.Id("r").Op(":=").Range().Lit(rows)).Block(call))
		}
		return append(body, call)
	}
	stmts := posCheck(f, n, pos, s)
	serial := []jen.Code{
		jen.Id("w").Op(":=").Id("m").Dot("scratch").Index(jen.Op(":").Lit(s)),
		jen.For(jen.Id("h").Op(":=").Range().Lit(heads)).Block(attend(f)...),
	}
	if f.g.usesPool && heads > 1 {
		lf := f.kernelGen()
		stride := f.g.scratch // m.scratch holds this many per thread
		var body []jen.Code
		if B == 1 {
			body = append(body, jen.Id("t").Op(":=").Int().Call(lf.ref(pos).Index(jen.Lit(0))))
		}
		body = append(body,
			jen.Id("w").Op(":=").Id("m").Dot("scratch").Index(jen.Id("thread").Op("*").Lit(stride).Op(":").Id("thread").Op("*").Lit(stride).Op("+").Lit(s)),
			jen.For(jen.Id("h").Op(":=").Id("lo").Op(";").Id("h").Op("<").Id("hi").Op(";").Id("h").Op("++")).Block(attend(lf)...),
		)
		name := f.g.kernelNames.take("attend" + exported(f.nm.name(n)))
		doc := fmt.Sprintf("%s computes %s, the attention over the KV cache, for heads\n[lo, hi) of %d on a thread of the pool.", name, f.nm.name(n), heads)
		if call, ok := f.addParallel(lf, name, heads, body, doc); ok {
			if f.g.parallelAll {
				return []jen.Code{jen.Block(append(stmts, call...)...)}
			}
			// t is the longest context of the batch.
			big := jen.Id("t").Op("*").Lit(heads * rows * d).Op(">=").Lit(attendParallelMin)
			stmts = append(stmts, jen.If(big).Block(call...).Else().Block(serial...))
			return []jen.Code{jen.Block(stmts...)}
		}
	}
	return []jen.Code{jen.Block(append(stmts, serial...)...)}
}

func emitCacheWrite(f *fnGen, n *graph.Node) []jen.Code {
	c, x, pos := n.Inputs[0], n.Inputs[1], n.Inputs[2]
	s, d := cacheDims(c)
	write := "cacheWrite"
	if f.g.tiledKeys[c.Name] {
		write = "cacheWriteTiled"
	}
	stmts := posCheck(f, n, pos, s)
	if B := seqs(pos); B > 1 { // sequence b's rows at its own position
		cb, xb := c.Type.Shape.Size()/B, x.Type.Shape.Size()/B
		at := func(x *graph.Node, size int) jen.Code {
			return f.ref(x).Index(jen.Id("b").Op("*").Lit(size).Op(":").Parens(jen.Id("b").Op("+").Lit(1)).Op("*").Lit(size))
		}
		stmts = append(stmts, jen.For(jen.List(jen.Id("b"), jen.Id("p")).Op(":=").Range().Add(f.ref(pos))).Block(
			jen.Id(write).Call(at(c, cb), at(x, xb), jen.Int().Call(jen.Id("p")), jen.Lit(s), jen.Lit(d)),
		))
		return []jen.Code{jen.Block(stmts...)}
	}
	stmts = append(stmts, jen.Id(write).Call(f.ref(c), f.ref(x), jen.Id("t"), jen.Lit(s), jen.Lit(d)))
	return []jen.Code{jen.Block(stmts...)}
}

// lmShape reports whether Predict is a one-sequence language model: one
// i32 input [1, ctx] and an output "logits" [1, ctx, vocab].
func lmShape(p *graph.Program) (ok bool, ctx, vocab int) {
	ins := p.Predict.Inputs()
	if len(ins) != 1 || ins[0].Type.DType != graph.I32 || ins[0].Type.Shape.Rank() != 2 || ins[0].Type.Shape[0] != 1 {
		return false, 0, 0
	}
	lg := p.Predict.Output("logits")
	if lg == nil || lg.Type.Shape.Rank() != 3 || lg.Type.Shape[1] != ins[0].Type.Shape[1] {
		return false, 0, 0
	}
	return true, ins[0].Type.Shape[1], lg.Type.Shape[2]
}

// window is the length of GenerateNoCache's token window (0 without it).
func (g *gen) window() int {
	if ok, ctx, _, _ := genShape(g.prog); ok {
		return ctx
	}
	return 0
}

// decodeAPI writes Prefill, DecodeStep, Reset and Pos, and Generate and
// GenerateNoCache for a one-sequence language model.
func (g *gen) decodeAPI(f *jen.File, prefill, decode *entry) error {
	name := g.prog.Name
	ids := prefill.gr.Find(decode.gr.Inputs()[0].Name) // the decoder's token ids
	length := prefill.gr.Find(graph.KVLengthName)
	var context []*graph.Node // an encoder-decoder's source, read whole by Prefill
	for _, n := range prefill.gr.Inputs() {
		if n != ids && n != length {
			context = append(context, n)
		}
	}
	full := ids.Type.Shape
	ctx := full[len(full)-1]
	rows := full.Size() / ctx
	posVar := g.lay.varByName[graph.KVPosName]
	pos := jen.Id("m").Dot("cache").Index(jen.Lit(posVar.off))
	slots := posVar.node.Type.Shape.Size() // sequences with a position each
	slotPos := jen.Id("m").Dot("cache").Index(jen.Lit(posVar.off).Op(":").Lit(posVar.off + slots))

	// Prefill
	nm := newNamer()
	outs, err := g.outputResults(prefill, nm)
	if err != nil {
		return err
	}
	var ctxParams, ctxFill []jen.Code
	var ctxDocs []string
	for _, c := range context {
		a := nm.take(ident(c.Name))
		cs := prefill.plan.slots[c]
		ctxParams = append(ctxParams, jen.Id(a).Index().Int32())
		ctxFill = append(ctxFill,
			jen.If(jen.Len(jen.Id(a)).Op("!=").Lit(cs.size)).Block(jen.Return(outs.zero, jen.Qual("fmt", "Errorf").Call(jen.Lit(fmt.Sprintf("%s: Prefill: %%d %s, want %d", name, c.Name, cs.size)), jen.Len(jen.Id(a))))),
			jen.Copy(jen.Id("m").Dot("iarena").Index(jen.Lit(cs.off).Op(":").Lit(cs.off+cs.size)), jen.Id(a)))
		ctxDocs = append(ctxDocs, fmt.Sprintf("%s %s", a, c.Type))
	}
	arg := nm.take(ident(ids.Name))
	slot, lslot := prefill.plan.slots[ids], prefill.plan.slots[length]
	buf := jen.Id("m").Dot("iarena").Index(jen.Lit(slot.off).Op(":").Lit(slot.off + slot.size))
	var fill []jen.Code
	if rows == 1 {
		fill = []jen.Code{jen.Copy(jen.Id("buf"), jen.Id(arg))}
	} else {
		fill = []jen.Code{jen.For(jen.Id("r").Op(":=").Range().Lit(rows)).Block(
			jen.Copy(jen.Id("buf").Index(jen.Id("r").Op("*").Lit(ctx).Op(":").Id("r").Op("*").Lit(ctx).Op("+").Id("n")),
				jen.Id(arg).Index(jen.Id("r").Op("*").Id("n").Op(":").Id("r").Op("*").Id("n").Op("+").Id("n"))),
		)}
	}
	n := jen.Len(jen.Id(arg)).Op("/").Lit(rows)
	bad := jen.Id("n").Op("<").Lit(1).Op("||").Id("n").Op(">").Lit(ctx).Op("||").Len(jen.Id(arg)).Op("!=").Id("n").Op("*").Lit(rows)
	msg := fmt.Sprintf("%s: Prefill: %%d ids are not %d rows of 1 to %d tokens", name, rows, ctx)
	if rows == 1 {
		n = jen.Len(jen.Id(arg))
		bad = jen.Id("n").Op("<").Lit(1).Op("||").Id("n").Op(">").Lit(ctx)
		msg = fmt.Sprintf("%s: Prefill: %%d ids, want 1 to %d", name, ctx)
	}
	body := []jen.Code{
		jen.Id("n").Op(":=").Add(n),
		jen.If(bad).Block(jen.Return(outs.zero, jen.Qual("fmt", "Errorf").Call(jen.Lit(msg), jen.Len(jen.Id(arg))))),
		jen.Id("buf").Op(":=").Add(buf),
		jen.Clear(jen.Id("buf")).Comment("padding: causal attention keeps it from the positions before it"),
	}
	body = append(body, fill...)
	body = append(body, ctxFill...)
	body = append(body,
		jen.Id("m").Dot(g.arenaName(length.Type.DType)).Index(jen.Lit(lslot.off)).Op("=").Id(g.T).Call(jen.Id("n")),
		jen.If(jen.Err().Op(":=").Id("m").Dot("prefill").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(outs.zero, jen.Err())),
		jen.Return(append(outs.rets, jen.Nil())...),
	)
	shape := strings.TrimSuffix(full.String(), strconv.Itoa(ctx)+"]") + "n]"
	if rows == 1 {
		shape = "n"
	}
	doc := fmt.Sprintf("Prefill runs a prompt of n ≤ %d tokens (%s: %s, row-major) in eval mode\n"+
		"and fills the KV cache with its keys and values; Pos is then n. It\n"+
		"returns the outputs of the whole window:\n\t%s\nwhere positions n and later hold padding. Position n−1 predicts\n"+
		"the token after the prompt; DecodeStep goes on from there.\n\n"+
		"The returned slices alias the model's memory: they stay valid until the\nnext call on m.", ctx, arg, shape, strings.Join(outs.docs, "\n\t"))
	if len(context) > 0 {
		doc += "\n\nIt also encodes the whole source (" + strings.Join(ctxDocs, ", ") + ", row-major) and\n" +
			"keeps what DecodeStep reads of it (cross-attention's keys and values)."
	}
	docComment(f, doc)
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Prefill").Params(append(ctxParams, jen.Id(arg).Index().Int32())...).Params(outs.results...).Block(body...)
	f.Line()

	// DecodeStep
	nm = newNamer()
	douts, err := g.outputResults(decode, nm)
	if err != nil {
		return err
	}
	params, stmts, inDocs := g.inputArgs(decode, nm, douts.zero)
	body = []jen.Code{
		jen.If(jen.Id("t").Op(":=").Id("m").Dot("Pos").Call(), jen.Id("t").Op(">=").Lit(ctx)).Block(
			jen.Return(douts.zero, jen.Qual("fmt", "Errorf").Call(jen.Lit(name+": DecodeStep: position %d is past the context of "+strconv.Itoa(ctx)+"; Prefill or Reset to start again"), jen.Id("t"))),
		),
	}
	body = append(body, stmts...)
	body = append(body,
		jen.If(jen.Err().Op(":=").Id("m").Dot("decode").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(douts.zero, jen.Err())),
		jen.Return(append(douts.rets, jen.Nil())...),
	)
	next := "the next position, t = Pos,"
	if slots > 1 {
		next = "the next position of each sequence, t = SlotPos(b),"
	}
	docComment(f, fmt.Sprintf("DecodeStep runs "+next+" for one new token per sequence\n"+
		"(%s). It computes the new token's queries, keys and values only,\n"+
		"attends over the cached positions 0..t−1 and itself, appends its keys and\n"+
		"values to the cache and advances Pos. It returns:\n\t%s\n\n"+
		"Past the context (Pos = %d) it returns an error and changes nothing.\n"+
		"The returned slices alias the model's memory: they stay valid until the\nnext call on m.", strings.Join(inDocs, ", "), strings.Join(douts.docs, "\n\t"), ctx))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("DecodeStep").Params(params...).Params(douts.results...).Block(body...)
	f.Line()

	docComment(f, "Reset empties the KV cache: Pos is 0 again.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Reset").Params().Block(jen.Clear(jen.Id("m").Dot("cache")))
	f.Line()
	if slots == 1 {
		docComment(f, "Pos is the number of positions the KV cache holds: the position\nDecodeStep computes next.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Pos").Params().Int().Block(jen.Return(jen.Int().Call(pos)))
		f.Line()
	} else {
		g.slotAPI(f, slotPos, slots, ctx)
	}

	if ok, _, vocab := lmShape(g.prog); ok {
		g.generateAPI(f, outs.names, ctx, vocab)
	} else if ok, _, vocab, src := s2sShape(g.prog); ok {
		g.translateAPI(f, outs.names, ctx, vocab, src)
	}
	return nil
}

// slotAPI writes Pos, SlotPos and ResetSlot for a model whose batch of
// sequences decode at positions of their own (continuous batching; see
// docs/decoding.md).
func (g *gen) slotAPI(f *jen.File, slotPos jen.Code, slots, ctx int) {
	name := g.prog.Name
	docComment(f, fmt.Sprintf("Pos is the largest number of positions the KV cache holds for one of the %d\n"+
		"sequences of the batch (see SlotPos): DecodeStep fails once it is %d.", slots, ctx))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Pos").Params().Int().Block(
		jen.Id("t").Op(":=").Lit(0),
		jen.For(jen.List(jen.Id("_"), jen.Id("p")).Op(":=").Range().Add(slotPos)).Block(jen.Id("t").Op("=").Max(jen.Id("t"), jen.Int().Call(jen.Id("p")))),
		jen.Return(jen.Id("t")),
	)
	f.Line()
	docComment(f, fmt.Sprintf("SlotPos is the number of positions the KV cache holds for sequence b of\n"+
		"the batch (0 ≤ b < %d): the position DecodeStep computes next for it.", slots))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("SlotPos").Params(jen.Id("b").Int()).Int().Block(
		jen.Return(jen.Int().Call(jen.Add(slotPos).Index(jen.Id("b")))),
	)
	f.Line()
	docComment(f, fmt.Sprintf("ResetSlot starts sequence b of the batch (0 ≤ b < %d) again at position 0,\n"+
		"leaving the others where they are: a server's continuous batching gives a\n"+
		"finished sequence's slot to a new one, whose prompt then goes through\n"+
		"DecodeStep a token per step alongside the others. The cached rows are\n"+
		"not cleared: DecodeStep never reads a row at or past a sequence's position.", slots))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ResetSlot").Params(jen.Id("b").Int()).Error().Block(
		jen.If(jen.Id("b").Op("<").Lit(0).Op("||").Id("b").Op(">=").Lit(slots)).Block(
			jen.Return(jen.Qual("fmt", "Errorf").Call(jen.Lit(fmt.Sprintf("%s: ResetSlot: slot %%d is not in [0, %d)", name, slots)), jen.Id("b"))),
		),
		jen.Add(slotPos).Index(jen.Id("b")).Op("=").Lit(0),
		jen.Return(jen.Nil()),
	)
	f.Line()
}

// generateAPI writes Generate (KV cache) and GenerateNoCache (the whole
// window recomputed for every token) for a one-sequence language model.
func (g *gen) generateAPI(f *jen.File, outNames []string, ctx, vocab int) {
	name := g.prog.Name
	lhs := make([]jen.Code, len(outNames))
	for i, o := range outNames {
		lhs[i] = jen.Id("_")
		if o == "logits" {
			lhs[i] = jen.Id("logits")
		}
	}
	call := func(method string, arg jen.Code) jen.Code {
		return jen.List(append(lhs, jen.Err())...).Op("=").Id("m").Dot(method).Call(arg)
	}
	tail := []jen.Code{
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Id("tokens"), jen.Err())),
		jen.List(jen.Id("next"), jen.Err()).Op(":=").Id("m").Dot("sampler").Dot("Sample").Call(jen.Id("logits").Index(jen.Id("last").Op("*").Lit(vocab).Op(":").Parens(jen.Id("last").Op("+").Lit(1)).Op("*").Lit(vocab))),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Id("tokens"), jen.Err())),
		jen.Id("tokens").Op("=").Append(jen.Id("tokens"), jen.Int32().Call(jen.Id("next"))),
		jen.If(jen.Id("emit").Op("!=").Nil()).Block(
			jen.If(jen.Err().Op(":=").Id("emit").Call(jen.Int32().Call(jen.Id("next"))), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Id("tokens"), jen.Err())),
		),
	}
	head := []jen.Code{
		jen.If(jen.Len(jen.Id("tokens")).Op("==").Lit(0)).Block(jen.Return(jen.Id("tokens"), jen.Qual("fmt", "Errorf").Call(jen.Lit(name+": Generate: the prompt is empty")))),
		jen.Var().Id("logits").Index().Id(g.T),
		jen.Var().Err().Error(),
	}
	params := []jen.Code{jen.Id("tokens").Index().Int32(), jen.Id("n").Int(), jen.Id("emit").Func().Params(jen.Int32()).Error()}
	results := []jen.Code{jen.Index().Int32(), jen.Error()}

	loop := jen.For(jen.Id("i").Op(":=").Range().Id("n")).Block(append([]jen.Code{
		jen.Id("last").Op(":=").Lit(0),
		jen.If(jen.Id("i").Op("==").Lit(0).Op("||").Id("m").Dot("Pos").Call().Op("==").Lit(ctx)).Block(
			jen.Id("keep").Op(":=").Lit(ctx),
			jen.If(jen.Id("i").Op(">").Lit(0)).Block(jen.Id("keep").Op("=").Lit(max(ctx/2, 1)).Comment("the cache is full: slide the window")),
			jen.Id("w").Op(":=").Id("tokens").Index(jen.Max(jen.Lit(0), jen.Len(jen.Id("tokens")).Op("-").Id("keep")).Op(":")),
			call("Prefill", jen.Id("w")),
			jen.Id("last").Op("=").Len(jen.Id("w")).Op("-").Lit(1),
		).Else().Block(
			call("DecodeStep", jen.Id("tokens").Index(jen.Len(jen.Id("tokens")).Op("-").Lit(1).Op(":"))),
		),
	}, tail...)...)
	g.samplingAPI(f)
	docComment(f, fmt.Sprintf("Generate appends n tokens to tokens, each drawn (see SetSampling) from the logits after\n"+
		"the tokens before it, and passes each to emit (when not nil). The prompt\n"+
		"(its last %d tokens) runs through Prefill and every new token through\n"+
		"DecodeStep. When the cache is full (Pos = %d), Prefill starts it again\n"+
		"from the last %d tokens: a sliding window that keeps positions absolute,\n"+
		"as the model was trained. With cap(tokens) ≥ len(tokens)+n it does not\nallocate.", ctx, ctx, max(ctx/2, 1)))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Generate").Params(params...).Params(results...).Block(append(head, loop, jen.Return(jen.Id("tokens"), jen.Nil()))...)
	f.Line()

	win := jen.Id("m").Dot("window")
	loop = jen.For(jen.Range().Id("n")).Block(append([]jen.Code{
		jen.Id("w").Op(":=").Id("tokens").Index(jen.Max(jen.Lit(0), jen.Len(jen.Id("tokens")).Op("-").Lit(ctx)).Op(":")),
		jen.Clear(win),
		jen.Copy(win, jen.Id("w")).Comment("positions after the text do not affect earlier logits (causal)"),
		call("Predict", win),
		jen.Id("last").Op(":=").Len(jen.Id("w")).Op("-").Lit(1),
	}, tail...)...)
	docComment(f, fmt.Sprintf("GenerateNoCache is Generate without the KV cache: for every token it runs\n"+
		"Predict over the last %d tokens, recomputing every position. It is the\n"+
		"baseline that shows what the cache saves; up to the context both give the\nsame tokens.", ctx))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("GenerateNoCache").Params(params...).Params(results...).Block(append(head, loop, jen.Return(jen.Id("tokens"), jen.Nil()))...)
	f.Line()
}

// CacheValues is the number of values a generated Model allocates for
// decoding state (m.cache): every KV cache and the position counter.
func CacheValues(prog *graph.Program) (int, error) {
	l, err := newLayout(prog)
	if err != nil {
		return 0, err
	}
	return l.cacheSize, nil
}

// samplingAPI writes SetSampling, for Generate and GenerateNoCache.
func (g *gen) samplingAPI(f *jen.File) {
	docComment(f, "SetSampling sets how Generate and GenerateNoCache draw tokens: temperature\n(0 is greedy), top-k (0: all tokens) and top-p (0: all), and the seed of\nthe draws, which restarts them. Until it is called, they sample at\ntemperature 1 from seed 0.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("SetSampling").Params(jen.Id("temperature").Float64(), jen.Id("topK").Int(), jen.Id("topP").Float64(), jen.Id("seed").Uint64()).Error().Block(
		jen.If(jen.Err().Op(":=").Id("m").Dot("sampler").Dot("SetOptions").Call(jen.Id(internal("Options")).Values(jen.Dict{jen.Id("Temperature"): jen.Id("temperature"), jen.Id("TopK"): jen.Id("topK"), jen.Id("TopP"): jen.Id("topP")})), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
		jen.Id("m").Dot("sampler").Dot("RNG").Dot("State").Op("=").Id("seed"),
		jen.Return(jen.Nil()),
	)
	f.Line()
}
