// Package llama is a decoder-only transformer language model in the Llama
// mould: token embeddings without learned positions, pre-norm blocks of
// RMSNorm, causal grouped-query attention with rotary position embeddings
// (RoPE, rotate-half) on q and k, and a SwiGLU MLP, a final RMSNorm, and
// logits over the vocabulary at every position, from the token embedding
// (tie=true) or a separate head. No linear layer has a bias.
//
// Its inputs and outputs are gpt's: ids and targets i32[batch, ctx] with
// targets[b, t] = ids[b, t+1], logits [batch, ctx, vocab] and the mean
// cross-entropy as the loss, so gpt's data pipeline and generation work
// unchanged.
package llama

import (
	"math"
	"strconv"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the model.
type Config struct {
	Vocab     int     `mlc:"vocab" help:"vocabulary size"`
	Ctx       int     `mlc:"ctx" help:"context length: tokens per sequence"`
	D         int     `mlc:"d" help:"model width"`
	Heads     int     `mlc:"heads" help:"query heads; must divide d, and d/heads must be even (RoPE rotates pairs)"`
	KVHeads   int     `mlc:"kv_heads" help:"key/value heads, shared by groups of heads/kv_heads query heads; must divide heads (1: multi-query attention)"`
	Layers    int     `mlc:"layers" help:"transformer blocks"`
	FFN       int     `mlc:"ffn" help:"hidden width of each block's SwiGLU MLP"`
	RopeTheta float64 `mlc:"rope_theta" help:"base of the rotary embeddings' frequencies"`
	NormEps   float64 `mlc:"norm_eps" help:"the RMSNorms' ε"`
	Tie       bool    `mlc:"tie" help:"output projection shares the token embedding wte"`
	Batch     int     `mlc:"batch" help:"sequences per step"`
}

// DefaultConfig is about the size of the default gpt (0.85M parameters
// against its 0.88M): the same vocabulary, context, width, heads and
// layers, two key/value heads for four query heads, and a SwiGLU width of
// 384 (Llama's 8/3·d rounded up to a multiple of 64). Llama's θ and ε.
func DefaultConfig() Config {
	return Config{Vocab: 512, Ctx: 128, D: 128, Heads: 4, KVHeads: 2, Layers: 4, FFN: 384,
		RopeTheta: 10000, NormEps: 1e-5, Tie: true, Batch: 8}
}

// Build defines logits = llama(ids) and loss = CrossEntropy(logits, targets).
func Build(b *dsl.Builder, c Config) {
	if !c.valid(b) {
		return
	}
	// GPT-2's initialisation, as in gpt: N(0, 0.02²), the projections into
	// the residual stream shrunk by √(2·layers).
	std := dsl.Normal(0.02)
	resid := dsl.Normal(0.02 / math.Sqrt(2*float64(c.Layers)))
	rope := &dsl.RoPE{Theta: c.RopeTheta}

	ids := b.InputIDs("ids", c.Batch, c.Ctx)
	targets := b.InputIDs("targets", c.Batch, c.Ctx)
	wte := b.Param("wte", std, c.Vocab, c.D)

	x := wte.Gather(ids).As("h_in").Tap("h_in")
	for l := range c.Layers {
		h := "h" + strconv.Itoa(l)
		attnNorm := dsl.NewRMSNorm(b, h+".attn_norm", c.D, c.NormEps)
		attn := dsl.NewGroupedAttention(b, h+".attn", c.D, c.Heads, c.KVHeads, std, resid)
		attn.Rope = rope
		mlpNorm := dsl.NewRMSNorm(b, h+".mlp_norm", c.D, c.NormEps)
		mlp := dsl.NewSwiGLU(b, h+".mlp", c.D, c.FFN, std, resid)

		x = x.Add(attn.Causal(attnNorm(x))).As(h + ".resid1")
		x = x.Add(mlp.Apply(mlpNorm(x))).As(h + ".resid2")
		x.Tap(h + ".out") // the residual stream after block l, for probes
	}
	x = dsl.NewRMSNorm(b, "norm", c.D, c.NormEps)(x)

	var logits *dsl.Tensor
	if c.Tie {
		logits = x.MatMulT(wte) // x·wteᵀ
	} else {
		logits = x.MatMul(b.Param("lm_head", std, c.D, c.Vocab))
	}
	b.Output("logits", logits.As("logits"))
	b.Loss(dsl.CrossEntropy(logits, targets))
}

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
	}{{"vocab", c.Vocab}, {"ctx", c.Ctx}, {"d", c.D}, {"heads", c.Heads}, {"kv_heads", c.KVHeads}, {"layers", c.Layers}, {"ffn", c.FFN}, {"batch", c.Batch}} {
		if f.v <= 0 {
			bad("%s must be positive, got %d", f.key, f.v)
		}
	}
	for _, p := range dsl.RopeAttentionProblems(c.D, c.Heads, c.KVHeads, c.RopeTheta) {
		bad("%s", p)
	}
	if !(c.NormEps > 0) {
		bad("norm_eps must be positive, got %v", c.NormEps)
	}
	return ok
}
