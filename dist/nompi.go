//go:build !mpi

package dist

import "unsafe"

// mpiBuilt reports whether this build has the MPI backend (-tags mpi).
const mpiBuilt = false

// Without the tag no Comm runs over MPI, so these are never reached; they
// return the build error for safety.

func mpiInit() (rank, size int, err error)                 { return 0, 0, errNotBuilt }
func mpiAllreduce(p unsafe.Pointer, n int, f64 bool) error { return errNotBuilt }
func mpiAllreduceMean(p unsafe.Pointer, n int, f64 bool) error {
	return errNotBuilt
}
func mpiBroadcast(p unsafe.Pointer, n int) error { return errNotBuilt }
func mpiAllgather(mine unsafe.Pointer, n int, all unsafe.Pointer) error {
	return errNotBuilt
}
func mpiBarrier() error  { return errNotBuilt }
func mpiFinalize() error { return errNotBuilt }
func mpiAbort(code int)  {}
