// Package bert is an encoder-only transformer trained as a masked language
// model, in the manner of BERT: token and learned position embeddings, a
// stack of blocks of bidirectional multi-head self-attention and a two-layer
// MLP, and a masked-LM head whose output projection is the token embedding.
//
// Padding is hidden from every query by a key mask, so a padded position
// changes no other position's output. By default (mask=pad) the mask is
// ids ≠ pad; with mask=input it is an input, attention_mask, as in other
// encoders' interfaces. Every sequence needs at least one real token.
//
// Inputs, as the data pipeline (runtime.MLM) prepares them:
//   - ids i32[batch, ctx]: the masked ids, where some selected positions were
//     replaced by [MASK] or a random token;
//   - attention_mask bool[batch, ctx], with mask=input only: true at real
//     tokens, false at padding;
//   - targets i32[batch, ctx]: the original ids;
//   - mlm_mask bool[batch, ctx]: true where a position was selected.
//
// The defaults are BERT's; eps, embnorm, head and mask make the model a plain
// encoder as defined elsewhere (ε 1e-5, no LayerNorm on the embeddings, a
// head that is only the tied projection).
//
// The loss is the cross-entropy at the selected positions only.
package bert

import (
	"math"
	"strconv"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the model.
type Config struct {
	Vocab   int     `mlc:"vocab" help:"vocabulary size"`
	Ctx     int     `mlc:"ctx" help:"sequence length"`
	D       int     `mlc:"d" help:"model width"`
	Heads   int     `mlc:"heads" help:"attention heads; must divide d"`
	Layers  int     `mlc:"layers" help:"transformer blocks"`
	FFN     int     `mlc:"ffn" help:"hidden width of each block's MLP"`
	Norm    string  `mlc:"norm" help:"LayerNorm placement: post (BERT, with a LayerNorm on the embeddings) or pre (with a final LayerNorm)"`
	Act     string  `mlc:"act" help:"MLP and head activation: relu or gelu"`
	Eps     float64 `mlc:"eps" help:"ε of every LayerNorm"`
	EmbNorm string  `mlc:"embnorm" help:"LayerNorm on the embeddings: auto (with norm=post only), on or off"`
	Head    string  `mlc:"head" help:"masked-LM head: dense (dense layer, activation, LayerNorm, then the tied projection) or linear (the tied projection only)"`
	Pad     int     `mlc:"pad" help:"padding token id: masked out of attention unless mask=input"`
	Mask    string  `mlc:"mask" help:"padding mask: pad (ids ≠ pad) or input (an input attention_mask, true = attend)"`
	Dropout float64 `mlc:"dropout" help:"dropout probability on embeddings, attention weights and residual branches (training only)"`
	Batch   int     `mlc:"batch" help:"sequences per step"`
}

// DefaultConfig is a small BERT (0.14M parameters): BERT's shape (post-norm,
// GELU, an MLP 4·d wide) scaled down to 2 layers of width 64 with 4 heads
// of 16 over 64 tokens, so that a training step takes a fraction of a
// second on two cores. Dropout is off for gpt's reason (on the default
// corpus the model sees each token about once, so it underfits rather than
// overfits); dropout=0.1 is BERT's own value.
func DefaultConfig() Config {
	return Config{Vocab: 512, Ctx: 64, D: 64, Heads: 4, Layers: 2, FFN: 256,
		Norm: "post", Act: "gelu", Eps: 1e-12, EmbNorm: "auto", Head: "dense", Pad: 0, Mask: "pad", Dropout: 0, Batch: 8}
}

// Build defines logits = bert(ids) and loss = CrossEntropy(logits, targets, mlm_mask).
func Build(b *dsl.Builder, c Config) {
	if !c.valid(b) {
		return
	}
	act := map[string]func(*dsl.Tensor) *dsl.Tensor{"relu": (*dsl.Tensor).ReLU, "gelu": (*dsl.Tensor).GELU}[c.Act]
	pre := c.Norm == "pre"
	std := dsl.Normal(0.02) // BERT's initialiser (truncated there)
	resid := dsl.Normal(0.02 / math.Sqrt(2*float64(c.Layers)))

	ids := b.InputIDs("ids", c.Batch, c.Ctx)
	var keep *dsl.Tensor
	if c.Mask == "input" {
		keep = b.InputMask("attention_mask", c.Batch, c.Ctx)
	}
	targets := b.InputIDs("targets", c.Batch, c.Ctx)
	selected := b.InputMask("mlm_mask", c.Batch, c.Ctx)
	wte := b.Param("wte", std, c.Vocab, c.D)
	wpe := b.Param("wpe", std, c.Ctx, c.D)

	// Queries may look at every real key, in either direction.
	if keep == nil {
		keep = ids.NotEqual(b.ConstIDs([]int{c.Pad})).As("keep")
	}
	mask := dsl.KeyPaddingMask(keep)

	x := wte.Gather(ids).Add(wpe).As("emb")
	if c.EmbNorm == "on" || c.EmbNorm == "auto" && !pre {
		x = dsl.NewLayerNorm(b, "emb_ln", c.D, c.Eps)(x) // post-norm keeps every sublayer's input normalised
	}
	x = x.Dropout(c.Dropout)
	for l := range c.Layers {
		h := "h" + strconv.Itoa(l)
		ln1 := dsl.NewLayerNorm(b, h+".ln1", c.D, c.Eps)
		attn := dsl.NewSelfAttention(b, h+".attn", c.D, c.Heads, std, resid)
		attn.Dropout = c.Dropout
		ln2 := dsl.NewLayerNorm(b, h+".ln2", c.D, c.Eps)
		W1 := b.Param(h+".mlp.W1", std, c.D, c.FFN)
		b1 := b.Param(h+".mlp.b1", dsl.Zeros(), c.FFN)
		W2 := b.Param(h+".mlp.W2", resid, c.FFN, c.D)
		b2 := b.Param(h+".mlp.b2", dsl.Zeros(), c.D)
		mlp := func(x *dsl.Tensor) *dsl.Tensor {
			hid := act(x.MatMul(W1).Add(b1)).As(h + ".mlp.hidden")
			return hid.MatMul(W2).Add(b2).As(h + ".mlp.out")
		}
		if pre {
			// x + attn(ln1(x)), then + mlp(ln2(·))
			x = x.Add(attn.Apply(ln1(x), mask).Dropout(c.Dropout)).As(h + ".resid1")
			x = x.Add(mlp(ln2(x)).Dropout(c.Dropout)).As(h + ".resid2")
		} else {
			// ln1(x + attn(x)), then ln2(· + mlp(·))
			x = ln1(x.Add(attn.Apply(x, mask).Dropout(c.Dropout)).As(h + ".resid1"))
			x = ln2(x.Add(mlp(x).Dropout(c.Dropout)).As(h + ".resid2"))
		}
	}
	if pre {
		x = dsl.NewLayerNorm(b, "lnf", c.D, c.Eps)(x)
	}
	x.Tap("hidden") // the encoder's output [batch, ctx, d], which MeanPool turns into sentence embeddings

	// The masked-LM head: with head=dense a dense layer with its activation
	// and LayerNorm, then the tied output projection x·wteᵀ with a bias per
	// token.
	t := x
	if c.Head == "dense" {
		W := b.Param("mlm.W", std, c.D, c.D)
		bias := b.Param("mlm.b", dsl.Zeros(), c.D)
		lnH := dsl.NewLayerNorm(b, "mlm.ln", c.D, c.Eps)
		t = lnH(act(x.MatMul(W).Add(bias)).As("mlm.hidden"))
	}
	outBias := b.Param("mlm.bias", dsl.Zeros(), c.Vocab)
	logits := t.MatMulT(wte).Add(outBias).As("logits")
	b.Output("logits", logits)
	b.Loss(dsl.CrossEntropy(logits, targets, selected))
}

// Example is a fixed batch with real padding, which a random batch would
// almost never have: sequence b holds ctx − b·ctx/(2·batch) tokens (from
// full down to about half) followed by pad, and every 7th position, where
// it is real, is selected for prediction. The ids are unmasked, as if every selected
// position had drawn "unchanged".
func Example(c Config) map[string][]float64 {
	if c.Vocab < 2 || c.Ctx <= 0 || c.Batch <= 0 || c.Pad < 0 || c.Pad >= c.Vocab {
		return nil
	}
	n := c.Batch * c.Ctx
	ids, selected := make([]float64, n), make([]float64, n)
	for b := range c.Batch {
		length := c.Ctx - b*c.Ctx/(2*c.Batch)
		for t := range c.Ctx {
			i := b*c.Ctx + t
			ids[i] = float64(c.Pad)
			if t < length {
				// Any id but pad, spread over the vocabulary.
				ids[i] = float64((c.Pad + 1 + (b*131+t*71)%(c.Vocab-1)) % c.Vocab)
				if i%7 == 3 {
					selected[i] = 1
				}
			}
		}
	}
	ex := map[string][]float64{"ids": ids, "targets": ids, "mlm_mask": selected}
	if c.Mask == "input" {
		keep := make([]float64, n)
		for i, id := range ids {
			if id != float64(c.Pad) {
				keep[i] = 1
			}
		}
		ex["attention_mask"] = keep
	}
	return ex
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
	}{{"vocab", c.Vocab}, {"ctx", c.Ctx}, {"d", c.D}, {"heads", c.Heads}, {"layers", c.Layers}, {"ffn", c.FFN}, {"batch", c.Batch}} {
		if f.v <= 0 {
			bad("%s must be positive, got %d", f.key, f.v)
		}
	}
	if c.Heads > 0 && c.D%c.Heads != 0 {
		bad("d (%d) must be divisible by heads (%d)", c.D, c.Heads)
	}
	if c.Pad < 0 || (c.Vocab > 0 && c.Pad >= c.Vocab) {
		bad("pad must be an id in [0, %d), got %d", c.Vocab, c.Pad)
	}
	if c.Norm != "pre" && c.Norm != "post" {
		bad("norm must be pre or post, got %q", c.Norm)
	}
	if c.Act != "relu" && c.Act != "gelu" {
		bad("act must be relu or gelu, got %q", c.Act)
	}
	if !(c.Eps > 0 && c.Eps < 1) {
		bad("eps must be in (0, 1), got %v", c.Eps)
	}
	if c.EmbNorm != "auto" && c.EmbNorm != "on" && c.EmbNorm != "off" {
		bad("embnorm must be auto, on or off, got %q", c.EmbNorm)
	}
	if c.Head != "dense" && c.Head != "linear" {
		bad("head must be dense or linear, got %q", c.Head)
	}
	if c.Mask != "pad" && c.Mask != "input" {
		bad("mask must be pad or input, got %q", c.Mask)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		bad("dropout must be in [0, 1), got %v", c.Dropout)
	}
	return ok
}
