package kernels

// gemm_amd64.s, gemm512_amd64.s and their .go declarations are generated
// by ./asmgen, a standard-library only program; `go generate` here rewrites
// them, and `go vet` checks the assembly's frame offsets against the
// declarations.
//
// Copying this package into a generated model package: copy every non-test
// .go file except this one, and the .s files; leave out asmgen/ and the
// _test.go files (their benchmarks import gonum).

//go:generate go run ./asmgen
