package randgraph

import (
	"math"
	"slices"

	"github.com/mlc-dev/mlc/graph"
)

// An idiom builds a pattern of several ops that models use and that the
// passes look for, which independent random draws would rarely assemble:
// a dense layer with its bias and activation (matmul epilogue fusion), an
// affine layer norm (layernorm fusion), causal attention, recomputed values
// (CSE), and the algebraic identities simplify and constfold rewrite.
type idiom struct {
	name   string
	weight int
	ops    []graph.Op // ops it builds: it is skipped when one is excluded
	gen    func(g *gen) *value
}

var idioms = []idiom{
	{"dense", 6, []graph.Op{graph.OpMatMul, graph.OpAdd}, genDense},
	{"layernorm-affine", 3, []graph.Op{graph.OpLayerNorm, graph.OpMul, graph.OpAdd}, genLayerNormAffine},
	{"attention", 3, []graph.Op{graph.OpMatMul, graph.OpMul, graph.OpSoftmax}, genAttention},
	{"recompute", 4, nil, genRecompute},
	{"identity", 8, nil, genIdentity},
}

// genDense is act(x·W + b): W [k, n] (stored [n, k] and used transposed
// sometimes), b a row of distinct random values, act one of ReLU, GELU,
// tanh, σ or none. The bias makes the activation's argument tie-free.
func genDense(g *gen) *value {
	x := g.pickFloat(2, maxRank)
	xs := x.shape()
	k := xs[len(xs)-1]
	n := g.dim()
	if size(xs)/k*n > g.cfg.MaxElems || k*n > g.cfg.MaxElems {
		n = 1
	}
	tb := g.s.chance(1, 3)
	ws := []int{k, n}
	if tb {
		ws = []int{n, k}
	}
	w := g.exact(ws, false)
	y := g.float(g.apply(graph.OpMatMul, graph.Attrs{TransB: tb}, x, w), float64(k)*x.hi*w.hi, x.grad || w.grad)
	if g.s.chance(1, 6) {
		return y
	}
	var b *value
	if g.nParam < maxParams && g.s.chance(3, 4) {
		b = g.add(g.param([]int{n}))
	} else {
		b = g.add(g.dataConst([]int{n}, g.genericData(n), true))
	}
	z := g.float(g.apply(graph.OpAdd, graph.Attrs{}, y, b), y.hi+b.hi, y.grad || b.grad)
	acts := []graph.Op{graph.OpReLU, graph.OpGELU, graph.OpTanh, graph.OpSigmoid, graph.OpInvalid}
	switch act := acts[g.s.intn(len(acts))]; {
	case act == graph.OpInvalid || g.excluded[act]:
		return z
	case act == graph.OpTanh || act == graph.OpSigmoid:
		return g.float(g.apply(act, graph.Attrs{}, z), 1, z.grad)
	default:
		return g.float(g.apply(act, graph.Attrs{}, z), z.hi, z.grad)
	}
}

// genLayerNormAffine is LayerNorm(x) ⊙ γ + β with γ, β rows [d] or [1,…,d]
// (sometimes operands swapped, sometimes β dropped).
func genLayerNormAffine(g *gen) *value {
	x := g.pickFloat(1, maxRank)
	xs := x.shape()
	d := xs[len(xs)-1]
	row := func() []int {
		s := []int{d}
		for len(s) < len(xs) && g.s.chance(1, 3) {
			s = append([]int{1}, s...)
		}
		return s
	}
	eps := epsChoices[g.s.intn(len(epsChoices))]
	ln := g.float(g.apply(graph.OpLayerNorm, graph.Attrs{Eps: eps}, x), math.Sqrt(float64(d)), x.grad)
	gamma := g.exact(row(), false)
	a, b := ln, gamma
	if g.s.chance(1, 3) {
		a, b = b, a
	}
	y := g.float(g.apply(graph.OpMul, graph.Attrs{}, a, b), ln.hi*gamma.hi, ln.grad || gamma.grad)
	if g.s.chance(1, 5) {
		return y
	}
	beta := g.exact(row(), false)
	a, b = y, beta
	if g.s.chance(1, 3) {
		a, b = b, a
	}
	return g.float(g.apply(graph.OpAdd, graph.Attrs{}, a, b), y.hi+beta.hi, y.grad || beta.grad)
}

// genAttention is softmax(q·kᵀ/√d [masked causally]) · v, batched or not,
// k and v sometimes shared by groups of query matrices.
func genAttention(g *gen) *value {
	T, S, d, dv := g.dim(), g.dim(), g.dim(), g.dim()
	var batch []int
	if g.s.chance(1, 2) {
		batch = []int{1 + g.s.intn(3)}
	}
	// Sometimes grouped-query: k and v [..., 1, S, d] shared by a group of
	// query matrices [..., G, T, d].
	kvBatch := batch
	if g.s.chance(1, 3) {
		kvBatch = append(slices.Clone(batch), 1)
		batch = append(slices.Clone(batch), 2+g.s.intn(2))
	}
	shape := func(a, b int) []int { return append(slices.Clone(batch), a, b) }
	kvShape := func(a, b int) []int { return append(slices.Clone(kvBatch), a, b) }
	if size(shape(T, max(S, d, dv))) > g.cfg.MaxElems {
		batch, kvBatch = nil, nil
	}
	q, k, v := g.exact(shape(T, d), false), g.exact(kvShape(S, d), false), g.exact(kvShape(S, dv), false)
	var scores *value
	if g.s.chance(1, 2) {
		scores = g.float(g.apply(graph.OpMatMul, graph.Attrs{TransB: true}, q, k), float64(d)*q.hi*k.hi, q.grad || k.grad)
	} else {
		perm := make([]int, len(batch)+2)
		for i := range perm {
			perm[i] = i
		}
		perm[len(perm)-1], perm[len(perm)-2] = perm[len(perm)-2], perm[len(perm)-1]
		kt := moved(k, &value{t: g.apply(graph.OpTranspose, graph.Attrs{Perm: perm}, k)})
		scores = g.float(g.apply(graph.OpMatMul, graph.Attrs{}, q, kt), float64(d)*q.hi*k.hi, q.grad || k.grad)
	}
	scores = g.scale(scores, 1/math.Sqrt(float64(d)))
	scores = g.squash(scores, 30)
	if T <= S && g.s.chance(1, 2) {
		node, err := g.b.Graph().Leaf(graph.OpCausalMask, "", graph.T(graph.Bool, T, S), graph.Attrs{Shape: []int{T, S}})
		if err != nil {
			panic(err)
		}
		m := &value{t: wrapNode(g, node), kind: kMask}
		scores = g.float(g.apply(graph.OpWhere, graph.Attrs{}, m, scores, g.scalarConst(math.Inf(-1))), math.Inf(1), scores.grad)
	}
	p := g.float(g.apply(graph.OpSoftmax, graph.Attrs{Axis: len(batch) + 1}, scores), 1, scores.grad)
	return g.float(g.apply(graph.OpMatMul, graph.Attrs{}, p, v), float64(S)*v.hi, p.grad || v.grad)
}

// genRecompute builds an existing value's op again over the same operands:
// CSE merges the two.
func genRecompute(g *gen) *value {
	var cands []*value
	for _, v := range g.pool {
		n := v.node()
		if !n.Op.Info().Has(graph.Leaf) && !g.excluded[n.Op] && n.Op != graph.OpDropoutMask {
			cands = append(cands, v)
		}
	}
	v := g.choose(cands)
	if v == nil {
		return nil
	}
	n := v.node()
	xs := make([]*value, len(n.Inputs))
	for i, x := range n.Inputs {
		xs[i] = &value{t: wrapNode(g, x)}
	}
	out := *v
	out.t = g.apply(n.Op, n.Attrs.Clone(), xs...)
	out.leaf = false // equal to v: never treat the two as independent
	return &out
}

// genIdentity builds one of the identities the simplifier and the constant
// folder rewrite: x·1, 1·x, x+0, x−0, x/1, −(−x), exp(log x), log(exp x),
// transposes and reshapes of transposes and reshapes, broadcasts of
// constants, explicit broadcasts that could be implicit, scales of scales,
// constant arithmetic, Σ with keepdims reshaped, and matmul of a transpose.
func genIdentity(g *gen) *value {
	x := g.pickFloat(0, maxRank)
	xs := x.shape()
	same := func(v float64) *value { // a constant v: scalar, full-shape, or data
		switch g.s.intn(3) {
		case 0:
			return g.scalarConst(v)
		case 1:
			return &value{t: g.b.Const(v, xs...), kind: kFloat, hi: math.Abs(v), lo: math.Max(v, 0)}
		}
		return g.dataConst(xs, slices.Repeat([]float64{v}, size(xs)), false)
	}
	bin := func(op graph.Op, a, b *value, hi float64) *value {
		return g.float(g.apply(op, graph.Attrs{}, a, b), hi, a.grad || b.grad)
	}
	switch g.s.intn(14) {
	case 0:
		if g.s.chance(1, 2) {
			return bin(graph.OpMul, x, same(1), x.hi)
		}
		return bin(graph.OpMul, same(1), x, x.hi)
	case 1:
		if g.s.chance(1, 3) {
			return bin(graph.OpSub, x, same(0), x.hi)
		}
		if g.s.chance(1, 2) {
			return bin(graph.OpAdd, x, same(0), x.hi)
		}
		return bin(graph.OpAdd, same(0), x, x.hi)
	case 2:
		return bin(graph.OpDiv, x, same(1), x.hi)
	case 3:
		n := g.float(g.apply(graph.OpNeg, graph.Attrs{}, x), x.hi, x.grad)
		return g.float(g.apply(graph.OpNeg, graph.Attrs{}, n), x.hi, x.grad)
	case 4:
		p := g.positive(x)
		l := g.float(g.apply(graph.OpLog, graph.Attrs{}, p), math.Max(math.Abs(math.Log(p.lo)), math.Abs(math.Log(p.hi))), p.grad)
		out := g.float(g.apply(graph.OpExp, graph.Attrs{}, l), p.hi, p.grad)
		out.lo = p.lo
		return out
	case 5:
		s := g.squash(x, 4)
		e := g.float(g.apply(graph.OpExp, graph.Attrs{}, s), math.Exp(s.hi), s.grad)
		return g.float(g.apply(graph.OpLog, graph.Attrs{}, e), s.hi, s.grad)
	case 6:
		perm := func() []int {
			p := make([]int, len(xs))
			for i := range p {
				p[i] = i
			}
			if len(p) >= 2 && g.s.chance(1, 2) {
				p[len(p)-1], p[len(p)-2] = p[len(p)-2], p[len(p)-1]
				return p
			}
			for i := len(p) - 1; i > 0; i-- {
				j := g.s.intn(i + 1)
				p[i], p[j] = p[j], p[i]
			}
			return p
		}
		p1 := perm()
		t := moved(x, &value{t: g.apply(graph.OpTranspose, graph.Attrs{Perm: p1}, x)})
		p2 := perm()
		if g.s.chance(1, 2) {
			for i, a := range p1 { // the inverse: the two cancel
				p2[a] = i
			}
		}
		return moved(x, &value{t: g.apply(graph.OpTranspose, graph.Attrs{Perm: p2}, t)})
	case 7:
		r := moved(x, &value{t: g.apply(graph.OpReshape, graph.Attrs{Shape: g.reshapeTarget(size(xs))}, x)})
		target := g.reshapeTarget(size(xs))
		if g.s.chance(1, 3) {
			target = slices.Clone(xs)
		}
		return moved(x, &value{t: g.apply(graph.OpReshape, graph.Attrs{Shape: target}, r)})
	case 8:
		// x ⊙ broadcast(c): a broadcast constant, or an explicit broadcast of a value.
		var y *value
		if g.s.chance(1, 2) {
			c := []float64{2, 0.5, -1, 3}[g.s.intn(4)]
			y = g.scalarConst(c)
		} else {
			y = g.into(xs)
		}
		b := moved(y, &value{t: g.apply(graph.OpBroadcastTo, graph.Attrs{Shape: slices.Clone(xs)}, y)})
		op := []graph.Op{graph.OpMul, graph.OpAdd, graph.OpSub}[g.s.intn(3)]
		hi := x.hi + b.hi
		if op == graph.OpMul {
			hi = x.hi * b.hi
		}
		if g.s.chance(1, 2) {
			return bin(op, b, x, hi)
		}
		return bin(op, x, b, hi)
	case 9:
		c1, c2 := 0.5+g.r.float(), 0.5+g.r.float()
		return g.scale(g.scale(x, c1), c2)
	case 10:
		c1, c2 := g.scalarConst(0.5+g.r.float()), g.scalarConst(0.5+g.r.float())
		op := []graph.Op{graph.OpAdd, graph.OpMul, graph.OpSub, graph.OpDiv, graph.OpMaximum}[g.s.intn(5)]
		c := g.float(g.apply(op, graph.Attrs{}, c1, c2), 4, false)
		if op == graph.OpSub {
			c.hi = 1
		}
		return bin(graph.OpMul, x, c, x.hi*c.hi)
	case 12:
		// Constant arithmetic on a broadcast constant: simplify turns the
		// broadcast into a constant after constfold has run, so the op is
		// left with two constant operands (whole numbers, as in 1 / 2).
		c1 := g.scalarConst([]float64{1, 2, 3, -1}[g.s.intn(4)])
		b := moved(c1, &value{t: g.apply(graph.OpBroadcastTo, graph.Attrs{Shape: slices.Clone(xs)}, c1)})
		c2 := g.scalarConst([]float64{2, 3, 4}[g.s.intn(3)])
		op := []graph.Op{graph.OpDiv, graph.OpSub, graph.OpMul, graph.OpAdd, graph.OpMaximum, graph.OpMinimum}[g.s.intn(6)]
		if g.excluded[op] || g.excluded[graph.OpBroadcastTo] {
			return nil
		}
		a, bb := b, c2
		if op != graph.OpDiv && g.s.chance(1, 2) {
			a, bb = bb, a
		}
		c := bin(op, a, bb, 8)
		if g.s.chance(1, 3) {
			return c // on its own: any op, fused or not, may read it
		}
		return bin(graph.OpMul, x, c, x.hi*8)
	case 11:
		if len(xs) == 0 {
			return nil
		}
		axes := g.axes(len(xs), true)
		s := g.float(g.apply(graph.OpSum, graph.Attrs{Axes: axes, KeepDims: true}, x), x.hi*float64(size(xs)), x.grad)
		return g.float(g.apply(graph.OpReshape, graph.Attrs{Shape: graph.ReducedShape(xs, axes, false)}, s), s.hi, s.grad)
	}
	// MatMul of an explicit transpose of the last two axes.
	a := g.pickFloat(2, maxRank)
	as := a.shape()
	perm := make([]int, len(as))
	for i := range perm {
		perm[i] = i
	}
	perm[len(perm)-1], perm[len(perm)-2] = perm[len(perm)-2], perm[len(perm)-1]
	at := moved(a, &value{t: g.apply(graph.OpTranspose, graph.Attrs{Perm: perm}, a)})
	m, k := as[len(as)-1], as[len(as)-2]
	n := g.dim()
	if size(as)/(m*k)*m*n > g.cfg.MaxElems || k*n > g.cfg.MaxElems {
		n = 1
	}
	b := g.exact([]int{k, n}, false)
	return g.float(g.apply(graph.OpMatMul, graph.Attrs{}, at, b), float64(k)*a.hi*b.hi, a.grad || b.grad)
}
