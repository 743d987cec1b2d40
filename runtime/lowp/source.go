package lowp

import _ "embed"

// Source is lowp.go: codegen copies it into generated packages with
// low-precision weights, under their package clause.
//
//go:embed lowp.go
var Source string
