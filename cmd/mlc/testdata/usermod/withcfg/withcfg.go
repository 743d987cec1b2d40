// Package withcfg is a user's model with a config: an MLP whose sizes the
// CLI's -config sets.
package withcfg

import "github.com/mlc-dev/mlc/dsl"

// Config holds the model's sizes; -config hidden=8,batch=2 sets them.
type Config struct {
	In     int `mlc:"in" help:"input features"`
	Hidden int `mlc:"hidden" help:"hidden units"`
	Batch  int `mlc:"batch" help:"examples per batch"`
}

// DefaultConfig is the config without -config.
func DefaultConfig() Config { return Config{In: 3, Hidden: 4, Batch: 5} }

// Build defines a one-hidden-layer classifier into two classes.
func Build(b *dsl.Builder, c Config) {
	x := b.Input("x", c.Batch, c.In)
	y := b.InputIDs("y", c.Batch)
	w1 := b.Param("w1", dsl.He(), c.In, c.Hidden)
	w2 := b.Param("w2", dsl.Xavier(), c.Hidden, 2)
	logits := x.MatMul(w1).ReLU().MatMul(w2)
	b.Output("logits", logits)
	b.Loss(dsl.CrossEntropy(logits, y))
}
