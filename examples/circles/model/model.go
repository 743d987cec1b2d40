// Package model is a small classifier written with mlc's DSL: which of two
// concentric circles a point in the plane lies on. It is the model of the
// example module; compiled is its compiled package (go generate ./...).
package model

import "github.com/mlc-dev/mlc/dsl"

//go:generate go tool mlc compile -model . -o compiled -pkg compiled -opt adamw -lr 0.02 -warmup 20 -cosine -steps 600 -clip 1

// Config sets the model's sizes; mlc's -config hidden=32 changes them.
type Config struct {
	Batch  int `mlc:"batch" help:"points per batch"`
	Hidden int `mlc:"hidden" help:"hidden units"`
}

// DefaultConfig is the config the example compiles.
func DefaultConfig() Config { return Config{Batch: 32, Hidden: 16} }

// Build is a two-layer perceptron: tanh hidden units, softmax over the two
// circles, trained with cross-entropy.
func Build(b *dsl.Builder, c Config) {
	x := b.Input("x", c.Batch, 2)
	label := b.InputIDs("label", c.Batch)
	w1 := b.Param("w1", dsl.Xavier(), 2, c.Hidden)
	b1 := b.Param("b1", dsl.Zeros(), c.Hidden)
	w2 := b.Param("w2", dsl.Xavier(), c.Hidden, 2)
	b2 := b.Param("b2", dsl.Zeros(), 2)
	logits := x.MatMul(w1).Add(b1).Tanh().MatMul(w2).Add(b2).As("logits")
	b.Output("probs", logits.Softmax(-1))
	b.Loss(dsl.CrossEntropy(logits, label))
}
