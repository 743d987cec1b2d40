package compile_test

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mlc-dev/mlc/codegen"
	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/randgraph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// The random-graph fuzzer: internal/randgraph turns bytes into a random valid
// model (f64, shapes that broadcast, values kept finite and away from the
// points where ops are not differentiable); each model is compiled at -O0
// and with every pass, and
//
//	interpreter(-O0) = interpreter(optimized) = generated(optimized)
//
// on every output, the loss, every gradient, and the parameters and losses
// of two training steps.
//
// Tolerance: 1e-9, relative to the larger magnitude (absolute below 1), with
// NaN equal to NaN and infinities equal by sign. Passes are allowed to
// reassociate (scale-of-scale folds (x·c₁)·c₂ into x·(c₁c₂)), and the
// generated code has its own GEMM and reduction order, so bitwise equality
// is not the contract; but every value is O(1)–O(10³) by construction, so an
// honest rounding difference stays near 1e-13, and a real mistake (a wrong
// rule, a lost broadcast, a swapped operand, a stale buffer) is off by far
// more than 1e-9.
//
// Run it (one worker: every input builds a Go package, which keeps the
// other cores busy enough):
//
//	go test -run '^$' -fuzz '^FuzzPasses$' -fuzztime 30m -parallel 1 ./compile/
//
// A 30-minute run of that command (Go 1.26, 2026-11-26) ended without a
// finding: 1293 executions, the first 808 of them re-running the corpus
// (testdata and the fuzz cache of earlier runs), and 23 new interesting
// inputs. Each execution builds and runs a Go package, about a second, so
// a run sees about a thousand models. Every finding of the earlier runs is
// in testdata/fuzz/FuzzPasses, and reduced by hand in TestFuzzFindingsByHand
// or in a unit test next to the fix.
//
// Many more seeds of the plain test:
//
//	MLC_RANDGRAPH_SEEDS=2000 MLC_RANDGRAPH_GEN=50 go test -run '^TestRandomGraphs$' ./compile/
//
// MLC_RANDGRAPH_EXCLUDE=Op,Op leaves ops out of the generator, to look past a
// known finding.
const fuzzTol = 1e-9

// FuzzPasses is the random-graph fuzz target. Its seed corpus
// (testdata/fuzz/FuzzPasses) runs with go test; every failure the fuzzer
// found is kept there as a regression test.
func FuzzPasses(f *testing.F) {
	// Runners are cached by content hash: a fresh cache per run keeps
	// thousands of random models out of the user's cache.
	f.Setenv("MLC_CACHE", f.TempDir())
	cfg := randgraphConfig(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		t.Parallel() // the seed corpus runs its entries side by side (no effect while fuzzing)
		m, err := randgraph.New(data, cfg)
		if errors.Is(err, randgraph.ErrShort) {
			t.Skip("input too short for the generator")
		}
		if err != nil {
			t.Fatalf("the generator failed: %v", err)
		}
		checkRandomModel(t, m, testutil.LongTests())
	})
}

// TestRandomGraphs runs generator seeds through the interpreter comparison
// (-O0 against optimized; MLC_RANDGRAPH_SEEDS of them, default 30, from
// MLC_RANDGRAPH_FROM) and the first MLC_RANDGRAPH_GEN (default 3) also
// through generated code.
func TestRandomGraphs(t *testing.T) {
	t.Setenv("MLC_CACHE", t.TempDir())
	cfg := randgraphConfig(t)
	n, gen, from := rgEnvInt(t, "MLC_RANDGRAPH_SEEDS", 30), rgEnvInt(t, "MLC_RANDGRAPH_GEN", 3), rgEnvInt(t, "MLC_RANDGRAPH_FROM", 0)
	if !testutil.LongTests() {
		gen = 0
	}
	for i := range n {
		seed := uint64(from + i)
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Parallel()
			m, err := randgraph.FromSeed(seed, cfg)
			if err != nil {
				t.Fatalf("the generator failed: %v", err)
			}
			checkRandomModel(t, m, i < gen)
		})
	}
}

func randgraphConfig(tb testing.TB) randgraph.Config {
	var cfg randgraph.Config
	if s := os.Getenv("MLC_RANDGRAPH_EXCLUDE"); s != "" {
		ops, err := randgraph.ParseOps(s)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Exclude = ops
	}
	return cfg
}

func rgEnvInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// rgModel is what the comparison needs of a model: a random one, or one of
// the hand-written reductions of a finding below.
type rgModel struct {
	name, source string
	build        func(b *dsl.Builder)
	inputs       map[string]runtime.JSONTensor
	optimizer    passes.OptimizerConfig
	l2           float64
	data         []byte       // the generator's input, for the report
	forward      *graph.Graph // one build, for the report
	interpOnly   bool         // a finding in the passes: the interpreters show it
}

func fromRandom(m *randgraph.Model) rgModel {
	in := map[string]runtime.JSONTensor{}
	for name, v := range m.Inputs {
		j := runtime.JSONTensor{Shape: slices.Clone(v.Shape), Data: make([]runtime.JSONFloat, len(v.Data))}
		for i, x := range v.Data {
			j.Data[i] = runtime.JSONFloat(x)
		}
		in[name] = j
	}
	return rgModel{name: m.Name, source: m.Forward.Source, build: m.Build, inputs: in,
		optimizer: m.Optimizer, l2: m.L2, data: m.Data, forward: m.Forward}
}

// compile compiles fresh graphs of m (FromGraphs rewrites the graphs it is
// given), at -O0 or with every pass.
func (m rgModel) compile(t *testing.T, o0 bool) *compile.Result {
	t.Helper()
	var gs [2]*graph.Graph
	for i, train := range []bool{false, true} {
		g, err := dsl.Build(m.name, m.source, dsl.Options{Float: graph.F64, Train: train}, m.build)
		if err != nil {
			t.Fatalf("the model does not build: %v", err)
		}
		gs[i] = g
	}
	res, err := compile.FromGraphs(gs[0], gs[1], compile.Options{
		Float: graph.F64, Optimizer: m.optimizer, L2: m.l2, Passes: passes.Options{O0: o0},
	})
	if err != nil {
		t.Fatalf("compiling (O0=%v): %v\nmodel:\n%s", o0, err, m.forward)
	}
	return res
}

// checkRandomModel compiles m both ways and compares the engines.
func checkRandomModel(t *testing.T, m *randgraph.Model, generated bool) {
	t.Helper()
	checkModel(t, fromRandom(m), generated)
}

// checkModel compiles m at -O0 and with every pass, runs both programs on
// the interpreter and (when generated) the optimized one as generated code,
// on the model's inputs: outputs, loss, gradients, and two training steps.
func checkModel(t *testing.T, m rgModel, generated bool) {
	t.Helper()
	if m.forward == nil {
		g, err := dsl.Build(m.name, m.source, dsl.Options{Float: graph.F64}, m.build)
		if err != nil {
			t.Fatalf("the model does not build: %v", err)
		}
		m.forward = g
	}
	defer func() {
		// A panic in the compiler is a finding like any other: report it
		// with the model, and let a long seed sweep go on.
		if r := recover(); r != nil {
			t.Fatalf("panic: %v\n%s\ninput: %x\nmodel:\n%s", r, debug.Stack(), m.data, m.forward)
		}
	}()
	o0 := m.compile(t, true)
	opt := m.compile(t, false)
	req := compile.RunRequest{Inputs: m.inputs, Loss: true, Grads: true, Steps: 2}
	want, err := compile.RunInterpreted(o0.Program, req)
	if err != nil {
		t.Fatalf("interpreter, -O0: %v\nmodel:\n%s", err, m.forward)
	}
	if what := rgNonFinite(want); what != "" {
		// The generator promises finite values: this is its bug, not the compiler's.
		t.Fatalf("generator: %s is not finite at -O0\nmodel:\n%s", what, m.forward)
	}
	got, err := compile.RunInterpreted(opt.Program, req)
	if err != nil {
		t.Fatalf("interpreter, optimized: %v\nmodel:\n%s", err, m.forward)
	}
	ok := rgFirstStep(t, "interpreter -O0", want)
	ok = rgCompareRuns(t, "interpreter optimized vs -O0", got, want) && ok
	if generated {
		start := time.Now()
		// Half the inputs run every kernel that can split on the worker
		// pool there (the random graphs are below the size thresholds), so
		// that both forms of each kernel are fuzzed.
		var opts codegen.Options
		if len(m.data) > 0 && m.data[0]&1 == 1 {
			opts.ParallelAll = true
			t.Logf("kernels split on the pool whatever their size")
		}
		bin, err := compile.BuildRunnerWith(opt.Program, opts)
		if err != nil {
			t.Fatalf("building the generated package: %v\nmodel:\n%s", err, m.forward)
		}
		t.Logf("built the generated package in %v", time.Since(start).Round(time.Millisecond))
		gen, err := compile.RunGenerated(bin, req)
		if err != nil {
			t.Fatalf("generated code: %v\nmodel:\n%s", err, m.forward)
		}
		ok = rgCompareRuns(t, "generated optimized vs interpreter -O0", gen, want) && ok
		ok = rgFirstStep(t, "generated optimized", gen) && ok
	}
	if !ok {
		t.Logf("input: %x\noptimizer: %+v, L2 %v\nmodel:\n%s\noptimized training graph:\n%s", m.data, m.optimizer, m.l2, m.forward, opt.Program.Train)
	}
}

// TestFuzzFindingsByHand: the findings of the random-graph fuzzer (wrong
// numbers, generated code that does not build, a pass that fails), reduced
// by hand to a few lines each. The corpus inputs in testdata/fuzz/FuzzPasses
// reproduce every finding too, but through the generator, whose byte
// mapping may change.
func TestFuzzFindingsByHand(t *testing.T) {
	t.Setenv("MLC_CACHE", t.TempDir())
	none := map[string]runtime.JSONTensor{}
	sgd := passes.OptimizerConfig{Kind: "sgd", LR: 0.01}
	cases := []rgModel{{
		// Simplify turns broadcast(1) into a constant after constfold ran, so
		// Div(1, 2) reaches codegen with two literal operands: Go's untyped
		// constant arithmetic makes 1 / 2 zero (a matrix product reads it, so
		// it is not fused, where the int would not even compile).
		name: "literal-division", build: func(b *dsl.Builder) {
			x := b.Param("x", dsl.Values(1, 2, 3), 1, 3)
			half := b.Const(1).BroadcastTo(3, 1).Div(b.Const(2))
			y := x.MatMul(half)
			b.Output("y", y)
			b.Loss(y.Sum())
		}}, {
		// d loss/d q = −(−p) = p after neg-neg: q's update reads p after
		// p's own update has overwritten it.
		name: "gradient-is-another-param", build: func(b *dsl.Builder) {
			p := b.Param("p", dsl.Values(-0.75), 1)
			q := b.Param("q", dsl.Values(0.68), 1)
			z := p.Neg()
			b.Output("z", z)
			b.Loss(dsl.BCEWithLogits(z, q))
		}}, {
		// The loss is a parameter: TrainStep reports it after the update
		// (seen first as Backward's and the first step's losses differing,
		// with SGD and clipping).
		name: "loss-is-a-param", build: func(b *dsl.Builder) {
			p := b.Param("p", dsl.Values(0.5))
			b.Output("y", p.Mul(b.Const(2)))
			b.Loss(p)
		}}, {
		// Parameters named like the locals of the emitted updates (Adam's
		// lr, bc1, bc2 and g, the step t) and like package-level names of
		// the generated package (const1, sigmoid): a local shadowed them.
		name: "names-of-emitted-locals", optimizer: passes.OptimizerConfig{Kind: "adam", LR: 0.01, Eps: 1, Warmup: 1, Clip: 1}, build: func(b *dsl.Builder) {
			var sum *dsl.Tensor
			for i, name := range []string{"bc1", "bc2", "lr", "g", "t", "v", "const1", "sigmoid"} {
				p := b.Param(name, dsl.Values(0.5+float64(i)/10, -1), 2)
				if sum == nil {
					sum = p
				} else {
					sum = sum.Mul(p).Add(p)
				}
			}
			b.Output("y", sum.Sigmoid())
			b.Loss(sum.Mul(b.ConstValues([]float64{0.3, -0.7}, 2)).Sum())
		}}, {
		// Outputs that are constants (data, a reshape of it, a filled value)
		// were refused by codegen.
		name: "constant-outputs", build: func(b *dsl.Builder) {
			x := b.Param("x", dsl.Values(0.5, -1.5), 1, 2)
			b.Output("data", b.ConstValues([]float64{1, 2}, 2))
			b.Output("reshaped", b.ConstValues([]float64{3, 4}, 2).Reshape(1, 2))
			b.Output("filled", b.Const(5, 2).Reshape(2, 1))
			b.Output("y", x.Sigmoid())
			b.Loss(x.Sum())
		}}, {
		// Literal operands made Go constant expressions (where(c, 1, 0) is
		// an int), and an inline causal mask lost its comparison to a !
		// (!0 <= 0).
		name: "literals-and-masks", build: func(b *dsl.Builder) {
			x := b.Param("x", dsl.Values(0.5, -1.5), 1, 2)
			pos := x.Greater(b.Const(0))
			b.Output("step", dsl.Where(pos, b.Const(1), b.Const(0)))
			causal := b.CausalMask(1)
			b.Output("notcausal", causal.Not().Cast(dsl.F64))
			b.Output("and", pos.And(causal).Cast(dsl.F64))
			b.Loss(x.Mul(dsl.Where(pos, b.Const(2), b.Const(3))).Sum())
		}}, {
		// LayerNorm scaled by a scalar (for the gradient dy ⊙ γ over rows of
		// one, the fuser indexed the scalar's last axis, -1) and by an inline
		// constant row (fused, it was never stored).
		name: "layernorm-gammas", build: func(b *dsl.Builder) {
			w := b.Param("w", dsl.Values(0.5, -1.5), 2, 1)
			x := b.Param("x", dsl.Values(0.5, -1.5, 2, 1, 0.25, -0.5), 2, 3)
			y := w.Normalize(0.1).Mul(b.Const(-1)).Tanh().Add(w)
			z := x.Normalize(0.2).Mul(b.Const(3, 1, 3)).Add(b.ConstValues([]float64{1, 2, 3}, 3))
			b.Output("y", y)
			b.Output("z", z)
			b.Loss(y.Mul(z).Sum())
		}}, {
		// LayerNormGrad(v, v): the fuser formed v = dy ⊙ γ inside the kernel,
		// but the kernel also reads v as x, from memory.
		name: "layernorm-grad-x-is-dy", build: func(b *dsl.Builder) {
			x := b.Input("x", 2, 3)
			v := x.Mul(b.ConstValues([]float64{0.5, -1, 2}, 3))
			n, err := b.Graph().Apply(graph.OpLayerNormGrad, graph.Attrs{Eps: 0.1}, v.Node(), v.Node())
			if err != nil {
				b.Errorf("%v", err)
				return
			}
			p := b.Param("p", dsl.Values(1, 2, 3), 3)
			y := dsl.Wrap(b, n).Mul(p)
			b.Output("y", y)
			b.Loss(y.Sum())
		}, inputs: map[string]runtime.JSONTensor{"x": {Shape: []int{2, 3}, Data: []runtime.JSONFloat{0.1, -0.4, 0.9, 1.3, -0.2, 0.7}}}}, {
		// implicit-broadcast leaves the explicit broadcast unused: DCE
		// removed it, and the backward Sum that differentiates it pointed
		// at a node no longer in the graph (a pass failure, no numbers).
		name: "dead-forward-node", interpOnly: true, build: func(b *dsl.Builder) {
			p := b.Param("p", dsl.Values(0.5, -1), 1, 2)
			y := p.BroadcastTo(3, 2).Mul(b.ConstValues([]float64{1, 2, 3, 4, 5, 6}, 3, 2))
			b.Output("p2", p.Mul(p))
			b.Loss(y.Mean())
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.source = "compile/fuzz_test.go"
			if c.inputs == nil {
				c.inputs = none
			}
			if c.optimizer.Kind == "" {
				c.optimizer = sgd
			}
			checkModel(t, c, testutil.LongTests() && !c.interpOnly)
		})
	}
}

// rgCompareRuns reports every quantity where got and want differ; it returns
// whether they agree.
func rgCompareRuns(t *testing.T, what string, got, want *runtime.RunResult) bool {
	t.Helper()
	ok := true
	check := func(name string, g, w runtime.JSONTensor, present bool) {
		if !present {
			t.Errorf("%s: %s is missing", what, name)
			ok = false
			return
		}
		if msg := rgDiff(g, w); msg != "" {
			t.Errorf("%s: %s: %s", what, name, msg)
			ok = false
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.Outputs)) {
		g, present := got.Outputs[name]
		check("output "+name, g, want.Outputs[name], present)
	}
	if got.Loss == nil || want.Loss == nil {
		t.Errorf("%s: loss missing (got %v, want %v)", what, got.Loss, want.Loss)
		ok = false
	} else {
		check("loss", rgScalar(*got.Loss), rgScalar(*want.Loss), true)
	}
	for _, name := range slices.Sorted(maps.Keys(want.Grads)) {
		g, present := got.Grads[name]
		check("d"+name, g, want.Grads[name], present)
	}
	for _, name := range slices.Sorted(maps.Keys(want.Params)) {
		g, present := got.Params[name]
		check(name+" after 2 steps", g, want.Params[name], present)
	}
	check("losses of the steps", runtime.JSONTensor{Shape: []int{len(got.Losses)}, Data: got.Losses},
		runtime.JSONTensor{Shape: []int{len(want.Losses)}, Data: want.Losses}, true)
	if len(got.Outputs) != len(want.Outputs) || len(got.Grads) != len(want.Grads) || len(got.Params) != len(want.Params) {
		t.Errorf("%s: %d outputs, %d gradients, %d parameters; want %d, %d, %d", what,
			len(got.Outputs), len(got.Grads), len(got.Params), len(want.Outputs), len(want.Grads), len(want.Params))
		ok = false
	}
	return ok
}

// rgFirstStep checks one engine against itself: the first training step
// sees the same parameters and batch as Backward did, so the loss it
// reports is the same (the models have no dropout).
func rgFirstStep(t *testing.T, what string, r *runtime.RunResult) bool {
	t.Helper()
	if r.Loss == nil || len(r.Losses) == 0 {
		t.Errorf("%s: no loss or no training steps", what)
		return false
	}
	if msg := rgDiff(rgScalar(r.Losses[0]), rgScalar(*r.Loss)); msg != "" {
		t.Errorf("%s: the first training step reports loss %v, but Backward's loss at the same parameters is %v", what, float64(r.Losses[0]), float64(*r.Loss))
		return false
	}
	return true
}

func rgScalar(f runtime.JSONFloat) runtime.JSONTensor {
	return runtime.JSONTensor{Shape: []int{}, Data: []runtime.JSONFloat{f}}
}

// rgDiff describes the worst element where got and want differ beyond
// fuzzTol, or returns "".
func rgDiff(got, want runtime.JSONTensor) string {
	if !graph.Shape(got.Shape).Equal(want.Shape) || len(got.Data) != len(want.Data) {
		return fmt.Sprintf("shape %v (%d values), want %v (%d values)", got.Shape, len(got.Data), want.Shape, len(want.Data))
	}
	floats := func(d []runtime.JSONFloat) []float64 {
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	return testutil.CompareSlices(floats(got.Data), floats(want.Data), fuzzTol)
}

// rgNonFinite names the first non-finite quantity of r, or returns "".
func rgNonFinite(r *runtime.RunResult) string {
	bad := func(t runtime.JSONTensor) bool {
		for _, x := range t.Data {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return true
			}
		}
		return false
	}
	for _, name := range slices.Sorted(maps.Keys(r.Outputs)) {
		if bad(r.Outputs[name]) {
			return "output " + name
		}
	}
	if r.Loss != nil && bad(rgScalar(*r.Loss)) {
		return "the loss"
	}
	for _, name := range slices.Sorted(maps.Keys(r.Grads)) {
		if bad(r.Grads[name]) {
			return "d" + name
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Params)) {
		if bad(r.Params[name]) {
			return name + " after 2 steps"
		}
	}
	return ""
}
