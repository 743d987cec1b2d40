package codegen

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mlc-dev/mlc/graph"
)

// groupIndex maps each fused member and producer of g to its group.
func groupIndex(g *graph.Graph) map[*graph.Node]*graph.FusionGroup {
	idx := map[*graph.Node]*graph.FusionGroup{}
	if g.Fusion == nil {
		return idx
	}
	for _, grp := range g.Fusion.Groups {
		for _, n := range grp.Nodes {
			idx[n] = grp
		}
		if grp.Producer != nil {
			idx[grp.Producer] = grp
		}
	}
	return idx
}

// fusedComment lists what a kernel computes, one line per op.
func (f *fnGen) fusedComment(grp *graph.FusionGroup) []string {
	var lines []string
	nodes := grp.Nodes
	if grp.Producer != nil {
		nodes = append([]*graph.Node{grp.Producer}, nodes...)
	}
	for _, n := range nodes {
		l := f.label(n) + " = " + f.math(n, 0) + "  (" + n.Op.String()
		if n.Pos.IsValid() {
			l += ", " + n.Pos.String()
		}
		lines = append(lines, l+")")
	}
	return lines
}

// emitGroup returns the statements where a fused group runs: a call to the
// kernel. Elementwise and epilogue kernels become Model methods (recorded
// in g.kernels); row kernels are helpers of the package's library.
func (f *fnGen) emitGroup(grp *graph.FusionGroup) []jen.Code {
	switch grp.Kind {
	case "layernorm":
		ln, mul, add := grp.Nodes[0], grp.Nodes[1], grp.Nodes[2]
		gamma, beta := other(mul, ln), other(add, mul)
		rows, d := rowsOf(ln.Type.Shape)
		xhat := litArg(jen.Nil())
		if slices.Contains(grp.Results, ln) {
			xhat = byRow(ln, d)
		}
		return f.rowKernel("layerNormAffine", "layerNorm"+exported(f.nm.name(add)), rows, rows*d,
			[]rowArg{byRow(add, d), xhat, byRow(ln.Inputs[0], d), whole(gamma), whole(beta), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(ln.Attrs.Eps))})
	case "layernorm-grad":
		mul, lng := grp.Nodes[0], grp.Nodes[1]
		dh, gamma := mul.Inputs[0], mul.Inputs[1]
		if !dh.Type.Equal(lng.Type) {
			dh, gamma = gamma, dh
		}
		rows, d := rowsOf(lng.Type.Shape)
		return f.rowKernel("layerNormGradScaled", "layerNormGrad"+exported(f.nm.name(lng)), rows, rows*d,
			[]rowArg{byRow(lng, d), byRow(lng.Inputs[0], d), byRow(dh, d), whole(gamma), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(lng.Attrs.Eps))})
	case "rmsnorm":
		rn, mul := grp.Nodes[0], grp.Nodes[1]
		gain := other(mul, rn)
		rows, d := rowsOf(rn.Type.Shape)
		xhat := litArg(jen.Nil())
		if slices.Contains(grp.Results, rn) {
			xhat = byRow(rn, d)
		}
		return f.rowKernel("rmsNormScaled", "rmsNorm"+exported(f.nm.name(mul)), rows, rows*d,
			[]rowArg{byRow(mul, d), xhat, byRow(rn.Inputs[0], d), whole(gain), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(rn.Attrs.Eps))})
	case "rmsnorm-grad":
		mul, rng := grp.Nodes[0], grp.Nodes[1]
		dh, gain := mul.Inputs[0], mul.Inputs[1]
		if !dh.Type.Equal(rng.Type) {
			dh, gain = gain, dh
		}
		rows, d := rowsOf(rng.Type.Shape)
		return f.rowKernel("rmsNormGradScaled", "rmsNormGrad"+exported(f.nm.name(rng)), rows, rows*d,
			[]rowArg{byRow(rng, d), byRow(rng.Inputs[0], d), byRow(dh, d), whole(gain), rowCount, litArg(jen.Lit(d)), litArg(jen.Lit(rng.Attrs.Eps))})
	case "softmax-xent-grad":
		return f.emitXentGrad(grp)
	case "attention":
		return f.emitAttention(grp)
	}
	if code, ok := f.biasEpilogue(grp); ok {
		return code
	}
	return f.emitLoopKernel(grp)
}

// other is the operand of a binary node that is not x.
func other(n, x *graph.Node) *graph.Node {
	if n.Inputs[0] == x {
		return n.Inputs[1]
	}
	return n.Inputs[0]
}

func (f *fnGen) emitXentGrad(grp *graph.FusionGroup) []jen.Code {
	var soft, oh *graph.Node
	scale := 1.0
	for _, n := range grp.Nodes {
		switch n.Op {
		case graph.OpSoftmax:
			soft = n
		case graph.OpOneHot:
			oh = n
		case graph.OpMul:
			for _, x := range n.Inputs {
				if v, ok := x.Uniform(); ok { // as the fuser accepts it
					scale *= v
				}
			}
		}
	}
	out := grp.Last()
	sub := oh.Inputs[0]
	for _, n := range grp.Nodes {
		if n.Op == graph.OpSub {
			sub = n
		}
	}
	p := sub.Inputs[0]
	var probs, logits jen.Code = f.ref(p), jen.Nil()
	if soft != nil { // the softmax is computed here, from the logits
		probs, logits = jen.Nil(), f.ref(soft.Inputs[0])
	}
	rows, c := rowsOf(out.Type.Shape)
	targets := oh.Inputs[0]
	bad := func(call jen.Code) jen.Code {
		return jen.If(jen.Id("p").Op(":=").Add(call), jen.Id("p").Op(">=").Lit(0)).Block(
			errorf(posPrefix(oh)+"CrossEntropy: target %d at position %d is outside [0, "+fmt.Sprint(c)+")", f.ref(targets).Index(jen.Id("p")), jen.Id("p")),
		)
	}
	if ts := f.p.slots[targets]; rows >= 2 && ts.region == inArena && f.g.splits(rows*c, parallelMinElems) {
		// The rows are independent: the pool's threads take ranges of
		// them, after the targets are checked here (a range cannot fail).
		// The kernel reads the targets from the integer arena directly, as
		// its views hold floats only.
		kf := f.kernelGen()
		rowsOfLit := func(x *graph.Node) jen.Code {
			return kf.ref(x).Index(jen.Id("lo*" + strconv.Itoa(c)).Op(":").Id("hi*" + strconv.Itoa(c)))
		}
		var kp, kz jen.Code = jen.Nil(), jen.Nil()
		if soft != nil {
			kz = rowsOfLit(soft.Inputs[0])
		} else {
			kp = rowsOfLit(p)
		}
		body := []jen.Code{jen.Id("softmaxXentGrad").Call(rowsOfLit(out), kp, kz, f.g.sliceOf(ts).Index(jen.Id("lo").Op(":").Id("hi")),
			jen.Id("hi").Op("-").Id("lo"), jen.Lit(c), jen.Id(graph.FormatFloat(scale)))}
		name := f.g.kernelNames.take("xentGrad" + exported(f.nm.name(out)))
		doc := fmt.Sprintf("%s runs softmaxXentGrad over rows [lo, hi) of %d on a thread of the pool.", name, rows)
		if call, ok := f.addParallel(kf, name, rows, body, doc); ok {
			return append([]jen.Code{bad(jen.Id("badTarget").Call(f.ref(targets), jen.Lit(c)))}, call...)
		}
	}
	return []jen.Code{bad(jen.Id("softmaxXentGrad").Call(f.ref(out), probs, logits, f.ref(targets), jen.Lit(rows), jen.Lit(c), jen.Id(graph.FormatFloat(scale))))}
}

// emitLoopKernel writes an elementwise (or epilogue) group as one Model
// method with a single loop nest: inner values are locals, operands are read
// at each index before any result is written there (so a result may share
// an operand's memory).
func (f *fnGen) emitLoopKernel(grp *graph.FusionGroup) []jen.Code {
	kf := f.kernelGen()
	shape := grp.Last().Type.Shape
	member := map[*graph.Node]bool{}
	for _, n := range grp.Nodes {
		member[n] = true
	}
	var external []*graph.Node
	for _, n := range grp.Nodes {
		for _, x := range n.Inputs {
			if !member[x] && !slices.Contains(external, x) {
				external = append(external, x)
			}
		}
	}
	locals := newNamer()
	for _, n := range grp.Results { // parameter names are taken first
		locals.used[f.nm.name(n)] = true
	}
	for _, x := range external {
		locals.used[f.nm.name(x)] = true
	}
	if grp.Producer != nil {
		for _, x := range grp.Producer.Inputs {
			locals.used[f.nm.name(x)] = true
		}
	}
	vec, vecOnly := vectorTail(f, grp, shape)
	// A product's bias before a GELU runs as biasRows rather than the
	// loop: the loop is then only the vector call.
	add, bias := biasBeforeGELU(f, grp, vec)
	// The scaled, causally masked gradient of attention scores runs as
	// causalScaleRows, which scales the kept prefix of each row in vector
	// registers and clears the rest.
	csX, csMask, csScale := causalScaleOf(grp, shape)
	causalCall := func(kf *fnGen, from, to string, rows jen.Code) jen.Code {
		view := func(x *graph.Node) jen.Code {
			if from == "" {
				return kf.ref(x)
			}
			return kf.ref(x).Index(jen.Id(from).Op(":").Id(to))
		}
		ms := csMask.Type.Shape
		return jen.Id("causalScaleRows").Call(view(grp.Last()), view(csX), rows, jen.Lit(ms[0]), jen.Lit(ms[1]),
			jen.Id(f.T()).Call(jen.Id(graph.FormatFloat(csScale))))
	}
	loopBody := func(kf *fnGen) func(vars []string, idx string) []jen.Code {
		return func(vars []string, idx string) []jen.Code {
			local := map[*graph.Node]string{}
			var stmts, stores []jen.Code
			target := idx
			if target == "" {
				target = indexExpr(shape, shape, vars)
			}
			for _, n := range grp.Nodes {
				args := make([]jen.Code, len(n.Inputs))
				for i, x := range n.Inputs {
					if l, ok := local[x]; ok {
						args[i] = jen.Id(l)
					} else {
						args[i] = kf.elem(x, shape, vars, idx)
					}
				}
				if n == vec {
					// GELU's input goes where its result will be; the
					// vector call after the loop computes it in place.
					stores = append(stores, kf.ref(n).Index(jen.Id(target)).Op("=").Add(args[0]))
					continue
				}
				name := f.nm.name(n)
				if slices.Contains(grp.Results, n) {
					name += "v"
				}
				local[n] = locals.take(name)
				stmts = append(stmts, jen.Id(local[n]).Op(":=").Add(elemExprs[n.Op](kf, n, args)))
			}
			for _, r := range grp.Results {
				if r != vec {
					stores = append(stores, kf.ref(r).Index(jen.Id(target)).Op("=").Id(local[r]))
				}
			}
			return append(stmts, stores...)
		}
	}
	// vecCall is the row-vector call of vec over elements [from, to), or
	// over whole buffers when from is "".
	vecCall := func(kf *fnGen, from, to string) jen.Code {
		view := func(x *graph.Node) jen.Code {
			if from == "" {
				return kf.ref(x)
			}
			return kf.ref(x).Index(jen.Id(from).Op(":").Id(to))
		}
		switch {
		case vec.Op == graph.OpWhere: // reluGradOf
			return jen.Id("reluGradRow").Call(view(vec), view(vec.Inputs[0].Inputs[0]), view(vec.Inputs[1]))
		case vec.Op == graph.OpGELUGrad:
			return jen.Id("geluGradRow").Call(view(vec), view(vec.Inputs[0]), view(vec.Inputs[1]))
		case vecOnly, add != nil && slices.Contains(grp.Results, add):
			return jen.Id("geluRow").Call(view(vec), view(vec.Inputs[0]))
		}
		return jen.Id("geluRow").Call(view(vec), view(vec)).Comment(f.nm.name(vec) + " = gelu(" + f.nm.name(vec.Inputs[0]) + "), in place")
	}
	// biasCall is biasRows over rows [from, to) of the bias's width (all
	// of them when from is ""), into add's buffer when add is stored, else
	// into the GELU's, where geluRow then works in place.
	biasCall := func(kf *fnGen, from, to string, rows jen.Code) jen.Code {
		dst := vec
		if slices.Contains(grp.Results, add) {
			dst = add
		}
		view := func(x *graph.Node) jen.Code {
			if from == "" {
				return kf.ref(x)
			}
			return kf.ref(x).Index(jen.Id(from).Op(":").Id(to))
		}
		return jen.Id("biasRows").Call(view(dst), view(grp.Producer), kf.ref(bias), rows, jen.False())
	}
	flat := flatOK(shape, external)
	sink := grp.Last()
	name := f.g.kernelNames.take("fused" + exported(f.nm.name(sink)))
	doc := func(name string) string {
		return fmt.Sprintf("%s is one fused %s kernel over %s:\n\n\t%s", name, grp.Kind, sink.Type, strings.Join(f.fusedComment(grp), "\n\t"))
	}
	if shape.Size() > 1 && f.g.splits(shape.Size(), parallelMinElems) {
		// The loop nest runs on the pool's threads, each over a range of
		// its outermost loop; the product before it, if any, splits itself.
		// After a product that splits by columns, the loop splits by the
		// same columns, each thread over the ones it computed
		// (splitsByCols).
		lf := f.kernelGen()
		taken := maps.Clone(locals.used) // restored if the loop stays serial after all
		// ReLU's gradient (a vector call alone) splits by columns too, one
		// call per row of a band.
		reluCols := vecOnly && vec.Op == graph.OpWhere
		byCols := grp.Producer != nil && (vec == nil || reluCols) && shape.Rank() >= 2 && f.g.splitsByCols(grp.Producer)
		extent := outerExtent(shape, flat)
		var body []jen.Code
		switch {
		case byCols && reluCols:
			extent = shape[shape.Rank()-1]
			row := "r*" + strconv.Itoa(extent)
			body = append(body, jen.For(jen.Id("r").Op(":=").Range().Lit(shape.Size()/extent)).Block(
				vecCall(lf, row+"+lo", row+"+hi")))
		case byCols:
			extent = shape[shape.Rank()-1]
			body = append(body, colRangedLoops(shape, loopBody(lf)))
		case csX != nil && (shape.Size()/extent)%csMask.Type.Shape.Size() == 0:
			inner := shape.Size() / extent
			body = append(body, causalCall(lf, "lo*"+strconv.Itoa(inner), "hi*"+strconv.Itoa(inner),
				jen.Parens(jen.Id("hi").Op("-").Id("lo")).Op("*").Lit(inner/csMask.Type.Shape[1])))
		case add != nil && (shape.Size()/extent)%biasWidth(bias) == 0:
			inner := shape.Size() / extent
			body = append(body, biasCall(lf, "lo*"+strconv.Itoa(inner), "hi*"+strconv.Itoa(inner),
				jen.Parens(jen.Id("hi").Op("-").Id("lo")).Op("*").Lit(inner/biasWidth(bias))))
		case !vecOnly:
			nest, _ := rangedLoops(shape, flat, loopBody(lf))
			body = append(body, nest)
		}
		if vec != nil && !byCols {
			from, to := "lo", "hi"
			if inner := shape.Size() / extent; inner > 1 {
				from, to = "lo*"+strconv.Itoa(inner), "hi*"+strconv.Itoa(inner)
			}
			body = append(body, vecCall(lf, from, to))
		}
		if grp.Producer == nil {
			rangeDoc := doc(name) + fmt.Sprintf("\n\nThe pool's threads run it over ranges [lo, hi) of its outermost loop (%d).", extent)
			if call, ok := f.addParallel(lf, name, extent, body, rangeDoc); ok {
				return call
			}
		} else {
			var rows, rangeDoc string
			if !byCols {
				rows = f.g.kernelNames.take(name + "Rows")
				rangeDoc = fmt.Sprintf("%s is %s's loop after the product, over [lo, hi) of its\noutermost loop (%d), on a thread of the pool.", rows, name, extent)
			} else {
				rows = f.g.kernelNames.take(name + "Cols")
				rangeDoc = fmt.Sprintf("%s is %s's loop after the product, over columns [lo, hi)\nof %d, run by the thread of the pool that computed them as soon as it has.", rows, name, extent)
			}
			launch := func() (jen.Code, jen.Code, bool) { return kf.parallelKernel(lf, rows, extent, body, rangeDoc) }
			if byCols {
				launch = func() (jen.Code, jen.Code, bool) {
					return kf.productThenKernel(lf, grp.Producer, rows, body, rangeDoc)
				}
			}
			if call, decl, ok := launch(); ok {
				var body []jen.Code
				if !byCols {
					body = emitMatMul(kf, grp.Producer)
				}
				body = append(body, call)
				out := f.kernelMethod(kf, name, body, doc(name))
				f.g.kernels = append(f.g.kernels, decl)
				return out
			}
		}
		locals.used = taken
	}
	var body []jen.Code
	if grp.Producer != nil {
		body = append(body, emitMatMul(kf, grp.Producer)...)
	}
	switch {
	case csX != nil:
		body = append(body, causalCall(kf, "", "", jen.Lit(shape.Size()/csMask.Type.Shape[1])))
	case add != nil:
		body = append(body, biasCall(kf, "", "", jen.Lit(shape.Size()/biasWidth(bias))))
	case vec == nil || !vecOnly:
		body = append(body, loops(shape, flat, loopBody(kf)))
	}
	if vec != nil {
		body = append(body, vecCall(kf, "", ""))
	}
	return f.kernelMethod(kf, name, body, doc(name))
}

// biasBeforeGELU matches an epilogue group that is a product plus a bias
// row and then a GELU that runs as the vector call vec (the sum stored or
// not; nothing else): the Linear layer before a transformer's GELU. It
// returns the sum and the bias, or nils. biasRows then adds the bias in
// vector registers (out = max(−∞, c + bias) + −0 is the sum bit for bit).
func biasBeforeGELU(f *fnGen, grp *graph.FusionGroup, vec *graph.Node) (add, bias *graph.Node) {
	p := grp.Producer
	if vec == nil || vec.Op != graph.OpGELU || p == nil || p.Op != graph.OpMatMul || len(grp.Nodes) != 2 || grp.Nodes[1] != vec {
		return nil, nil
	}
	add = grp.Nodes[0]
	if add.Op != graph.OpAdd || len(add.Inputs) != 2 || vec.Inputs[0] != add || (add.Inputs[0] != p && add.Inputs[1] != p) {
		return nil, nil
	}
	for _, r := range grp.Results {
		if r != add && r != vec {
			return nil, nil
		}
	}
	bias = other(add, p)
	ps, bs := p.Type.Shape, bias.Type.Shape
	if bias == p || bias.Op == graph.OpConst || ps.Rank() < 1 || bs.Rank() < 1 || bs.Rank() > ps.Rank() ||
		!add.Type.Shape.Equal(ps) || !vec.Type.Shape.Equal(ps) {
		return nil, nil
	}
	n := ps[ps.Rank()-1]
	if n == 0 || bs.Size() != n || bs[bs.Rank()-1] != n {
		return nil, nil
	}
	for _, x := range []*graph.Node{p, bias, add, vec} {
		if x.Type.DType != graph.F32 {
			return nil, nil
		}
	}
	if _, _, m, nn, k := matmulDims(p); m*nn*k <= inlineMaxWork {
		return nil, nil // the product's loops are inline
	}
	return add, bias
}

// causalScaleOf matches an elementwise group that is exactly y =
// where(causal, x, +0)·c, only y stored, with a causal mask over y's last
// two axes, x a float operand of y's shape and c a positive finite
// constant: the gradient of masked, scaled attention scores. It returns x,
// the mask and c, or nils.
func causalScaleOf(grp *graph.FusionGroup, shape graph.Shape) (x, mask *graph.Node, c float64) {
	if grp.Producer != nil || len(grp.Nodes) != 2 || len(grp.Results) != 1 || grp.Results[0] != grp.Nodes[1] {
		return nil, nil, 0
	}
	w, mul := grp.Nodes[0], grp.Nodes[1]
	if w.Op != graph.OpWhere || mul.Op != graph.OpMul || len(mul.Inputs) != 2 || w.Inputs[0].Op != graph.OpCausalMask {
		return nil, nil, 0
	}
	if z, ok := w.Inputs[2].Uniform(); !ok || z != 0 || math.Signbit(z) {
		return nil, nil, 0
	}
	k := other(mul, w)
	if k == w || (mul.Inputs[0] != w && mul.Inputs[1] != w) {
		return nil, nil, 0
	}
	c, ok := k.Uniform()
	if !ok || !(c > 0) || math.IsInf(c, 0) {
		return nil, nil, 0
	}
	x, mask = w.Inputs[1], w.Inputs[0]
	ms, r := mask.Type.Shape, shape.Rank()
	if x.Op == graph.OpConst || !x.Type.Shape.Equal(shape) || !w.Type.Shape.Equal(shape) || !mul.Type.Shape.Equal(shape) ||
		x.Type.DType != mul.Type.DType || ms.Rank() != 2 || r < 2 || shape[r-2] != ms[0] || shape[r-1] != ms[1] || ms[1] < ms[0] {
		return nil, nil, 0
	}
	return x, mask, c
}

// biasWidth is the number of elements of a bias row.
func biasWidth(bias *graph.Node) int { return bias.Type.Shape.Size() }

// vectorTail returns the last node of a loop group when it runs as a call
// of a row-vector kernel after the loop (geluRow, geluGradRow): GELU and
// its gradient are most of a float32 transformer's elementwise time, and
// their exp vectorises (codegen/kernels/gelu_amd64.s). That is a GELU
// whose operand has the loop's shape, or a GELUGrad alone in its group with
// both operands of that shape. only reports that the node is the whole
// group, so no loop is needed: the call reads its operands directly;
// otherwise the loop stores GELU's operand into GELU's result and the call
// works in place there (it cannot read another buffer, which a result of
// the same loop might share).
//
// ReLU's gradient, where(x > 0, dy, 0), when it is the whole group (the
// comparison not stored) with x and dy of the loop's shape, is a call of
// reluGradRow alone (only is true): as a scalar loop its branch on x's sign
// mispredicts half the time.
func vectorTail(f *fnGen, grp *graph.FusionGroup, shape graph.Shape) (vec *graph.Node, only bool) {
	last := grp.Last()
	if _, _, ok := reluGradOf(grp, shape); ok && f.f32() {
		return last, true
	}
	if !f.f32() || !(last.Op == graph.OpGELU || last.Op == graph.OpGELUGrad && len(grp.Nodes) == 1) {
		return nil, false
	}
	for _, x := range last.Inputs {
		if !x.Type.Shape.Equal(shape) || x.Op == graph.OpConst || x.Type.DType != last.Type.DType {
			return nil, false
		}
	}
	return last, len(grp.Nodes) == 1
}

// reluGradOf matches a group that is exactly ReLU's gradient as
// graph.gradReLU builds it, t = x > 0 and where(t, dy, +0), only the latter
// stored, with x and dy float operands of shape (not constants), and
// returns x and dy.
func reluGradOf(grp *graph.FusionGroup, shape graph.Shape) (x, dy *graph.Node, ok bool) {
	if len(grp.Nodes) != 2 || len(grp.Results) != 1 {
		return nil, nil, false
	}
	gt, w := grp.Nodes[0], grp.Nodes[1]
	if gt.Op != graph.OpGreater || w.Op != graph.OpWhere || grp.Results[0] != w || w.Inputs[0] != gt || len(gt.Inputs) != 2 {
		return nil, nil, false
	}
	if v, ok := gt.Inputs[1].Uniform(); !ok || v != 0 {
		return nil, nil, false
	}
	if v, ok := w.Inputs[2].Uniform(); !ok || v != 0 || math.Signbit(v) {
		return nil, nil, false
	}
	x, dy = gt.Inputs[0], w.Inputs[1]
	for _, o := range []*graph.Node{x, dy} {
		if o.Op == graph.OpConst || !o.Type.Shape.Equal(shape) || o.Type.DType != w.Type.DType {
			return nil, nil, false
		}
	}
	return x, dy, w.Type.Shape.Equal(shape)
}

// kernelMethod adds body as the Model method name, taking every slice kf
// touched (in value order) as a parameter and documented by doc, and
// returns the call that runs it.
func (f *fnGen) kernelMethod(kf *fnGen, name string, body []jen.Code, doc string) []jen.Code {
	var params []*graph.Node
	for n := range kf.used {
		params = append(params, n)
	}
	slices.SortFunc(params, func(a, b *graph.Node) int { return a.ID - b.ID })
	var decl, args []jen.Code
	for _, n := range params {
		decl = append(decl, jen.Id(f.nm.name(n)).Add(f.g.goSliceType(n.Type.DType)))
		args = append(args, f.ref(n))
	}
	f.g.kernels = append(f.g.kernels, jen.Comment(lineComments(doc)).Line().
		Func().Params(jen.Id("m").Op("*").Id("Model")).Id(name).Params(decl...).Block(body...))
	return []jen.Code{jen.Id("m").Dot(name).Call(args...)}
}

// attentionTile is how many query rows a fused attention kernel handles at
// once: its scores fill tile × S of m.scratch, and a tile computes scores
// only up to its last row's last visible key.
const attentionTile = 32

// attentionParts names the members of an attention group.
type attentionParts struct {
	scores, where, weights, out *graph.Node
	scale                       float64
	q, k, v                     *graph.Node
	round                       *graph.Node // the weights rounded to bf16 (mixed precision), or nil
	bh, t, s, dk, dv            int
	group                       int // query matrices per k and v matrix (grouped-query attention)
}

func attentionOf(grp *graph.FusionGroup) attentionParts {
	a := attentionParts{scale: 1}
	for _, n := range grp.Nodes {
		switch n.Op {
		case graph.OpMatMul:
			if n.Attrs.TransB {
				a.scores = n
			} else {
				a.out = n
			}
		case graph.OpMul:
			a.scale, _ = n.Inputs[1].Uniform() // the fuser accepts only a uniform scale
		case graph.OpWhere:
			a.where = n
		case graph.OpSoftmax:
			a.weights = n
		case graph.OpRoundBF16:
			a.round = n
		}
	}
	a.q, a.k, a.v = a.scores.Inputs[0], a.scores.Inputs[1], a.out.Inputs[1]
	ws := a.weights.Type.Shape
	r := ws.Rank()
	a.bh, a.t, a.s = graph.Shape(ws[:r-2]).Size(), ws[r-2], ws[r-1]
	a.dk = a.q.Type.Shape[a.q.Type.Shape.Rank()-1]
	a.dv = a.v.Type.Shape[a.v.Type.Shape.Rank()-1]
	ks := a.k.Type.Shape
	a.group, _ = graph.KVGroup(ws[:r-2], ks[:ks.Rank()-2]) // as the fuser checked
	return a
}

// emitAttention writes a fused causal attention kernel as a Model method:
// per matrix of the batch, per tile of query rows, the tile's scores as one
// product (only the keys its rows may see), the masked, scaled softmax row
// by row, and the weighted sum of v as another product. The matrices are
// independent, so the pool's threads take ranges of them, each with its
// own tile of m.scratch and its own packing buffers.
func (f *fnGen) emitAttention(grp *graph.FusionGroup) []jen.Code {
	a := attentionOf(grp)
	kf := f.kernelGen()
	storeW := slices.Contains(grp.Results, a.weights)
	// Under bf16 mixed precision both products round their operands while
	// packing (bf16.go); the rounded weights are stored only when read
	// later and not elided.
	bf16 := f.g.bf16Product(a.scores) && f.g.bf16Product(a.out)
	storeR := a.round != nil && slices.Contains(grp.Results, a.round) && !f.g.bf16Elided[a.round]
	if bf16 {
		a.q, a.k, a.v = f.g.bf16Operand(a.q), f.g.bf16Operand(a.k), f.g.bf16Operand(a.v)
	}
	// Split between the pool's threads, each matrix runs on one thread
	// with that thread's packing buffers and scratch tile; otherwise the
	// tile's products may use the whole pool.
	ranged := f.g.splits(a.bh*a.t*a.s*(a.dk+a.dv), parallelMinWork)
	gemm := func(tb bool, m, n, k jen.Code, x jen.Code, ldx jen.Code, y jen.Code, ldy int, c jen.Code, ldc jen.Code) jen.Code {
		if !ranged {
			fn := "Gemm"
			if bf16 {
				fn = "GemmBF16"
			}
			return jen.Id(internal(fn)).Call(jen.Id("m").Dot("pool"), jen.False(), jen.Lit(tb), m, n, k, x, ldx, y, jen.Lit(ldy), c, ldc, jen.False())
		}
		fn := "GemmOnThread"
		if bf16 {
			fn = "GemmBF16OnThread"
		}
		return jen.Id(internal(fn)).Call(jen.Id("m").Dot("pool"), jen.Id("thread"), jen.False(), jen.Lit(tb), m, n, k, x, ldx, y, jen.Lit(ldy), c, ldc, jen.False())
	}
	id := jen.Id
	rowBody := []jen.Code{
		id("row").Op(":=").Id("sc").Index(id("r").Op("*").Id("n").Op(":").Id("r").Op("*").Id("n").Op("+").Id("n")),
		id("maskedSoftmax").Call(id("row"), id("i0").Op("+").Id("r").Op("+").Lit(a.s-a.t+1), id(graph.FormatFloat(a.scale))),
	}
	if storeW {
		rowBody = append(rowBody,
			id("wr").Op(":=").Id("wb").Index(id(fmt.Sprintf("(i0+r)*%d", a.s)).Op(":").Id(fmt.Sprintf("(i0+r+1)*%d", a.s))),
			jen.Copy(id("wr"), id("row")),
			jen.Clear(id("wr").Index(id("n").Op(":"))).Comment("masked: weight 0"),
		)
	}
	if storeR {
		rowBody = append(rowBody,
			id("rr").Op(":=").Id("rb").Index(id(fmt.Sprintf("(i0+r)*%d", a.s)).Op(":").Id(fmt.Sprintf("(i0+r+1)*%d", a.s))),
			jen.For(id("j").Op(",").Id("x").Op(":=").Range().Id("row")).Block(id("rr").Index(id("j")).Op("=").Id("roundBF16").Call(id("x"))),
			jen.Clear(id("rr").Index(id("n").Op(":"))),
		)
	}
	kvb := id("b") // the k and v matrix of query matrix b
	if a.group > 1 {
		kvb = jen.Parens(id("b").Op("/").Lit(a.group))
	}
	binds := []jen.Code{
		id("qb").Op(",").Id("kb").Op(",").Id("vb").Op(",").Id("ob").Op(":=").List(
			kf.ref(a.q).Index(id("b").Op("*").Lit(a.t*a.dk).Op(":")), kf.ref(a.k).Index(kvb.Clone().Op("*").Lit(a.s*a.dk).Op(":")),
			kf.ref(a.v).Index(kvb.Clone().Op("*").Lit(a.s*a.dv).Op(":")), kf.ref(a.out).Index(id("b").Op("*").Lit(a.t*a.dv).Op(":"))),
	}
	if storeW {
		binds = append(binds, id("wb").Op(":=").Add(kf.ref(a.weights)).Index(id("b").Op("*").Lit(a.t*a.s).Op(":")))
	}
	if storeR {
		binds = append(binds, id("rb").Op(":=").Add(kf.ref(a.round)).Index(id("b").Op("*").Lit(a.t*a.s).Op(":")))
	}
	scratch := id("m").Dot("scratch").Index(jen.Op(":").Id("rows").Op("*").Id("n"))
	if ranged {
		scratch = id("m").Dot("scratch").Index(id("thread").Op("*").Lit(attentionTile * a.s).Op(":").Id("thread").Op("*").Lit(attentionTile * a.s).Op("+").Id("rows").Op("*").Id("n"))
	}
	tile := []jen.Code{
		id("rows").Op(":=").Min(jen.Lit(attentionTile), jen.Lit(a.t).Op("-").Id("i0")),
		id("n").Op(":=").Add(plusLit(id("i0").Op("+").Id("rows"), a.s-a.t)).Comment("keys the tile's last row may see"),
		id("sc").Op(":=").Add(scratch),
		gemm(true, id("rows"), id("n"), jen.Lit(a.dk), id("qb").Index(id("i0").Op("*").Lit(a.dk).Op(":")), jen.Lit(a.dk), id("kb"), a.dk, id("sc"), id("n")),
		jen.For(id("r").Op(":=").Range().Id("rows")).Block(rowBody...),
		gemm(false, id("rows"), jen.Lit(a.dv), id("n"), id("sc"), id("n"), id("vb"), a.dv, id("ob").Index(id("i0").Op("*").Lit(a.dv).Op(":")), jen.Lit(a.dv)),
	}
	loop := jen.For(id("b").Op(":=").Range().Lit(a.bh))
	if ranged {
		loop = jen.For(id("b").Op(":=").Id("lo"), id("b").Op("<").Id("hi"), id("b").Op("++"))
	}
	body := []jen.Code{loop.Block(append(binds,
		jen.For(id("i0").Op(":=").Lit(0), id("i0").Op("<").Lit(a.t), id("i0").Op("+=").Lit(attentionTile)).Block(tile...))...)}

	name := f.g.kernelNames.take("fused" + exported(f.nm.name(a.out)))
	doc := fmt.Sprintf("%s is one fused causal attention kernel over %d matrices of %d queries and %d keys,\n%d query rows at a time; the score matrices are never stored%s",
		name, a.bh, a.t, a.s, attentionTile, map[bool]string{true: " (the weights are, for backward or a tap)", false: ""}[storeW])
	if a.group > 1 {
		doc += fmt.Sprintf(".\nEach key and value matrix serves %d consecutive query matrices (grouped-query attention)", a.group)
	}
	if ranged {
		doc += ". The pool's\nthreads run it over ranges [lo, hi) of the matrices"
	}
	doc += ":\n\n\t" + strings.Join(f.fusedComment(grp), "\n\t")
	if ranged {
		call, _ := f.addParallel(kf, name, a.bh, body, doc) // attention's operands are all floats
		return call
	}
	return f.kernelMethod(kf, name, body, doc)
}

// plusLit is x + c, or x alone when c is 0.
func plusLit(x *jen.Statement, c int) *jen.Statement {
	if c == 0 {
		return x
	}
	return x.Op("+").Lit(c)
}
