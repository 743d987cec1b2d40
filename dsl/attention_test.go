package dsl_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/internal/testutil"
	"github.com/mlc-dev/mlc/runtime"
)

// run builds a graph, feeds it random float inputs (and the given others)
// and returns the interpreter after one run.
func run(t *testing.T, build func(b *dsl.Builder), given map[string]*runtime.Tensor) *runtime.Interpreter {
	t.Helper()
	g, err := dsl.Build("attn", "attn", dsl.Options{Float: graph.F64}, build)
	if err != nil {
		t.Fatal(err)
	}
	it, err := runtime.NewInterpreter(g, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	in := map[string]*runtime.Tensor{}
	for _, n := range g.Inputs() {
		if x, ok := given[n.Name]; ok {
			in[n.Name] = x
			continue
		}
		x := runtime.NewTensor(n.Type)
		for i := range x.F64 {
			x.F64[i] = r.NormFloat64()
		}
		in[n.Name] = x
	}
	if err := it.Run(in); err != nil {
		t.Fatal(err)
	}
	return it
}

// TestSplitMergeHeads: SplitHeads puts x[…, t, h·dk + j] at […, h, t, j],
// and MergeHeads undoes it, for several ranks and head counts.
func TestSplitMergeHeads(t *testing.T) {
	for _, c := range []struct {
		shape []int
		heads int
	}{
		{[]int{5, 12}, 3},
		{[]int{2, 5, 12}, 1},
		{[]int{2, 5, 12}, 4},
		{[]int{2, 5, 12}, 12},
		{[]int{2, 3, 4, 6}, 2},
	} {
		t.Run(fmt.Sprint(c.shape, "/", c.heads), func(t *testing.T) {
			r := len(c.shape)
			T, D := c.shape[r-2], c.shape[r-1]
			dk := D / c.heads
			wantSplit := append(append(append([]int{}, c.shape[:r-2]...), c.heads, T), dk)
			it := run(t, func(b *dsl.Builder) {
				x := b.Input("x", c.shape...)
				s := dsl.SplitHeads(x, c.heads)
				b.Output("split", s)
				b.Output("merged", dsl.MergeHeads(s))
			}, nil)
			x, split, merged := it.Value(it.G.Inputs()[0]), it.Output("split"), it.Output("merged")
			if !split.Shape.Equal(wantSplit) || !merged.Shape.Equal(c.shape) {
				t.Fatalf("split %s (want %v), merged %s", split.Shape, wantSplit, merged.Shape)
			}
			lead := x.Len() / (T * D)
			for a := range lead {
				for h := range c.heads {
					for tt := range T {
						for j := range dk {
							got := split.F64[((a*c.heads+h)*T+tt)*dk+j]
							want := x.F64[(a*T+tt)*D+h*dk+j]
							if got != want {
								t.Fatalf("split[%d,%d,%d,%d] = %v, want x[%d,%d,%d] = %v", a, h, tt, j, got, a, tt, h*dk+j, want)
							}
						}
					}
				}
			}
			if diff := testutil.CompareSlices(merged.F64, x.F64, 0); diff != "" {
				t.Errorf("MergeHeads(SplitHeads(x)) ≠ x: %s", diff)
			}
		})
	}
}

// naiveAttention is softmax(q·kᵀ/√dk, masked)·v for one [T, dk] head.
func naiveAttention(q, k, v []float64, T, S, dk int, visible func(i, j int) bool) []float64 {
	out := make([]float64, T*dk)
	for i := range T {
		scores := make([]float64, S)
		m := math.Inf(-1)
		for j := range S {
			scores[j] = math.Inf(-1)
			if visible(i, j) {
				s := 0.0
				for c := range dk {
					s += q[i*dk+c] * k[j*dk+c]
				}
				scores[j] = s / math.Sqrt(float64(dk))
			}
			m = math.Max(m, scores[j])
		}
		z := 0.0
		for j := range S {
			scores[j] = math.Exp(scores[j] - m)
			z += scores[j]
		}
		for j := range S {
			for c := range dk {
				out[i*dk+c] += scores[j] / z * v[j*dk+c]
			}
		}
	}
	return out
}

// TestScaledDotProductAttention compares with a direct computation for no
// mask, the causal mask, a key padding mask and both combined with And.
func TestScaledDotProductAttention(t *testing.T) {
	const B, H, T, dk = 2, 3, 5, 4
	keepData := []float64{1, 1, 1, 0, 0, 1, 1, 1, 1, 0} // row 0 has 3 real tokens, row 1 has 4
	keep, err := runtime.FromFloat64(graph.Bool, []int{B, T}, keepData)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		mask    func(b *dsl.Builder) *dsl.Tensor
		visible func(b, i, j int) bool
	}{
		{"none", func(*dsl.Builder) *dsl.Tensor { return nil }, func(b, i, j int) bool { return true }},
		{"causal", func(b *dsl.Builder) *dsl.Tensor { return b.CausalMask(T) }, func(b, i, j int) bool { return j <= i }},
		{"padding", func(b *dsl.Builder) *dsl.Tensor { return dsl.KeyPaddingMask(b.InputMask("keep", B, T)) },
			func(b, i, j int) bool { return keepData[b*T+j] != 0 }},
		{"causal-and-padding", func(b *dsl.Builder) *dsl.Tensor {
			return b.CausalMask(T).And(dsl.KeyPaddingMask(b.InputMask("keep", B, T)))
		}, func(b, i, j int) bool { return j <= i && keepData[b*T+j] != 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			it := run(t, func(b *dsl.Builder) {
				q, k, v := b.Input("q", B, H, T, dk), b.Input("k", B, H, T, dk), b.Input("v", B, H, T, dk)
				b.Output("out", dsl.ScaledDotProductAttention(q, k, v, c.mask(b)))
			}, map[string]*runtime.Tensor{"keep": keep})
			in := map[string][]float64{}
			for _, n := range it.G.Inputs() {
				in[n.Name] = it.Value(n).F64
			}
			got := it.Output("out").F64
			for b := range B {
				for h := range H {
					off := (b*H + h) * T * dk
					head := func(x []float64) []float64 { return x[off : off+T*dk] }
					want := naiveAttention(head(in["q"]), head(in["k"]), head(in["v"]), T, T, dk, func(i, j int) bool { return c.visible(b, i, j) })
					if diff := testutil.CompareSlices(head(got), want, 1e-12); diff != "" {
						t.Fatalf("batch %d head %d: %s", b, h, diff)
					}
				}
			}
		})
	}
}

// TestCausalSelfAttentionPattern: the layer builds exactly the canonical
// chain the KV-cache pass matches, with q, k, v [B, H, T, dk] from one
// projection each, and names its parameters and intermediates under its
// prefix.
func TestCausalSelfAttentionPattern(t *testing.T) {
	const B, T, D, H = 2, 5, 12, 3
	g, err := dsl.Build("attn", "attn", dsl.Options{}, func(b *dsl.Builder) {
		a := dsl.NewSelfAttention(b, "blk.attn", D, H, dsl.Normal(0.02), dsl.Normal(0.01))
		b.Output("y", dsl.CausalSelfAttention(b.Input("x", B, T, D), a))
	})
	if err != nil {
		t.Fatal(err)
	}
	var params []string
	for _, p := range g.Params() {
		params = append(params, p.Name)
	}
	if got, want := strings.Join(params, " "), "blk.attn.Wq blk.attn.bq blk.attn.Wk blk.attn.bk blk.attn.Wv blk.attn.bv blk.attn.Wo blk.attn.bo"; got != want {
		t.Errorf("params %s, want %s", got, want)
	}
	byName := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		if n.Name != "" {
			byName[n.Name] = n
		}
	}
	out := g.Output("y")
	ctx := byName["blk.attn.context"]
	w := byName["blk.attn.weights"]
	scores := byName["blk.attn.scores"]
	switch {
	case out == nil || out.Name != "blk.attn.out" || !out.Type.Shape.Equal(graph.Shape{B, T, D}):
		t.Fatalf("output %v", out)
	case ctx == nil || ctx.Op != graph.OpMatMul || ctx.Inputs[0] != w || ctx.Inputs[1] != byName["blk.attn.v"]:
		t.Fatalf("context is not MatMul(weights, v): %v", ctx)
	case w.Op != graph.OpSoftmax || w.Attrs.Axis != 3 || w.Inputs[0].Op != graph.OpWhere:
		t.Fatalf("weights are not Softmax(Where(…), −1): %v", w)
	}
	where := w.Inputs[0]
	if m := where.Inputs[0]; m.Op != graph.OpCausalMask || !m.Type.Shape.Equal(graph.Shape{T, T}) {
		t.Errorf("mask %v", m)
	}
	if where.Inputs[1] != scores || !math.IsInf(where.Inputs[2].Attrs.Value, -1) {
		t.Errorf("Where(mask, %v, %v), want Where(mask, scores, −inf)", where.Inputs[1], where.Inputs[2])
	}
	qk := scores.Inputs[0]
	if scores.Op != graph.OpMul || scores.Inputs[1].Attrs.Value != 0.5 || qk.Op != graph.OpMatMul || !qk.Attrs.TransB {
		t.Errorf("scores are not MatMul(q, k, transB) ⊙ 1/√4: %v", scores)
	}
	for i, name := range []string{"q", "k"} {
		x := byName["blk.attn."+name]
		if qk.Inputs[i] != x || !x.Type.Shape.Equal(graph.Shape{B, H, T, D / H}) {
			t.Errorf("%s: %v", name, x)
		}
		// x = SplitHeads(input·W + b): Transpose(Reshape(Add(MatMul(input, W), b))).
		proj := x.Inputs[0].Inputs[0]
		if proj.Op != graph.OpAdd || proj.Inputs[0].Op != graph.OpMatMul || proj.Inputs[0].Inputs[1].Name != "blk.attn.W"+name {
			t.Errorf("%s does not come from one projection: %v", name, proj)
		}
	}
}

// TestAttentionErrors: mistakes are reported at the caller's line.
func TestAttentionErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  string
	}{
		{"split-indivisible", func(b *dsl.Builder) { dsl.SplitHeads(b.Input("x", 2, 5, 12), 5) },
			"SplitHeads: width 12 is not divisible into 5 heads"},
		{"split-rank", func(b *dsl.Builder) { dsl.SplitHeads(b.Input("x", 12), 2) },
			"SplitHeads: needs [..., T, D], got f64[12]"},
		{"merge-rank", func(b *dsl.Builder) { dsl.MergeHeads(b.Input("x", 5, 12)) },
			"MergeHeads: needs [..., H, T, dk], got f64[5,12]"},
		{"padding-dtype", func(b *dsl.Builder) { dsl.KeyPaddingMask(b.Input("keep", 2, 5)) },
			"KeyPaddingMask: needs a bool [B, S] mask, got f64[2,5]"},
		{"layer-heads", func(b *dsl.Builder) {
			a := dsl.NewSelfAttention(b, "attn", 12, 5, dsl.Zeros(), dsl.Zeros())
			dsl.CausalSelfAttention(b.Input("x", 2, 5, 12), a)
		}, "attn: input f64[2,5,12] does not split into 5 heads"},
		{"mask-shape", func(b *dsl.Builder) {
			q := b.Input("q", 2, 5, 4)
			dsl.ScaledDotProductAttention(q, q, q, b.CausalMask(3))
		}, "Where: mask shape [3,3] does not broadcast with [2,5,5]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dsl.Build("attn", "attn", dsl.Options{}, c.build)
			var be *dsl.BuildError
			if err == nil || !errors.As(err, &be) || len(be.Errs) != 1 {
				t.Fatalf("want exactly one error, got %v", err)
			}
			msg := be.Errs[0].Error()
			if !strings.HasPrefix(msg, "dsl/attention_test.go:") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want %q at this file's line", msg, c.want)
			}
		})
	}
}

// ExampleCausalSelfAttention shows a multi-head causal self-attention layer
// over a batch of sequences.
func ExampleCausalSelfAttention() {
	g, err := dsl.Build("example", "example", dsl.Options{Float: dsl.F32}, func(b *dsl.Builder) {
		x := b.Input("x", 8, 16, 64) // [batch, tokens, width]
		attn := dsl.NewSelfAttention(b, "attn", 64, 4, dsl.Normal(0.02), dsl.Normal(0.02))
		b.Output("y", dsl.CausalSelfAttention(x, attn))
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range g.Nodes {
		switch n.Name {
		case "attn.q", "attn.scores", "attn.weights", "attn.context", "attn.out":
			fmt.Println(n.Name, n.Op, n.Type)
		}
	}
	// Output:
	// attn.q Transpose f32[8,4,16,16]
	// attn.scores Mul f32[8,4,16,16]
	// attn.weights Softmax f32[8,4,16,16]
	// attn.context MatMul f32[8,4,16,16]
	// attn.out Add f32[8,16,64]
}
