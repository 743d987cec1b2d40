// Package gpt is a decoder-only transformer language model in the GPT-2
// mould: token and learned position embeddings, a stack of blocks of causal
// multi-head self-attention and a two-layer MLP, each with a residual
// connection and LayerNorm (before the branch, pre-norm, or after the sum,
// post-norm), and logits over the vocabulary at every position.
//
// Inputs are ids and targets, both i32[batch, ctx]. The data pipeline
// provides targets[b, t] = ids[b, t+1] (the next token: a window of ctx+1
// tokens gives both), so the cross-entropy over all positions trains every
// prefix at once; the causal mask keeps position t from seeing the token it
// predicts.
//
// With ffn=0 the blocks have no MLP: an attention-only transformer, the
// kind in which induction heads are easiest to see (mlc induction).
package gpt

import (
	"math"
	"strconv"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the model.
type Config struct {
	Vocab   int     `mlc:"vocab" help:"vocabulary size"`
	Ctx     int     `mlc:"ctx" help:"context length: tokens per sequence"`
	D       int     `mlc:"d" help:"model width"`
	Heads   int     `mlc:"heads" help:"attention heads; must divide d"`
	Layers  int     `mlc:"layers" help:"transformer blocks"`
	FFN     int     `mlc:"ffn" help:"hidden width of each block's MLP; 0 drops the MLPs (an attention-only transformer)"`
	Norm    string  `mlc:"norm" help:"LayerNorm placement: pre (GPT-2, with a final LayerNorm) or post (the original transformer)"`
	Act     string  `mlc:"act" help:"MLP activation: relu or gelu"`
	Tied    bool    `mlc:"tied" help:"output projection shares the token embedding wte"`
	Dropout float64 `mlc:"dropout" help:"dropout probability on embeddings, attention weights and residual branches (training only)"`
	Batch   int     `mlc:"batch" help:"sequences per step"`
}

// DefaultConfig is a small GPT-2-style model (0.88M parameters) that trains
// at a useful pace on two cores. Dropout is off: on the default corpus (the
// Go standard library, tens of millions of tokens) a model this size sees
// each token at most about once per session, so it underfits rather than
// overfits, and dropout would only slow it down (nanoGPT pretrains with 0).
func DefaultConfig() Config {
	return Config{Vocab: 512, Ctx: 128, D: 128, Heads: 4, Layers: 4, FFN: 512,
		Norm: "pre", Act: "gelu", Tied: true, Dropout: 0, Batch: 8}
}

// Build defines logits = gpt(ids) and loss = CrossEntropy(logits, targets).
func Build(b *dsl.Builder, c Config) {
	if !c.valid(b) {
		return
	}
	act := map[string]func(*dsl.Tensor) *dsl.Tensor{"relu": (*dsl.Tensor).ReLU, "gelu": (*dsl.Tensor).GELU}[c.Act]
	pre := c.Norm == "pre"
	// GPT-2's initialisation: N(0, 0.02²) everywhere, with the projections
	// that write into the residual stream shrunk by √(2·layers) so that its
	// variance does not grow with depth.
	std := dsl.Normal(0.02)
	resid := dsl.Normal(0.02 / math.Sqrt(2*float64(c.Layers)))

	ids := b.InputIDs("ids", c.Batch, c.Ctx)
	targets := b.InputIDs("targets", c.Batch, c.Ctx)
	wte := b.Param("wte", std, c.Vocab, c.D)
	wpe := b.Param("wpe", std, c.Ctx, c.D)

	x := wte.Gather(ids).Add(wpe).Dropout(c.Dropout).As("h_in").Tap("h_in")
	for l := range c.Layers {
		h := "h" + strconv.Itoa(l)
		ln1 := dsl.NewLayerNorm(b, h+".ln1", c.D, lnEps)
		attn := dsl.NewSelfAttention(b, h+".attn", c.D, c.Heads, std, resid)
		attn.Dropout = c.Dropout
		// ffn=0 makes an attention-only block: no ln2, no MLP, nil below.
		var ln2, mlp func(*dsl.Tensor) *dsl.Tensor
		if c.FFN > 0 {
			ln2 = dsl.NewLayerNorm(b, h+".ln2", c.D, lnEps)
			W1 := b.Param(h+".mlp.W1", std, c.D, c.FFN)
			b1 := b.Param(h+".mlp.b1", dsl.Zeros(), c.FFN)
			W2 := b.Param(h+".mlp.W2", resid, c.FFN, c.D)
			b2 := b.Param(h+".mlp.b2", dsl.Zeros(), c.D)
			mlp = func(x *dsl.Tensor) *dsl.Tensor {
				hid := act(x.MatMul(W1).Add(b1)).As(h + ".mlp.hidden")
				return hid.MatMul(W2).Add(b2).As(h + ".mlp.out")
			}
		}
		if pre {
			// x + attn(ln1(x)), then + mlp(ln2(·))
			a := dsl.CausalSelfAttention(ln1(x), attn).Dropout(c.Dropout)
			x = x.Add(a).As(h + ".resid1")
			if mlp != nil {
				m := mlp(ln2(x)).Dropout(c.Dropout)
				x = x.Add(m).As(h + ".resid2")
			}
		} else {
			// ln1(x + attn(x)), then ln2(· + mlp(·))
			a := dsl.CausalSelfAttention(x, attn).Dropout(c.Dropout)
			x = ln1(x.Add(a).As(h + ".resid1"))
			if mlp != nil {
				m := mlp(x).Dropout(c.Dropout)
				x = ln2(x.Add(m).As(h + ".resid2"))
			}
		}
		x.Tap(h + ".out") // the residual stream after block l, for probes
	}
	if pre {
		// Pre-norm leaves the residual stream unnormalised: normalise once more.
		x = dsl.NewLayerNorm(b, "lnf", c.D, lnEps)(x)
	}

	// The output projection has no bias, as in GPT-2.
	var logits *dsl.Tensor
	if c.Tied {
		logits = x.MatMulT(wte) // x·wteᵀ: the embedding doubles as the output projection
	} else {
		logits = x.MatMul(b.Param("lm_head", std, c.D, c.Vocab))
	}
	b.Output("logits", logits.As("logits"))
	b.Loss(dsl.CrossEntropy(logits, targets))
}

// lnEps is the LayerNorms' ε (GPT-2's).
const lnEps = 1e-5

// valid reports every problem with c at once.
func (c Config) valid(b *dsl.Builder) bool {
	ok := true
	bad := func(format string, args ...any) {
		b.Errorf(format, args...)
		ok = false
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"vocab", c.Vocab}, {"ctx", c.Ctx}, {"d", c.D}, {"heads", c.Heads}, {"layers", c.Layers}, {"batch", c.Batch}} {
		if f.v <= 0 {
			bad("%s must be positive, got %d", f.key, f.v)
		}
	}
	if c.FFN < 0 {
		bad("ffn must not be negative (0: no MLP), got %d", c.FFN)
	}
	if c.Heads > 0 && c.D%c.Heads != 0 {
		bad("d (%d) must be divisible by heads (%d)", c.D, c.Heads)
	}
	if c.Norm != "pre" && c.Norm != "post" {
		bad("norm must be pre or post, got %q", c.Norm)
	}
	if c.Act != "relu" && c.Act != "gelu" {
		bad("act must be relu or gelu, got %q", c.Act)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		bad("dropout must be in [0, 1), got %v", c.Dropout)
	}
	return ok
}
