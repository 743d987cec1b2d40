// Package dist is mlc's data-parallel layer: all-reduce, broadcast and a
// start-up consistency check over Open MPI, for training one model on
// several processes that each hold a full copy of it.
//
// The MPI part is cgo and lives behind the build tag mpi, so that the
// default build stays pure Go:
//
//	go build -tags mpi ./cmd/mlc        # needs: apt-get install openmpi-bin libopenmpi-dev
//	mpirun -np 4 ./mlc train ...
//
// Without the tag, Init returns a one-process Comm (Size 1, Rank 0) on
// which every collective is the identity, so the same training loop runs
// unchanged on one process; asking for MPI (Options.Require) is then an
// error that says how to build with it. A program started by mpirun but
// built without the tag is an error too: N copies training independently
// would look like success.
//
// Collectives are package functions, generic over the element type, and
// allocate nothing:
//
//	c, err := dist.Init(dist.Options{})
//	...
//	err = dist.AllreduceMean(c, grads) // every rank now holds the mean
//
// Faults: when a rank exits with a non-zero status or is killed, mpirun
// kills the others and reports which rank failed; a rank that returns
// from main without Finalize makes mpirun abort the job too. A collective
// that waits longer than Options.Timeout (the other ranks hang, or skipped
// it) makes a watchdog print what this rank was waiting for and abort the
// job. See docs/distributed.md.
package dist
