package runtime

import (
	"fmt"
	"math"
	"math/bits"
)

// MLM is the masking step of BERT's data pipeline for the masked-LM
// objective. In each sequence it selects Rate of the real (non-pad)
// positions for prediction; of those, 80% are replaced by the [MASK] id, 10%
// by a random token and 10% are left unchanged, so that the model cannot
// learn to predict only where it sees [MASK].
type MLM struct {
	Vocab int     // ids are in [0, Vocab)
	Pad   int     // padding id: never selected, never drawn as a random token
	Mask  int     // the [MASK] id, never drawn as a random token
	Rate  float64 // fraction of each sequence's real positions selected; BERT uses 0.15
}

// The split of selected positions, as in BERT.
const (
	mlmMaskFrac   = 0.8 // replaced by [MASK]
	mlmRandomFrac = 0.1 // replaced by a random token; the rest stay unchanged
)

func (m MLM) check() error {
	switch {
	case m.Vocab < 3:
		return fmt.Errorf("mlm: vocab must hold pad, mask and at least one other token, got %d", m.Vocab)
	case m.Pad < 0 || m.Pad >= m.Vocab || m.Mask < 0 || m.Mask >= m.Vocab:
		return fmt.Errorf("mlm: pad %d and mask %d must be ids in [0, %d)", m.Pad, m.Mask, m.Vocab)
	case m.Pad == m.Mask:
		return fmt.Errorf("mlm: pad and mask are both %d", m.Pad)
	case !(m.Rate > 0 && m.Rate <= 1):
		return fmt.Errorf("mlm: rate must be in (0, 1], got %v", m.Rate)
	}
	return nil
}

// Apply masks a batch of ids, rows of seqLen tokens, drawing from r. It
// returns the model's three inputs: masked (the ids to feed), targets (the
// original ids) and selected (true where a position is to be predicted,
// the mask of the loss). Each sequence with n real tokens gets
// max(1, round(Rate·n)) selected positions, chosen uniformly, as BERT's
// pipeline does; a sequence of padding only gets none.
func (m MLM) Apply(r *RNG, ids []int32, seqLen int) (masked, targets []int32, selected []bool, err error) {
	if err := m.check(); err != nil {
		return nil, nil, nil, err
	}
	if seqLen <= 0 || len(ids)%seqLen != 0 {
		return nil, nil, nil, fmt.Errorf("mlm: %d ids do not make rows of %d", len(ids), seqLen)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= m.Vocab {
			return nil, nil, nil, fmt.Errorf("mlm: id %d at %d is outside [0, %d)", id, i, m.Vocab)
		}
	}
	masked = append([]int32(nil), ids...)
	targets = append([]int32(nil), ids...)
	selected = make([]bool, len(ids))
	pos := make([]int, 0, seqLen)
	for row := 0; row < len(ids); row += seqLen {
		pos = pos[:0]
		for i := row; i < row+seqLen; i++ {
			if int(ids[i]) != m.Pad {
				pos = append(pos, i)
			}
		}
		if len(pos) == 0 {
			continue
		}
		k := max(1, int(math.Round(m.Rate*float64(len(pos)))))
		// A partial Fisher–Yates shuffle: pos[:k] is a uniform k-subset.
		for j := range k {
			s := j + uniformInt(r, len(pos)-j)
			pos[j], pos[s] = pos[s], pos[j]
			i := pos[j]
			selected[i] = true
			switch u := r.Float64(); {
			case u < mlmMaskFrac:
				masked[i] = int32(m.Mask)
			case u < mlmMaskFrac+mlmRandomFrac:
				masked[i] = int32(m.randomToken(r))
			}
		}
	}
	return masked, targets, selected, nil
}

// randomToken is uniform over the vocabulary without pad and mask: a random
// pad would turn a real position into padding, hidden by the attention mask.
func (m MLM) randomToken(r *RNG) int {
	lo, hi := min(m.Pad, m.Mask), max(m.Pad, m.Mask)
	t := uniformInt(r, m.Vocab-2)
	if t >= lo {
		t++
	}
	if t >= hi {
		t++
	}
	return t
}

// uniformInt is uniform in [0, n), without modulo bias (Lemire's
// multiply-and-reject).
func uniformInt(r *RNG, n int) int {
	hi, lo := bits.Mul64(r.Uint64(), uint64(n))
	if lo < uint64(n) {
		reject := -uint64(n) % uint64(n) // 2⁶⁴ mod n
		for lo < reject {
			hi, lo = bits.Mul64(r.Uint64(), uint64(n))
		}
	}
	return int(hi)
}
