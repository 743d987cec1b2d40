// Package sample picks the next token from a model's logits: greedily, or
// at random from the softmax distribution with temperature, top-k and top-p
// (nucleus) truncation.
//
// The distribution is the reference text's:
//
//	probs = softmax(logits / T)   (the maximum is subtracted before exp)
//	top-k: keep the k most probable tokens, renormalise
//	top-p: keep the smallest set of tokens, taken in decreasing probability,
//	       whose cumulative probability is >= p, renormalise
//
// applied in that order when combined. Equal probabilities are ordered by
// token id, lower first, so truncation is deterministic.
//
// A Sampler holds all its scratch memory, so Sample allocates nothing. The
// package uses only the standard library and depends on nothing else in mlc:
// generated model packages carry a copy of it.
package sample

import (
	"errors"
	"fmt"
	"math"
)

// Real is the element type of logits.
type Real interface{ ~float32 | ~float64 }

// Options selects the sampling mode. The zero value is greedy decoding.
type Options struct {
	// Temperature divides the logits before the softmax: below 1 sharpens
	// the distribution, above 1 flattens it. 0 means greedy decoding (the
	// limit as T → 0): the first token of highest logit, with no random draw.
	Temperature float64
	// TopK keeps only the K most probable tokens; 0 keeps every token.
	TopK int
	// TopP keeps the smallest most-probable set of tokens whose probability
	// sums to at least TopP, in (0, 1]; 0 keeps every token, as does 1.
	TopP float64
}

// Validate reports options that do not describe a distribution.
func (o Options) Validate() error {
	if math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0) || o.Temperature < 0 {
		return fmt.Errorf("sample: Temperature is %v, want a finite value >= 0 (0 means greedy)", o.Temperature)
	}
	if o.TopK < 0 {
		return fmt.Errorf("sample: TopK is %d, want >= 1, or 0 to keep every token", o.TopK)
	}
	if math.IsNaN(o.TopP) || o.TopP < 0 || o.TopP > 1 {
		return fmt.Errorf("sample: TopP is %v, want a value in (0, 1], or 0 to keep every token", o.TopP)
	}
	return nil
}

// RNG is SplitMix64: a generator whose whole state is one exported uint64,
// so a generation run can be checkpointed and resumed exactly.
type RNG struct{ State uint64 }

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	r.State += 0x9e3779b97f4a7c15
	z := r.State
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float64 returns a uniform number in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 { return float64(r.Uint64()>>11) * 0x1p-53 }

// Sampler draws tokens from logits of one vocabulary size. Create it once
// with New; Sample and Probs then allocate nothing. A Sampler is not safe
// for concurrent use.
type Sampler[F Real] struct {
	// RNG is the sampler's generator; save and restore RNG.State to
	// checkpoint a generation run. Every Sample call that is not greedy
	// draws exactly one Float64.
	RNG RNG

	opts  Options
	probs []float64 // softmax of the scaled logits
	order []int32   // token ids; a heap while truncating, then the kept tokens
}

// NewSampler returns a sampler for vocab tokens, seeded with seed.
func NewSampler[F Real](vocab int, opts Options, seed uint64) (*Sampler[F], error) {
	if vocab <= 0 {
		return nil, fmt.Errorf("sample: vocabulary size is %d, want > 0", vocab)
	}
	if vocab > math.MaxInt32 {
		return nil, fmt.Errorf("sample: vocabulary size %d is too large", vocab)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Sampler[F]{
		RNG:   RNG{State: seed},
		opts:  opts,
		probs: make([]float64, vocab),
		order: make([]int32, vocab),
	}, nil
}

// Options returns the sampler's options.
func (s *Sampler[F]) Options() Options { return s.opts }

// SetOptions changes the sampling mode, keeping the generator's state.
func (s *Sampler[F]) SetOptions(opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	s.opts = opts
	return nil
}

// Sample returns the next token: the argmax when greedy, otherwise a draw
// from the distribution Probs describes.
func (s *Sampler[F]) Sample(logits []F) (int, error) {
	if err := s.check(logits); err != nil {
		return 0, err
	}
	kept, err := distribution(s.probs, s.order, logits, s.opts)
	if err != nil {
		return 0, err
	}
	if s.opts.Temperature == 0 {
		return int(kept[0]), nil
	}
	return draw(s.probs, kept, s.RNG.Float64()), nil
}

// Probs fills dst (of the vocabulary's length) with the distribution Sample
// draws from: renormalised probabilities on the kept tokens, 0 elsewhere.
// When greedy it is 1 on the argmax.
func (s *Sampler[F]) Probs(dst []float64, logits []F) error {
	if err := s.check(logits); err != nil {
		return err
	}
	if len(dst) != len(logits) {
		return fmt.Errorf("sample: dst has length %d, want %d (one per logit)", len(dst), len(logits))
	}
	kept, err := distribution(s.probs, s.order, logits, s.opts)
	if err != nil {
		return err
	}
	fill(dst, s.probs, kept)
	return nil
}

func (s *Sampler[F]) check(logits []F) error {
	if len(logits) != len(s.probs) {
		return fmt.Errorf("sample: got %d logits, the sampler's vocabulary has %d", len(logits), len(s.probs))
	}
	return nil
}

// Probs fills dst with the distribution that a Sampler with opts draws from
// for logits; see Sampler.Probs. It allocates scratch memory on each call.
func Probs[F Real](dst []float64, logits []F, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	if len(logits) == 0 {
		return errors.New("sample: no logits")
	}
	if len(dst) != len(logits) {
		return fmt.Errorf("sample: dst has length %d, want %d (one per logit)", len(dst), len(logits))
	}
	probs, order := make([]float64, len(logits)), make([]int32, len(logits))
	kept, err := distribution(probs, order, logits, opts)
	if err != nil {
		return err
	}
	fill(dst, probs, kept)
	return nil
}

// fill writes the renormalised distribution over kept into dst.
func fill(dst, probs []float64, kept []int32) {
	clear(dst)
	total := 0.0
	for _, i := range kept {
		total += probs[i]
	}
	for _, i := range kept {
		dst[i] = probs[i] / total
	}
}

// draw picks one of kept with probability proportional to probs, by
// inverting the cumulative distribution at u in [0, 1).
func draw(probs []float64, kept []int32, u float64) int {
	total := 0.0
	for _, i := range kept {
		total += probs[i]
	}
	target := u * total
	cum := 0.0
	last := kept[0]
	for _, i := range kept {
		if probs[i] == 0 {
			continue
		}
		cum += probs[i]
		last = i
		if target < cum {
			return int(i)
		}
	}
	return int(last) // target rounded up to total: the last token of nonzero probability
}

// distribution computes softmax(logits/T) into probs and returns the kept
// tokens: all of them in id order when nothing is truncated, otherwise the
// kept ones in decreasing probability (a suffix of order, reversed in
// place). When greedy, the argmax alone is kept, with probability 1.
func distribution[F Real](probs []float64, order []int32, logits []F, opts Options) ([]int32, error) {
	n := len(logits)
	maxAt, maxV := -1, math.Inf(-1)
	for i, l := range logits {
		v := float64(l)
		if v > maxV {
			maxAt, maxV = i, v
		} else if v != v {
			return nil, fmt.Errorf("sample: logit %d is NaN, want a finite number or -Inf", i)
		}
	}
	if maxAt < 0 {
		return nil, errors.New("sample: every logit is -Inf")
	}
	if math.IsInf(maxV, 1) {
		return nil, fmt.Errorf("sample: logit %d is +Inf, want a finite number or -Inf", maxAt)
	}
	if opts.Temperature == 0 {
		probs[maxAt] = 1
		order[0] = int32(maxAt)
		return order[:1], nil
	}
	// z = l/T; probs = exp(z - max z) / Σ. Dividing before subtracting
	// matches the reference's softmax(logits / T) to the last bit.
	m := float64(logits[maxAt]) / opts.Temperature
	sum := 0.0
	for i, l := range logits {
		e := math.Exp(float64(l)/opts.Temperature - m)
		probs[i] = e
		sum += e
	}
	for i := range probs[:n] {
		probs[i] /= sum
	}
	for i := range order[:n] {
		order[i] = int32(i)
	}
	k := n
	if opts.TopK > 0 {
		k = min(opts.TopK, n)
	}
	topP := opts.TopP > 0 && opts.TopP < 1
	if k == n && !topP {
		return order[:n], nil
	}
	// Pop tokens in decreasing probability off a heap: O(n + kept·log n),
	// without sorting the whole vocabulary.
	h := probHeap{probs: probs, ids: order[:n]}
	h.init()
	popped := 0
	if topP && k == n {
		cum := 0.0
		for popped < n && cum < opts.TopP {
			cum += probs[h.pop()]
			popped++
		}
	} else {
		for popped < k {
			h.pop()
			popped++
		}
		if topP {
			// Top-p over the renormalised top-k distribution.
			kept := order[n-popped:]
			total := 0.0
			for _, i := range kept {
				total += probs[i]
			}
			cum, m := 0.0, 0
			for j := len(kept) - 1; j >= 0 && cum < opts.TopP; j-- {
				cum += probs[kept[j]] / total
				m++
			}
			popped = m
		}
	}
	// The heap left the popped tokens at the end of order, most probable
	// last; reverse them into decreasing order.
	kept := order[n-popped : n]
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	return kept, nil
}

// probHeap is a max-heap of token ids by (probability, then lower id).
// pop moves the top to the end of the heap's region, as heapsort does.
type probHeap struct {
	probs []float64
	ids   []int32
	n     int
}

func (h *probHeap) before(a, b int32) bool {
	pa, pb := h.probs[a], h.probs[b]
	return pa > pb || pa == pb && a < b
}

func (h *probHeap) init() {
	h.n = len(h.ids)
	for i := h.n/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *probHeap) pop() int32 {
	top := h.ids[0]
	h.n--
	h.ids[0], h.ids[h.n] = h.ids[h.n], h.ids[0]
	h.down(0)
	return top
}

func (h *probHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= h.n {
			return
		}
		c := l
		if r := l + 1; r < h.n && h.before(h.ids[r], h.ids[l]) {
			c = r
		}
		if !h.before(h.ids[c], h.ids[i]) {
			return
		}
		h.ids[i], h.ids[c] = h.ids[c], h.ids[i]
		i = c
	}
}
