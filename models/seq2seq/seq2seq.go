// Package seq2seq is an encoder-decoder transformer in the T5 mould, built
// from the Llama-style blocks: a shared token embedding; an encoder of
// pre-norm blocks (RMSNorm, bidirectional self-attention with RoPE, SwiGLU)
// with a final RMSNorm; a decoder of pre-norm blocks of causal
// self-attention with RoPE, cross-attention over the encoder's output
// (T5's decoder has no positions in it) and SwiGLU, a final RMSNorm, and
// logits from the shared embedding (T5 ties them). T5 encodes positions
// with learned relative biases; here RoPE does that job.
//
// Inputs: src i32[batch, src_ctx], the source sequence, padded with the pad
// id after its last real token (sources of any length from 1 to src_ctx);
// ids i32[batch, ctx],
// the decoder's input (the target shifted right behind a start token); and
// targets i32[batch, ctx], the token each decoder position predicts. The
// output is logits [batch, ctx, vocab]; the loss is the mean cross-entropy.
//
// Padding: the encoder's self-attention and the decoder's cross-attention
// see the source's real tokens (src ≠ pad) only, so what a padded position
// holds changes no output, and a source padded to src_ctx gives the logits
// of the same source unpadded. Every source needs at least one real token.
package seq2seq

import (
	"math"
	"strconv"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the model.
type Config struct {
	Vocab     int     `mlc:"vocab" help:"vocabulary size (shared by source and target)"`
	SrcCtx    int     `mlc:"src_ctx" help:"source length: tokens per source sequence"`
	Ctx       int     `mlc:"ctx" help:"target length: tokens per decoder sequence"`
	D         int     `mlc:"d" help:"model width"`
	Heads     int     `mlc:"heads" help:"attention heads; must divide d, and d/heads must be even (RoPE)"`
	KVHeads   int     `mlc:"kv_heads" help:"key/value heads of every attention; must divide heads"`
	EncLayers int     `mlc:"enc_layers" help:"encoder blocks"`
	DecLayers int     `mlc:"dec_layers" help:"decoder blocks"`
	FFN       int     `mlc:"ffn" help:"hidden width of each block's SwiGLU MLP"`
	RopeTheta float64 `mlc:"rope_theta" help:"base of the rotary embeddings' frequencies"`
	NormEps   float64 `mlc:"norm_eps" help:"the RMSNorms' ε"`
	Pad       int     `mlc:"pad" help:"padding id of the source: masked out of the encoder's and the cross-attention's keys"`
	Batch     int     `mlc:"batch" help:"sequence pairs per step"`
}

// DefaultConfig is a small model (0.72M parameters) for toy translation
// tasks; `mlc train -model seq2seq` trains it on the case task (Go
// identifiers written in snake_case, data.KindCase) in batches of 32.
func DefaultConfig() Config {
	return Config{Vocab: 256, SrcCtx: 32, Ctx: 32, D: 96, Heads: 4, KVHeads: 2, EncLayers: 3, DecLayers: 3, FFN: 256,
		RopeTheta: 10000, NormEps: 1e-6, Pad: 0, Batch: 32}
}

// Build defines logits = seq2seq(src, ids) and loss = CrossEntropy(logits, targets).
func Build(b *dsl.Builder, c Config) {
	if !c.valid(b) {
		return
	}
	layers := c.EncLayers + c.DecLayers
	std := dsl.Normal(0.02)
	resid := dsl.Normal(0.02 / math.Sqrt(2*float64(layers)))
	rope := &dsl.RoPE{Theta: c.RopeTheta}

	src := b.InputIDs("src", c.Batch, c.SrcCtx)
	ids := b.InputIDs("ids", c.Batch, c.Ctx)
	targets := b.InputIDs("targets", c.Batch, c.Ctx)
	wte := b.Param("wte", std, c.Vocab, c.D)

	// Encoder: queries see the source's real tokens only.
	keep := src.NotEqual(b.ConstIDs([]int{c.Pad})).As("src_keep")
	x := wte.Gather(src).As("enc.in")
	for l := range c.EncLayers {
		h := "enc" + strconv.Itoa(l)
		attnNorm := dsl.NewRMSNorm(b, h+".attn_norm", c.D, c.NormEps)
		attn := dsl.NewGroupedAttention(b, h+".attn", c.D, c.Heads, c.KVHeads, std, resid)
		attn.Rope = rope
		mlpNorm := dsl.NewRMSNorm(b, h+".mlp_norm", c.D, c.NormEps)
		mlp := dsl.NewSwiGLU(b, h+".mlp", c.D, c.FFN, std, resid)
		x = x.Add(attn.Bidirectional(attnNorm(x), keep)).As(h + ".resid1")
		x = x.Add(mlp.Apply(mlpNorm(x))).As(h + ".resid2")
	}
	mem := dsl.NewRMSNorm(b, "enc.norm", c.D, c.NormEps)(x)

	// Decoder.
	y := wte.Gather(ids).As("dec.in")
	for l := range c.DecLayers {
		h := "dec" + strconv.Itoa(l)
		selfNorm := dsl.NewRMSNorm(b, h+".self_norm", c.D, c.NormEps)
		self := dsl.NewGroupedAttention(b, h+".self", c.D, c.Heads, c.KVHeads, std, resid)
		self.Rope = rope
		crossNorm := dsl.NewRMSNorm(b, h+".cross_norm", c.D, c.NormEps)
		cross := dsl.NewGroupedAttention(b, h+".cross", c.D, c.Heads, c.KVHeads, std, resid)
		mlpNorm := dsl.NewRMSNorm(b, h+".mlp_norm", c.D, c.NormEps)
		mlp := dsl.NewSwiGLU(b, h+".mlp", c.D, c.FFN, std, resid)
		y = y.Add(self.Causal(selfNorm(y))).As(h + ".resid1")
		y = y.Add(cross.Cross(crossNorm(y), mem, keep)).As(h + ".resid2")
		y = y.Add(mlp.Apply(mlpNorm(y))).As(h + ".resid3")
	}
	y = dsl.NewRMSNorm(b, "dec.norm", c.D, c.NormEps)(y)

	logits := y.MatMulT(wte).As("logits")
	b.Output("logits", logits)
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
	}{{"vocab", c.Vocab}, {"src_ctx", c.SrcCtx}, {"ctx", c.Ctx}, {"d", c.D}, {"heads", c.Heads}, {"kv_heads", c.KVHeads},
		{"enc_layers", c.EncLayers}, {"dec_layers", c.DecLayers}, {"ffn", c.FFN}, {"batch", c.Batch}} {
		if f.v <= 0 {
			bad("%s must be positive, got %d", f.key, f.v)
		}
	}
	for _, p := range dsl.RopeAttentionProblems(c.D, c.Heads, c.KVHeads, c.RopeTheta) {
		bad("%s", p)
	}
	if c.Vocab > 0 && (c.Pad < 0 || c.Pad >= c.Vocab) {
		bad("pad must be an id in [0, %d), got %d", c.Vocab, c.Pad)
	}
	if !(c.NormEps > 0) {
		bad("norm_eps must be positive, got %v", c.NormEps)
	}
	return ok
}

// Example is a fixed batch with real padding, which a random batch would
// rarely have: source b holds src_ctx − b·src_ctx/(2·batch) tokens (from
// full down to about half) followed by pad; the decoder's ids and targets
// are any ids but pad.
func Example(c Config) map[string][]float64 {
	if c.Vocab < 2 || c.SrcCtx <= 0 || c.Ctx <= 0 || c.Batch <= 0 || c.Pad < 0 || c.Pad >= c.Vocab {
		return nil
	}
	tok := func(b, t int) float64 { return float64((c.Pad + 1 + (b*131+t*71)%(c.Vocab-1)) % c.Vocab) }
	src := make([]float64, c.Batch*c.SrcCtx)
	for b := range c.Batch {
		n := c.SrcCtx - b*c.SrcCtx/(2*c.Batch)
		for t := range c.SrcCtx {
			src[b*c.SrcCtx+t] = float64(c.Pad)
			if t < n {
				src[b*c.SrcCtx+t] = tok(b, t)
			}
		}
	}
	ids, targets := make([]float64, c.Batch*c.Ctx), make([]float64, c.Batch*c.Ctx)
	for b := range c.Batch {
		for t := range c.Ctx {
			ids[b*c.Ctx+t], targets[b*c.Ctx+t] = tok(b+7, t), tok(b+7, t+1)
		}
	}
	return map[string][]float64{"src": src, "ids": ids, "targets": targets}
}
