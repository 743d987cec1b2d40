// Package xor is the reference text's NumPy XOR network: 2-4-1, ReLU hidden
// layer, sigmoid output, mean binary cross-entropy over the four rows.
package xor

import "github.com/mlc-dev/mlc/dsl"

// Config sizes the network.
type Config struct {
	Hidden int `mlc:"hidden" help:"hidden units; 4 starts from the text's weights (np.random.seed(42)), other sizes from He initialisation"`
}

// DefaultConfig is the text's network.
func DefaultConfig() Config { return Config{Hidden: 4} }

// The text's initial weights, drawn by NumPy with seed 42 (W1 = randn(2,4)·√(2/2),
// W2 = randn(4,1)·√(2/4)), as recorded in the golden xor_seed.json.
var (
	textW1 = []float64{0.4967141530112327, -0.13826430117118466, 0.6476885381006925, 1.5230298564080254, -0.23415337472333597, -0.23413695694918055, 1.5792128155073915, 0.7674347291529088}
	textW2 = []float64{-0.33196852188799497, 0.3836478860205044, -0.32768579310951645, -0.32932066694986833}
)

// Build defines the XOR network on its four rows.
func Build(b *dsl.Builder, c Config) {
	h := c.Hidden
	if h <= 0 {
		b.Errorf("hidden must be positive, got %d", h)
		return
	}
	initW1, initW2 := dsl.He(), dsl.He()
	if h == 4 {
		initW1, initW2 = dsl.Values(textW1...), dsl.Values(textW2...)
	}
	X := b.Input("X", 4, 2)
	y := b.Input("y", 4, 1)
	W1 := b.Param("W1", initW1, 2, h)
	b1 := b.Param("b1", dsl.Zeros(), 1, h)
	W2 := b.Param("W2", initW2, h, 1)
	b2 := b.Param("b2", dsl.Zeros(), 1, 1)
	z1 := X.MatMul(W1).Add(b1).As("z1")
	a1 := z1.ReLU().As("a1")
	z2 := a1.MatMul(W2).Add(b2).As("z2")
	b.Output("yhat", z2.Sigmoid())
	b.Loss(dsl.BCEWithLogits(z2, y))
}

// Example is the four rows of the XOR truth table.
func Example(Config) map[string][]float64 {
	return map[string][]float64{"X": {0, 0, 0, 1, 1, 0, 1, 1}, "y": {0, 1, 1, 0}}
}
