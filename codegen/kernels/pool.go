package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A Pool holds the packing buffers of the blocked path and, when it has more
// than one thread, long-lived worker goroutines that each compute a share of
// a large product while the calling goroutine computes its own share.
//
// Create one Pool per model, when the model is built, and Close it when the
// model is no longer used. A Pool serves one product at a time: concurrent
// callers are serialised. Nothing is allocated per call: work is handed to a
// worker through fields of its preallocated struct, and the buffers only
// grow when a larger shape than any before arrives.
//
// Waking a parked goroutine costs tens of microseconds on a virtual machine,
// more than a whole product of the sizes a training step is made of, so a
// worker that finishes a job keeps polling for the next one for spinTime
// before it parks (see signal), and the caller polls for the workers' shares
// in the same way. Between the products of one step the workers stay awake;
// an idle Pool costs nothing after spinTime.
type Pool struct {
	mu      sync.Mutex
	workers []*worker // workers[0] is run by the calling goroutine
	closed  bool
	cleanup runtime.Cleanup // stops the workers if p is dropped without Close
	sched   schedule        // who computes which chunk of the running kernel
	// active is how many of the workers split kernels run on (the first
	// ones): all of them unless a ThreadTuner chose fewer.
	active atomic.Int32
	bf16   any // GemmBF16's *bf16Pool (bf16.go), made by its first call or ReserveBF16
}

// worker is one thread's buffers and, for workers after the first, the
// goroutine that runs its jobs.
type worker struct {
	ws32  workspace[float32]
	ws64  workspace[float64]
	job32 gemmJob[float32]
	job64 gemmJob[float64]
	is64  bool     // which product to run
	rng   rangeJob // when its task is set, the job to run instead of a product
	quit  bool     // set before start is posted by Close: exit
	start signal   // posted by the caller: a job (or quit) is ready
	done  signal   // posted by the worker: the job is finished
}

// sharedPool serves callers that pass a nil *Pool.
var sharedPool = NewPool(1)

// NewPool returns a Pool that uses up to threads goroutines, the caller's
// included; threads ≤ 0 means runtime.GOMAXPROCS(0).
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: make([]*worker, threads)}
	p.active.Store(int32(threads))
	p.sched.slots = make([]slot, threads)
	p.workers[0] = &worker{}
	for i := 1; i < threads; i++ {
		w := &worker{}
		w.start.ch = make(chan struct{}, 1)
		w.done.ch = make(chan struct{}, 1)
		p.workers[i] = w
		go w.loop()
	}
	// A Pool dropped without Close still stops its goroutines: they refer
	// to their workers only, never to the Pool.
	if threads > 1 {
		p.cleanup = runtime.AddCleanup(p, stopWorkers, p.workers[1:])
	}
	return p
}

// Threads returns the number of threads p computes with: its goroutines, or
// fewer when a ThreadTuner found that fewer run faster.
func (p *Pool) Threads() int { return int(p.active.Load()) }

// setActive makes split kernels run on the first n of p's threads
// (1 ≤ n ≤ len(p.workers)).
func (p *Pool) setActive(n int) {
	if int(p.active.Load()) != n {
		p.active.Store(int32(n))
	}
}

// Close stops p's worker goroutines. p must not be used afterwards. Close is
// idempotent.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.cleanup.Stop()
		stopWorkers(p.workers[1:])
	}
}

func stopWorkers(ws []*worker) {
	for _, w := range ws {
		w.quit = true
		w.start.post()
	}
}

func (w *worker) loop() {
	for {
		w.start.wait()
		if w.quit {
			return
		}
		if w.rng.task != nil {
			w.rng.run(w.rng.thread)
			w.rng = rangeJob{} // drop the reference to the caller's task
		} else if w.is64 {
			w.job64.run(&f64Kernels, &w.ws64)
			w.job64 = gemmJob[float64]{} // drop references to the caller's slices
		} else {
			w.job32.run(&f32Kernels, &w.ws32)
			w.job32 = gemmJob[float32]{}
		}
		w.done.post()
	}
}

// spinTime is how long a signal's waiter polls before it parks.
const spinTime = 200 * time.Microsecond

// signal hands one event from one goroutine to another: post sets it, wait
// returns once it is set and clears it. The waiter polls for spinTime,
// yielding its thread between polls, and then parks on a channel; post
// sends on the channel only when the waiter has parked. Every wait consumes
// exactly one post.
type signal struct {
	state atomic.Int32  // sigEmpty, sigPosted or sigParked
	ch    chan struct{} // capacity 1: post never blocks
}

const (
	sigEmpty int32 = iota
	sigPosted
	sigParked
)

func (s *signal) post() {
	if s.state.Swap(sigPosted) == sigParked {
		s.ch <- struct{}{}
	}
}

func (s *signal) wait() {
	deadline := time.Now().Add(spinTime)
	for i := 0; ; i++ {
		if s.state.Load() == sigPosted {
			s.state.Store(sigEmpty)
			return
		}
		if i%64 == 63 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	if s.state.CompareAndSwap(sigEmpty, sigParked) {
		<-s.ch
	}
	s.state.Store(sigEmpty)
}

// jobAndWorkspace returns w's job and buffers for T.
func jobAndWorkspace[T Float](w *worker) (*gemmJob[T], *workspace[T]) {
	if job, ok := any(&w.job32).(*gemmJob[T]); ok {
		w.is64 = false
		return job, any(&w.ws32).(*workspace[T])
	}
	w.is64 = true
	return any(&w.job64).(*gemmJob[T]), any(&w.ws64).(*workspace[T])
}

// UseParallel reports whether a Pool with several threads splits this
// product between them. Handing work to a worker that is still polling costs
// well under a microsecond, but products of a few microseconds do not gain,
// and on the packed path each thread packs its own copy of A, so a thread's
// share must be wide. Like UseBlocked it is a pure function of the shape, for
// a code generator to evaluate at compile time. The thresholds were measured
// on a 2-core machine (see BenchmarkParallel in gemm_bench_test.go):
//
//   - unpacked (UseBlocked false): m·n·k ≥ 160·1024 (e.g. 64×10·…×256,
//     about 5 µs on one thread) and max(m, n) ≥ 32;
//   - packed: m·n·k ≥ 64³ and max(m, n) ≥ 64.
//
// Below these, two threads were slower than one. Above them two threads
// measured 1.3–2× faster than one when the second core was otherwise idle.
func UseParallel[T Float](transA, transB bool, m, n, k int) bool {
	if UseBlocked[T](transA, transB, m, n, k) {
		return m*n*k >= 64*64*64 && max(m, n) >= 64
	}
	return m*n*k >= 160*1024 && max(m, n) >= 32
}

// parallelOverride makes gemmOnPool ignore UseParallel; benchmarks set it
// to measure the threshold.
var parallelOverride bool

const (
	// chunksPerThread is how many bands of C each thread takes on average.
	chunksPerThread = 4
	// minChunk is the narrowest band of the packed path, in columns or
	// rows: each band packs all of A (or B) again. 256 measured 1.05–1.15×
	// faster than 128 on two threads at n = 512 and 1024, for both the
	// AVX-512 and the AVX2 kernels (docs/kernels.md).
	minChunk = 256
)

// gemmOnPool runs job, which covers all of C, on p (the shared pool when
// nil), split between p's threads when UseParallel says so.
func gemmOnPool[T Float](p *Pool, job gemmJob[T]) {
	if p == nil {
		p = sharedPool
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		panic("kernels: Gemm on a closed Pool")
	}
	ks := kernelsFor[T]()
	threads := 1
	if all := p.Threads(); all > 1 && (parallelOverride || UseParallel[T](job.transA, job.transB, job.m, job.n, job.k)) {
		threads = all
	}
	_, ws := jobAndWorkspace[T](p.workers[0])
	if job.transposeB {
		// One copy of Bᵀ, made before the split, read by every thread.
		job.useTransposedB(ws)
	}
	if threads > 1 {
		// Cut C into chunksPerThread bands of whole tiles per thread:
		// columns when C is at least as wide as tall, rows otherwise.
		// Each thread owns an equal contiguous share of the bands and
		// takes another thread's only when its own are done (schedule),
		// so a thread that runs slower (its core busy with other work)
		// takes fewer.
		job.byCols = job.n >= job.m
		mr, nr := ks.tile(job.direct, job.transB)
		unit, extent := mr, job.m
		if job.byCols {
			unit, extent = nr, job.n
		}
		job.tiles = (extent + unit - 1) / unit
		job.chunks = min(job.tiles, chunksPerThread*threads)
		if !job.direct {
			job.chunks = max(min(job.chunks, extent/minChunk), threads)
		}
		threads = min(threads, job.tiles)
		job.chunks = min(job.chunks, job.tiles)
		job.chunks -= job.chunks % threads // each thread's own part: an equal share of the tiles
		job.sched = &p.sched
		p.sched.reset(threads, job.chunks)
	}
	for t := 1; t < threads; t++ {
		w := p.workers[t]
		wj, _ := jobAndWorkspace[T](w)
		*wj = job
		wj.thread = t
		w.start.post()
	}
	job.run(ks, ws)
	for t := 1; t < threads; t++ {
		p.workers[t].done.wait()
	}
}

// Reserve grows every thread's packing buffers of p to what the blocked path
// needs for an m×n×k product of T (or any smaller one), so that no later
// call allocates, whichever thread a share of the work lands on. A model
// reserves its largest products when it is built.
func Reserve[T Float](p *Pool, transA, transB bool, m, n, k int) {
	if p == nil {
		p = sharedPool
	}
	ks := kernelsFor[T]()
	kcBlocks := (k + ks.kc - 1) / ks.kc
	kcMax := (k + kcBlocks - 1) / kcBlocks
	mcMax := min(ks.mc, roundUp(m, ks.mr))
	ncMax := min(ks.nc, roundUp(n, ks.nr))
	p.mu.Lock()
	defer p.mu.Unlock()
	bt := 0
	if pathFor(ks, transA, transB, m, n, k) == pathTransposeB {
		bt = k * n
	}
	for _, w := range p.workers {
		_, ws := jobAndWorkspace[T](w)
		ws.grow(roundUp(mcMax, ks.mr)*kcMax, ncMax*kcMax, ks.mr*ks.nr)
		if len(ws.bt) < bt {
			ws.bt = make([]T, bt)
		}
	}
}

// A RangeTask is work over the indices [0, n) that can be cut into ranges
// computed independently of each other, on any thread: for example the rows
// of a LayerNorm or the matrices of a batched product.
type RangeTask interface {
	// Range computes the indices [lo, hi). thread numbers the calling
	// thread of the Pool (0 is the goroutine that called ParallelFor), so
	// a task can give each thread its own scratch memory; products inside
	// a range go through GemmOnThread with the same number.
	Range(lo, hi, thread int)
}

// rangeJob is one ParallelFor call as a thread sees it.
type rangeJob struct {
	task      RangeTask
	n, chunks int
	thread    int
	sched     *schedule
}

// run claims chunks of the range (its own first) until none is left.
func (j *rangeJob) run(thread int) {
	for {
		c, ok := j.sched.claim(thread)
		if !ok {
			return
		}
		j.task.Range(j.n*c/j.chunks, j.n*(c+1)/j.chunks, thread)
	}
}

// A schedule hands out the chunks [0, chunks) of a split kernel (a
// product's bands, a ParallelFor's ranges) to threads threads. Thread t owns
// chunks [chunks·t/threads, chunks·(t+1)/threads) and takes them in order;
// once they are gone it takes the next chunk of another thread's share, so a
// thread slowed by other work on its core computes less. Without such
// imbalance every thread computes exactly its own share, the same share on
// every call: when a kernel reads what the kernel before it wrote, split
// along the same axis in the same proportions (a product's bias and
// activation, the optimizer's update of a weight gradient), each thread
// finds its part in its own core's cache instead of pulling it from the
// other core's. Chunk counts are multiples of threads, so a share's bounds
// are extent·t/threads (in tiles for a product).
type schedule struct {
	threads int
	slots   []slot // one per thread of the Pool
}

// slot is one thread's share: the next chunk to hand out and its end.
// Padded to a cache line, so threads claiming their own chunks do not
// contend.
type slot struct {
	next atomic.Int64
	end  int64
	_    [48]byte
}

// reset starts a kernel of chunks chunks on threads threads; the caller
// posts the workers' start signals afterwards, which publishes it.
func (s *schedule) reset(threads, chunks int) {
	s.threads = threads
	for t := range threads {
		s.slots[t].next.Store(int64(chunks * t / threads))
		s.slots[t].end = int64(chunks * (t + 1) / threads)
	}
}

// claim returns the next chunk for thread t: its own, else the first left
// of the other threads' in turn; ok is false when every chunk is taken.
func (s *schedule) claim(t int) (c int, ok bool) {
	for i := range s.threads {
		sl := &s.slots[(t+i)%s.threads]
		if c := sl.next.Add(1) - 1; c < sl.end {
			return int(c), true
		}
	}
	return 0, false
}

// ParallelFor runs t over [0, n) on p's threads (the shared single-threaded
// Pool when p is nil): the range is cut into up to chunksPerThread pieces
// per thread. Thread i (0 is the caller) computes [n·i/threads,
// n·(i+1)/threads) unless another thread, done with its own share, takes
// some of its pieces (see schedule), so a thread whose core is busy with
// other work takes fewer. With one thread, or n < 2, it is the
// single call t.Range(0, n, 0). Like a product, it allocates nothing, and
// concurrent callers are serialised: t must not call Gemm or ParallelFor on
// p (that would wait for itself) but GemmOnThread.
func (p *Pool) ParallelFor(n int, t RangeTask) {
	if p == nil {
		p = sharedPool
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		panic("kernels: ParallelFor on a closed Pool")
	}
	threads := min(p.Threads(), n)
	if threads <= 1 {
		if n > 0 {
			t.Range(0, n, 0)
		}
		return
	}
	chunks := min(n, chunksPerThread*threads)
	chunks -= chunks % threads // each thread's own share: [n·i/threads, n·(i+1)/threads)
	job := rangeJob{task: t, n: n, chunks: chunks, sched: &p.sched}
	p.sched.reset(threads, chunks)
	for i := 1; i < threads; i++ {
		w := p.workers[i]
		w.rng = job
		w.rng.thread = i
		w.start.post()
	}
	job.run(0)
	for i := 1; i < threads; i++ {
		p.workers[i].done.wait()
	}
}

// GemmOnThread is Gemm computed by the calling goroutine alone, with the
// packing buffers of thread number thread of p: the way a RangeTask
// multiplies inside its range. It takes no lock, so it is safe only from a
// RangeTask running on p (each thread then uses its own buffers), or while
// nothing else uses p. Like Gemm, it allocates nothing once Reserve has
// grown p's buffers to the shape.
func GemmOnThread[T Float](p *Pool, thread int, transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	checkGemm("GemmOnThread", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		zeroUnlessAccumulate(m, n, c, ldc, accumulate)
		return
	}
	ks := kernelsFor[T]()
	pth := pathFor(ks, transA, transB, m, n, k)
	if pth == pathLoops {
		gemmLoops(transA, transB, m, 0, n, k, a, lda, b, ldb, c, ldc, accumulate)
		return
	}
	job := newJob[T](transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, pth == pathDirect)
	if p == nil {
		p = sharedPool
	}
	ws := workspaceOf[T](p.workers[thread])
	if pth == pathTransposeB {
		job.useTransposedB(ws)
	}
	job.run(ks, ws)
}

// workspaceOf returns w's packing buffers for T.
func workspaceOf[T Float](w *worker) *workspace[T] {
	if ws, ok := any(&w.ws32).(*workspace[T]); ok {
		return ws
	}
	return any(&w.ws64).(*workspace[T])
}

// GemmThen is Gemm followed by then, a task over the columns [0, n) of C
// that reads and writes those columns only (and data indexed like them),
// such as a bias and an activation. The thread that computed a band of
// columns runs then over it right away, while the band is in its core's
// cache; no second hand-off to the workers is needed. With one thread, or
// a product that Gemm would not split by columns (UseParallel false, or
// n < m), it is Gemm and then then.Range(0, n, 0). Like Gemm, it allocates
// nothing; then must not call Gemm or ParallelFor on p but GemmOnThread.
func GemmThen[T Float](p *Pool, transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool, then RangeTask) {
	checkGemm("GemmThen", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if p == nil {
		p = sharedPool
	}
	ks := kernelsFor[T]()
	pth := pathFor(ks, transA, transB, m, n, k)
	if m == 0 || n == 0 || k == 0 || pth == pathLoops || p.Threads() == 1 || n < m || !UseParallel[T](transA, transB, m, n, k) {
		Gemm(p, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate)
		if n > 0 && m > 0 {
			then.Range(0, n, 0)
		}
		return
	}
	job := newJob[T](transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, pth == pathDirect)
	job.transposeB = pth == pathTransposeB
	job.then = then
	gemmOnPool(p, job)
}

// finish runs the job's GemmThen task over columns [lo, hi) of C, which the
// calling thread has just computed.
func (job *gemmJob[T]) finish(lo, hi int) {
	if job.then != nil {
		job.then.Range(lo, hi, job.thread)
	}
}
