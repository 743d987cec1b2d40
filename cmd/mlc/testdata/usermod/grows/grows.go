// Package grows has a Build function that adds nodes without end.
package grows

import "github.com/mlc-dev/mlc/dsl"

// Build adds one node after another.
func Build(b *dsl.Builder) {
	x := b.Input("x", 1)
	for {
		x = x.Add(x)
	}
}
