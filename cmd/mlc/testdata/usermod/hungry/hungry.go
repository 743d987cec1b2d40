// Package hungry has a Build function that allocates without end.
package hungry

import "github.com/mlc-dev/mlc/dsl"

var keep [][]byte

// Build holds on to ever more memory.
func Build(b *dsl.Builder) {
	for {
		keep = append(keep, make([]byte, 1<<20))
	}
}
