package gpt_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/models/gpt"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// tiny is a config small enough for finite differences.
func tiny() gpt.Config {
	return gpt.Config{Vocab: 7, Ctx: 5, D: 8, Heads: 2, Layers: 2, FFN: 12, Norm: "pre", Act: "gelu", Tied: true, Batch: 2}
}

func build(t testing.TB, c gpt.Config, dt dsl.DType, train bool) *graph.Graph {
	t.Helper()
	g, err := dsl.Build("gpt", "models/gpt/gpt.go", dsl.Options{Float: dt, Train: train}, func(b *dsl.Builder) { gpt.Build(b, c) })
	if err != nil {
		t.Fatalf("%+v: %v", c, err)
	}
	return g
}

// paramCount is the size of the model by the architecture's arithmetic.
func paramCount(c gpt.Config) int {
	d, f := c.D, c.FFN
	block := 4*(d*d+d) + 2*2*d + d*f + f + f*d + d // attention, two LayerNorms, MLP
	if f == 0 {
		block = 4*(d*d+d) + 2*d // attention-only: attention and ln1
	}
	n := c.Vocab*d + c.Ctx*d + c.Layers*block
	if c.Norm == "pre" {
		n += 2 * d // lnf
	}
	if !c.Tied {
		n += d * c.Vocab // lm_head
	}
	return n
}

// TestBuildVariants builds every combination of norm, heads, layers,
// activation and tying, in eval and training mode, and checks the parameter
// count and names, the output shape, and that each layer's attention is in
// the canonical causal pattern: MatMul(q, k, transB) ⊙ scale →
// Where(CausalMask, ·, −inf) → Softmax(−1) → MatMul(·, v).
func TestBuildVariants(t *testing.T) {
	for _, norm := range []string{"pre", "post"} {
		for heads := 1; heads <= 4; heads++ {
			for layers := 1; layers <= 3; layers++ {
				for _, act := range []string{"relu", "gelu"} {
					for _, tied := range []bool{true, false} {
						c := gpt.Config{Vocab: 11, Ctx: 6, D: 12, Heads: heads, Layers: layers, FFN: 20, Norm: norm, Act: act, Tied: tied, Dropout: 0.1, Batch: 3}
						for _, train := range []bool{false, true} {
							name := fmt.Sprintf("%s/h%d/l%d/%s/tied=%v/train=%v", norm, heads, layers, act, tied, train)
							t.Run(name, func(t *testing.T) { checkVariant(t, c, train) })
						}
					}
				}
			}
		}
	}
	// ffn=0: attention-only blocks.
	for _, norm := range []string{"pre", "post"} {
		for layers := 1; layers <= 3; layers++ {
			c := gpt.Config{Vocab: 11, Ctx: 6, D: 12, Heads: 2, Layers: layers, FFN: 0, Norm: norm, Act: "gelu", Tied: true, Dropout: 0.1, Batch: 3}
			for _, train := range []bool{false, true} {
				t.Run(fmt.Sprintf("attnonly/%s/l%d/train=%v", norm, layers, train), func(t *testing.T) { checkVariant(t, c, train) })
			}
		}
	}
}

func checkVariant(t *testing.T, c gpt.Config, train bool) {
	g := build(t, c, graph.F32, train)
	n := 0
	names := map[string]bool{}
	for _, p := range g.Params() {
		n += p.Type.Shape.Size()
		names[p.Name] = true
	}
	if want := paramCount(c); n != want {
		t.Errorf("%d parameters, want %d", n, want)
	}
	for _, want := range []string{"wte", "wpe", "h0.ln1.gamma", "h0.attn.Wq", "h0.attn.bq", "h0.attn.Wo", "h0.mlp.W1", "h0.mlp.b2", fmt.Sprintf("h%d.ln2.beta", c.Layers-1)} {
		mlp := strings.Contains(want, ".mlp.") || strings.Contains(want, ".ln2.")
		if names[want] != (c.FFN > 0 || !mlp) {
			t.Errorf("parameter %q present = %v with ffn=%d", want, names[want], c.FFN)
		}
	}
	if c.FFN == 0 {
		// No MLP nodes and no activation: every block is attention only.
		for _, n := range g.Nodes {
			if strings.Contains(n.Name, ".mlp.") || n.Op == graph.OpGELU || n.Op == graph.OpReLU {
				t.Errorf("attention-only model has %s %s", n.Op, n.Name)
			}
		}
	}
	if names["lnf.gamma"] != (c.Norm == "pre") {
		t.Errorf("lnf.gamma present = %v with norm=%s", names["lnf.gamma"], c.Norm)
	}
	if names["lm_head"] == c.Tied {
		t.Errorf("lm_head present = %v with tied=%v", names["lm_head"], c.Tied)
	}
	logits := g.Output("logits")
	if logits == nil || !logits.Type.Shape.Equal(graph.Shape{c.Batch, c.Ctx, c.Vocab}) {
		t.Fatalf("logits %v, want [%d,%d,%d]", logits, c.Batch, c.Ctx, c.Vocab)
	}
	if got := len(g.NodesWithOp(graph.OpDropoutMask)) > 0; got != train {
		t.Errorf("dropout masks present = %v in train=%v", got, train)
	}
	softmaxes := g.NodesWithOp(graph.OpSoftmax)
	if len(softmaxes) != c.Layers {
		t.Fatalf("%d softmaxes, want one per layer (%d)", len(softmaxes), c.Layers)
	}
	for _, sm := range softmaxes {
		if err := causalPattern(g, sm, c); err != nil {
			t.Errorf("%s: %v", sm.Name, err)
		}
	}
}

// causalPattern checks the chain around one attention softmax.
func causalPattern(g *graph.Graph, sm *graph.Node, c gpt.Config) error {
	dk := c.D / c.Heads
	qkv := graph.Shape{c.Batch, c.Heads, c.Ctx, dk}
	if sm.Attrs.Axis != 3 {
		return fmt.Errorf("softmax over axis %d", sm.Attrs.Axis)
	}
	where := sm.Inputs[0]
	if where.Op != graph.OpWhere {
		return fmt.Errorf("softmax of %s, want Where", where.Op)
	}
	mask, scores, fill := where.Inputs[0], where.Inputs[1], where.Inputs[2]
	if mask.Op != graph.OpCausalMask || !mask.Type.Shape.Equal(graph.Shape{c.Ctx, c.Ctx}) {
		return fmt.Errorf("mask is %s %s", mask.Op, mask.Type)
	}
	if fill.Op != graph.OpConst || !math.IsInf(fill.Attrs.Value, -1) {
		return fmt.Errorf("fill is %s %v, want −inf", fill.Op, fill.Attrs.Value)
	}
	if scores.Op != graph.OpMul || scores.Inputs[1].Op != graph.OpConst || scores.Inputs[1].Attrs.Value != 1/math.Sqrt(float64(dk)) {
		return fmt.Errorf("scores are %s, want MatMul ⊙ 1/√%d", scores.Op, dk)
	}
	qk := scores.Inputs[0]
	if qk.Op != graph.OpMatMul || !qk.Attrs.TransB || qk.Attrs.TransA {
		return fmt.Errorf("scores from %s %v, want MatMul transB", qk.Op, qk.Attrs)
	}
	for _, x := range qk.Inputs {
		if !x.Type.Shape.Equal(qkv) {
			return fmt.Errorf("q/k %s, want %s", x.Type.Shape, qkv)
		}
	}
	// The weights feed a MatMul with v, directly or (in training, with
	// dropout) through the dropout Mul.
	for _, u := range g.Nodes {
		if u.Op == graph.OpMatMul && u.Inputs[0] == sm && u.Inputs[1].Type.Shape.Equal(qkv) {
			return nil
		}
		if u.Op == graph.OpMul && u.Inputs[0] == sm {
			for _, w := range g.Nodes {
				if w.Op == graph.OpMatMul && w.Inputs[0] == u && w.Inputs[1].Type.Shape.Equal(qkv) {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("weights feed no MatMul with v")
}

// TestConfigErrors: bad configs are reported, every problem at once.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*gpt.Config)
		want []string
	}{
		{"heads", func(c *gpt.Config) { c.Heads = 3 }, []string{"d (8) must be divisible by heads (3)"}},
		{"sizes", func(c *gpt.Config) { c.Vocab, c.Layers = 0, -1 }, []string{"vocab must be positive, got 0", "layers must be positive, got -1"}},
		{"norm", func(c *gpt.Config) { c.Norm = "sandwich" }, []string{`norm must be pre or post, got "sandwich"`}},
		{"act", func(c *gpt.Config) { c.Act = "swish" }, []string{`act must be relu or gelu, got "swish"`}},
		{"dropout", func(c *gpt.Config) { c.Dropout = 1 }, []string{"dropout must be in [0, 1), got 1"}},
		{"ffn", func(c *gpt.Config) { c.FFN = -1 }, []string{"ffn must not be negative (0: no MLP), got -1"}},
		{"several", func(c *gpt.Config) { c.Norm, c.Act = "", "" }, []string{"norm must be", "act must be"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tiny()
			tc.edit(&c)
			_, err := dsl.Build("gpt", "gpt", dsl.Options{}, func(b *dsl.Builder) { gpt.Build(b, c) })
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), "models/gpt/gpt.go:") || !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q at the model's line:\n%v", w, err)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tc.want); got != want {
				t.Errorf("%d errors, want %d:\n%v", got, want, err)
			}
		})
	}
}

// randomize gives every parameter values large enough that attention is far
// from uniform and every path carries a visible signal.
func randomize(it *runtime.Interpreter, r *rand.Rand) {
	for _, p := range it.G.Params() {
		v := it.Var(p.Name)
		for i := range v.Len() {
			x := 0.4 * r.NormFloat64()
			if strings.HasSuffix(p.Name, ".gamma") {
				x += 1
			}
			v.Set(i, x)
		}
	}
}

// batch draws ids and targets in [0, vocab).
func batch(c gpt.Config, r *rand.Rand) map[string]*runtime.Tensor {
	in := map[string]*runtime.Tensor{}
	for _, name := range []string{"ids", "targets"} {
		x := runtime.NewTensor(graph.T(graph.I32, c.Batch, c.Ctx))
		for i := range x.I32 {
			x.I32[i] = int32(r.IntN(c.Vocab))
		}
		in[name] = x
	}
	return in
}

// TestCausal: changing the token at position j changes no logit at a
// position before j, and does change the logits at j.
func TestCausal(t *testing.T) {
	for _, tc := range []struct {
		norm string
		ffn  int
	}{{"pre", 12}, {"post", 12}, {"pre", 0}} {
		t.Run(fmt.Sprintf("%s/ffn=%d", tc.norm, tc.ffn), func(t *testing.T) {
			c := tiny()
			c.Norm, c.Ctx, c.FFN = tc.norm, 6, tc.ffn
			g := build(t, c, graph.F64, false)
			it, err := runtime.NewInterpreter(g, runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			randomize(it, r)
			in := batch(c, r)
			logitsOf := func(ids *runtime.Tensor) []float64 {
				if err := it.Run(map[string]*runtime.Tensor{"ids": ids, "targets": in["targets"]}); err != nil {
					t.Fatal(err)
				}
				return it.Output("logits").Float64s()
			}
			base := logitsOf(in["ids"])
			V, T := c.Vocab, c.Ctx
			for j := range T {
				ids := in["ids"].Clone()
				for b := range c.Batch {
					ids.I32[b*T+j] = (ids.I32[b*T+j] + 1) % int32(V)
				}
				got := logitsOf(ids)
				for b := range c.Batch {
					row := func(x []float64, pos int) []float64 { return x[(b*T+pos)*V : (b*T+pos+1)*V] }
					for pos := range j {
						for v, x := range row(got, pos) {
							if x != row(base, pos)[v] {
								t.Fatalf("token %d of sequence %d changed logit[%d][%d] at earlier position %d: %v → %v", j, b, pos, v, pos, row(base, pos)[v], x)
							}
						}
					}
					changed := false
					for v, x := range row(got, j) {
						changed = changed || x != row(base, j)[v]
					}
					if !changed {
						t.Errorf("token %d of sequence %d changed none of its own logits", j, b)
					}
				}
			}
		})
	}
}

// TestGradientsMatchFiniteDifferences compares autodiff's gradients of the
// loss with central differences (gonum diff/fd) in f64, on three elements of
// every parameter: relative error ‖g − g_fd‖ / max(‖g‖, ‖g_fd‖) < 1e-6.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*gpt.Config)
	}{
		{"pre-tied-gelu", func(c *gpt.Config) {}},
		{"post-untied-relu", func(c *gpt.Config) { c.Norm, c.Tied, c.Act = "post", false, "relu" }},
		{"one-head-dropout", func(c *gpt.Config) { c.Heads, c.Dropout = 1, 0.2 }},
		{"attention-only-pre", func(c *gpt.Config) { c.FFN = 0 }},
		{"attention-only-post-untied", func(c *gpt.Config) { c.FFN, c.Norm, c.Tied = 0, "post", false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tiny()
			tc.edit(&c)
			g := build(t, c, graph.F64, true)
			if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
				t.Fatal(err)
			}
			it, err := runtime.NewInterpreter(g, runtime.Options{Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			randomize(it, r)
			in := batch(c, r)
			// Dropout draws new masks on every run: replay the same stream so
			// that the loss is one fixed function of the parameters.
			rng := it.DropoutRNG()
			start := rng.State
			loss := func() float64 {
				rng.State = start
				if err := it.Eval(in, false); err != nil {
					t.Fatal(err)
				}
				return it.Loss()
			}
			loss()
			analytic := map[string][]float64{}
			for _, p := range g.Params() {
				analytic[p.Name] = it.Grad(p.Name).Float64s()
			}
			for _, p := range g.Params() {
				v := it.Var(p.Name)
				idx := r.Perm(v.Len())[:min(3, v.Len())]
				x0 := make([]float64, len(idx))
				want := make([]float64, len(idx))
				for k, i := range idx {
					x0[k], want[k] = v.F64[i], analytic[p.Name][i]
				}
				f := func(x []float64) float64 {
					for k, i := range idx {
						v.F64[i] = x[k]
					}
					return loss()
				}
				numeric := fd.Gradient(nil, f, x0, &fd.Settings{Formula: fd.Central, Step: 1e-6})
				f(x0)
				if !gradOK(want, numeric) {
					t.Errorf("%s%v: relative error %.3g\nanalytic %v\nnumeric  %v", p.Name, idx, relErr(want, numeric), want, numeric)
				}
			}
		})
	}
}

// gradOK: relative error below 1e-6, or both gradients within 1e-8 of each
// other, above the noise of the differences (≈ 1e-16·|loss|/step ≈ 1e-10).
// The absolute floor is for gradients that are exactly zero, such as the
// key bias bk's: it adds q·bk to a whole row of scores, which the softmax
// ignores.
func gradOK(analytic, numeric []float64) bool {
	var diff float64
	for i := range analytic {
		diff += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i])
	}
	return relErr(analytic, numeric) < 1e-6 || math.Sqrt(diff) < 1e-8
}

func relErr(a, b []float64) float64 {
	var diff, na, nb float64
	for i := range a {
		diff += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	return math.Sqrt(diff) / math.Max(math.Max(math.Sqrt(na), math.Sqrt(nb)), 1e-12)
}

// BenchmarkInterpreterTrainStep measures one TrainStep (forward, backward
// and the optimizer update) of the default config on the interpreter.
func BenchmarkInterpreterTrainStep(b *testing.B) {
	res, err := compile.Zoo("gpt", "", compile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pr, err := runtime.NewProgram(res.Program, runtime.Options{})
	if err != nil {
		b.Fatal(err)
	}
	in := batch(gpt.DefaultConfig(), rand.New(rand.NewPCG(1, 1)))
	for b.Loop() {
		if _, err := pr.TrainStep(in); err != nil {
			b.Fatal(err)
		}
	}
}
