package randgraph

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/passes"
)

// kind is what a value holds.
type kind uint8

const (
	kFloat kind = iota
	kMask       // bool
	kIDs        // i32, within [0, limit)
)

// value is a tensor in the graph being built, with what the generator knows
// about its numbers.
type value struct {
	t     *dsl.Tensor
	kind  kind
	hi    float64 // every element has |x| ≤ hi
	lo    float64 // when > 0, every element is ≥ lo
	grad  bool    // depends on a Param through differentiable ops
	leaf  bool    // a Param, Input or Const leaf (or a jittered value) of distinct random numbers
	limit int     // kIDs: every id is in [0, limit)
}

func (v *value) node() *graph.Node { return v.t.Node() }
func (v *value) shape() []int      { return v.node().Type.Shape }
func (v *value) rank() int         { return len(v.shape()) }
func (v *value) size() int         { return graph.Shape(v.shape()).Size() }

// generic: distinct, non-zero, continuous random numbers (a leaf of random
// data, or x + J): ties with anything built without it have probability 0.
func (v *value) generic() bool { return v.leaf }

type gen struct {
	b    *dsl.Builder
	s    *stream   // structural decisions
	r    *splitmix // numbers
	cfg  Config
	pool []*value
	used map[*value]bool
	step int

	nParam, nInput, nState int
	names                  map[string]bool // variable and input names taken
	inputs                 map[string]Tensor
	optimizer              passes.OptimizerConfig
	l2                     float64
	excluded               map[graph.Op]bool
}

const (
	maxRank   = 4
	maxDim    = 5
	maxParams = 6
	bigValue  = 1e3 // values that may exceed this are scaled down
)

func newGen(data []byte, cfg Config, b *dsl.Builder) *gen {
	cfg = cfg.withDefaults()
	h := fnv.New64a()
	h.Write(data)
	var salt [8]byte
	binary.LittleEndian.PutUint64(salt[:], 0x6d6c632d76616c73) // "mlc-vals"
	h.Write(salt[:])
	g := &gen{b: b, s: newStream(data), r: &splitmix{state: h.Sum64()}, cfg: cfg,
		used: map[*value]bool{}, names: map[string]bool{}, inputs: map[string]Tensor{}, excluded: map[graph.Op]bool{}}
	for _, op := range cfg.Exclude {
		g.excluded[op] = true
	}
	return g
}

// run builds the whole model.
func (g *gen) run() {
	for range 1 + g.s.intn(3) {
		g.add(g.param(g.randShape(0)))
	}
	// The draws: every op of opGens not excluded, and the idioms whose ops
	// are all allowed.
	type draw struct {
		weight int
		gen    func() *value
	}
	var draws []draw
	total := 0
	for _, o := range opGens {
		if !g.excluded[o.op] {
			draws = append(draws, draw{o.weight, func() *value { return o.gen(g, o.op) }})
			total += o.weight
		}
	}
	for _, id := range idioms {
		if !slices.ContainsFunc(id.ops, func(op graph.Op) bool { return g.excluded[op] }) {
			draws = append(draws, draw{id.weight, func() *value { return id.gen(g) }})
			total += id.weight
		}
	}
	nops := 3 + g.s.intn(g.cfg.MaxOps-2)
	for g.step = 0; g.step < nops; g.step++ {
		for attempt := 0; attempt < 8; attempt++ {
			k := g.s.intn(total)
			i := 0
			for k >= draws[i].weight {
				k -= draws[i].weight
				i++
			}
			if v := draws[i].gen(); v != nil {
				g.add(v)
				break
			}
		}
	}
	g.outputs()
	g.loss()
	g.chooseOptimizer()
}

// add puts a value in the pool, scaling it down first if it may be large.
func (g *gen) add(v *value) *value {
	if v.kind == kFloat && v.hi > bigValue {
		v = g.scale(v, (0.5+0.5*g.r.float())/v.hi)
	}
	g.pool = append(g.pool, v)
	return v
}

// ---- building nodes ----

// apply builds op over the operands on the graph directly, so every
// attribute is under the generator's control. A shape error is a generator
// bug: it panics, and dsl.Build reports the panic.
func (g *gen) apply(op graph.Op, attrs graph.Attrs, xs ...*value) *dsl.Tensor {
	ns := make([]*graph.Node, len(xs))
	for i, x := range xs {
		ns[i] = x.node()
		g.used[x] = true
	}
	n, err := g.b.Graph().Apply(op, attrs, ns...)
	if err != nil {
		panic(fmt.Sprintf("randgraph: step %d built an invalid node: %v", g.step, err))
	}
	n.Pos = graph.Pos{File: "randgraph", Line: g.step + 1}
	return dsl.Wrap(g.b, n)
}

func wrapNode(g *gen, n *graph.Node) *dsl.Tensor { return dsl.Wrap(g.b, n) }

func (g *gen) float(t *dsl.Tensor, hi float64, grad bool) *value {
	return &value{t: t, kind: kFloat, hi: hi, grad: grad}
}

// scalarConst is an f64 constant of shape [].
func (g *gen) scalarConst(v float64) *value {
	lo := 0.0
	if v > 0 {
		lo = v
	}
	return &value{t: g.b.Const(v), kind: kFloat, hi: math.Abs(v), lo: lo}
}

func (g *gen) scale(v *value, c float64) *value {
	out := g.float(g.apply(graph.OpMul, graph.Attrs{}, v, g.scalarConst(c)), v.hi*math.Abs(c), v.grad)
	if c > 0 {
		out.lo = v.lo * c
	}
	return out
}

func (g *gen) addConst(v *value, c float64) *value {
	out := g.float(g.apply(graph.OpAdd, graph.Attrs{}, v, g.scalarConst(c)), v.hi+math.Abs(c), v.grad)
	if v.lo > 0 && c > 0 {
		out.lo = v.lo + c
	}
	return out
}

// genericData is n distinct random numbers with 0.1 ≤ |x| ≤ 1.5.
func (g *gen) genericData(n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		x := 0.1 + 1.4*g.r.float()
		if g.r.next()&1 == 0 {
			x = -x
		}
		d[i] = x
	}
	return d
}

func bounds(d []float64) (hi, lo float64) {
	lo = math.Inf(1)
	for _, x := range d {
		hi = math.Max(hi, math.Abs(x))
		lo = math.Min(lo, x)
	}
	if !(lo > 0) {
		lo = 0
	}
	return hi, lo
}

// ---- shapes ----

func size(s []int) int { return graph.Shape(s).Size() }

func (g *gen) dim() int {
	// 1 often (broadcasting), else up to maxDim.
	if g.s.chance(1, 4) {
		return 1
	}
	return 1 + g.s.intn(maxDim)
}

// randShape is a random shape of rank ≥ minRank within the element budget.
func (g *gen) randShape(minRank int) []int {
	r := minRank + g.s.intn(maxRank-minRank+1)
	s := make([]int, r)
	for i := range s {
		s[i] = g.dim()
	}
	for size(s) > g.cfg.MaxElems {
		s[g.s.intn(r)] = 1
	}
	return s
}

func (g *gen) fits(s []int) bool { return len(s) <= maxRank && size(s) <= g.cfg.MaxElems }

// fitLeading brings s within the element budget by setting its leading
// dimensions (all but the last keep) to 1, one at a time.
func (g *gen) fitLeading(s []int, keep int) []int {
	for i := 0; i < len(s)-keep && size(s) > g.cfg.MaxElems; i++ {
		s[i] = 1
	}
	return s
}

// partnerShape is a shape that broadcasts with s, and whose broadcast with s
// fits the budget: s itself, s with some axes 1, s without leading axes, a
// scalar, s with its 1s expanded, or s with more leading axes.
func (g *gen) partnerShape(s []int) []int {
	r := len(s)
	out := slices.Clone(s)
	switch g.s.intn(8) {
	case 0, 1, 2:
	case 3:
		for i := range out {
			if g.s.chance(1, 2) {
				out[i] = 1
			}
		}
	case 4:
		if r > 0 {
			out = out[1+g.s.intn(r):]
			for i := range out {
				if g.s.chance(1, 4) {
					out[i] = 1
				}
			}
		}
	case 5:
		out = []int{}
	case 6:
		for i, d := range out {
			if d == 1 && g.s.chance(2, 3) {
				out[i] = 1 + g.s.intn(maxDim)
			}
		}
	case 7:
		for len(out) < maxRank && g.s.chance(2, 3) {
			out = append([]int{g.dim()}, out...)
		}
	}
	if bs, ok := graph.BroadcastShapes(s, out); !ok || !g.fits(bs) {
		return slices.Clone(s)
	}
	return out
}

// ---- picking operands ----

// choose picks from vs, favouring the most recent (chains grow deep).
func (g *gen) choose(vs []*value) *value {
	if len(vs) == 0 {
		return nil
	}
	if g.s.chance(1, 2) {
		return vs[len(vs)-1-g.s.intn(min(3, len(vs)))]
	}
	return vs[g.s.intn(len(vs))]
}

func (g *gen) filter(k kind, ok func(v *value) bool) []*value {
	var out []*value
	for _, v := range g.pool {
		if v.kind == k && (ok == nil || ok(v)) {
			out = append(out, v)
		}
	}
	return out
}

// pickFloat picks a float value of rank in [minRank, maxR], or makes a leaf.
func (g *gen) pickFloat(minRank, maxR int) *value {
	if v := g.choose(g.filter(kFloat, func(v *value) bool { return v.rank() >= minRank && v.rank() <= maxR })); v != nil && !g.s.chance(1, 10) {
		return v
	}
	s := g.randShape(minRank)
	for len(s) > maxR {
		s = s[1:]
	}
	return g.add(g.leaf(s))
}

// pickNoGrad picks a float value that does not depend on a Param, or makes one.
func (g *gen) pickNoGrad(minRank int) *value {
	if v := g.choose(g.filter(kFloat, func(v *value) bool { return !v.grad && v.rank() >= minRank })); v != nil && g.s.chance(2, 3) {
		return v
	}
	return g.add(g.leafNoGrad(g.randShape(minRank)))
}

// partner picks or makes a float value that broadcasts with a.
func (g *gen) partner(a *value) *value {
	if g.s.chance(1, 2) {
		cands := g.filter(kFloat, func(v *value) bool {
			bs, ok := graph.BroadcastShapes(a.shape(), v.shape())
			return ok && g.fits(bs)
		})
		if v := g.choose(cands); v != nil {
			return v
		}
	}
	return g.add(g.leaf(g.partnerShape(a.shape())))
}

// shrinkShape is a shape that broadcasts into s: s with some axes 1 and
// perhaps without leading axes.
func (g *gen) shrinkShape(s []int) []int {
	out := slices.Clone(s)
	for i := range out {
		if g.s.chance(1, 3) {
			out[i] = 1
		}
	}
	if len(out) > 0 && g.s.chance(1, 4) {
		out = out[1+g.s.intn(len(out)):]
	}
	return out
}

// into picks or makes a float value that broadcasts into shape s.
func (g *gen) into(s []int) *value {
	if g.s.chance(1, 2) {
		cands := g.filter(kFloat, func(v *value) bool { return graph.CanBroadcastTo(v.shape(), s) })
		if v := g.choose(cands); v != nil {
			return v
		}
	}
	return g.add(g.leaf(g.shrinkShape(s)))
}

// exact picks or makes a float value of exactly shape s.
func (g *gen) exact(s []int, noGrad bool) *value {
	if g.s.chance(1, 2) {
		cands := g.filter(kFloat, func(v *value) bool { return graph.Shape(v.shape()).Equal(s) && (!noGrad || !v.grad) })
		if v := g.choose(cands); v != nil {
			return v
		}
	}
	if noGrad {
		return g.add(g.leafNoGrad(s))
	}
	return g.add(g.leaf(s))
}

// ---- leaves ----

// trickyNames are names a model may well use that are also identifiers the
// generated code declares itself (receiver, loop and scratch variables,
// kernels, the names of gradients and temporaries): codegen must keep them
// apart.
var trickyNames = []string{"m", "i", "j", "s", "g", "v", "p", "t", "lr", "bc1", "bc2", "err", "math", "len", "copy",
	"max", "arena", "params", "grads", "state", "pool", "New", "Model", "Tensor", "loss", "dp0", "dx0", "t3", "t12",
	"i4", "y0", "W", "b", "layer.w", "layer_w", "layer.0.bias", "x.y", "sigmoid", "gelu", "where", "Predict"}

// name is a variable's or input's name: usually prefix<k>, sometimes a
// tricky one; never one taken before.
func (g *gen) name(prefix string, k int) string {
	name := fmt.Sprintf("%s%d", prefix, k)
	if g.s.chance(1, 5) {
		name = trickyNames[g.s.intn(len(trickyNames))]
	}
	for g.names[name] {
		name += "x"
	}
	g.names[name] = true
	return name
}

func (g *gen) leaf(s []int) *value {
	if !g.fits(s) {
		panic(fmt.Sprintf("randgraph: step %d: leaf shape %v is over the budget", g.step, s))
	}
	switch k := g.s.intn(12); {
	case k < 5 && g.nParam < maxParams:
		return g.param(s)
	case k < 8:
		return g.input(s)
	case k < 11:
		return g.constant(s)
	default:
		return g.state(s)
	}
}

func (g *gen) leafNoGrad(s []int) *value {
	if g.s.chance(1, 2) {
		return g.input(s)
	}
	return g.constant(s)
}

func (g *gen) param(s []int) *value {
	d := g.genericData(size(s))
	name := g.name("p", g.nParam)
	g.nParam++
	hi, lo := bounds(d)
	return &value{t: g.b.Param(name, dsl.Values(d...), s...), kind: kFloat, hi: hi, lo: lo, grad: true, leaf: true}
}

func (g *gen) input(s []int) *value {
	d := g.genericData(size(s))
	name := g.name("x", g.nInput)
	g.nInput++
	g.inputs[name] = Tensor{DType: graph.F64, Shape: slices.Clone(s), Data: d}
	hi, lo := bounds(d)
	return &value{t: g.b.Input(name, s...), kind: kFloat, hi: hi, lo: lo, leaf: true}
}

func (g *gen) state(s []int) *value {
	v := []float64{0, 1, -0.5, 2}[g.s.intn(4)]
	name := g.name("s", g.nState)
	g.nState++
	lo := 0.0
	if v > 0 {
		lo = v
	}
	return &value{t: g.b.State(name, v, s...), kind: kFloat, hi: math.Abs(v), lo: lo}
}

// constant is a uniform constant (by value, or by data whose elements are
// all equal), random data, or small integers.
func (g *gen) constant(s []int) *value {
	n := size(s)
	switch g.s.intn(5) {
	case 0, 1:
		v := []float64{0, 1, -1, 0.5, 2, -0.25, 3}[g.s.intn(7)]
		if g.s.chance(1, 3) {
			return g.dataConst(s, slices.Repeat([]float64{v}, n), false)
		}
		lo := 0.0
		if v > 0 {
			lo = v
		}
		return &value{t: g.b.Const(v, s...), kind: kFloat, hi: math.Abs(v), lo: lo}
	case 2:
		d := make([]float64, n)
		for i := range d {
			d[i] = float64(int(g.r.next()%5) - 2)
		}
		return g.dataConst(s, d, false)
	}
	return g.dataConst(s, g.genericData(n), true)
}

func (g *gen) dataConst(s []int, d []float64, generic bool) *value {
	hi, lo := bounds(d)
	return &value{t: g.b.ConstValues(d, s...), kind: kFloat, hi: hi, lo: lo, leaf: generic}
}

// ids is an i32 value of shape s with every id in [0, limit), limit ≤ max:
// an ArgMax result or other ids from the pool, a constant, or an input.
func (g *gen) ids(s []int, max int) *value {
	if g.s.chance(1, 2) {
		cands := g.filter(kIDs, func(v *value) bool { return v.limit <= max && graph.Shape(v.shape()).Equal(s) })
		if v := g.choose(cands); v != nil {
			return v
		}
	}
	limit := 1 + g.s.intn(max)
	d := make([]float64, size(s))
	for i := range d {
		d[i] = float64(g.r.next() % uint64(limit))
	}
	if g.s.chance(1, 3) {
		name := g.name("x", g.nInput)
		g.nInput++
		g.inputs[name] = Tensor{DType: graph.I32, Shape: slices.Clone(s), Data: d}
		return g.add(&value{t: g.b.InputIDs(name, s...), kind: kIDs, limit: limit})
	}
	ints := make([]int, len(d))
	for i, x := range d {
		ints[i] = int(x)
	}
	return g.add(&value{t: g.b.ConstIDs(ints, s...), kind: kIDs, limit: limit})
}

// randIDsShape is a shape of rank ≤ maxR for ids.
func (g *gen) randIDsShape(maxR int) []int {
	s := make([]int, g.s.intn(maxR+1))
	for i := range s {
		s[i] = g.dim()
	}
	return s
}

// mask is a bool value that broadcasts into shape s (exactly s when exact).
func (g *gen) mask(s []int, exact bool) *value {
	if g.s.chance(1, 2) {
		cands := g.filter(kMask, func(v *value) bool {
			if exact {
				return graph.Shape(v.shape()).Equal(s)
			}
			return graph.CanBroadcastTo(v.shape(), s)
		})
		if v := g.choose(cands); v != nil {
			return v
		}
	}
	ms := slices.Clone(s)
	if !exact && g.s.chance(1, 2) {
		ms = g.shrinkShape(s)
	}
	switch g.s.intn(5) {
	case 0:
		if r := len(ms); r == 2 && ms[0] <= ms[1] {
			n, err := g.b.Graph().Leaf(graph.OpCausalMask, "", graph.T(graph.Bool, ms...), graph.Attrs{Shape: slices.Clone(ms)})
			if err != nil {
				panic(fmt.Sprintf("randgraph: causal mask %v: %v", ms, err))
			}
			return g.add(&value{t: dsl.Wrap(g.b, n), kind: kMask})
		}
		fallthrough
	case 1:
		d := g.bits(size(ms))
		name := g.name("x", g.nInput)
		g.nInput++
		g.inputs[name] = Tensor{DType: graph.Bool, Shape: slices.Clone(ms), Data: d}
		return g.add(&value{t: g.b.InputMask(name, ms...), kind: kMask})
	case 2:
		n, err := g.b.Graph().Leaf(graph.OpConst, "", graph.T(graph.Bool, ms...), graph.Attrs{Data: g.bits(size(ms))})
		if err != nil {
			panic(fmt.Sprintf("randgraph: bool constant %v: %v", ms, err))
		}
		return g.add(&value{t: dsl.Wrap(g.b, n), kind: kMask})
	}
	// A comparison of a fresh leaf of distinct values with 0 or with another value.
	a := g.add(g.leaf(ms))
	var b *value
	if g.s.chance(1, 2) {
		b = g.scalarConst(0)
	} else {
		b = g.into(ms)
		a = g.jitter(a)
	}
	op := []graph.Op{graph.OpLess, graph.OpGreater, graph.OpLessEqual, graph.OpGreaterEqual}[g.s.intn(4)]
	return g.add(&value{t: g.apply(op, graph.Attrs{}, a, b), kind: kMask})
}

func (g *gen) bits(n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = float64(g.r.next() & 1)
	}
	return d
}

// ---- keeping values in safe domains ----

// jitter is v + J, J a constant of distinct random values of v's shape:
// structural ties in v (equal elements, zeros) become gaps of order 0.1.
func (g *gen) jitter(v *value) *value {
	j := g.dataConst(v.shape(), g.genericData(v.size()), true)
	out := g.float(g.apply(graph.OpAdd, graph.Attrs{}, v, j), v.hi+j.hi, v.grad)
	out.leaf = true
	return out
}

// tieSafe returns v when it is a leaf of distinct random values, else v
// jittered: the operand of an op whose derivative jumps where values tie.
func (g *gen) tieSafe(v *value) *value {
	if v.generic() && g.s.chance(1, 2) {
		return v
	}
	return g.jitter(v)
}

// squash brings v to magnitude ≤ limit, by tanh or a constant scale.
func (g *gen) squash(v *value, limit float64) *value {
	if v.hi <= limit {
		return v
	}
	if limit >= 1 && g.s.chance(1, 2) {
		return g.float(g.apply(graph.OpTanh, graph.Attrs{}, v), 1, v.grad)
	}
	return g.scale(v, limit*(0.5+0.5*g.r.float())/v.hi)
}

// positive returns a value ≥ 0.1 derived from v (v itself when it is):
// σ(v)+c, v²+c, exp(v) with |v| ≤ 2, |v|+c or softmax(v)+c, c ≥ 0.25.
func (g *gen) positive(v *value) *value {
	if v.lo >= 0.1 && g.s.chance(2, 3) {
		return v
	}
	c := []float64{0.25, 0.5, 1}[g.s.intn(3)]
	var nonneg *value // a value ≥ 0, to which c is added
	switch g.s.intn(5) {
	case 0:
		nonneg = g.float(g.apply(graph.OpSigmoid, graph.Attrs{}, v), 1, v.grad)
	case 1:
		nonneg = g.float(g.apply(graph.OpMul, graph.Attrs{}, v, v), v.hi*v.hi, v.grad)
	case 2:
		s := g.squash(v, 2)
		out := g.float(g.apply(graph.OpExp, graph.Attrs{}, s), math.Exp(s.hi), v.grad)
		out.lo = math.Exp(-s.hi)
		return out
	case 3:
		t := g.tieSafe(v)
		nonneg = g.float(g.apply(graph.OpAbs, graph.Attrs{}, t), t.hi, v.grad)
	default:
		if v.rank() == 0 {
			nonneg = g.float(g.apply(graph.OpSigmoid, graph.Attrs{}, v), 1, v.grad)
		} else {
			nonneg = g.float(g.apply(graph.OpSoftmax, graph.Attrs{Axis: g.s.intn(v.rank())}, v), 1, v.grad)
		}
	}
	out := g.addConst(nonneg, c)
	out.lo = c
	return out
}

// ---- the end of the model ----

// outputs declares one to three outputs.
func (g *gen) outputs() {
	n := 1 + g.s.intn(3)
	for i := range n {
		var v *value
		switch k := g.s.intn(20); {
		case k == 0:
			v = g.choose(g.filter(kMask, nil))
		case k == 1:
			v = g.choose(g.filter(kIDs, nil))
		case k == 2:
			v = g.choose(g.filter(kFloat, func(v *value) bool { return v.node().Op == graph.OpParam }))
		}
		if v == nil {
			if sinks := g.sinks(); len(sinks) > 0 && g.s.chance(2, 3) {
				v = g.choose(sinks)
			} else {
				v = g.choose(g.filter(kFloat, nil))
			}
		}
		g.used[v] = true
		name := fmt.Sprintf("y%d", i)
		if g.s.chance(1, 5) {
			name = []string{"logits", "loss", "m", "err", "out.1", "Predict", "p0", "x0"}[g.s.intn(8)] + fmt.Sprint(i)
		}
		g.b.Output(name, v.t)
	}
}

// sinks are the float values nothing has used yet.
func (g *gen) sinks() []*value {
	return g.filter(kFloat, func(v *value) bool { return !g.used[v] })
}

// loss declares the scalar loss: Σ(v ⊙ W) (or Σv) over up to four unused
// values (W fixed random weights), at least one of them depending on a Param,
// plus sometimes a CrossEntropy, BCEWithLogits or MSE term.
func (g *gen) loss() {
	if g.s.chance(1, 60) {
		// The loss is a scalar Param itself: its gradient is the seed.
		p := g.param(nil)
		g.b.Loss(p.t)
		return
	}
	var terms []*value
	sinks := g.sinks()
	if len(sinks) > 4 {
		sinks = sinks[len(sinks)-4:]
	}
	hasGrad := false
	for _, v := range sinks {
		hasGrad = hasGrad || v.grad
	}
	if !hasGrad {
		if v := g.choose(g.filter(kFloat, func(v *value) bool { return v.grad })); v != nil {
			sinks = append(sinks, v)
		}
	}
	for _, v := range sinks {
		terms = append(terms, g.weighted(v))
	}
	if g.s.chance(1, 3) || len(terms) == 0 {
		op := []graph.Op{graph.OpCrossEntropy, graph.OpBCEWithLogits, graph.OpMSE}[g.s.intn(3)]
		if t := lossGen(g, op, true); t != nil {
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		terms = append(terms, g.weighted(g.add(g.param(g.randShape(0)))))
	}
	loss := terms[0]
	for _, t := range terms[1:] {
		loss = g.float(g.apply(graph.OpAdd, graph.Attrs{}, loss, t), loss.hi+t.hi, true)
	}
	g.b.Loss(loss.t)
}

// weighted reduces v to a scalar: Σ(v ⊙ W), mean(v ⊙ W), or a sum over some
// axes first; a scalar v is scaled by a weight; sometimes plain Σv or v.
func (g *gen) weighted(v *value) *value {
	if g.s.chance(1, 5) {
		// Unweighted: Σv, or v itself when a scalar (for v = p ⊙ q, d/dq is p).
		if v.rank() == 0 {
			return v
		}
		return g.float(g.apply(graph.OpSum, graph.Attrs{}, v), v.hi*float64(v.size()), v.grad)
	}
	if v.rank() == 0 {
		return g.scale(v, 0.1+g.r.float())
	}
	w := g.dataConst(v.shape(), g.genericData(v.size()), true)
	p := g.float(g.apply(graph.OpMul, graph.Attrs{}, v, w), v.hi*w.hi, v.grad)
	switch g.s.intn(3) {
	case 0:
		return g.float(g.apply(graph.OpMean, graph.Attrs{}, p), p.hi, p.grad)
	case 1:
		axes := g.axes(p.rank(), true)
		s := g.float(g.apply(graph.OpSum, graph.Attrs{Axes: axes, KeepDims: g.s.chance(1, 2)}, p), p.hi*float64(p.size()), p.grad)
		return g.float(g.apply(graph.OpSum, graph.Attrs{}, s), s.hi*float64(s.size()), s.grad)
	}
	return g.float(g.apply(graph.OpSum, graph.Attrs{Axes: []int{}}, p), p.hi*float64(p.size()), p.grad)
}

// axes is a random increasing subset of 0..rank-1 (non-empty when nonEmpty and rank > 0).
func (g *gen) axes(rank int, nonEmpty bool) []int {
	var ax []int
	for i := range rank {
		if g.s.chance(1, 2) {
			ax = append(ax, i)
		}
	}
	if len(ax) == 0 && nonEmpty && rank > 0 {
		ax = []int{g.s.intn(rank)}
	}
	return ax
}

// chooseOptimizer draws the update rule. Adam and RMSProp get ε = 1 so they
// do not normalise rounding noise in a near-zero gradient up to the step size.
// Steps stay small (lr ≤ 0.01, the global gradient norm clipped to ≤ 1.5), so
// after the two training steps the fuzzer takes, every Param has moved by a
// few hundredths at most: the bounds the generator derived from the initial
// values (signs, distances from ties, |x| ≥ 0.1) still hold.
func (g *gen) chooseOptimizer() {
	kinds := passes.OptimizerKinds
	c := passes.OptimizerConfig{Kind: kinds[g.s.intn(len(kinds))], LR: 0.001 + 0.009*g.r.float(), Clip: 0.5 + g.r.float()}
	switch c.Kind {
	case "rmsprop", "adam", "adamw":
		c.Eps = 1
	}
	if g.s.chance(1, 4) {
		c.Warmup = 1 + g.s.intn(3)
		if g.s.chance(1, 2) {
			c.Steps = c.Warmup + 1 + g.s.intn(5)
			c.LRMin = c.LR / 10
		}
	}
	g.optimizer = c
	if g.s.chance(1, 4) {
		g.l2 = 0.01 + 0.1*g.r.float()
	}
}
