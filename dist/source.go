//go:build mpi

package dist

import "embed"

// Source holds the package's own Go files (tests excluded). A program
// that builds another Go program which must link dist, as mlc builds the
// runner of a generated model for mpirun, writes them out as a small module
// instead of needing this repository's checkout: one copy of the MPI code.
// Only builds with MPI carry it.
//
//go:embed doc.go dist.go mpi.go nompi.go bucket.go check.go source.go
var Source embed.FS
