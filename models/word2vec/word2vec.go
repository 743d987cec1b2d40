// Package word2vec is skip-gram with negative sampling (Mikolov et al.,
// 2013): every word has a center vector (a row of V) and a context vector (a
// row of U); a (center, context) pair seen in text should score high,
// u_o·v_c ≫ 0, and K words drawn from a noise distribution should score low.
// Per pair the loss is
//
//	−log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c)
//
// averaged over the batch. The data pipeline supplies the pairs and the
// negatives (usually drawn from the unigram distribution raised to 3/4).
package word2vec

import (
	"math"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the model.
type Config struct {
	Vocab     int `mlc:"vocab" help:"vocabulary size"`
	D         int `mlc:"d" help:"embedding width"`
	Negatives int `mlc:"negatives" help:"negative samples K per pair"`
	Batch     int `mlc:"batch" help:"(center, context) pairs per step"`
}

// DefaultConfig: 64-wide embeddings of a 2048-word vocabulary, 5 negatives
// per pair (the paper's 5–20 for small data, at the cheap end), 128 pairs.
func DefaultConfig() Config { return Config{Vocab: 2048, D: 64, Negatives: 5, Batch: 128} }

// Build defines the skip-gram loss over a batch of pairs and their negatives.
func Build(b *dsl.Builder, c Config) {
	ok := true
	for _, f := range []struct {
		key string
		v   int
	}{{"vocab", c.Vocab}, {"d", c.D}, {"negatives", c.Negatives}, {"batch", c.Batch}} {
		if f.v <= 0 {
			b.Errorf("%s must be positive, got %d", f.key, f.v)
			ok = false
		}
	}
	if !ok {
		return
	}
	B, K, d := c.Batch, c.Negatives, c.D
	center := b.InputIDs("center", B)
	context := b.InputIDs("context", B)
	negatives := b.InputIDs("negatives", B, K)
	// Both tables start small and random: with std 1/√d, u·v has std 1/√d
	// too. (The original starts U at zero, which makes V's first gradient
	// exactly zero.)
	init := dsl.Normal(1 / math.Sqrt(float64(d)))
	V := b.Param("V", init, c.Vocab, d)
	U := b.Param("U", init, c.Vocab, d)

	vc := V.Gather(center).As("v_c")                           // [B, d]
	uo := U.Gather(context).As("u_o")                          // [B, d]
	uk := U.Gather(negatives).As("u_k")                        // [B, K, d]
	pos := uo.Mul(vc).Sum(-1).As("pos_score")                  // u_o·v_c, [B]
	neg := uk.Mul(vc.Reshape(B, 1, d)).Sum(-1).As("neg_score") // u_k·v_c, [B, K]

	// −log σ(x) = BCE(x, 1) and −log σ(−x) = BCE(x, 0), in BCEWithLogits'
	// stable form. Its mean divides by every element: B for the positive
	// term, B·K for the negatives, so ·K restores Σ_k before the mean over B.
	// (The targets carry explicit values: codegen cannot yet pass a filled
	// b.Const(1, B) to a loss.)
	ones, zeros := make([]float64, B), make([]float64, B*K)
	for i := range ones {
		ones[i] = 1
	}
	posLoss := dsl.BCEWithLogits(pos, b.ConstValues(ones, B)).As("pos_loss")
	negLoss := dsl.BCEWithLogits(neg, b.ConstValues(zeros, B, K)).Scale(float64(K)).As("neg_loss")
	b.Loss(posLoss.Add(negLoss))

	// Predictions: σ(u_o·v_c), how likely the context is a real one, and the
	// center vectors normalised to unit length, ready for cosine similarity.
	b.Output("p_context", pos.Sigmoid())
	norm := V.Mul(V).SumKeep(-1).AddConst(1e-12).Rsqrt()
	b.Output("embeddings", V.Mul(norm))
}
