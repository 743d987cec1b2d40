package dist

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Float is the element type of the reducing collectives.
type Float interface{ ~float32 | ~float64 }

// Elem is the element type Broadcast accepts.
type Elem interface{ ~float32 | ~float64 | ~byte }

// Options says how Init should start.
type Options struct {
	// Require makes Init fail unless the process runs under MPI: built
	// with -tags mpi and started by mpirun. Without it, a process that
	// was not started by mpirun gets a one-process Comm.
	Require bool
	// Timeout bounds each collective: a rank that waits longer in one
	// prints what it waited for and aborts the whole job. Zero means
	// DefaultTimeout; a negative value turns the watchdog off.
	Timeout time.Duration
}

// DefaultTimeout is the watchdog's limit when Options.Timeout is zero:
// far above any collective of a model mlc trains (milliseconds), far
// below the time a hung job would otherwise hold its machines.
const DefaultTimeout = 5 * time.Minute

// Comm is the group of processes (ranks) of one job. A Comm's methods and
// the collectives may be called from any goroutine, one at a time: every
// rank must call the same collectives, with the same lengths, in the same
// order.
type Comm struct {
	rank, size int
	mpi        bool // false: the one-process Comm
	finalized  bool

	timeout time.Duration
	// The watchdog's view of the collective running now: its start in
	// Unix nanoseconds (0: none), its kind and its size in bytes.
	start   atomic.Int64
	op      atomic.Int32
	bytes   atomic.Int64
	stop    chan struct{}
	stopped sync.WaitGroup
}

// Local returns the one-process Comm: Size 1, Rank 0, and collectives that
// leave their buffers as they are.
func Local() *Comm {
	return &Comm{rank: 0, size: 1}
}

// Init starts the job's Comm. Under mpirun, in a build with -tags mpi, it
// initialises MPI (once per process; call Finalize before exiting). It
// fails with a one-line error when o.Require is set and MPI cannot run,
// and when the process was started by mpirun with several ranks but built
// without MPI.
func Init(o Options) (*Comm, error) {
	l := launcher()
	if !mpiBuilt {
		if o.Require {
			return nil, errNotBuilt
		}
		switch {
		case l.size > 1:
			return nil, fmt.Errorf("dist: started by %s as one of %d ranks, but this binary was built without MPI: rebuild with go build -tags mpi (needs apt-get install openmpi-bin libopenmpi-dev)", l.name, l.size)
		case l.name != "" && l.size == 0: // a launcher that does not say how many
			return nil, fmt.Errorf("dist: started by %s, but this binary was built without MPI: rebuild with go build -tags mpi (needs apt-get install openmpi-bin libopenmpi-dev)", l.name)
		}
		return Local(), nil
	}
	if l.name == "" {
		if o.Require {
			return nil, errors.New("dist: MPI was requested but this process was not started by mpirun (OMPI_COMM_WORLD_SIZE is unset): run it as mpirun -np N " + os.Args[0] + " ...")
		}
		return Local(), nil
	}
	mpiState.Lock()
	defer mpiState.Unlock()
	if mpiState.started {
		return nil, errors.New("dist: Init under MPI called twice: MPI starts once per process; keep the first Comm")
	}
	rank, size, err := mpiInit()
	if err != nil {
		return nil, err
	}
	mpiState.started = true
	if l.size > 0 && size != l.size {
		return nil, fmt.Errorf("dist: %s started %d ranks but MPI reports %d: is the binary linked against another MPI than the launcher's?", l.name, l.size, size)
	}
	c := &Comm{rank: rank, size: size, mpi: true, timeout: o.Timeout}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.timeout > 0 {
		c.stop = make(chan struct{})
		c.stopped.Add(1)
		go c.watch()
	}
	return c, nil
}

// mpiState records that MPI was started: MPI_Init may run once per
// process, and never again after MPI_Finalize.
var mpiState struct {
	sync.Mutex
	started bool
}

var errNotBuilt = errors.New("dist: MPI was requested but this binary was built without it: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) and build with -tags mpi, as in go build -tags mpi ./cmd/mlc")

// Launched reports the rank and the job size an MPI launcher gave this
// process in its environment (OMPI_COMM_WORLD_RANK and _SIZE from Open
// MPI's mpirun, PMI_RANK and PMI_SIZE from others), without starting MPI;
// ok is false when no launcher did, or it did not say both. It is for a
// process that leaves Init to a child, as mlc train leaves it to the
// runner of the generated model: it still has to read its own share of
// the data and to know whether it is rank 0, which writes checkpoints.
func Launched() (rank, size int, ok bool) {
	for _, v := range [][2]string{{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}, {"PMI_RANK", "PMI_SIZE"}} {
		r, err1 := strconv.Atoi(os.Getenv(v[0]))
		n, err2 := strconv.Atoi(os.Getenv(v[1]))
		if err1 == nil && err2 == nil && n > 0 && r >= 0 && r < n {
			return r, n, true
		}
	}
	return 0, 1, false
}

// launch describes the launcher that started this process, from the
// environment it sets; name is "" when none did.
type launch struct {
	name string
	size int // 0: unknown
}

func launcher() launch {
	for _, v := range []struct{ env, name string }{
		{"OMPI_COMM_WORLD_SIZE", "mpirun (Open MPI)"},
		{"PMI_SIZE", "an MPI launcher (PMI)"},
		{"PMIX_RANK", "an MPI launcher (PMIx)"},
	} {
		s, ok := os.LookupEnv(v.env)
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(s)
		if v.env == "PMIX_RANK" {
			n = 0
		}
		return launch{v.name, n}
	}
	return launch{}
}

// Rank is this process's index in the job, from 0 to Size-1.
func (c *Comm) Rank() int { return c.rank }

// Size is the number of processes in the job.
func (c *Comm) Size() int { return c.size }

// MPI reports whether c runs over MPI (false: the one-process Comm).
func (c *Comm) MPI() bool { return c.mpi }

// The collectives, as the watchdog names them.
const (
	opNone int32 = iota
	opAllreduce
	opBroadcast
	opAllgather
	opBarrier
)

var opNames = [...]string{"", "an all-reduce", "a broadcast", "an all-gather", "a barrier"}

func (c *Comm) ready() error {
	if c.finalized {
		return errors.New("dist: collective after Finalize")
	}
	return nil
}

// enter and leave bracket a collective for the watchdog.
func (c *Comm) enter(op int32, bytes int) {
	if c.stop == nil {
		return
	}
	c.op.Store(op)
	c.bytes.Store(int64(bytes))
	c.start.Store(time.Now().UnixNano())
}

func (c *Comm) leave() {
	if c.stop != nil {
		c.start.Store(0)
	}
}

// watch aborts the job when a collective outlives the timeout.
func (c *Comm) watch() {
	defer c.stopped.Done()
	tick := min(c.timeout/4, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			s := c.start.Load()
			if s == 0 || now.UnixNano()-s < int64(c.timeout) {
				continue
			}
			c.Abort(3, fmt.Sprintf("%s of %d bytes has waited %v for the other ranks (watchdog, Options.Timeout %v): a rank hangs or skipped it; aborting the job",
				opNames[c.op.Load()], c.bytes.Load(), time.Duration(now.UnixNano()-s).Round(time.Millisecond), c.timeout))
		}
	}
}

// Barrier returns when every rank has called it.
func (c *Comm) Barrier() error {
	if err := c.ready(); err != nil || !c.mpi {
		return err
	}
	c.enter(opBarrier, 0)
	defer c.leave()
	return mpiBarrier()
}

// Finalize ends this process's part in the job; every rank must call it
// before exiting normally (mpirun treats an exit without it as a crash).
// The Comm is unusable afterwards. A second call does nothing.
func (c *Comm) Finalize() error {
	if c.finalized {
		return nil
	}
	if c.stop != nil { // first, so that the watchdog cannot abort meanwhile
		close(c.stop)
		c.stopped.Wait()
	}
	c.finalized = true
	if !c.mpi {
		return nil
	}
	return mpiFinalize()
}

// Abort prints "dist: rank R of N: msg" on standard error and ends the whole
// job with the exit code: under MPI every rank is killed, on one process
// it is os.Exit. It does not return.
func (c *Comm) Abort(code int, msg string) {
	fmt.Fprintf(os.Stderr, "dist: rank %d of %d: %s\n", c.rank, c.size, msg)
	if c.mpi && !c.finalized {
		mpiAbort(code)
	}
	os.Exit(code)
}

// maxCount is the most elements one MPI call takes (its count is a C int);
// longer buffers go in pieces.
const maxCount = 1 << 30

// AllreduceSum replaces x, on every rank, by the elementwise sum of every
// rank's x. All ranks must pass the same length. The sum's order is MPI's
// (fixed for a given job shape, not necessarily rank order).
func AllreduceSum[T Float](c *Comm, x []T) error {
	if err := c.ready(); err != nil || c.size == 1 || len(x) == 0 {
		return err
	}
	var z T
	f64 := unsafe.Sizeof(z) == 8
	c.enter(opAllreduce, len(x)*int(unsafe.Sizeof(z)))
	defer c.leave()
	for len(x) > 0 {
		n := min(len(x), maxCount)
		if err := mpiAllreduce(unsafe.Pointer(unsafe.SliceData(x)), n, f64); err != nil {
			return err
		}
		x = x[n:]
	}
	return nil
}

// AllreduceMean replaces x, on every rank, by the elementwise mean of every
// rank's x: the data-parallel gradient when each rank's x is the mean
// gradient over an equal share of the batch. A buffer of meanSplit bytes
// or more is reduce-scattered, each rank divides its 1/N share, and the
// shares are all-gathered: the same traffic as an all-reduce, with 1/N of
// the division pass.
func AllreduceMean[T Float](c *Comm, x []T) error {
	var z T
	if len(x)*int(unsafe.Sizeof(z)) < meanSplit || c.size == 1 {
		if err := AllreduceSum(c, x); err != nil {
			return err
		}
		scale(x, c.size)
		return nil
	}
	if err := c.ready(); err != nil {
		return err
	}
	c.enter(opAllreduce, len(x)*int(unsafe.Sizeof(z)))
	defer c.leave()
	for len(x) > 0 {
		n := min(len(x), maxCount)
		if err := mpiAllreduceMean(unsafe.Pointer(unsafe.SliceData(x)), n, unsafe.Sizeof(z) == 8); err != nil {
			return err
		}
		x = x[n:]
	}
	return nil
}

// meanSplit is the buffer size from which AllreduceMean divides only its
// share. On the gpt's 3.5 MB gradient it takes the mean from about 2.2 ms
// to 1.5 ms with 2 ranks here (the sum alone: about 0.9 ms); for small
// buffers the second collective's latency costs more than the division.
const meanSplit = 256 << 10

// scale divides x by n. Dividing by a power of two is exact as a product
// with its inverse, which is several times faster; otherwise it divides,
// so that the mean is correctly rounded from the sum.
func scale[T Float](x []T, n int) {
	if n == 1 {
		return
	}
	if n&(n-1) == 0 {
		inv := 1 / T(n)
		for i := range x {
			x[i] *= inv
		}
		return
	}
	d := T(n)
	for i := range x {
		x[i] /= d
	}
}

// Broadcast copies rank 0's x into every other rank's x. All ranks must
// pass the same length.
func Broadcast[T Elem](c *Comm, x []T) error {
	if err := c.ready(); err != nil || c.size == 1 || len(x) == 0 {
		return err
	}
	var z T
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), len(x)*int(unsafe.Sizeof(z)))
	c.enter(opBroadcast, len(b))
	defer c.leave()
	for len(b) > 0 {
		n := min(len(b), maxCount)
		if err := mpiBroadcast(unsafe.Pointer(unsafe.SliceData(b)), n); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// allgather fills all (Size × len(mine) bytes) with every rank's mine, in
// rank order.
func (c *Comm) allgather(mine, all []byte) error {
	if err := c.ready(); err != nil {
		return err
	}
	if len(all) != c.size*len(mine) {
		return fmt.Errorf("dist: internal error: allgather of %d bytes into %d", len(mine), len(all))
	}
	if c.size == 1 || len(mine) == 0 {
		copy(all, mine)
		return nil
	}
	if len(mine) > maxCount {
		return fmt.Errorf("dist: allgather of %d bytes per rank is too large", len(mine))
	}
	c.enter(opAllgather, len(all))
	defer c.leave()
	return mpiAllgather(unsafe.Pointer(unsafe.SliceData(mine)), len(mine), unsafe.Pointer(unsafe.SliceData(all)))
}

// Built reports whether this binary was built with MPI (-tags mpi).
func Built() bool { return mpiBuilt }

// ErrNotBuilt is Init's error when MPI is required but the binary was
// built without it; its message says how to build with it.
var ErrNotBuilt = errNotBuilt
