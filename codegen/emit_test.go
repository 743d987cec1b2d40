package codegen

import (
	"testing"

	"github.com/mlc-dev/mlc/graph"
	"github.com/mlc-dev/mlc/runtime"
)

// TestEveryOpHasEmitter walks the op table: codegen must cover every
// non-leaf op, and the interpreter too.
func TestEveryOpHasEmitter(t *testing.T) {
	for _, op := range graph.AllOps() {
		if op.Info().Has(graph.Leaf) {
			continue
		}
		if emitters[op] == nil {
			t.Errorf("codegen has no emitter for %s", op)
		}
		if !runtime.HasKernel(op) {
			t.Errorf("the interpreter has no kernel for %s", op)
		}
	}
}
