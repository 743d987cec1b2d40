// Package tinydecoder is the reference text's minimal transformer decoder:
// vocabulary 5 (the cat sat on mat), d = 4, one causal self-attention head,
// post-LayerNorm, a ReLU feed-forward layer of 8, and an output projection
// tied to the embedding. Its default weights are the text's.
package tinydecoder

import (
	"math"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the decoder. The defaults are the text's; other sizes start
// from random weights.
type Config struct {
	Vocab int `mlc:"vocab" help:"vocabulary size"`
	Ctx   int `mlc:"ctx" help:"sequence length"`
	D     int `mlc:"d" help:"model width"`
	FFN   int `mlc:"ffn" help:"feed-forward width"`
}

// DefaultConfig is the text's decoder.
func DefaultConfig() Config { return Config{Vocab: 5, Ctx: 3, D: 4, FFN: 8} }

func (c Config) isText() bool { return c == DefaultConfig() }

// Build defines one post-norm decoder block over ids[Ctx] with next-token targets.
func Build(b *dsl.Builder, c Config) {
	init := func(name string, fallback dsl.Init) dsl.Init {
		if c.isText() {
			return dsl.Values(textWeights[name]...)
		}
		return fallback
	}
	small := dsl.Normal(0.02)
	T, d := c.Ctx, c.D
	ids := b.InputIDs("ids", T)
	targets := b.InputIDs("targets", T)

	E := b.Param("E", init("E", small), c.Vocab, d)
	P := b.Param("P", init("P", small), T, d)
	Wq := b.Param("Wq", init("Wq", dsl.Xavier()), d, d)
	Wk := b.Param("Wk", init("Wk", dsl.Xavier()), d, d)
	Wv := b.Param("Wv", init("Wv", dsl.Xavier()), d, d)
	Wo := b.Param("Wo", init("Wo", dsl.Xavier()), d, d)
	W1 := b.Param("W_1", init("W_1", dsl.He()), d, c.FFN)
	b1 := b.Param("b_1", dsl.Zeros(), c.FFN)
	W2 := b.Param("W_2", init("W_2", dsl.He()), c.FFN, d)
	b2 := b.Param("b_2", dsl.Zeros(), d)
	g1 := b.Param("ln1_gamma", dsl.Ones(), d)
	be1 := b.Param("ln1_beta", dsl.Zeros(), d)
	g2 := b.Param("ln2_gamma", dsl.Ones(), d)
	be2 := b.Param("ln2_beta", dsl.Zeros(), d)

	X := E.Gather(ids).As("X_emb")
	Xp := X.Add(P).As("X_prime")
	Q := Xp.MatMul(Wq).As("Q")
	K := Xp.MatMul(Wk).As("K")
	V := Xp.MatMul(Wv).As("V")
	scores := Q.MatMulT(K).Scale(1 / math.Sqrt(float64(d))).As("scores")
	attn := scores.MaskFill(b.CausalMask(T)).Softmax(-1).As("attn_weights")
	out := attn.MatMul(V).As("attn_out")
	proj := out.MatMul(Wo).As("attn_proj")
	r1 := Xp.Add(proj).As("resid1")
	H1 := dsl.LayerNorm(r1, g1, be1, 1e-5).As("H_prime")
	pre := H1.MatMul(W1).Add(b1).As("ffn_pre")
	hid := pre.ReLU().As("ffn_hidden")
	ffn := hid.MatMul(W2).Add(b2).As("ffn_out")
	r2 := H1.Add(ffn).As("resid2")
	H2 := dsl.LayerNorm(r2, g2, be2, 1e-5).As("H_double_prime")
	logits := H2.MatMulT(E).As("logits")
	b.Output("logits", logits)
	b.Output("probs", logits.Softmax(-1))
	b.Loss(dsl.CrossEntropy(logits, targets))
}

// Example is the text's sentence "the cat sat" with targets "cat sat on",
// for the default context of 3; other contexts get no fixed example.
func Example(c Config) map[string][]float64 {
	if c.Ctx != 3 || c.Vocab < 4 {
		return nil
	}
	return map[string][]float64{"ids": {0, 1, 2}, "targets": {1, 2, 3}}
}
