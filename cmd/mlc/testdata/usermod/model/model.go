// Package model is a user's own model, outside mlc's zoo: logistic
// regression on three features.
package model

import "github.com/mlc-dev/mlc/dsl"

// Build defines p = σ(x·w + b) with a binary cross-entropy loss.
func Build(b *dsl.Builder) {
	x := b.Input("x", 5, 3)
	y := b.Input("y", 5, 1)
	w := b.Param("w", dsl.Values(0.5, -0.25, 0.125), 3, 1)
	bias := b.Param("bias", dsl.Zeros(), 1)
	z := x.MatMul(w).Add(bias).As("z")
	b.Output("p", z.Sigmoid())
	b.Loss(dsl.BCEWithLogits(z, y))
}

// Other has the wrong signature for -func.
func Other(n int) int { return n }

// Features is not a function: -func Features is an error.
const Features = 3
