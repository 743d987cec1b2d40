package lib

import (
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
