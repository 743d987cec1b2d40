package kernels

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// countTask records how often each index was computed and by which threads.
type countTask struct {
	hits    []atomic.Int32
	threads int
	bad     atomic.Int32 // ranges with a thread number out of bounds or lo > hi
}

func (c *countTask) Range(lo, hi, thread int) {
	if thread < 0 || thread >= c.threads || lo > hi {
		c.bad.Add(1)
	}
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

// TestParallelFor checks that every index of the range is computed exactly
// once, whatever the length and thread count, and that the thread numbers a
// task sees are the Pool's.
func TestParallelFor(t *testing.T) {
	for _, threads := range []int{0, 1, 2, 3} {
		var p *Pool // threads 0: the shared pool
		if threads > 0 {
			p = NewPool(threads)
			defer p.Close()
		}
		for _, n := range []int{0, 1, 2, 3, 7, 33, 1000} {
			c := &countTask{hits: make([]atomic.Int32, n), threads: max(threads, 1)}
			for range 3 { // the same Pool again: the counter must restart
				p.ParallelFor(n, c)
			}
			if c.bad.Load() != 0 {
				t.Errorf("threads=%d n=%d: %d ranges with a bad thread number or bounds", threads, n, c.bad.Load())
			}
			for i := range c.hits {
				if h := c.hits[i].Load(); h != 3 {
					t.Fatalf("threads=%d n=%d: index %d computed %d times in 3 calls", threads, n, i, h)
				}
			}
		}
	}
}

// batchTask multiplies a batch of matrices, one per index, with
// GemmOnThread: the pattern of a generated batched product.
type batchTask struct {
	p       *Pool
	m, n, k int
	a, b, c []float32
}

func (bt *batchTask) Range(lo, hi, thread int) {
	m, n, k := bt.m, bt.n, bt.k
	for i := lo; i < hi; i++ {
		GemmOnThread(bt.p, thread, false, true, m, n, k, bt.a[i*m*k:], k, bt.b[i*n*k:], k, bt.c[i*m*n:], n, false)
	}
}

// TestParallelBatchedProducts runs a batch of blocked products (B
// transposed, as attention's scores) across a two-thread Pool and checks
// each against the naive reference and the whole call for allocations.
func TestParallelBatchedProducts(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	const batch, m, n, k = 7, 33, 57, 32
	Reserve[float32](p, false, true, m, n, k)
	r := rand.New(rand.NewPCG(5, 6))
	a, b := newMat[float32](r, batch*m, k, 0), newMat[float32](r, batch*n, k, 0)
	bt := &batchTask{p: p, m: m, n: n, k: k, a: a.data, b: b.data, c: make([]float32, batch*m*n)}
	p.ParallelFor(batch, bt)
	for i := range batch {
		ai := testMat[float32]{m, k, k, a.data[i*m*k : (i+1)*m*k]}
		bi := testMat[float32]{n, k, k, b.data[i*n*k : (i+1)*n*k]}
		want, mag := reference(false, true, m, n, k, ai, bi, testMat[float32]{}, false)
		for j, w := range want {
			if got := float64(bt.c[i*m*n+j]); !(math.Abs(got-w) <= float64(k+2)*0x1p-23*mag[j]) {
				t.Fatalf("matrix %d element %d = %g, want %g", i, j, got, w)
			}
		}
	}
	if allocs := testing.AllocsPerRun(5, func() { p.ParallelFor(batch, bt) }); allocs != 0 {
		t.Errorf("ParallelFor with GemmOnThread: %v allocs per call", allocs)
	}
}
