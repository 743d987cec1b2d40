package bert

import (
	"fmt"
	"math"
)

// Sentence embeddings by masked mean pooling: a sentence's embedding is the
// mean of the encoder's final hidden states (the tap "hidden",
// [batch, ctx, d]) over its real tokens, padding left out. With a
// generated bert package, compile with the tap (compile.Options{Taps:
// []string{"hidden"}}), fill a batch with Batch, run Predict, read the tap
// and pool it with MeanPool; Normalize then makes cosine similarity a dot
// product.

// Batch lays token sequences out as the model's inputs: ids [len(seqs), ctx]
// row-major, each sequence followed by pad, and keep, true at the real
// tokens (the attention_mask input with mask=input, and MeanPool's mask).
// A sequence must hold between 1 and ctx tokens.
func Batch(seqs [][]int, ctx, pad int) (ids []int32, keep []bool, err error) {
	if ctx <= 0 {
		return nil, nil, fmt.Errorf("bert: batch: ctx must be positive, got %d", ctx)
	}
	ids = make([]int32, len(seqs)*ctx)
	keep = make([]bool, len(seqs)*ctx)
	for b, seq := range seqs {
		if len(seq) == 0 || len(seq) > ctx {
			return nil, nil, fmt.Errorf("bert: batch: sequence %d has %d tokens, want 1 to ctx = %d", b, len(seq), ctx)
		}
		row := ids[b*ctx : (b+1)*ctx]
		for t := range row {
			row[t] = int32(pad)
			if t < len(seq) {
				row[t] = int32(seq[t])
				keep[b*ctx+t] = true
			}
		}
	}
	return ids, keep, nil
}

// MeanPool returns the sentence embeddings [batch, d] of hidden states
// hidden [batch, ctx, d] (row-major, batch = len(keep)/ctx): row b is the
// mean of hidden[b, t, :] over the positions t where keep[b·ctx + t] is
// true. Sums are taken in float64. Every sequence needs a real token.
func MeanPool[F float32 | float64](hidden []F, keep []bool, ctx, d int) ([]F, error) {
	if ctx <= 0 || d <= 0 {
		return nil, fmt.Errorf("bert: mean pool: ctx and d must be positive, got %d and %d", ctx, d)
	}
	if len(keep)%ctx != 0 {
		return nil, fmt.Errorf("bert: mean pool: mask of %d positions is not a whole number of sequences of ctx = %d", len(keep), ctx)
	}
	batch := len(keep) / ctx
	if len(hidden) != batch*ctx*d {
		return nil, fmt.Errorf("bert: mean pool: %d hidden values, want batch·ctx·d = %d·%d·%d = %d", len(hidden), batch, ctx, d, batch*ctx*d)
	}
	out := make([]F, batch*d)
	sum := make([]float64, d)
	for b := range batch {
		clear(sum)
		n := 0
		for t := range ctx {
			if !keep[b*ctx+t] {
				continue
			}
			n++
			for i, v := range hidden[(b*ctx+t)*d : (b*ctx+t+1)*d] {
				sum[i] += float64(v)
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("bert: mean pool: sequence %d has no real token", b)
		}
		for i, s := range sum {
			out[b*d+i] = F(s / float64(n))
		}
	}
	return out, nil
}

// Normalize scales each row of emb [len(emb)/d, d] to unit Euclidean length
// in place, so that the dot product of two rows is their cosine similarity.
// A zero row is an error.
func Normalize[F float32 | float64](emb []F, d int) error {
	if d <= 0 || len(emb)%d != 0 {
		return fmt.Errorf("bert: normalize: %d values are not rows of d = %d", len(emb), d)
	}
	for r := 0; r < len(emb); r += d {
		row := emb[r : r+d]
		ss := 0.0
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
			return fmt.Errorf("bert: normalize: row %d has length %v", r/d, math.Sqrt(ss))
		}
		inv := 1 / math.Sqrt(ss)
		for i, v := range row {
			row[i] = F(float64(v) * inv)
		}
	}
	return nil
}
