package dsl

import "math"

// Attention in the DSL: every helper here builds ordinary IR ops (MatMul,
// Mul, Where, Softmax, Reshape, Transpose), so autodiff, the interpreter and
// codegen need nothing new. Causal attention always comes out in the one
// canonical form that the KV-cache pass looks for:
//
//	scores  = MatMul(q, k, transB) ⊙ 1/√d_k
//	masked  = Where(CausalMask[T,T], scores, −inf)
//	weights = Softmax(masked, axis −1)
//	out     = MatMul(weights, v)
//
// with q, k and v each [B, H, T, d_k], produced from one projection each.
// (In a training build with attention dropout, the dropout Mul sits between
// the weights and the last MatMul; inference builds have the exact chain.)

// SplitHeads splits the last axis of x[…, T, D] into heads and moves the
// head axis in front of the sequence: […, H, T, D/H]. D must be divisible
// by heads.
func SplitHeads(x *Tensor, heads int) *Tensor {
	s := x.Shape()
	if x.n == nil {
		return x
	}
	if len(s) < 2 {
		x.b.Errorf("SplitHeads: needs [..., T, D], got %s", x.n.Type)
		return x.b.poisoned()
	}
	D := s[len(s)-1]
	if heads <= 0 || D%heads != 0 {
		x.b.Errorf("SplitHeads: width %d is not divisible into %d heads", D, heads)
		return x.b.poisoned()
	}
	// [..., T, D] → [..., T, H, dk] → [..., H, T, dk]
	split := append(s[:len(s)-1:len(s)-1], heads, D/heads)
	r := len(split)
	return x.Reshape(split...).Transpose(swapPerm(r, r-3, r-2)...)
}

// MergeHeads is the inverse of SplitHeads: x[…, H, T, dk] → […, T, H·dk].
func MergeHeads(x *Tensor) *Tensor {
	s := x.Shape()
	if x.n == nil {
		return x
	}
	r := len(s)
	if r < 3 {
		x.b.Errorf("MergeHeads: needs [..., H, T, dk], got %s", x.n.Type)
		return x.b.poisoned()
	}
	H, T, dk := s[r-3], s[r-2], s[r-1]
	merged := append(s[:r-3:r-3], T, H*dk)
	return x.Transpose(swapPerm(r, r-3, r-2)...).Reshape(merged...)
}

// swapPerm is the identity permutation of rank axes with a and b swapped.
func swapPerm(rank, a, b int) []int {
	p := make([]int, rank)
	for i := range p {
		p[i] = i
	}
	p[a], p[b] = p[b], p[a]
	return p
}

// KeyPaddingMask turns keep[B, S] (true = real token, false = padding) into
// the attention mask [B, 1, 1, S]: every head and every query of sequence b
// may see exactly its real keys. Combine it with other masks using And.
func KeyPaddingMask(keep *Tensor) *Tensor {
	s := keep.Shape()
	if keep.n == nil {
		return keep
	}
	if len(s) != 2 || keep.DType() != Bool {
		keep.b.Errorf("KeyPaddingMask: needs a bool [B, S] mask, got %s", keep.n.Type)
		return keep.b.poisoned()
	}
	return keep.Reshape(s[0], 1, 1, s[1])
}

// AttentionWeights is softmax(q·kᵀ/√d_k) over the keys, with scores set to −inf
// where mask is false so that those keys get weight 0. q is [..., T, d_k],
// k is [..., S, d_k]; mask, when not nil, is a bool mask that broadcasts to
// [..., T, S], such as b.CausalMask(T) or a KeyPaddingMask.
//
// A query that may see no key at all gets NaN weights (softmax of an all −inf
// row): every sequence needs at least one visible key.
func AttentionWeights(q, k, mask *Tensor) *Tensor {
	return attend(q, k, nil, mask, 0, "")
}

// ScaledDotProductAttention is softmax(q·kᵀ/√d_k + mask)·v, the mask adding
// −inf where it is false: AttentionWeights(q, k, mask) applied to
// v[..., S, d_v], giving [..., T, d_v].
func ScaledDotProductAttention(q, k, v, mask *Tensor) *Tensor {
	return attend(q, k, v, mask, 0, "")
}

// attend builds the canonical attention pattern. With v nil it stops at the
// weights; dropout (training only) acts on the weights; a non-empty prefix
// names the intermediates prefix.scores, prefix.weights and prefix.context,
// and taps the weights as prefix.weights.
//
// tapShape, when given, is the shape the weights are tapped in (grouped-query
// attention taps its [..., KVH, G, T, S] weights as [..., H, T, S]); the
// weights themselves are then named prefix.group_weights.
func attend(q, k, v, mask *Tensor, dropout float64, prefix string, tapShape ...int) *Tensor {
	named := func(t *Tensor, name string) *Tensor {
		if prefix == "" {
			return t
		}
		return t.As(prefix + "." + name)
	}
	qs := q.Shape()
	if q.n == nil || k.n == nil || (v != nil && v.n == nil) || (mask != nil && mask.n == nil) {
		return q.b.poisoned()
	}
	if len(qs) < 2 {
		q.b.Errorf("attention: q must be [..., T, d_k], got %s", q.n.Type)
		return q.b.poisoned()
	}
	dk := qs[len(qs)-1]
	scores := named(q.MatMulT(k).Scale(1/math.Sqrt(float64(dk))), "scores")
	if mask != nil {
		scores = scores.MaskFill(mask)
	}
	switch {
	case prefix != "" && tapShape != nil:
		weights := named(scores.Softmax(-1), "group_weights")
		weights.Reshape(tapShape...).As(prefix + ".weights").Tap(prefix + ".weights")
		if v == nil {
			return weights
		}
		return named(weights.Dropout(dropout).MatMul(v), "context")
	}
	weights := named(scores.Softmax(-1), "weights")
	if prefix != "" {
		weights.Tap(prefix + ".weights") // the attention map [..., H, T, S], for mlc attn and the caller
	}
	if v == nil {
		return weights
	}
	return named(weights.Dropout(dropout).MatMul(v), "context")
}

// SelfAttention is one multi-head self-attention layer: projections
// q = x·Wq + bq, k = x·Wk + bk, v = x·Wv + bv (each [D, D], [in, out]
// layout), H heads of width D/H, and the output projection ·Wo + bo.
type SelfAttention struct {
	Name           string // prefix of parameter and intermediate names, e.g. "h0.attn"
	Heads          int
	Wq, Wk, Wv, Wo *Tensor
	Bq, Bk, Bv, Bo *Tensor
	Dropout        float64 // on the attention weights, in training only
}

// NewSelfAttention declares the parameters of a width-d self-attention layer
// as name.Wq, name.bq, …, name.Wo, name.bo. The q, k and v weights start
// from init, the output projection from outInit (GPT-2 shrinks it with
// depth), and the biases at zero.
func NewSelfAttention(b *Builder, name string, d, heads int, init, outInit Init) *SelfAttention {
	p := func(n string, in Init, dims ...int) *Tensor { return b.Param(name+"."+n, in, dims...) }
	return &SelfAttention{
		Name: name, Heads: heads,
		Wq: p("Wq", init, d, d), Bq: p("bq", Zeros(), d),
		Wk: p("Wk", init, d, d), Bk: p("bk", Zeros(), d),
		Wv: p("Wv", init, d, d), Bv: p("bv", Zeros(), d),
		Wo: p("Wo", outInit, d, d), Bo: p("bo", Zeros(), d),
	}
}

// Apply attends over x[…, T, D] with the given mask (nil for none; any bool
// mask broadcasting to […, H, T, T]) and returns the projected result […, T, D].
func (a *SelfAttention) Apply(x, mask *Tensor) *Tensor {
	s := x.Shape()
	if x.n == nil {
		return x
	}
	if len(s) < 2 || a.Heads <= 0 || s[len(s)-1]%a.Heads != 0 {
		// Checked once here rather than in each of the three SplitHeads.
		x.b.Errorf("%s: input %s does not split into %d heads", a.Name, x.n.Type, a.Heads)
		return x.b.poisoned()
	}
	n := func(t *Tensor, name string) *Tensor { return t.As(a.Name + "." + name) }
	q := n(SplitHeads(n(x.MatMul(a.Wq).Add(a.Bq), "q_proj"), a.Heads), "q")
	k := n(SplitHeads(n(x.MatMul(a.Wk).Add(a.Bk), "k_proj"), a.Heads), "k")
	v := n(SplitHeads(n(x.MatMul(a.Wv).Add(a.Bv), "v_proj"), a.Heads), "v")
	ctx := attend(q, k, v, mask, a.Dropout, a.Name)
	return n(MergeHeads(ctx).MatMul(a.Wo).Add(a.Bo), "out")
}

// CausalSelfAttention is a.Apply(x, CausalMask(T)) for x[…, T, D]: position i
// attends to positions j ≤ i only, in the canonical pattern the KV-cache
// pass recognises.
func CausalSelfAttention(x *Tensor, a *SelfAttention) *Tensor {
	s := x.Shape()
	if x.n == nil {
		return x
	}
	if len(s) < 2 {
		x.b.Errorf("CausalSelfAttention: needs [..., T, D], got %s", x.n.Type)
		return x.b.poisoned()
	}
	return a.Apply(x, x.b.CausalMask(s[len(s)-2]))
}
