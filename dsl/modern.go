package dsl

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlc-dev/mlc/graph"
)

// The blocks of Llama-style transformers: RMSNorm, rotary position
// embeddings (RoPE), SiLU and the SwiGLU MLP, grouped-query attention, and a
// Linear layer. RMSNorm and RoPE are ops of their own (graph.OpRMSNorm,
// graph.OpRoPE); everything else is built from existing ops.

// RMSNormalize is RMSNorm without the gain: x/√(mean(x²) + eps) over the
// last axis.
func (t *Tensor) RMSNormalize(eps float64) *Tensor {
	return t.b.apply(graph.OpRMSNorm, graph.Attrs{Eps: eps}, t)
}

// RMSNorm normalises over the last axis by the root mean square, then
// scales by gain g (a separate Mul, as LayerNorm's γ; fusion puts the two
// back into one row kernel).
func RMSNorm(x, g *Tensor, eps float64) *Tensor { return x.RMSNormalize(eps).Mul(g) }

// NewRMSNorm declares name.g (ones) of width d and returns the RMSNorm over
// the last axis that uses it, its result named name.
func NewRMSNorm(b *Builder, name string, d int, eps float64) func(*Tensor) *Tensor {
	g := b.Param(name+".g", Ones(), d)
	return func(x *Tensor) *Tensor { return RMSNorm(x, g, eps).As(name) }
}

// SiLU is x·σ(x) (the swish activation).
func (t *Tensor) SiLU() *Tensor { return t.Mul(t.Sigmoid()) }

// RoPE configures rotary position embeddings.
type RoPE struct {
	Theta       float64 // base of the frequencies θ_i = 1/Theta^(2i/d); 10000 in Llama
	Interleaved bool    // rotate pairs (2i, 2i+1) (the RoFormer paper, GPT-J) instead of (i, i+d/2) (HF Llama's rotate-half)
	Offset      int     // position of the first row
}

// Rotate applies rotary position embeddings to x[…, T, d]: row t (the
// second-last axis) is at position r.Offset + t. d must be even.
func (r RoPE) Rotate(x *Tensor) *Tensor {
	s := x.Shape()
	if x.n == nil {
		return x
	}
	if len(s) < 2 {
		x.b.Errorf("RoPE: needs [..., T, d], got %s", x.n.Type)
		return x.b.poisoned()
	}
	if d := s[len(s)-1]; d%2 != 0 {
		x.b.Errorf("RoPE: the rotated width %d is odd: rotary embeddings rotate pairs of features", d)
		return x.b.poisoned()
	}
	if !(r.Theta > 0) {
		x.b.Errorf("RoPE: theta must be positive, got %v", r.Theta)
		return x.b.poisoned()
	}
	return x.b.apply(graph.OpRoPE, graph.Attrs{Theta: r.Theta, Offset: r.Offset, Interleaved: r.Interleaved}, x)
}

// Linear is x·W + b with W [in, out] and an optional bias b [out].
type Linear struct {
	W, B *Tensor // B is nil without a bias
}

// NewLinear declares name.W [in, out] (from init) and, with bias, name.b
// (zeros).
func NewLinear(b *Builder, name string, in, out int, init Init, bias bool) *Linear {
	l := &Linear{W: b.Param(name+".W", init, in, out)}
	if bias {
		l.B = b.Param(name+".b", Zeros(), out)
	}
	return l
}

// Apply is x·W (+ b) over the last axis of x.
func (l *Linear) Apply(x *Tensor) *Tensor {
	y := x.MatMul(l.W)
	if l.B != nil {
		y = y.Add(l.B)
	}
	return y
}

// SwiGLU is the gated MLP of Llama: (silu(x·W_gate) ⊙ x·W_up)·W_down.
type SwiGLU struct {
	Name           string
	Gate, Up, Down *Linear
}

// NewSwiGLU declares name.gate.W, name.up.W [d, hidden] (from init) and
// name.down.W [hidden, d] (from outInit), without biases.
func NewSwiGLU(b *Builder, name string, d, hidden int, init, outInit Init) *SwiGLU {
	return &SwiGLU{Name: name,
		Gate: NewLinear(b, name+".gate", d, hidden, init, false),
		Up:   NewLinear(b, name+".up", d, hidden, init, false),
		Down: NewLinear(b, name+".down", hidden, d, outInit, false)}
}

// Apply computes the MLP over the last axis of x.
func (m *SwiGLU) Apply(x *Tensor) *Tensor {
	h := m.Gate.Apply(x).SiLU().Mul(m.Up.Apply(x)).As(m.Name + ".hidden")
	return m.Down.Apply(h).As(m.Name + ".out")
}

// GroupedAttention is multi-head self-attention in which KVHeads key and
// value heads are shared by groups of Heads/KVHeads query heads: query head
// h reads key/value head h / (Heads/KVHeads). KVHeads = Heads is ordinary
// multi-head attention, KVHeads = 1 multi-query attention. The projections
// have no biases (Llama): q = x·Wq [D, Heads·dk], k = x·Wk and v = x·Wv
// [D, KVHeads·dk], out = ·Wo [Heads·dk, D], with dk = D/Heads. With Rope set,
// q and k are rotated (per head) before the scores.
type GroupedAttention struct {
	Name           string
	Heads, KVHeads int
	Wq, Wk, Wv, Wo *Tensor
	Rope           *RoPE
}

// RopeAttentionProblems lists what is wrong with the sizes of a
// grouped-query attention with RoPE, in config terms (the keys d, heads,
// kv_heads, rope_theta), for a model's config check: heads must divide d
// into an even head width, kv_heads must divide heads, and the RoPE base
// must be a positive number. Sizes that are not positive are the caller's
// to report; they are skipped here.
func RopeAttentionProblems(d, heads, kvHeads int, ropeTheta float64) []string {
	var p []string
	if heads > 0 && d > 0 {
		if d%heads != 0 {
			p = append(p, fmt.Sprintf("d (%d) must be divisible by heads (%d)", d, heads))
		} else if (d/heads)%2 != 0 {
			p = append(p, fmt.Sprintf("the head width d/heads = %d must be even: RoPE rotates pairs of features", d/heads))
		}
	}
	if heads > 0 && kvHeads > 0 && heads%kvHeads != 0 {
		p = append(p, fmt.Sprintf("kv_heads (%d) must divide heads (%d)", kvHeads, heads))
	}
	if !(ropeTheta > 0) || math.IsInf(ropeTheta, 0) {
		p = append(p, fmt.Sprintf("rope_theta must be positive, got %v", ropeTheta))
	}
	return p
}

// NewGroupedAttention declares name.Wq, name.Wk, name.Wv (from init) and
// name.Wo (from outInit) for width d. heads must divide d and kvHeads must
// divide heads; otherwise the error names the caller's line.
func NewGroupedAttention(b *Builder, name string, d, heads, kvHeads int, init, outInit Init) *GroupedAttention {
	switch {
	case heads <= 0 || d%heads != 0:
		b.Errorf("%s: width %d is not divisible into %d heads", name, d, heads)
		return nil
	case kvHeads <= 0 || heads%kvHeads != 0:
		b.Errorf("%s: kv_heads (%d) must divide heads (%d)", name, kvHeads, heads)
		return nil
	}
	dk := d / heads
	p := func(n string, in Init, dims ...int) *Tensor { return b.Param(name+"."+n, in, dims...) }
	return &GroupedAttention{Name: name, Heads: heads, KVHeads: kvHeads,
		Wq: p("Wq", init, d, heads*dk), Wk: p("Wk", init, d, kvHeads*dk),
		Wv: p("Wv", init, d, kvHeads*dk), Wo: p("Wo", outInit, heads*dk, d)}
}

// Causal attends over x[…, T, D] causally and returns the projected result
// […, T, D]. Without grouping (KVHeads = Heads) the core is the canonical
// pattern of attend; with it, q is viewed as [… , KVHeads, G, T, dk] and k,
// v as [… , KVHeads, 1, T, dk], so the products broadcast each key head over
// its G query heads without copying it. Both forms are what the KV-cache
// pass recognises, and its caches then hold KVHeads heads only.
func (a *GroupedAttention) Causal(x *Tensor) *Tensor {
	s := a.selfShape(x)
	if s == nil {
		return x.b.poisoned()
	}
	return a.attend(x, x, x.b.CausalMask(s[len(s)-2]), a.Rope)
}

// selfShape is the shape of a self-attention's x, [..., T, D], or nil
// (reported) when x is not usable.
func (a *GroupedAttention) selfShape(x *Tensor) []int {
	if a == nil || x.n == nil {
		return nil
	}
	s := x.Shape()
	if len(s) < 2 {
		x.b.Errorf("%s: needs [..., T, D], got %s", a.Name, x.n.Type)
		return nil
	}
	return s
}

// Bidirectional attends over all of x[…, T, D] (an encoder's
// self-attention), with RoPE on q and k when set. keep, when not nil, is a
// bool [..., T] key padding mask (true = a real token): every query sees the
// real keys of its own sequence only, so what a padded position holds
// changes no real position's output. Every sequence needs at least one
// real token (a query that sees no key gets NaN weights).
func (a *GroupedAttention) Bidirectional(x, keep *Tensor) *Tensor {
	s := a.selfShape(x)
	if s == nil {
		return x.b.poisoned()
	}
	mask := a.keyMask(keep, s[:len(s)-1])
	if mask != nil && mask.n == nil {
		return mask
	}
	return a.attend(x, x, mask, a.Rope)
}

// Cross attends from x[…, T, D] (queries) over mem[…, S, D] (keys and
// values: an encoder's output), without RoPE (the positions of the two
// sequences are unrelated), as in T5's decoder. keep, when not nil, is the
// encoder's bool [..., S] key padding mask (true = a real token): padded
// source positions get weight 0.
func (a *GroupedAttention) Cross(x, mem, keep *Tensor) *Tensor {
	if a == nil || x.n == nil || mem.n == nil {
		return x.b.poisoned()
	}
	xs, ms := x.Shape(), mem.Shape()
	if len(xs) < 2 || len(ms) != len(xs) || !slices.Equal(xs[:len(xs)-2], ms[:len(ms)-2]) || xs[len(xs)-1] != ms[len(ms)-1] {
		x.b.Errorf("%s: cross-attention needs x [..., T, D] and memory [..., S, D] with the same leading axes and D, got %s and %s", a.Name, x.n.Type, mem.n.Type)
		return x.b.poisoned()
	}
	mask := a.keyMask(keep, ms[:len(ms)-1])
	if mask != nil && mask.n == nil {
		return mask
	}
	return a.attend(x, mem, mask, nil)
}

// keyMask views keep [..., S] as a mask that broadcasts over the scores:
// [..., 1, 1, S] for [..., H, T, S], or [..., 1, 1, 1, S] for grouped
// attention's [..., KVH, G, T, S]. want is the keys' shape without D.
func (a *GroupedAttention) keyMask(keep *Tensor, want []int) *Tensor {
	if keep == nil {
		return nil
	}
	if keep.n == nil {
		return keep
	}
	if keep.DType() != Bool || !slices.Equal(keep.Shape(), want) {
		keep.b.Errorf("%s: the key padding mask must be bool %v (true = a real token), got %s", a.Name, want, keep.n.Type)
		return keep.b.poisoned()
	}
	lead := slices.Clone(want[:len(want)-1])
	ones := []int{1, 1}
	if a.KVHeads != a.Heads {
		ones = append(ones, 1)
	}
	shape := append(append(lead, ones...), want[len(want)-1])
	b, key := keep.b, keyMaskKey{keep.n, len(shape)}
	if m := b.keyMasks[key]; m != nil {
		return m // one view of a source's mask for all its attentions (one memo for decoding)
	}
	name := a.Name + ".key_mask"
	if keep.n.Name != "" {
		name = keep.n.Name + ".key_mask"
	}
	m := keep.Reshape(shape...).As(name)
	if b.keyMasks == nil {
		b.keyMasks = map[keyMaskKey]*Tensor{}
	}
	b.keyMasks[key] = m
	return m
}

// attend projects q from xq and k, v from xkv, rotates q and k when rope is
// set, attends (masked when mask is not nil) and projects the result.
func (a *GroupedAttention) attend(xq, xkv, mask *Tensor, rope *RoPE) *Tensor {
	n := func(t *Tensor, name string) *Tensor { return t.As(a.Name + "." + name) }
	q := n(SplitHeads(n(xq.MatMul(a.Wq), "q_proj"), a.Heads), "q")
	k := n(SplitHeads(n(xkv.MatMul(a.Wk), "k_proj"), a.KVHeads), "k")
	v := n(SplitHeads(n(xkv.MatMul(a.Wv), "v_proj"), a.KVHeads), "v")
	if q.n == nil || k.n == nil || v.n == nil {
		return xq.b.poisoned()
	}
	if rope != nil {
		q = n(rope.Rotate(q), "q_rot")
		k = n(rope.Rotate(k), "k_rot")
	}
	var ctx *Tensor
	if a.KVHeads == a.Heads {
		ctx = attend(q, k, v, mask, 0, a.Name)
	} else {
		qs, ks := q.Shape(), k.Shape() // [..., H, T, dk], [..., KVH, S, dk]
		r := len(qs)
		lead := qs[: r-3 : r-3]
		group := func(t *Tensor, g, T int, name string) *Tensor {
			return n(t.Reshape(append(lead, a.KVHeads, g, T, qs[r-1])...), name)
		}
		tap := append(slices.Clone(qs[:r-1]), ks[r-2]) // the weights as [..., H, T, S]
		ctx = attend(group(q, a.Heads/a.KVHeads, qs[r-2], "q_group"), group(k, 1, ks[r-2], "k_group"), group(v, 1, ks[r-2], "v_group"), mask, 0, a.Name, tap...)
		ctx = ctx.Reshape(qs...)
	}
	return n(MergeHeads(ctx).MatMul(a.Wo), "out")
}
