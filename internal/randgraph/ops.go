package randgraph

import (
	"math"
	"slices"

	"github.com/mlc-dev/mlc/graph"
)

// opGen draws one op: gen builds it over operands it picks or makes, and
// returns the result, or nil when the op does not apply right now (the
// generator then draws again).
type opGen struct {
	op     graph.Op
	weight int
	gen    func(g *gen, op graph.Op) *value
}

// opGens is the generator's half of the op table, in table order.
var opGens []opGen

// excluded lists the ops never drawn, with the reason.
var excluded = map[graph.Op]string{
	graph.OpInput:            "leaf: made as an operand (float, ids and mask inputs)",
	graph.OpParam:            "leaf: made as an operand",
	graph.OpState:            "leaf: made as an operand",
	graph.OpConst:            "leaf: made as an operand (uniform, uniform data, random data, integers, bool)",
	graph.OpCausalMask:       "leaf: made as a mask operand",
	graph.OpDropoutMask:      "random: a fresh draw per run (TestDropoutMasksAgree covers it)",
	graph.OpQMatMul:          "needs a low-precision parameter, which models do not declare: passes.Quantize makes it (compile's quantize tests)",
	graph.OpRoundBF16:        "a rounding point passes.MixedPrecision inserts after autodiff (compile's mixed-precision tests)",
	graph.OpApplySGD:         "effect: the optimizer pass adds it (Model.Optimizer)",
	graph.OpApplyMomentum:    "effect: the optimizer pass adds it (Model.Optimizer)",
	graph.OpApplyEMAMomentum: "effect: the optimizer pass adds it (Model.Optimizer)",
	graph.OpApplyRMSProp:     "effect: the optimizer pass adds it (Model.Optimizer)",
	graph.OpApplyAdam:        "effect: the optimizer pass adds it (Model.Optimizer)",
	graph.OpAssign:           "effect: the optimizer pass adds it (Model.Optimizer)",
	graph.OpCacheWrite:       "effect: writes a KV-cache variable in place (the kvcache pass adds it to DecodeStep)",
}

// Coverage says, for every op of the op table, how the generator covers it:
// "drawn" or the reason it is not drawn.
func Coverage() map[graph.Op]string {
	c := map[graph.Op]string{}
	for _, o := range opGens {
		c[o.op] = "drawn"
	}
	for op, why := range excluded {
		c[op] = why
	}
	return c
}

func init() {
	u := func(op graph.Op, w int) opGen { return opGen{op, w, genUnary} }
	b := func(op graph.Op, w int) opGen { return opGen{op, w, genBinary} }
	c := func(op graph.Op, w int) opGen { return opGen{op, w, genCompare} }
	opGens = []opGen{
		u(graph.OpNeg, 2), u(graph.OpExp, 3), u(graph.OpLog, 3), u(graph.OpSqrt, 2), u(graph.OpRsqrt, 2),
		u(graph.OpTanh, 3), u(graph.OpSigmoid, 3), u(graph.OpReLU, 4), u(graph.OpGELU, 3), u(graph.OpAbs, 3),
		u(graph.OpPow, 4), {graph.OpCast, 3, genCast},

		b(graph.OpAdd, 8), b(graph.OpSub, 5), b(graph.OpMul, 8), {graph.OpDiv, 5, genDiv},
		b(graph.OpMaximum, 4), b(graph.OpMinimum, 3),

		c(graph.OpLess, 1), c(graph.OpLessEqual, 1), c(graph.OpGreater, 1), c(graph.OpGreaterEqual, 1),
		c(graph.OpEqual, 1), c(graph.OpNotEqual, 1),
		{graph.OpAnd, 1, genLogical}, {graph.OpOr, 1, genLogical}, {graph.OpNot, 1, genLogical},
		{graph.OpWhere, 5, genWhere},

		{graph.OpMatMul, 10, genMatMul}, {graph.OpTranspose, 4, genTranspose}, {graph.OpReshape, 4, genReshape},
		{graph.OpBroadcastTo, 3, genBroadcastTo}, {graph.OpSlice, 4, genSlice}, {graph.OpPad, 3, genPad},
		{graph.OpConcat, 4, genConcat}, {graph.OpGather, 4, genGather}, {graph.OpScatterAdd, 3, genScatterAdd},
		{graph.OpOneHot, 2, genOneHot},

		{graph.OpSum, 5, genReduce}, {graph.OpMean, 4, genReduce}, {graph.OpMax, 4, genReduce}, {graph.OpArgMax, 2, genArgMax},

		{graph.OpSoftmax, 4, genSoftmax}, {graph.OpLogSoftmax, 3, genSoftmax},
		{graph.OpSoftmaxGrad, 1, genHelper}, {graph.OpLogSoftmaxGrad, 1, genHelper},
		{graph.OpLayerNorm, 4, genLayerNorm}, {graph.OpLayerNormGrad, 1, genHelper}, {graph.OpGELUGrad, 1, genHelper},

		{graph.OpCrossEntropy, 3, genLoss}, {graph.OpBCEWithLogits, 2, genLoss}, {graph.OpMSE, 2, genLoss},

		{graph.OpLRSchedule, 1, genLRSchedule}, {graph.OpGlobalNorm, 1, genGlobalNorm},
		{graph.OpAttendCache, 1, genAttendCache},
		u(graph.OpErf, 2),
		{graph.OpIm2Col, 2, genIm2Col}, {graph.OpCol2Im, 1, genIm2Col},

		{graph.OpRMSNorm, 3, genLayerNorm}, {graph.OpRMSNormGrad, 1, genHelper}, {graph.OpRoPE, 3, genRoPE},
		u(graph.OpGELUErf, 2), {graph.OpGELUErfGrad, 1, genHelper},
	}
}

// ---- elementwise ----

// powExps are the exponents Pow draws: those of any sign's base first.
var powExps = []float64{1, 2, 3, 0, -1, -2, 0.5, 1.5, -0.5, 2.5, 0.3}

func genUnary(g *gen, op graph.Op) *value {
	x := g.pickFloat(0, maxRank)
	var a graph.Attrs
	hi, lo := x.hi, 0.0
	switch op {
	case graph.OpNeg, graph.OpGELU, graph.OpGELUErf:
	case graph.OpTanh, graph.OpErf:
		hi = math.Min(hi, 1)
	case graph.OpSigmoid:
		hi, lo = 1, 1/(1+math.Exp(x.hi))
	case graph.OpExp:
		x = g.squash(x, 4)
		hi, lo = math.Exp(x.hi), math.Exp(-x.hi)
	case graph.OpLog:
		x = g.positive(x)
		hi = math.Max(math.Abs(math.Log(x.lo)), math.Abs(math.Log(x.hi)))
	case graph.OpSqrt:
		x = g.positive(x)
		hi, lo = math.Sqrt(x.hi), math.Sqrt(x.lo)
	case graph.OpRsqrt:
		x = g.positive(x)
		hi, lo = 1/math.Sqrt(x.lo), 1/math.Sqrt(x.hi)
	case graph.OpReLU:
		x = g.tieSafe(x)
		hi = x.hi
	case graph.OpAbs:
		x = g.tieSafe(x)
		hi = x.hi
	case graph.OpPow:
		k := g.s.intn(len(powExps))
		p := powExps[k]
		a.Exponent = p
		if k >= 3 {
			x = g.positive(x)
			b1, b2 := math.Pow(x.lo, p), math.Pow(x.hi, p)
			hi, lo = math.Max(b1, b2), math.Min(b1, b2)
		} else {
			hi = math.Pow(math.Max(x.hi, 1), p)
		}
	}
	v := g.float(g.apply(op, a, x), hi, x.grad)
	v.lo = lo
	return v
}

// genCast: f64 → f64, or a mask or ids to f64.
func genCast(g *gen, op graph.Op) *value {
	a := graph.Attrs{To: graph.F64}
	switch k := g.s.intn(4); {
	case k == 0 && len(g.filter(kMask, nil)) > 0:
		m := g.choose(g.filter(kMask, nil))
		return g.float(g.apply(op, a, m), 1, false)
	case k == 1 && len(g.filter(kIDs, nil)) > 0:
		ids := g.choose(g.filter(kIDs, nil))
		return g.float(g.apply(op, a, ids), float64(ids.limit), false)
	}
	x := g.pickFloat(0, maxRank)
	v := g.float(g.apply(op, a, x), x.hi, x.grad)
	v.lo = x.lo
	return v
}

func genBinary(g *gen, op graph.Op) *value {
	a := g.pickFloat(0, maxRank)
	b := g.partner(a)
	if op == graph.OpMaximum || op == graph.OpMinimum {
		// Ties between a and b are measure-zero only between two distinct leaves.
		if !(a.generic() && b.generic() && a != b) || g.s.chance(1, 3) {
			a = g.jitter(a)
		}
	}
	if g.s.chance(1, 2) {
		a, b = b, a
	}
	var hi, lo float64
	switch op {
	case graph.OpAdd:
		hi = a.hi + b.hi
		if a.lo > 0 && b.lo > 0 {
			lo = a.lo + b.lo
		}
	case graph.OpSub:
		hi = a.hi + b.hi
	case graph.OpMul:
		hi = a.hi * b.hi
		if a.lo > 0 && b.lo > 0 {
			lo = a.lo * b.lo
		}
	case graph.OpMaximum:
		hi, lo = math.Max(a.hi, b.hi), math.Max(a.lo, b.lo)
	case graph.OpMinimum:
		hi = math.Max(a.hi, b.hi)
		if a.lo > 0 && b.lo > 0 {
			lo = math.Min(a.lo, b.lo)
		}
	}
	v := g.float(g.apply(op, graph.Attrs{}, a, b), hi, a.grad || b.grad)
	v.lo = lo
	return v
}

// genDiv divides by a value ≥ 0.1 (or ≤ −0.1).
func genDiv(g *gen, op graph.Op) *value {
	a := g.pickFloat(0, maxRank)
	d := g.positive(g.partner(a))
	hi := a.hi / d.lo
	if g.s.chance(1, 3) {
		d = g.float(g.apply(graph.OpNeg, graph.Attrs{}, d), d.hi, d.grad)
		return g.float(g.apply(op, graph.Attrs{}, a, d), hi, a.grad || d.grad)
	}
	v := g.float(g.apply(op, graph.Attrs{}, a, d), hi, a.grad || d.grad)
	if a.lo > 0 {
		v.lo = a.lo / d.hi
	}
	return v
}

// genCompare compares floats (one side jittered, so no pair ties), ids, or a
// value with itself (Equal/NotEqual: an exact, structural answer).
func genCompare(g *gen, op graph.Op) *value {
	eq := op == graph.OpEqual || op == graph.OpNotEqual
	if k := g.s.intn(3); k == 0 && len(g.filter(kIDs, nil)) > 0 {
		a := g.choose(g.filter(kIDs, nil))
		s := g.partnerShape(a.shape())
		b := g.ids(s, max(a.limit, 1))
		return &value{t: g.apply(op, graph.Attrs{}, a, b), kind: kMask}
	} else if k == 1 && eq {
		a := g.pickFloat(0, maxRank)
		return &value{t: g.apply(op, graph.Attrs{}, a, a), kind: kMask}
	}
	a := g.pickFloat(0, maxRank)
	b := g.partner(a)
	if !(a.generic() && b.generic() && a != b) || g.s.chance(1, 3) {
		a = g.jitter(a)
	}
	if g.s.chance(1, 2) {
		a, b = b, a
	}
	return &value{t: g.apply(op, graph.Attrs{}, a, b), kind: kMask}
}

func genLogical(g *gen, op graph.Op) *value {
	a := g.mask(g.randShape(0), false)
	if op == graph.OpNot {
		return &value{t: g.apply(op, graph.Attrs{}, a), kind: kMask}
	}
	s := g.partnerShape(a.shape())
	bs, _ := graph.BroadcastShapes(a.shape(), s)
	b := g.mask(bs, false)
	if g.s.chance(1, 2) {
		a, b = b, a
	}
	return &value{t: g.apply(op, graph.Attrs{}, a, b), kind: kMask}
}

// genWhere selects between two floats by a mask that broadcasts with them;
// sometimes it is the attention pattern softmax(where(causal, x, −∞)).
func genWhere(g *gen, op graph.Op) *value {
	if g.s.chance(1, 4) {
		x := g.pickFloat(2, maxRank)
		s := x.shape()
		if t, n := s[len(s)-2], s[len(s)-1]; t <= n {
			node, err := g.b.Graph().Leaf(graph.OpCausalMask, "", graph.T(graph.Bool, t, n), graph.Attrs{Shape: []int{t, n}})
			if err != nil {
				panic(err)
			}
			m := &value{t: wrapNode(g, node), kind: kMask}
			masked := g.float(g.apply(op, graph.Attrs{}, m, x, g.scalarConst(math.Inf(-1))), math.Inf(1), x.grad)
			// Every row keeps key 0, so no row is all −∞ and the softmax is finite.
			return g.float(g.apply(graph.OpSoftmax, graph.Attrs{Axis: len(s) - 1}, masked), 1, x.grad)
		}
	}
	a := g.pickFloat(0, maxRank)
	b := g.partner(a)
	bs, _ := graph.BroadcastShapes(a.shape(), b.shape())
	m := g.mask(bs, false)
	if g.s.chance(1, 2) {
		a, b = b, a
	}
	return g.float(g.apply(op, graph.Attrs{}, m, a, b), math.Max(a.hi, b.hi), a.grad || b.grad)
}

// ---- linear algebra and data movement ----

func genMatMul(g *gen, op graph.Op) *value {
	a := g.pickFloat(2, maxRank)
	as := a.shape()
	r := len(as)
	ta, tb := g.s.chance(1, 3), g.s.chance(1, 3)
	m, k := as[r-2], as[r-1]
	if ta {
		m, k = k, m
	}
	n := g.dim()
	batchA := slices.Clone(as[:r-2])
	batchB := g.partnerShape(batchA)
	if len(batchB) > maxRank-2 {
		batchB = batchB[len(batchB)-(maxRank-2):]
	}
	batch, ok := graph.BroadcastShapes(batchA, batchB)
	if !ok || len(batch) > maxRank-2 || size(batch)*m*n > g.cfg.MaxElems {
		batchB = nil
		batch = batchA
		if size(batch)*m*n > g.cfg.MaxElems {
			n = 1
		}
	}
	bShape := func() []int {
		if tb {
			return append(slices.Clone(batchB), n, k)
		}
		return append(slices.Clone(batchB), k, n)
	}
	if !g.fits(bShape()) {
		batchB, batch = nil, batchA
	}
	if !g.fits(bShape()) {
		n = 1
	}
	b := g.exact(bShape(), false)
	if size(batch)*m*n > g.cfg.MaxElems {
		return nil
	}
	return g.float(g.apply(op, graph.Attrs{TransA: ta, TransB: tb}, a, b), float64(k)*a.hi*b.hi, a.grad || b.grad)
}

// pickMoved picks the operand of a data-movement op: usually a float,
// sometimes a mask or ids (they move the same way).
func (g *gen) pickMoved(minRank int) *value {
	if g.s.chance(1, 6) {
		k := []kind{kMask, kIDs}[g.s.intn(2)]
		if v := g.choose(g.filter(k, func(v *value) bool { return v.rank() >= minRank })); v != nil {
			return v
		}
	}
	return g.pickFloat(minRank, maxRank)
}

// moved is the result of moving x's elements (same numbers, new layout).
func moved(x *value, t *value) *value {
	t.kind, t.hi, t.lo, t.grad, t.limit = x.kind, x.hi, x.lo, x.grad && x.kind == kFloat, x.limit
	return t
}

func genTranspose(g *gen, op graph.Op) *value {
	x := g.pickMoved(0)
	perm := make([]int, x.rank())
	for i := range perm {
		perm[i] = i
	}
	for i := len(perm) - 1; i > 0; i-- {
		j := g.s.intn(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return moved(x, &value{t: g.apply(op, graph.Attrs{Perm: perm}, x)})
}

// reshapeTarget is a random shape of rank ≤ 4 with n elements.
func (g *gen) reshapeTarget(n int) []int {
	var primes []int
	for m, p := n, 2; m > 1; {
		if m%p == 0 {
			primes = append(primes, p)
			m /= p
		} else {
			p++
		}
	}
	r := g.s.intn(maxRank + 1)
	if r == 0 && n > 1 {
		r = 1
	}
	dims := slices.Repeat([]int{1}, r)
	for _, p := range primes {
		dims[g.s.intn(r)] *= p
	}
	return dims
}

func genReshape(g *gen, op graph.Op) *value {
	x := g.pickMoved(0)
	return moved(x, &value{t: g.apply(op, graph.Attrs{Shape: g.reshapeTarget(x.size())}, x)})
}

func genBroadcastTo(g *gen, op graph.Op) *value {
	x := g.pickMoved(0)
	s := slices.Clone(x.shape())
	for i, d := range s {
		if d == 1 && g.s.chance(2, 3) {
			s[i] = 1 + g.s.intn(maxDim)
		}
	}
	for len(s) < maxRank && g.s.chance(1, 2) {
		s = append([]int{g.dim()}, s...)
	}
	if !g.fits(s) {
		s = slices.Clone(x.shape())
	}
	return moved(x, &value{t: g.apply(op, graph.Attrs{Shape: s}, x)})
}

func genSlice(g *gen, op graph.Op) *value {
	x := g.pickMoved(0)
	s := x.shape()
	st, en := make([]int, len(s)), slices.Clone(s)
	for i, d := range s {
		if g.s.chance(1, 3) {
			continue
		}
		st[i] = g.s.intn(d)
		en[i] = st[i] + 1 + g.s.intn(d-st[i])
	}
	return moved(x, &value{t: g.apply(op, graph.Attrs{Starts: st, Ends: en}, x)})
}

func genPad(g *gen, op graph.Op) *value {
	x := g.pickFloat(0, maxRank)
	s := x.shape()
	st, to := make([]int, len(s)), slices.Clone(s)
	for i := range s {
		extra := g.s.intn(3)
		st[i] = g.s.intn(extra + 1)
		to[i] += extra
	}
	if !g.fits(to) {
		st, to = make([]int, len(s)), slices.Clone(s)
	}
	v := g.float(g.apply(op, graph.Attrs{Starts: st, Shape: to}, x), x.hi, x.grad)
	return v
}

func genConcat(g *gen, op graph.Op) *value {
	x := g.pickMoved(1)
	s := x.shape()
	ax := g.s.intn(len(s))
	parts := []*value{x}
	total := s[ax]
	for range 1 + g.s.intn(2) {
		var p *value
		if g.s.chance(1, 2) {
			p = g.choose(g.filter(x.kind, func(v *value) bool {
				vs := v.shape()
				if len(vs) != len(s) || (x.kind == kIDs && v.limit > x.limit) {
					return false
				}
				for i := range vs {
					if i != ax && vs[i] != s[i] {
						return false
					}
				}
				return true
			}))
		}
		if p == nil {
			ps := slices.Clone(s)
			ps[ax] = 1 + g.s.intn(3)
			if !g.fits(ps) {
				ps[ax] = 1
			}
			switch x.kind {
			case kFloat:
				p = g.add(g.leaf(ps))
			case kMask:
				p = g.mask(ps, true)
			case kIDs:
				p = g.ids(ps, x.limit)
			}
		}
		if (total+p.shape()[ax])*size(s)/s[ax] > g.cfg.MaxElems {
			break
		}
		total += p.shape()[ax]
		parts = append(parts, p)
	}
	if g.s.chance(1, 2) {
		g.shuffle(parts)
	}
	v := &value{t: g.apply(op, graph.Attrs{Axis: ax}, parts...), kind: x.kind}
	for _, p := range parts {
		v.hi = math.Max(v.hi, p.hi)
		v.grad = v.grad || p.grad
		v.limit = max(v.limit, p.limit)
	}
	return v
}

func (g *gen) shuffle(vs []*value) {
	for i := len(vs) - 1; i > 0; i-- {
		j := g.s.intn(i + 1)
		vs[i], vs[j] = vs[j], vs[i]
	}
}

func genGather(g *gen, op graph.Op) *value {
	table := g.pickFloat(1, maxRank)
	ts := table.shape()
	maxIDsRank := min(2, maxRank-(len(ts)-1))
	is := g.randIDsShape(maxIDsRank)
	if size(is)*size(ts[1:]) > g.cfg.MaxElems {
		is = nil
	}
	ids := g.ids(is, ts[0])
	return g.float(g.apply(op, graph.Attrs{}, table, ids), table.hi, table.grad)
}

func genScatterAdd(g *gen, op graph.Op) *value {
	upd := g.pickFloat(0, maxRank)
	us := upd.shape()
	lo, hi := max(0, len(us)-(maxRank-1)), min(len(us), 2)
	k := lo + g.s.intn(hi-lo+1)
	depth := 1 + g.s.intn(maxDim)
	if depth*size(us[k:]) > g.cfg.MaxElems {
		depth = 1
	}
	ids := g.ids(slices.Clone(us[:k]), depth)
	return g.float(g.apply(op, graph.Attrs{Depth: depth}, ids, upd), upd.hi*float64(size(us[:k])), upd.grad)
}

func genOneHot(g *gen, op graph.Op) *value {
	is := g.randIDsShape(2)
	if v := g.choose(g.filter(kIDs, func(v *value) bool { return v.rank() <= 3 })); v != nil && g.s.chance(1, 2) {
		is = v.shape()
	}
	depth := 1 + g.s.intn(maxDim)
	ids := g.ids(is, depth)
	if size(is)*depth > g.cfg.MaxElems {
		return nil
	}
	return g.float(g.apply(op, graph.Attrs{Depth: depth, To: graph.F64}, ids), 1, false)
}

// ---- reductions ----

func genReduce(g *gen, op graph.Op) *value {
	x := g.pickFloat(0, maxRank)
	if op == graph.OpMax {
		x = g.tieSafe(x)
	}
	var axes []int
	if x.rank() > 0 && g.s.chance(3, 4) {
		axes = g.axes(x.rank(), true)
	}
	a := graph.Attrs{Axes: axes, KeepDims: g.s.chance(1, 2)}
	hi := x.hi
	if op == graph.OpSum {
		hi *= float64(x.size()) / float64(size(graph.ReducedShape(x.shape(), axes, false)))
	}
	v := g.float(g.apply(op, a, x), hi, x.grad)
	if op != graph.OpSum {
		v.lo = x.lo
	}
	return v
}

func genArgMax(g *gen, op graph.Op) *value {
	x := g.tieSafe(g.pickFloat(1, maxRank))
	ax := g.s.intn(x.rank())
	return &value{t: g.apply(op, graph.Attrs{Axis: ax, KeepDims: g.s.chance(1, 2)}, x), kind: kIDs, limit: x.shape()[ax]}
}

// ---- normalisation ----

func genSoftmax(g *gen, op graph.Op) *value {
	x := g.pickFloat(1, maxRank)
	ax := g.s.intn(x.rank())
	if op == graph.OpSoftmax {
		return g.float(g.apply(op, graph.Attrs{Axis: ax}, x), 1, x.grad)
	}
	return g.float(g.apply(op, graph.Attrs{Axis: ax}, x), 2*x.hi+math.Log(float64(x.shape()[ax])), x.grad)
}

var epsChoices = []float64{1e-5, 1e-3, 0.1}

func genLayerNorm(g *gen, op graph.Op) *value {
	x := g.pickFloat(1, maxRank)
	n := x.shape()[x.rank()-1]
	return g.float(g.apply(op, graph.Attrs{Eps: epsChoices[g.s.intn(len(epsChoices))]}, x), math.Sqrt(float64(n)), x.grad)
}

// genHelper draws a backward helper op as a forward op. They have no
// gradient rules, so their operands never depend on a Param.
func genHelper(g *gen, op graph.Op) *value {
	minRank := 0
	if op != graph.OpGELUGrad && op != graph.OpGELUErfGrad {
		minRank = 1
	}
	x := g.pickNoGrad(minRank)
	dy := g.exact(x.shape(), true)
	var a graph.Attrs
	n := 1.0
	if x.rank() > 0 {
		n = float64(x.shape()[x.rank()-1])
	}
	var hi float64
	switch op {
	case graph.OpSoftmaxGrad:
		a.Axis = g.s.intn(x.rank())
		n = float64(x.shape()[a.Axis])
		hi = x.hi * (dy.hi + n*dy.hi*x.hi)
	case graph.OpLogSoftmaxGrad:
		a.Axis = g.s.intn(x.rank())
		n = float64(x.shape()[a.Axis])
		x = g.squash(x, 3)
		hi = dy.hi + math.Exp(x.hi)*n*dy.hi
	case graph.OpLayerNormGrad, graph.OpRMSNormGrad:
		a.Eps = epsChoices[g.s.intn(len(epsChoices))]
		hi = dy.hi * (2 + n) / math.Sqrt(a.Eps)
	case graph.OpGELUGrad, graph.OpGELUErfGrad:
		hi = 1.2 * dy.hi
	}
	return g.float(g.apply(op, a, x, dy), hi, false)
}

// ---- losses ----

func genLoss(g *gen, op graph.Op) *value { return lossGen(g, op, false) }

// lossGen builds a loss op; scalar forces reduce mean or sum.
func lossGen(g *gen, op graph.Op, scalar bool) *value {
	reduce := []string{"mean", "sum", "none"}[g.s.intn(3)]
	if scalar && reduce == "none" {
		reduce = "mean"
	}
	a := graph.Attrs{Reduce: reduce}
	switch op {
	case graph.OpCrossEntropy:
		z := g.pickFloat(1, maxRank)
		zs := z.shape()
		c := zs[len(zs)-1]
		ts := slices.Clone(zs[:len(zs)-1])
		t := g.ids(ts, c)
		ops := []*value{z, t}
		if g.s.chance(1, 3) {
			ops = append(ops, g.mask(ts, true))
		}
		per := 2*z.hi + math.Log(float64(c))
		if reduce == "sum" {
			per *= float64(size(ts))
		}
		return g.float(g.apply(op, a, ops...), per, z.grad)
	case graph.OpBCEWithLogits:
		z := g.pickFloat(0, maxRank)
		y := g.exact(z.shape(), false)
		per := z.hi + z.hi*y.hi + 1
		if reduce == "sum" {
			per *= float64(z.size())
		}
		return g.float(g.apply(op, a, z, y), per, z.grad || y.grad)
	}
	x := g.pickFloat(0, maxRank)
	y := g.exact(x.shape(), false)
	per := (x.hi + y.hi) * (x.hi + y.hi)
	if reduce == "sum" {
		per *= float64(x.size())
	}
	return g.float(g.apply(op, a, x, y), per, x.grad || y.grad)
}

// ---- optimizer scalars, as forward ops ----

func genLRSchedule(g *gen, op graph.Op) *value {
	t := g.choose(g.filter(kFloat, func(v *value) bool { return v.rank() == 0 }))
	if t == nil {
		x := g.pickFloat(0, maxRank)
		t = g.float(g.apply(graph.OpMean, graph.Attrs{}, x), x.hi, x.grad)
	}
	t = g.positive(t)
	a := graph.Attrs{LR: 0.1 + g.r.float(), Warmup: g.s.intn(3)}
	if g.s.chance(1, 2) {
		a.Steps = a.Warmup + 1 + g.s.intn(4)
		a.LRMin = 0.01
	}
	return g.float(g.apply(op, a, t), a.LR, false)
}

func genGlobalNorm(g *gen, op graph.Op) *value {
	var xs []*value
	hi := 0.0
	for range 1 + g.s.intn(3) {
		x := g.pickFloat(0, maxRank)
		xs = append(xs, x)
		hi += float64(x.size()) * x.hi * x.hi
	}
	return g.float(g.apply(op, graph.Attrs{}, xs...), math.Sqrt(hi), false)
}

// genAttendCache attends one new position (q, k_new, v_new [..., 1, d]) over
// caches K, V [..., S, d] at a constant whole position pos < S.
func genAttendCache(g *gen, op graph.Op) *value {
	var q *value
	if v := g.choose(g.filter(kFloat, func(v *value) bool {
		s := v.shape()
		return len(s) >= 2 && s[len(s)-2] == 1
	})); v != nil && g.s.chance(1, 2) {
		q = v
	} else {
		// one query row, or (grouped-query attention) several sharing the keys
		rows := 1
		if g.s.chance(1, 3) {
			rows = 2 + g.s.intn(2)
		}
		s := g.fitLeading(append(g.randIDsShape(2), rows, g.dim()), 2)
		q = g.add(g.leaf(s))
	}
	qs := q.shape()
	batch, d := slices.Clone(qs[:len(qs)-2]), qs[len(qs)-1]
	row := append(slices.Clone(batch), 1, d)
	S := 1 + g.s.intn(maxDim)
	if size(batch)*S*d > g.cfg.MaxElems {
		S = 1
	}
	cache := append(slices.Clone(batch), S, d)
	kc, vc := g.exact(cache, false), g.exact(cache, false)
	kn, vn := g.exact(row, false), g.exact(row, false)
	pos := g.scalarConst(float64(g.s.intn(S)))
	scale := 1 / math.Sqrt(float64(d))
	if g.s.chance(1, 3) {
		scale = 0.1 + g.r.float()
	}
	for _, x := range []*value{q, kc, kn} {
		if x.hi > 10 { // keep the scores modest, as for every other softmax
			return nil
		}
	}
	return g.float(g.apply(op, graph.Attrs{Value: scale}, q, kc, vc, kn, vn, pos), math.Max(vc.hi, vn.hi), false)
}

// genIm2Col gathers the windows of a 1-D image [N, C, D] (the rank budget
// leaves room for one spatial axis) and, for Col2Im, adds them back.
func genIm2Col(g *gen, op graph.Op) *value {
	x := g.pickFloat(3, 3)
	d := x.shape()[2]
	padB, padE := g.s.intn(2), g.s.intn(2)
	k := 1 + g.s.intn(d+padB+padE)
	dil := 1
	if (k-1)*2+1 <= d+padB+padE && g.s.chance(1, 3) {
		dil = 2
	}
	stride := 1 + g.s.intn(2)
	out := (d+padB+padE-dil*(k-1)-1)/stride + 1
	a := graph.Attrs{Kernel: []int{k}, Strides: []int{stride}, Dilations: []int{dil}, Pads: []int{padB, padE}}
	if !g.fits([]int{x.shape()[0], x.shape()[1], k, out}) {
		a = graph.Attrs{Kernel: []int{1}, Strides: []int{1}, Dilations: []int{1}, Pads: []int{0, 0}}
		k = 1
	}
	fill := 0.0
	if g.s.chance(1, 3) {
		fill = -1
	}
	a.Value = fill
	cols := g.float(g.apply(graph.OpIm2Col, a, x), math.Max(x.hi, -fill), x.grad)
	if op == graph.OpIm2Col {
		return cols
	}
	b := a
	b.Value, b.Shape = 0, []int{d}
	return g.float(g.apply(graph.OpCol2Im, b, cols), math.Max(x.hi, -fill)*float64(k), x.grad)
}

// genRoPE rotates x [..., T, d] (d even) with a random theta, offset and
// pair convention, forward or inverse, sometimes at a constant position
// operand (as decoding does).
func genRoPE(g *gen, op graph.Op) *value {
	x := g.choose(g.filter(kFloat, func(v *value) bool {
		s := v.shape()
		return len(s) >= 2 && s[len(s)-1]%2 == 0
	}))
	if x == nil || g.s.chance(1, 3) {
		s := g.fitLeading(append(g.randIDsShape(2), g.dim(), 2*(1+g.s.intn(3))), 2)
		x = g.add(g.leaf(s))
	}
	a := graph.Attrs{Theta: []float64{10000, 100, 1.5}[g.s.intn(3)], Offset: g.s.intn(4),
		Interleaved: g.s.chance(1, 2), Inverse: g.s.chance(1, 3)}
	ops := []*value{x}
	if g.s.chance(1, 3) {
		ops = append(ops, g.scalarConst(float64(g.s.intn(5))))
	}
	return g.float(g.apply(op, a, ops...), 2*x.hi, x.grad)
}
