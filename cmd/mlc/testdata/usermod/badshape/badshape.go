// Package badshape has a Build function with a shape error.
package badshape

import "github.com/mlc-dev/mlc/dsl"

// Build multiplies matrices whose shapes do not fit.
func Build(b *dsl.Builder) {
	x := b.Input("x", 2, 3)
	w := b.Param("w", dsl.Zeros(), 4, 1)
	b.Output("y", x.MatMul(w))
}
