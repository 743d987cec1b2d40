package main

import (
	"fmt"

	"github.com/mlc-dev/mlc/compile"
	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// dataset feeds mlc train.
type dataset interface {
	fixed() bool // the same batch every step (full-batch training)
	next() (map[string]runtime.JSONTensor, error)
	validation() []map[string]runtime.JSONTensor
	state() string // the position in the data, saved in checkpoints
	restore(state string) error
	meta() map[string]string // what a checkpoint records about the data (the tokenizer's fingerprint)
}

// newDataset picks the data a model trains on: a corpus for the text
// models, else the model's example batch.
func newDataset(m *loaded, prog *graph.Program, st trainSettings, ckptDir string, resume bool, out func(string, ...any)) (dataset, error) {
	if d, err := textDataset(m, prog, st, ckptDir, resume, out); d != nil || err != nil {
		return d, err
	}
	if st.Data != "" {
		return nil, fmt.Errorf("%s trains on its own example batch; -data is for text models", m.entry.Name)
	}
	return &fixedBatch{batch: compile.ExampleInputs(prog, m.entry.Example(m.cfg), st.Seed+1)}, nil
}

// fixedBatch is full-batch training on the model's example batch (the
// reference text's XOR rows, the seed example), or a seeded random batch.
type fixedBatch struct{ batch map[string]runtime.JSONTensor }

func (d *fixedBatch) fixed() bool                                  { return true }
func (d *fixedBatch) next() (map[string]runtime.JSONTensor, error) { return d.batch, nil }
func (d *fixedBatch) validation() []map[string]runtime.JSONTensor  { return nil }
func (d *fixedBatch) state() string                                { return "" }
func (d *fixedBatch) restore(string) error                         { return nil }
func (d *fixedBatch) meta() map[string]string                      { return nil }
