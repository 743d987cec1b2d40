package lib

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/runtime"
)

// TestRNGMatchesRuntime: the generator copied into generated packages draws
// the same numbers as the interpreter's, so parameter initialisation and
// dropout agree across engines.
func TestRNGMatchesRuntime(t *testing.T) {
	a := rng{state: seedFor(7, "W1")}
	b := runtime.RNG{State: runtime.SeedFor(7, "W1")}
	for i := range 1000 {
		if x, y := a.next(), b.Uint64(); x != y {
			t.Fatalf("draw %d: %d vs %d", i, x, y)
		}
	}
	if a.normal() != b.Normal() {
		t.Fatal("normal draws differ")
	}
}

// TestGELUSigmoidForm: gelu and geluGrad, written with σ(2u), are GELU's
// tanh form (the interpreter's) to rounding, over the range that matters
// and far beyond it, where exp overflows.
func TestGELUSigmoidForm(t *testing.T) {
	tanhGELU := func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(geluC*(x+0.044715*x*x*x))) }
	tanhGrad := func(x float64) float64 {
		th := math.Tanh(geluC * (x + 0.044715*x*x*x))
		return 0.5*(1+th) + 0.5*x*(1-th*th)*geluC*(1+3*0.044715*x*x)
	}
	close := func(a, b float64) bool { return a == b || math.Abs(a-b) <= 1e-14*math.Max(1, math.Abs(b)) }
	for x := -60.0; x <= 60; x += 0.0137 {
		if g, w := gelu(x), tanhGELU(x); !close(g, w) {
			t.Errorf("gelu(%v) = %v, tanh form %v", x, g, w)
		}
		if g, w := geluGrad(x, 1.5), 1.5*tanhGrad(x); !close(g, w) {
			t.Errorf("geluGrad(%v) = %v, tanh form %v", x, g, w)
		}
	}
	for _, x := range []float64{-1e300, -1e10, 1e10, math.Inf(1)} {
		if g := gelu(x); math.IsNaN(g) || !close(g, tanhGELU(x)) && !(x < 0 && g == 0) {
			t.Errorf("gelu(%v) = %v", x, g)
		}
	}
	if !math.IsNaN(gelu(math.NaN())) || !math.IsNaN(geluGrad(math.NaN(), 1)) {
		t.Error("NaN does not propagate")
	}
}
