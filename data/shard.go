package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/mlc-dev/mlc/runtime"
)

// Data-parallel training (mlc train -dist mpi) splits every batch between
// ranks. Each of N ranks builds the data set of one process training with
// the global batch N·b (the same draws, the same order, the same position
// in checkpoints) and keeps its own rows: rank r takes rows r·b to (r+1)·b
// of every global batch. N ranks with batch b therefore see exactly the
// examples one process with batch N·b sees, which is what makes their
// training equal up to rounding. Drawing the other ranks' rows costs the
// sampling, not the model: negligible next to a training step.

// shard is rank's share of every batch of a data set built with the
// global batch.
type shard struct {
	Dataset
	rank, ranks int
}

// RanksKey is the metadata key under which a checkpoint of a data-parallel
// run records its number of ranks (absent: one process).
const RanksKey = "train.ranks"

// Meta adds the number of ranks to the data set's: the data position in a
// checkpoint counts global batches of that many shares.
func (s *shard) Meta() map[string]string {
	m := map[string]string{}
	for k, v := range s.Dataset.Meta() {
		m[k] = v
	}
	m[RanksKey] = strconv.Itoa(s.ranks)
	return m
}

func (s *shard) Next() (Batch, error) {
	b, err := s.Dataset.Next()
	if err != nil {
		return nil, err
	}
	return rowsOf(b, s.rank, s.ranks)
}

// Validation is every global validation batch cut into the ranks' shares,
// on rank 0 (the rank that evaluates and logs); the others evaluate none.
// The mean over the shares is the mean over the global batch.
func (s *shard) Validation() []Batch {
	if s.rank != 0 {
		return nil
	}
	var out []Batch
	for _, g := range s.Dataset.Validation() {
		for r := range s.ranks {
			b, err := rowsOf(g, r, s.ranks)
			if err != nil {
				return nil
			}
			out = append(out, b)
		}
	}
	return out
}

// rowsOf is the r-th of n equal shares of a batch along its first axis.
func rowsOf(b Batch, r, n int) (Batch, error) {
	out := Batch{}
	for name, t := range b {
		if len(t.Shape) == 0 || t.Shape[0]%n != 0 {
			return nil, fmt.Errorf("data: input %q of shape %v cannot be split between %d ranks along its first axis", name, t.Shape, n)
		}
		rows := t.Shape[0] / n
		per := 0
		if t.Shape[0] > 0 {
			per = len(t.Data) / t.Shape[0]
		}
		out[name] = runtime.JSONTensor{
			Shape: append([]int{rows}, t.Shape[1:]...),
			Data:  slices.Clone(t.Data[r*rows*per : (r+1)*rows*per]),
		}
	}
	return out, nil
}

// sharded builds o's data set for rank o.Rank of o.Ranks: the one-process
// data set with the global batch, cut into shares. A fixed batch (a model
// trained on its example) is not split: every rank trains on it, and the
// mean of equal gradients is the one-process gradient.
func sharded(o Options) (Dataset, error) {
	if o.Rank < 0 || o.Rank >= o.Ranks {
		return nil, fmt.Errorf("data: rank %d of %d", o.Rank, o.Ranks)
	}
	rank, ranks := o.Rank, o.Ranks
	o.Rank, o.Ranks = 0, 1
	if o.Kind == KindExample && o.Path == "" {
		return New(o)
	}
	config := o.Config
	o.Config = func(key string) int {
		v := config(key)
		if key == "batch" {
			v *= ranks
		}
		return v
	}
	shapes := map[string][]int{}
	for k, s := range o.Shapes {
		s = slices.Clone(s)
		if len(s) > 0 {
			s[0] *= ranks
		}
		shapes[k] = s
	}
	o.Shapes = shapes
	ds, err := New(o)
	if err != nil {
		return nil, err
	}
	return &shard{Dataset: ds, rank: rank, ranks: ranks}, nil
}

// Fingerprint is a digest of the examples a data set draws from (the
// training tokens, tensors or batch) and its position, for the check that
// every rank of a data-parallel job trains on the same data.
func Fingerprint(ds Dataset) string {
	h := sha256.New()
	if s, ok := ds.(*shard); ok {
		fmt.Fprintf(h, "shard of %d\x00", s.ranks)
		ds = s.Dataset
	}
	fmt.Fprintf(h, "%T\x00%s\x00", ds, ds.State())
	meta := ds.Meta()
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		fmt.Fprintf(h, "%s=%s\x00", k, meta[k])
	}
	switch d := ds.(type) {
	case *fixedBatch:
		hashBatch(h, d.batch)
	case *tensorData:
		hashBatch(h, d.train)
		for _, v := range d.val {
			hashBatch(h, v)
		}
	case *lmData:
		hashIDs(h, d.train)
		hashIDs(h, d.val)
	case *mlmData:
		hashIDs(h, d.lm.train)
		hashIDs(h, d.lm.val)
	case *skipGram:
		hashIDs(h, d.train)
		hashIDs(h, d.val)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashBatch(h hash.Hash, b Batch) {
	var buf [8]byte
	for _, name := range sortedKeys(b) {
		t := b[name]
		fmt.Fprintf(h, "%s%v\x00", name, t.Shape)
		for _, v := range t.Data {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(float64(v)))
			h.Write(buf[:])
		}
	}
}

func hashIDs(h hash.Hash, ids []int32) {
	var buf [4]byte
	fmt.Fprintf(h, "%d\x00", len(ids))
	for _, v := range ids {
		binary.LittleEndian.PutUint32(buf[:], uint32(v))
		h.Write(buf[:])
	}
}
