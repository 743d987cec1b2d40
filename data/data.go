// Package data feeds training: the batches a model trains on, its
// validation set, and the position in the data that a checkpoint records so
// that a resumed run draws what an unbroken one would.
//
// The text models train on a corpus of source files (a causal language
// model on random windows, a masked language model on masked windows,
// word2vec on skip-gram pairs, seq2seq on the case task: its identifiers
// written in snake_case); every other model trains on its example
// batch (full-batch training).
package data

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mlc-dev/mlc/runtime"
)

// Batch is one batch of named input tensors.
type Batch = map[string]runtime.JSONTensor

// Dataset is what the training loop draws from.
type Dataset interface {
	// Fixed reports whether every batch is the same (full-batch training).
	Fixed() bool
	// Next returns the next training batch.
	Next() (Batch, error)
	// Validation returns a fixed set of validation batches (none: nil).
	Validation() []Batch
	// State is the position in the data, saved in checkpoints.
	State() string
	// Restore returns to a position State gave.
	Restore(state string) error
	// Meta is what a checkpoint records about the data (fingerprints of the
	// tokenizer or the vocabulary).
	Meta() map[string]string
	// Files are the files that belong beside the checkpoint (the tokenizer),
	// by name: the training loop writes them with the first checkpoint, so
	// that nothing in a checkpoint directory changes before then.
	Files() map[string][]byte
}

// Kinds of data pipelines, as models.TrainDefaults name them.
const (
	KindExample  = ""         // the model's example batch, every step
	KindLM       = "lm"       // causal language model: ids → targets shifted by one
	KindMLM      = "mlm"      // masked language model (BERT's 80/10/10 rule)
	KindSkipGram = "skipgram" // word2vec's (center, context, negatives)
	KindCase     = "case"     // seq2seq: Go identifiers of the corpus → snake_case (case.go)
)

// Scorer is a dataset with a score besides the loss: the training loop
// runs Predict on every validation batch and reports the sum of correct
// over the sum of total (the case task's exact matches).
type Scorer interface {
	Score(batch Batch, outputs map[string]runtime.JSONTensor) (correct, total int, err error)
	ScoreName() string
}

// Options say which data a model trains on.
type Options struct {
	Kind string // one of the Kind constants
	// Path is the training text (a file or a directory) for the text
	// kinds; "" is the Go installation's own source tree.
	Path string
	// Dir is the checkpoint directory, where a resumed run finds its
	// tokenizer; Resume says to load it rather than train a new one.
	Dir    string
	Resume bool
	Seed   uint64
	// Config reads an integer config key of the model (vocab, ctx, batch, …).
	Config func(key string) int
	// Example is the full batch of the example kind.
	Example Batch
	// Inputs are the names of the training graph's inputs: a pipeline
	// fills the optional ones it knows (BERT's attention_mask) when the
	// model has them.
	Inputs []string
	// Shapes are the training inputs' shapes, by name: a file of tensors
	// (-data FILE.safetensors) is checked against them, and batched by
	// their first axis.
	Shapes map[string][]int
	// Log prints progress lines (corpus size, tokens, baseline); may be nil.
	Log func(format string, args ...any)
	// Rank and Ranks: with Ranks > 1 the data set is rank Rank's share of
	// a data-parallel job's (see shard.go): the rows r·b to (r+1)·b of the
	// global batches of Ranks·b examples, where b is the model's batch.
	Rank, Ranks int
}

// New builds the dataset the options describe.
func New(o Options) (Dataset, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Ranks > 1 {
		return sharded(o)
	}
	switch o.Kind {
	case KindExample:
		if o.Path == "" {
			return &fixedBatch{batch: o.Example}, nil
		}
		return fileDataset(o)
	case KindLM, KindMLM, KindSkipGram:
		return textDataset(o)
	case KindCase:
		c, err := LoadCorpus(o.Path)
		if err != nil {
			return nil, err
		}
		o.Log("corpus %s\n", c)
		return newCaseData(c, o)
	}
	return nil, fmt.Errorf("unknown data kind %q", o.Kind)
}

// fixedBatch is full-batch training on one batch (the reference text's XOR
// rows, the seed example), or a seeded random batch.
type fixedBatch struct{ batch Batch }

func (d *fixedBatch) Fixed() bool              { return true }
func (d *fixedBatch) Next() (Batch, error)     { return d.batch, nil }
func (d *fixedBatch) Validation() []Batch      { return nil }
func (d *fixedBatch) State() string            { return "" }
func (d *fixedBatch) Restore(string) error     { return nil }
func (d *fixedBatch) Meta() map[string]string  { return nil }
func (d *fixedBatch) Files() map[string][]byte { return nil }

// IDs makes an integer tensor of the given shape.
func IDs(data []int32, shape ...int) runtime.JSONTensor {
	j := runtime.JSONTensor{Shape: shape, Data: make([]runtime.JSONFloat, len(data))}
	for i, v := range data {
		j.Data[i] = runtime.JSONFloat(v)
	}
	return j
}

// Mask makes a boolean tensor (1 for true) of the given shape.
func Mask(data []bool, shape ...int) runtime.JSONTensor {
	j := runtime.JSONTensor{Shape: shape, Data: make([]runtime.JSONFloat, len(data))}
	for i, v := range data {
		if v {
			j.Data[i] = 1
		}
	}
	return j
}

// rngState and restoreRNG save and restore a data generator's position.
func rngState(r *runtime.RNG) string { return strconv.FormatUint(r.State, 10) }

func restoreRNG(r *runtime.RNG, s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad data position %q", s)
	}
	r.State = v
	return nil
}

// fileDataset reads the examples of a model that is not a text model from
// a .safetensors file: one tensor per training input, named as the input,
// holding N examples along its first axis (the input's shape with N for
// its batch axis); tensors named val/<input> are the validation set.
func fileDataset(o Options) (Dataset, error) {
	if !strings.HasSuffix(o.Path, ".safetensors") {
		return nil, fmt.Errorf("-data %s: this model trains on tensors: give a .safetensors file with one tensor per input (see data.ReadTensors)", o.Path)
	}
	train, val, err := ReadTensors(o.Path)
	if err != nil {
		return nil, err
	}
	batch := 0
	for _, name := range slices.Sorted(maps.Keys(o.Shapes)) {
		want := o.Shapes[name]
		for _, set := range []struct {
			what string
			ts   map[string]runtime.JSONTensor
		}{{"", train}, {"val/", val}} {
			t, ok := set.ts[name]
			if !ok {
				if set.what == "" {
					return nil, fmt.Errorf("%s: no tensor %q for the model's input %s%v", o.Path, name, name, want)
				}
				if len(val) > 0 {
					return nil, fmt.Errorf("%s: no tensor %q for the validation set", o.Path, set.what+name)
				}
				continue
			}
			if len(t.Shape) != len(want) || !slices.Equal(t.Shape[1:], want[1:]) {
				return nil, fmt.Errorf("%s: tensor %q has shape %v; want [N%s] for the model's input %v", o.Path, set.what+name, t.Shape, dims(want[1:]), want)
			}
		}
		batch = want[0]
	}
	for name := range train {
		if _, ok := o.Shapes[name]; !ok {
			return nil, fmt.Errorf("%s: tensor %q is not an input of the model (its inputs: %s)", o.Path, name, strings.Join(slices.Sorted(maps.Keys(o.Shapes)), ", "))
		}
	}
	o.Log("data %s: %d training examples, %d validation batches, batches of %d\n", o.Path, train[sortedKeys(train)[0]].Shape[0], len(val), batch)
	return Tensors(train, val, batch, o.Seed)
}

func dims(d []int) string {
	var b strings.Builder
	for _, x := range d {
		fmt.Fprintf(&b, ",%d", x)
	}
	return b.String()
}
