// Package seedmlp is the reference text's 2-2-1 worked example of
// backpropagation: one input row, ReLU hidden layer, sigmoid output, binary
// cross-entropy against y = 1, with the text's exact starting weights.
package seedmlp

import "github.com/mlc-dev/mlc/dsl"

// Config has no knobs: the example is fixed by the text.
type Config struct{}

// DefaultConfig is the text's example.
func DefaultConfig() Config { return Config{} }

// Build defines z1 = x·W1 + b1, a1 = ReLU(z1), z2 = a1·W2 + b2, ŷ = σ(z2),
// loss = BCE(z2, y). Weights use the [in, out] layout.
func Build(b *dsl.Builder, _ Config) {
	x := b.Input("x", 1, 2)
	y := b.Input("y", 1, 1)
	W1 := b.Param("W1", dsl.Values(0.15, 0.25, 0.2, 0.3), 2, 2)
	b1 := b.Param("b1", dsl.Values(0.35, 0.35), 2)
	W2 := b.Param("W2", dsl.Values(0.4, 0.45), 2, 1)
	b2 := b.Param("b2", dsl.Values(0.6), 1)
	z1 := x.MatMul(W1).Add(b1).As("z1")
	a1 := z1.ReLU().As("a1")
	z2 := a1.MatMul(W2).Add(b2).As("z2")
	b.Output("yhat", z2.Sigmoid())
	b.Loss(dsl.BCEWithLogits(z2, y))
}

// Example is the text's input x = [1, 0.5] with target y = 1.
func Example(Config) map[string][]float64 {
	return map[string][]float64{"x": {1, 0.5}, "y": {1}}
}
