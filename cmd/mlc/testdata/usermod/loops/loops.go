// Package loops has a Build function that never returns.
package loops

import "github.com/mlc-dev/mlc/dsl"

var spins int

// Build spins forever.
func Build(b *dsl.Builder) {
	for {
		spins++
	}
}
