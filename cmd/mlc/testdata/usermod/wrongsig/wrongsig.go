// Package wrongsig has a Build with the wrong signature.
package wrongsig

import "github.com/mlc-dev/mlc/dsl"

func Build(b *dsl.Builder, layers int) { _ = b.Input("x", layers) }
