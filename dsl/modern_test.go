package dsl_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/internal/testutil"
)

// TestGroupedAttentionIsRepeatedHeads: grouped-query attention equals
// multi-head attention whose key and value weights repeat kv head j for
// query heads j·G … j·G+G−1 (query head h reads kv head h / G), with and
// without RoPE, for several head counts and ranks.
func TestGroupedAttentionIsRepeatedHeads(t *testing.T) {
	for _, c := range []struct {
		name              string
		x                 []int
		d, heads, kvHeads int
		rope              *dsl.RoPE
	}{
		{"gqa", []int{2, 5, 16}, 16, 4, 2, nil},
		{"gqa rope", []int{2, 5, 16}, 16, 4, 2, &dsl.RoPE{Theta: 100}},
		{"mqa rope interleaved", []int{6, 12}, 12, 3, 1, &dsl.RoPE{Theta: 10, Interleaved: true}},
		{"mha", []int{1, 4, 8}, 8, 2, 2, &dsl.RoPE{Theta: 1e4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			dk, g := c.d/c.heads, c.heads/c.kvHeads
			rnd := func(n int) []float64 {
				v := make([]float64, n)
				for i := range v {
					v[i] = r.NormFloat64() * 0.5
				}
				return v
			}
			wq, wk, wv, wo := rnd(c.d*c.d), rnd(c.d*c.kvHeads*dk), rnd(c.d*c.kvHeads*dk), rnd(c.d*c.d)
			// repeat writes kv head h/G's columns of w into query head h's.
			repeat := func(w []float64) []float64 {
				out := make([]float64, c.d*c.d)
				for i := range c.d {
					for h := range c.heads {
						copy(out[i*c.d+h*dk:i*c.d+h*dk+dk], w[i*c.kvHeads*dk+(h/g)*dk:][:dk])
					}
				}
				return out
			}
			it := run(t, func(b *dsl.Builder) {
				x := b.Input("x", c.x...)
				p := func(name string, v []float64, dims ...int) *dsl.Tensor {
					return b.Param(name, dsl.Values(v...), dims...)
				}
				grouped := &dsl.GroupedAttention{Name: "gqa", Heads: c.heads, KVHeads: c.kvHeads, Rope: c.rope,
					Wq: p("gqa.Wq", wq, c.d, c.d), Wk: p("gqa.Wk", wk, c.d, c.kvHeads*dk), Wv: p("gqa.Wv", wv, c.d, c.kvHeads*dk), Wo: p("gqa.Wo", wo, c.d, c.d)}
				full := &dsl.GroupedAttention{Name: "mha", Heads: c.heads, KVHeads: c.heads, Rope: c.rope,
					Wq: p("mha.Wq", wq, c.d, c.d), Wk: p("mha.Wk", repeat(wk), c.d, c.d), Wv: p("mha.Wv", repeat(wv), c.d, c.d), Wo: p("mha.Wo", wo, c.d, c.d)}
				b.Output("grouped", grouped.Causal(x))
				b.Output("full", full.Causal(x))
			}, nil)
			if d := testutil.CompareSlices(it.Output("grouped").Float64s(), it.Output("full").Float64s(), 1e-12); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestSwiGLUAndRMSNorm checks the blocks against their formulas written out.
func TestSwiGLUAndRMSNorm(t *testing.T) {
	it := run(t, func(b *dsl.Builder) {
		x := b.ConstValues([]float64{1, 2}, 1, 2)
		m := &dsl.SwiGLU{Name: "mlp",
			Gate: &dsl.Linear{W: b.Param("g", dsl.Values(1, 0, 0, 1), 2, 2)},
			Up:   &dsl.Linear{W: b.Param("u", dsl.Values(2, 0, 0, 3), 2, 2)},
			Down: &dsl.Linear{W: b.Param("d", dsl.Values(1, 1), 2, 1), B: b.Param("bias", dsl.Values(0.5), 1)}}
		b.Output("mlp", m.Apply(x))
		b.Output("rms", dsl.RMSNorm(x, b.Param("gain", dsl.Values(1, 10), 2), 0))
	}, nil)
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	// gate (1, 2) → silu (σ(1), 2σ(2)); up (2, 6); down sums the product; bias 0.5.
	if d := testutil.CompareSlices(it.Output("mlp").Float64s(), []float64{2*sig(1) + 12*sig(2) + 0.5}, 1e-14); d != "" {
		t.Error("SwiGLU:", d)
	}
	r := math.Sqrt(2.5) // √((1 + 4)/2)
	if d := testutil.CompareSlices(it.Output("rms").Float64s(), []float64{1 / r, 20 / r}, 1e-14); d != "" {
		t.Error("RMSNorm:", d)
	}
}

// TestModernErrors: mistakes in the new blocks are one error at the
// caller's line.
func TestModernErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(b *dsl.Builder)
		want  string
	}{
		{"kv-heads", func(b *dsl.Builder) { dsl.NewGroupedAttention(b, "attn", 16, 4, 3, dsl.Zeros(), dsl.Zeros()) },
			"attn: kv_heads (3) must divide heads (4)"},
		{"heads", func(b *dsl.Builder) { dsl.NewGroupedAttention(b, "attn", 16, 5, 1, dsl.Zeros(), dsl.Zeros()) },
			"attn: width 16 is not divisible into 5 heads"},
		{"rope-odd", func(b *dsl.Builder) { dsl.RoPE{Theta: 1e4}.Rotate(b.Input("q", 2, 3, 6, 5)) },
			"RoPE: the rotated width 5 is odd: rotary embeddings rotate pairs of features"},
		{"rope-theta", func(b *dsl.Builder) { dsl.RoPE{}.Rotate(b.Input("q", 3, 4)) },
			"RoPE: theta must be positive, got 0"},
		{"rope-rank", func(b *dsl.Builder) { dsl.RoPE{Theta: 1}.Rotate(b.Input("q", 4)) },
			"RoPE: needs [..., T, d], got f64[4]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dsl.Build("m", "m", dsl.Options{}, c.build)
			var be *dsl.BuildError
			if err == nil || !errors.As(err, &be) || len(be.Errs) != 1 {
				t.Fatalf("want exactly one error, got %v", err)
			}
			msg := be.Errs[0].Error()
			if !strings.HasPrefix(msg, "dsl/modern_test.go:") || !strings.HasSuffix(msg, c.want) {
				t.Errorf("error %q, want %q at this file's line", msg, c.want)
			}
		})
	}
}
