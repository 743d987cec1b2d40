package sample

import _ "embed"

// Source is sample.go: codegen copies it into generated packages, whose
// Models sample tokens without allocating and without importing mlc.
//
//go:embed sample.go
var Source string
