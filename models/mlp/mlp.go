// Package mlp is a configurable classifier: fully connected layers with an
// activation between them and softmax cross-entropy on the last.
package mlp

import (
	"strconv"

	"github.com/mlc-dev/mlc/dsl"
)

// Config sizes the classifier.
type Config struct {
	Sizes   []int   `mlc:"sizes" help:"layer widths from input to classes, e.g. 784-256-256-10"`
	Act     string  `mlc:"act" help:"hidden activation: relu, gelu, tanh or sigmoid"`
	Batch   int     `mlc:"batch" help:"rows per step"`
	Dropout float64 `mlc:"dropout" help:"dropout probability after each hidden activation (training only)"`
}

// DefaultConfig is the MNIST-sized 784-256-256-10 network, batch 64.
func DefaultConfig() Config { return Config{Sizes: []int{784, 256, 256, 10}, Act: "relu", Batch: 64} }

// Build defines logits = layers(X) and loss = CrossEntropy(logits, labels).
func Build(b *dsl.Builder, c Config) {
	if len(c.Sizes) < 2 {
		b.Errorf("sizes needs at least an input and an output width, got %v", c.Sizes)
		return
	}
	for _, d := range c.Sizes {
		if d <= 0 {
			b.Errorf("sizes must be positive, got %v", c.Sizes)
			return
		}
	}
	if c.Batch <= 0 {
		b.Errorf("batch must be positive, got %d", c.Batch)
		return
	}
	act := map[string]func(*dsl.Tensor) *dsl.Tensor{
		"relu": (*dsl.Tensor).ReLU, "gelu": (*dsl.Tensor).GELU,
		"tanh": (*dsl.Tensor).Tanh, "sigmoid": (*dsl.Tensor).Sigmoid,
	}[c.Act]
	if act == nil {
		b.Errorf("act must be relu, gelu, tanh or sigmoid, got %q", c.Act)
		return
	}
	X := b.Input("X", c.Batch, c.Sizes[0])
	labels := b.InputIDs("labels", c.Batch)
	h := X
	last := len(c.Sizes) - 2
	for l := 0; l <= last; l++ {
		W := b.Param(name("W", l), dsl.He(), c.Sizes[l], c.Sizes[l+1])
		bias := b.Param(name("b", l), dsl.Zeros(), c.Sizes[l+1])
		z := h.MatMul(W).Add(bias).As(name("z", l))
		if l == last {
			h = z
			break
		}
		h = act(z).As(name("h", l)).Dropout(c.Dropout)
	}
	b.Output("logits", h)
	b.Loss(dsl.CrossEntropy(h, labels))
}

func name(prefix string, l int) string { return prefix + strconv.Itoa(l+1) }
