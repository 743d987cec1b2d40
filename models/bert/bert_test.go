package bert_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/models/bert"
	"github.com/mlc-dev/mlc/passes"
	"github.com/mlc-dev/mlc/runtime"
)

// tiny is a config small enough for finite differences, with the default
// forms (eps, embnorm, head, mask).
func tiny() bert.Config {
	c := bert.DefaultConfig()
	c.Vocab, c.Ctx, c.D, c.Heads, c.Layers, c.FFN, c.Batch = 13, 6, 8, 2, 2, 12, 3
	return c
}

// forms are the configurable parts of the model beyond its sizes.
var forms = []struct {
	name string
	edit func(*bert.Config)
}{
	{"bert", func(c *bert.Config) {}},
	{"plain", func(c *bert.Config) { c.Eps, c.EmbNorm, c.Head, c.Mask = 1e-5, "off", "linear", "input" }},
	{"embnorm-on", func(c *bert.Config) { c.EmbNorm = "on" }},
}

func build(t testing.TB, c bert.Config, train bool) *graph.Graph {
	t.Helper()
	g, err := dsl.Build("bert", "models/bert/bert.go", dsl.Options{Float: graph.F64, Train: train}, func(b *dsl.Builder) { bert.Build(b, c) })
	if err != nil {
		t.Fatalf("%+v: %v", c, err)
	}
	return g
}

// paramCount is the size of the model by the architecture's arithmetic.
func paramCount(c bert.Config) int {
	d, f := c.D, c.FFN
	block := 4*(d*d+d) + 2*2*d + d*f + f + f*d + d      // attention, two LayerNorms, MLP
	n := c.Vocab*d + c.Ctx*d + c.Layers*block + c.Vocab // embeddings, blocks, output bias
	if c.EmbNorm == "on" || c.EmbNorm == "auto" && c.Norm == "post" {
		n += 2 * d // emb_ln
	}
	if c.Norm == "pre" {
		n += 2 * d // lnf
	}
	if c.Head == "dense" {
		n += d*d + d + 2*d // dense, LayerNorm
	}
	return n
}

// TestBuildVariants: every variant has the expected parameters and
// LayerNorms with its ε, and each attention softmax masks its scores with the
// key mask [B,1,1,T] built from ids ≠ pad or taken from attention_mask, not
// with a causal mask.
func TestBuildVariants(t *testing.T) {
	for _, norm := range []string{"pre", "post"} {
		for _, heads := range []int{1, 2, 4} {
			for _, act := range []string{"relu", "gelu"} {
				for _, form := range forms {
					c := bert.DefaultConfig()
					c.Vocab, c.Ctx, c.D, c.Heads, c.Layers, c.FFN, c.Norm, c.Act, c.Pad, c.Dropout, c.Batch = 11, 5, 8, heads, 2, 16, norm, act, 3, 0.1, 2
					form.edit(&c)
					t.Run(fmt.Sprintf("%s/h%d/%s/%s", norm, heads, act, form.name), func(t *testing.T) { checkVariant(t, c) })
				}
			}
		}
	}
}

func checkVariant(t *testing.T, c bert.Config) {
	g := build(t, c, true)
	n := 0
	for _, p := range g.Params() {
		n += p.Type.Shape.Size()
	}
	if want := paramCount(c); n != want {
		t.Errorf("%d parameters, want %d", n, want)
	}
	lns := g.NodesWithOp(graph.OpLayerNorm)
	wantLNs := 2 * c.Layers
	for _, has := range []bool{c.EmbNorm == "on" || c.EmbNorm == "auto" && c.Norm == "post", c.Norm == "pre", c.Head == "dense"} {
		if has {
			wantLNs++
		}
	}
	if len(lns) != wantLNs {
		t.Errorf("%d LayerNorms, want %d", len(lns), wantLNs)
	}
	for _, ln := range lns {
		if ln.Attrs.Eps != c.Eps {
			t.Errorf("LayerNorm with eps %v, want %v", ln.Attrs.Eps, c.Eps)
		}
	}
	if len(g.NodesWithOp(graph.OpCausalMask)) != 0 {
		t.Error("an encoder has a causal mask")
	}
	sms := g.NodesWithOp(graph.OpSoftmax)
	if len(sms) != c.Layers {
		t.Fatalf("%d softmaxes, want %d", len(sms), c.Layers)
	}
	for _, sm := range sms {
		where := sm.Inputs[0]
		if where.Op != graph.OpWhere {
			t.Fatalf("softmax of %s", where.Op)
		}
		m := where.Inputs[0]
		if m.Op != graph.OpReshape || !m.Type.Shape.Equal(graph.Shape{c.Batch, 1, 1, c.Ctx}) {
			t.Fatalf("mask %s %s, want the key mask [%d,1,1,%d]", m.Op, m.Type, c.Batch, c.Ctx)
		}
		src := m.Inputs[0]
		if c.Mask == "input" {
			if src.Op != graph.OpInput || src.Name != "attention_mask" {
				t.Fatalf("key mask from %s %s, want the input attention_mask", src.Op, src.Name)
			}
			continue
		}
		if src.Op != graph.OpNotEqual || src.Inputs[0].Name != "ids" || src.Inputs[1].Attrs.Data[0] != float64(c.Pad) {
			t.Fatalf("key mask from %s, want ids ≠ %d", src.Op, c.Pad)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(*bert.Config)
		want string
	}{
		{func(c *bert.Config) { c.Heads = 3 }, "d (8) must be divisible by heads (3)"},
		{func(c *bert.Config) { c.Pad = 13 }, "pad must be an id in [0, 13), got 13"},
		{func(c *bert.Config) { c.Norm = "" }, `norm must be pre or post, got ""`},
		{func(c *bert.Config) { c.Act = "tanh" }, `act must be relu or gelu, got "tanh"`},
		{func(c *bert.Config) { c.Ctx = 0 }, "ctx must be positive, got 0"},
		{func(c *bert.Config) { c.Eps = 0 }, "eps must be in (0, 1), got 0"},
		{func(c *bert.Config) { c.EmbNorm = "yes" }, `embnorm must be auto, on or off, got "yes"`},
		{func(c *bert.Config) { c.Head = "" }, `head must be dense or linear, got ""`},
		{func(c *bert.Config) { c.Mask = "ids" }, `mask must be pad or input, got "ids"`},
	} {
		c := tiny()
		tc.edit(&c)
		_, err := dsl.Build("bert", "bert", dsl.Options{}, func(b *dsl.Builder) { bert.Build(b, c) })
		if err == nil || !strings.Contains(err.Error(), "models/bert/bert.go:") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q at the model's line", err, tc.want)
		}
	}
}

// setup makes an interpreter with random parameters, large enough that
// attention is far from uniform.
func setup(t *testing.T, c bert.Config, train bool, seed uint64) *runtime.Interpreter {
	t.Helper()
	g := build(t, c, train)
	if train {
		if _, err := passes.Autodiff(g, passes.AutodiffOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for _, p := range g.Params() {
		v := it.Var(p.Name)
		for i := range v.Len() {
			x := 0.4 * r.NormFloat64()
			if strings.HasSuffix(p.Name, ".gamma") {
				x++
			}
			v.Set(i, x)
		}
	}
	return it
}

// pipelineBatch is what the data pipeline feeds: sequences of lengths
// ctx, ctx−1, … (at least 2), padded with 0, masked by runtime.MLM with
// [MASK] = 1 and a high rate so that every row has several selected positions.
// With mask=input, attention_mask is true at the real tokens and padded
// positions hold random ids other than pad: only the mask hides them.
func pipelineBatch(t *testing.T, c bert.Config, seed uint64) map[string]*runtime.Tensor {
	t.Helper()
	r := runtime.RNG{State: seed}
	raw := make([]int32, c.Batch*c.Ctx)
	for b := range c.Batch {
		for p := range max(2, c.Ctx-b) {
			raw[b*c.Ctx+p] = int32(2 + r.Uint64()%uint64(c.Vocab-2))
		}
	}
	mlm := runtime.MLM{Vocab: c.Vocab, Pad: c.Pad, Mask: 1, Rate: 0.4}
	masked, targets, selected, err := mlm.Apply(&r, raw, c.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	tensor := func(dt graph.DType, f func(i int) float64) *runtime.Tensor {
		x := runtime.NewTensor(graph.T(dt, c.Batch, c.Ctx))
		for i := range x.Len() {
			x.Set(i, f(i))
		}
		return x
	}
	in := map[string]*runtime.Tensor{
		"ids":     tensor(graph.I32, func(i int) float64 { return float64(masked[i]) }),
		"targets": tensor(graph.I32, func(i int) float64 { return float64(targets[i]) }),
		"mlm_mask": tensor(graph.Bool, func(i int) float64 {
			if selected[i] {
				return 1
			}
			return 0
		}),
	}
	if c.Mask == "input" {
		in["attention_mask"] = tensor(graph.Bool, func(i int) float64 {
			if raw[i] != int32(c.Pad) {
				return 1
			}
			return 0
		})
		for i, id := range raw {
			if id == int32(c.Pad) {
				in["ids"].I32[i] = int32(2 + r.Uint64()%uint64(c.Vocab-2))
			}
		}
	}
	return in
}

// TestLossOnlyAtSelectedPositions: the loss is the mean cross-entropy of the
// logits at the selected positions, recomputed here from the logits output;
// changing the target at an unselected position leaves it bit for bit
// unchanged, and changing one at a selected position does not.
func TestLossOnlyAtSelectedPositions(t *testing.T) {
	c := tiny()
	it := setup(t, c, false, 1)
	in := pipelineBatch(t, c, 2)
	lossOf := func(in map[string]*runtime.Tensor) float64 {
		if err := it.Run(in); err != nil {
			t.Fatal(err)
		}
		return it.Loss()
	}
	base := lossOf(in)

	logits := it.Output("logits").F64
	sum, n := 0.0, 0
	for i, sel := range in["mlm_mask"].B {
		if !sel {
			continue
		}
		z := logits[i*c.Vocab : (i+1)*c.Vocab]
		m := math.Inf(-1)
		for _, v := range z {
			m = math.Max(m, v)
		}
		lse := 0.0
		for _, v := range z {
			lse += math.Exp(v - m)
		}
		sum += m + math.Log(lse) - z[in["targets"].I32[i]]
		n++
	}
	if n < 3 || n == len(in["mlm_mask"].B) {
		t.Fatalf("%d selected positions: the batch does not test selection", n)
	}
	if want := sum / float64(n); !testutil.Close(base, want, 1e-12) {
		t.Errorf("loss %.17g, want the mean over the %d selected positions %.17g", base, n, want)
	}

	for i, sel := range in["mlm_mask"].B {
		changed := map[string]*runtime.Tensor{"ids": in["ids"], "mlm_mask": in["mlm_mask"], "targets": in["targets"].Clone()}
		changed["targets"].I32[i] = (changed["targets"].I32[i] + 1) % int32(c.Vocab)
		got := lossOf(changed)
		if !sel && got != base {
			t.Errorf("target at unselected position %d changed the loss: %v → %v", i, base, got)
		}
		if sel && got == base {
			t.Errorf("target at selected position %d left the loss unchanged", i)
		}
	}
}

// TestPaddingIsInvisible: what a padded position carries (its position
// embedding and the pad token's embedding row) changes no logit at a real
// position of its sequence. The pad row of wte is also the tied output
// projection's pad column, so that column is left out. Row 0 is the control:
// the same position is real there, so the change must reach its neighbours.
func TestPaddingIsInvisible(t *testing.T) {
	for _, v := range []struct {
		name string
		edit func(*bert.Config)
	}{
		{"post", func(c *bert.Config) {}},
		{"pre", func(c *bert.Config) { c.Norm = "pre" }},
		{"pre-embnorm", func(c *bert.Config) { c.Norm, c.EmbNorm = "pre", "on" }},
		{"post-linear-noembnorm", func(c *bert.Config) { c.Eps, c.EmbNorm, c.Head = 1e-5, "off", "linear" }},
	} {
		t.Run(v.name, func(t *testing.T) {
			c := tiny()
			v.edit(&c)
			it := setup(t, c, false, 3)
			in := pipelineBatch(t, c, 4)
			ids := in["ids"].I32
			T, V, D := c.Ctx, c.Vocab, c.D
			padded := T - 1 // padding in rows 1 and 2, a real token in row 0
			if ids[T+padded] != 0 || ids[2*T+padded] != 0 || ids[padded] == 0 {
				t.Fatalf("batch is not padded as the test assumes: %v", ids)
			}
			logitsOf := func() []float64 {
				if err := it.Run(in); err != nil {
					t.Fatal(err)
				}
				return it.Output("logits").Float64s()
			}
			base := logitsOf()
			// Random, not constant, changes: LayerNorm would erase a shift.
			r := rand.New(rand.NewPCG(5, 6))
			wpe, wte := it.Var("wpe").F64, it.Var("wte").F64
			for i := range D {
				wpe[padded*D+i] += r.NormFloat64()
				wte[c.Pad*D+i] += r.NormFloat64()
			}
			got := logitsOf()
			for p := T; p < len(ids); p++ {
				if ids[p] == int32(c.Pad) {
					continue
				}
				for v := range V {
					if k := p*V + v; v != c.Pad && got[k] != base[k] {
						t.Fatalf("padding changed logit[%d][%d] of the real token at %d: %v → %v", p, v, p, base[k], got[k])
					}
				}
			}
			for p := range padded {
				same := true
				for v := range V {
					same = same && (v == c.Pad || got[p*V+v] == base[p*V+v])
				}
				if same {
					t.Errorf("control: the change at real position %d of row 0 did not reach position %d", padded, p)
				}
			}
		})
	}
}

// TestAttentionMaskInput: with mask=input, a position whose attention_mask
// is false changes no logit at a real position of its sequence, whatever
// token and position embedding it carries (its id is not pad: only the mask
// hides it). Row 0 is the control: the same position is real there, so the
// change must reach its neighbours. The mask itself is read: hiding one real
// key changes the other positions' logits.
func TestAttentionMaskInput(t *testing.T) {
	for _, norm := range []string{"post", "pre"} {
		t.Run(norm, func(t *testing.T) {
			c := tiny()
			c.Norm, c.Eps, c.EmbNorm, c.Head, c.Mask = norm, 1e-5, "off", "linear", "input"
			it := setup(t, c, false, 3)
			in := pipelineBatch(t, c, 4)
			ids, keep := in["ids"].I32, in["attention_mask"].B
			T, V, D := c.Ctx, c.Vocab, c.D
			padded := T - 1 // padding in rows 1 and 2, a real token in row 0
			if keep[T+padded] || keep[2*T+padded] || !keep[padded] || ids[T+padded] == int32(c.Pad) {
				t.Fatalf("batch is not padded as the test assumes: ids %v, mask %v", ids, keep)
			}
			logitsOf := func() []float64 {
				if err := it.Run(in); err != nil {
					t.Fatal(err)
				}
				return it.Output("logits").Float64s()
			}
			base := logitsOf()
			r := rand.New(rand.NewPCG(5, 6))
			wpe := it.Var("wpe").F64
			for i := range D {
				wpe[padded*D+i] += r.NormFloat64()
			}
			for _, row := range []int{0, 1, 2} {
				ids[row*T+padded] = (ids[row*T+padded]-1)%int32(V-2) + 2 // another id, not pad
			}
			got := logitsOf()
			for p := T; p < len(ids); p++ {
				if !keep[p] {
					continue
				}
				for v := range V {
					if k := p*V + v; got[k] != base[k] {
						t.Fatalf("masked position changed logit[%d][%d] of the real token at %d: %v → %v", p, v, p, base[k], got[k])
					}
				}
			}
			if slices.Equal(got[:padded*V], base[:padded*V]) {
				t.Errorf("control: the change at real position %d of row 0 did not reach its neighbours", padded)
			}

			hidden := T // row 1, position 0: real
			keep[hidden] = false
			again := logitsOf()
			if slices.Equal(again[(T+1)*V:(2*T-1)*V], got[(T+1)*V:(2*T-1)*V]) {
				t.Error("hiding a real key with attention_mask changed no other position of its row")
			}
		})
	}
}

// TestGradientsMatchFiniteDifferences compares autodiff with central
// differences (gonum diff/fd) in f64 on three elements of every parameter,
// on a padded, masked batch: relative error below 1e-6.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*bert.Config)
	}{
		{"post-gelu", func(c *bert.Config) {}},
		{"pre-relu-dropout", func(c *bert.Config) { c.Norm, c.Act, c.Dropout = "pre", "relu", 0.2 }},
		{"plain-post", func(c *bert.Config) { c.Eps, c.EmbNorm, c.Head, c.Mask = 1e-5, "off", "linear", "input" }},
		{"plain-pre-embnorm-dropout", func(c *bert.Config) {
			c.Norm, c.Eps, c.EmbNorm, c.Head, c.Mask, c.Dropout = "pre", 1e-5, "on", "linear", "input", 0.2
		}},
		{"post-dense-noembnorm-input", func(c *bert.Config) { c.EmbNorm, c.Mask = "off", "input" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tiny()
			tc.edit(&c)
			it := setup(t, c, true, 5)
			in := pipelineBatch(t, c, 6)
			rng := it.DropoutRNG()
			start := rng.State // replay the dropout stream: one fixed function
			loss := func() float64 {
				rng.State = start
				if err := it.Eval(in, false); err != nil {
					t.Fatal(err)
				}
				return it.Loss()
			}
			loss()
			analytic := map[string][]float64{}
			for _, p := range it.G.Params() {
				analytic[p.Name] = it.Grad(p.Name).Float64s()
			}
			r := rand.New(rand.NewPCG(7, 8))
			for _, p := range it.G.Params() {
				v := it.Var(p.Name)
				idx := r.Perm(v.Len())[:min(3, v.Len())]
				x0, want := make([]float64, len(idx)), make([]float64, len(idx))
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
					t.Errorf("%s%v: analytic %v, numeric %v", p.Name, idx, want, numeric)
				}
			}
		})
	}
}

// gradOK: relative error ‖g − g_fd‖ / max(‖g‖, ‖g_fd‖) below 1e-6, or an
// absolute difference below 1e-8, above the differences' noise (≈ 1e-10),
// for gradients that are exactly zero (the key bias bk shifts a whole row of
// scores, which the softmax ignores).
func gradOK(a, b []float64) bool {
	var diff, na, nb float64
	for i := range a {
		diff += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	diff = math.Sqrt(diff)
	return diff < 1e-6*math.Max(math.Sqrt(na), math.Sqrt(nb)) || diff < 1e-8
}
