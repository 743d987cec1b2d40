// Package broken does not type-check.
package broken

import "github.com/mlc-dev/mlc/dsl"

func Build(b *dsl.Builder) {
	x := b.Input("x", 2, 2)
	var n int = "two"
	_ = x
}
