// Package models is the model zoo: each model is a Build function in the DSL
// with a Config, listed here under the name the CLI uses.
package models

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/models/bert"
	"github.com/mlc-dev/mlc/models/gpt"
	"github.com/mlc-dev/mlc/models/llama"
	"github.com/mlc-dev/mlc/models/mlp"
	"github.com/mlc-dev/mlc/models/sae"
	"github.com/mlc-dev/mlc/models/seedmlp"
	"github.com/mlc-dev/mlc/models/seq2seq"
	"github.com/mlc-dev/mlc/models/tinydecoder"
	"github.com/mlc-dev/mlc/models/word2vec"
	"github.com/mlc-dev/mlc/models/xor"
)

// Entry is one model of the zoo.
type Entry struct {
	Name   string
	Doc    string
	Float  dsl.DType // default float dtype
	Source string    // module-relative file of the Build function

	newConfig func() any
	build     func(b *dsl.Builder, cfg any)
	example   func(cfg any) map[string][]float64
}

func entry[C any](name, doc string, float dsl.DType, def func() C, build func(*dsl.Builder, C), example func(C) map[string][]float64) *Entry {
	e := &Entry{
		Name: name, Doc: doc, Float: float,
		Source:    dsl.SourceOf(reflect.ValueOf(build).Pointer()),
		newConfig: func() any { c := def(); return &c },
		build:     func(b *dsl.Builder, cfg any) { build(b, *cfg.(*C)) },
	}
	if example != nil {
		e.example = func(cfg any) map[string][]float64 { return example(*cfg.(*C)) }
	}
	return e
}

// Zoo lists every model, in the order `mlc list` prints them.
var Zoo = []*Entry{
	entry("seedmlp", "the reference text's 2-2-1 backprop example with its exact weights", dsl.F64, seedmlp.DefaultConfig, seedmlp.Build, seedmlp.Example),
	entry("xor", "the reference text's 2-4-1 NumPy XOR network", dsl.F64, xor.DefaultConfig, xor.Build, xor.Example),
	entry("mlp", "configurable classifier with softmax cross-entropy (default 784-256-256-10)", dsl.F32, mlp.DefaultConfig, mlp.Build, nil),
	entry("tinydecoder", "the reference text's one-block transformer decoder (vocab 5, d 4)", dsl.F64, tinydecoder.DefaultConfig, tinydecoder.Build, tinydecoder.Example),
	entry("gpt", "decoder-only GPT-2-style language model: causal multi-head attention, pre/post-norm, tied output", dsl.F32, gpt.DefaultConfig, gpt.Build, nil),
	entry("llama", "decoder-only Llama-style language model: RMSNorm, RoPE, grouped-query attention, SwiGLU", dsl.F32, llama.DefaultConfig, llama.Build, nil),
	entry("seq2seq", "encoder-decoder (T5-like) of Llama-style blocks: bidirectional encoder, causal decoder with cross-attention", dsl.F32, seq2seq.DefaultConfig, seq2seq.Build, seq2seq.Example),
	entry("bert", "encoder-only masked language model: bidirectional attention with a padding mask, tied MLM head", dsl.F32, bert.DefaultConfig, bert.Build, bert.Example),
	entry("word2vec", "skip-gram with negative sampling: center vectors V, context vectors U", dsl.F32, word2vec.DefaultConfig, word2vec.Build, nil),
	entry("sae", "sparse autoencoder over activations: ReLU codes, unit-norm decoder rows, loss MSE + λ·L1", dsl.F32, sae.DefaultConfig, sae.Build, nil),
}

// Names lists the zoo's model names.
func Names() []string {
	names := make([]string, len(Zoo))
	for i, e := range Zoo {
		names[i] = e.Name
	}
	return names
}

// Lookup finds a model by name.
func Lookup(name string) (*Entry, error) {
	for _, e := range Zoo {
		if e.Name == name {
			return e, nil
		}
	}
	return nil, fmt.Errorf("unknown model %q (models: %s)", name, strings.Join(Names(), ", "))
}

// Config returns the model's default config with spec ("k=v,k=v") applied.
func (e *Entry) Config(spec string) (any, error) {
	cfg := e.newConfig()
	if err := dsl.ApplyConfig(e.Name, cfg, spec); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Keys lists the model's config keys with their defaults.
func (e *Entry) Keys() []dsl.ConfigKey { return dsl.ConfigKeys(e.newConfig()) }

// Build builds the model's forward graph for cfg (from Config).
func (e *Entry) Build(cfg any, opts dsl.Options) (*dsl.Graph, error) {
	if opts.Float == 0 {
		opts.Float = e.Float
	}
	return dsl.Build(e.Name, e.Source, opts, func(b *dsl.Builder) { e.build(b, cfg) })
}

// BuildInto runs the model's Build function on an existing builder.
func (e *Entry) BuildInto(b *dsl.Builder, cfg any) { e.build(b, cfg) }

// Example is the model's default example batch for cfg, by input name
// (row-major values), or nil when the model has none: callers then draw a
// seeded random batch.
func (e *Entry) Example(cfg any) map[string][]float64 {
	if e.example == nil {
		return nil
	}
	return e.example(cfg)
}
