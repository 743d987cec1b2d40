//go:build mpi

package dist

/*
#cgo pkg-config: ompi
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

// MPI's datatype and communicator handles are macros over globals in
// Open MPI, which Go cannot name; these wrappers take plain arguments.

static int dist_init(int *rank, int *size, int *provided) {
	int initialized = 0;
	MPI_Initialized(&initialized);
	if (!initialized) {
		int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, provided);
		if (err != MPI_SUCCESS) return err;
	} else {
		MPI_Query_thread(provided);
	}
	// Errors come back as codes rather than killing the process unasked.
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, rank);
	return MPI_Comm_size(MPI_COMM_WORLD, size);
}

static int dist_allreduce(void *buf, int n, int f64) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

// dist_allreduce_mean leaves the mean of buf over the ranks in every
// rank's buf: a reduce-scatter sums one segment into each rank, the rank
// divides its segment by the size, and an all-gather shares the segments.
// It scales n/size elements per rank instead of n.
static int dist_allreduce_mean(void *buf, int n, int f64) {
	int size, rank, err;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	int *counts = malloc(2 * size * sizeof(int));
	if (counts == NULL) return MPI_ERR_NO_MEM;
	int *displs = counts + size;
	for (int r = 0, at = 0; r < size; r++) {
		counts[r] = n / size + (r < n % size);
		displs[r] = at;
		at += counts[r];
	}
	MPI_Datatype t = f64 ? MPI_DOUBLE : MPI_FLOAT;
	size_t w = f64 ? 8 : 4;
	char *mine = (char *)buf + (size_t)displs[rank] * w;
	// MPI_IN_PLACE: the input is the whole buf, the result lands at the
	// start of buf; move it to this rank's segment.
	err = MPI_Reduce_scatter(MPI_IN_PLACE, buf, counts, t, MPI_SUM, MPI_COMM_WORLD);
	if (err == MPI_SUCCESS) {
		memmove(mine, buf, (size_t)counts[rank] * w);
		if (f64) {
			double *x = (double *)mine, d = size;
			for (int i = 0; i < counts[rank]; i++) x[i] /= d;
		} else {
			float *x = (float *)mine, d = size;
			for (int i = 0; i < counts[rank]; i++) x[i] /= d;
		}
		err = MPI_Allgatherv(MPI_IN_PLACE, 0, t, buf, counts, displs, t, MPI_COMM_WORLD);
	}
	free(counts);
	return err;
}

static int dist_bcast(void *buf, int n) {
	return MPI_Bcast(buf, n, MPI_BYTE, 0, MPI_COMM_WORLD);
}

static int dist_allgather(void *mine, int n, void *all) {
	return MPI_Allgather(mine, n, MPI_BYTE, all, n, MPI_BYTE, MPI_COMM_WORLD);
}

static int dist_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static int dist_finalize(void) { return MPI_Finalize(); }
static void dist_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static int dist_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static int dist_success(void) { return MPI_SUCCESS; }

static void dist_error_string(int code, char *buf, int *len) {
	MPI_Error_string(code, buf, len);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// mpiBuilt reports whether this build has the MPI backend (-tags mpi).
const mpiBuilt = true

// mpiError turns an MPI return code into an error naming the call.
func mpiError(call string, code C.int) error {
	if code == C.dist_success() {
		return nil
	}
	var buf [C.MPI_MAX_ERROR_STRING]C.char
	var n C.int
	C.dist_error_string(code, &buf[0], &n)
	return fmt.Errorf("dist: %s failed: %s", call, C.GoStringN(&buf[0], n))
}

func mpiInit() (rank, size int, err error) {
	var r, s, provided C.int
	if err := mpiError("MPI_Init_thread", C.dist_init(&r, &s, &provided)); err != nil {
		return 0, 0, err
	}
	// Go runs a goroutine on any OS thread, and the watchdog aborts from
	// its own, so MPI must accept calls from every thread.
	if provided < C.dist_thread_multiple() {
		C.dist_finalize()
		return 0, 0, fmt.Errorf("dist: this MPI library does not support MPI_THREAD_MULTIPLE (it provides level %d), which Go's threads need", int(provided))
	}
	return int(r), int(s), nil
}

func mpiAllreduce(p unsafe.Pointer, n int, f64 bool) error {
	w := C.int(0)
	if f64 {
		w = 1
	}
	return mpiError("MPI_Allreduce", C.dist_allreduce(p, C.int(n), w))
}

func mpiAllreduceMean(p unsafe.Pointer, n int, f64 bool) error {
	w := C.int(0)
	if f64 {
		w = 1
	}
	return mpiError("MPI_Reduce_scatter/MPI_Allgatherv", C.dist_allreduce_mean(p, C.int(n), w))
}

func mpiBroadcast(p unsafe.Pointer, n int) error {
	return mpiError("MPI_Bcast", C.dist_bcast(p, C.int(n)))
}

func mpiAllgather(mine unsafe.Pointer, n int, all unsafe.Pointer) error {
	return mpiError("MPI_Allgather", C.dist_allgather(mine, C.int(n), all))
}

func mpiBarrier() error  { return mpiError("MPI_Barrier", C.dist_barrier()) }
func mpiFinalize() error { return mpiError("MPI_Finalize", C.dist_finalize()) }
func mpiAbort(code int)  { C.dist_abort(C.int(code)) }
