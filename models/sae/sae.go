// Package sae is a sparse autoencoder over a model's activations, the
// dictionary-learning tool of Bricken et al. (2023) and Cunningham et al.
// (2023): each activation x ∈ ℝᵈ is written as a sparse, non-negative
// combination of m learned unit directions,
//
//	h = ReLU(x·W_enc + b_enc)          codes, [batch, m]
//	x̂ = h·Ŵ_dec + b_dec                Ŵ_dec = W_dec with each row at unit length
//	loss = MSE(x̂, x) + λ·mean_b Σ_i |h_bi|
//
// Row i of W_dec ([m, d]) is feature i's direction (a column in the x̂ =
// W_dec·h convention). It is normalised inside the graph, so the gradient
// flows through the normalisation: without it the L1 term could be driven
// to zero by shrinking the codes and growing the decoder, and the penalty
// would mean nothing. The normalised rows also make the codes comparable
// across features.
//
// MSE is the mean over batch and width, so λ trades one unit of mean
// squared error per element against one unit of summed code per row.
package sae

import (
	"math"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the autoencoder.
type Config struct {
	D        int     `mlc:"d" help:"width of the activations"`
	Features int     `mlc:"features" help:"dictionary size m: the number of codes"`
	Lambda   float64 `mlc:"lambda" help:"strength λ of the L1 penalty on the codes"`
	Batch    int     `mlc:"batch" help:"activations per step"`
}

// DefaultConfig fits the default gpt's residual stream (d 128) with a 4×
// overcomplete dictionary. λ is for activations scaled to a mean squared
// norm of d (mean square 1 per element), as mlc sae feeds them: it keeps a
// few dozen features active per token while explaining most of the variance.
func DefaultConfig() Config { return Config{D: 128, Features: 512, Lambda: 0.01, Batch: 256} }

// eps keeps the normalisation finite for a decoder row at zero.
const eps = 1e-12

// Build defines the codes, the reconstruction and the loss; the two loss
// terms are outputs too, so their balance can be watched.
func Build(b *dsl.Builder, c Config) {
	ok := true
	for _, f := range []struct {
		key string
		v   int
	}{{"d", c.D}, {"features", c.Features}, {"batch", c.Batch}} {
		if f.v <= 0 {
			b.Errorf("%s must be positive, got %d", f.key, f.v)
			ok = false
		}
	}
	if !(c.Lambda >= 0) || math.IsInf(c.Lambda, 0) {
		b.Errorf("lambda must be a finite number >= 0, got %v", c.Lambda)
		ok = false
	}
	if !ok {
		return
	}
	d, m := c.D, c.Features
	x := b.Input("x", c.Batch, d)
	// Encoder and decoder start as random directions of length about 1, so
	// that for inputs of mean square 1 the pre-activations start near unit
	// scale and half the codes are active.
	init := dsl.Normal(1 / math.Sqrt(float64(d)))
	Wenc := b.Param("W_enc", init, d, m)
	benc := b.Param("b_enc", dsl.Zeros(), m)
	Wdec := b.Param("W_dec", init, m, d)
	bdec := b.Param("b_dec", dsl.Zeros(), d)

	norm := Wdec.Mul(Wdec).SumKeep(-1).AddConst(eps).Sqrt().As("dec_norm") // ‖W_dec[i]‖, [m, 1]
	dict := Wdec.Div(norm).As("dict")                                      // Ŵ_dec, unit rows

	h := x.MatMul(Wenc).Add(benc).ReLU().As("codes")
	xhat := h.MatMul(dict).Add(bdec).As("recon")
	mse := dsl.MSE(xhat, x).As("mse")
	// h ≥ 0 after the ReLU, so ‖h‖₁ is the plain sum (an Abs would change
	// neither the value nor the gradient).
	l1 := h.Sum(-1).Mean().As("l1")

	b.Output("codes", h)
	b.Output("recon", xhat)
	b.Output("mse", mse)
	b.Output("l1", l1)
	b.Loss(mse.Add(l1.Scale(c.Lambda)))
}
