package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
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

// thenTask adds one to each column of C it is given and records who did.
type thenTask struct {
	m, n, ldc int
	c         []float32
	hits      []atomic.Int32 // per column
	threads   int
	bad       atomic.Int32
}

func (tt *thenTask) Range(lo, hi, thread int) {
	if thread < 0 || thread >= tt.threads || lo > hi || lo < 0 || hi > tt.n {
		tt.bad.Add(1)
		return
	}
	for j := lo; j < hi; j++ {
		tt.hits[j].Add(1)
		for i := range tt.m {
			tt.c[i*tt.ldc+j]++
		}
	}
}

// TestGemmThen checks that GemmThen computes what Gemm does, bit for bit,
// then runs its task over every column exactly once, on the Pool's thread
// numbers: for products that split by columns on the direct and packed
// paths, ones that split by rows (n < m) or not at all, and with 1–3
// threads.
func TestGemmThen(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		defer p.Close()
		for _, s := range []struct {
			ta, tb  bool
			m, n, k int
		}{
			{false, false, 64, 256, 784},  // direct, split by columns
			{false, false, 96, 1024, 512}, // packed, split by columns
			{true, false, 256, 256, 64},   // a weight gradient
			{false, true, 64, 256, 256},   // B transposed
			{false, false, 512, 64, 256},  // n < m: split by rows
			{false, false, 4, 5, 6},       // small: not split
		} {
			a := newMat[float32](r, cond(s.ta, s.k, s.m), cond(s.ta, s.m, s.k), 0)
			b := newMat[float32](r, cond(s.tb, s.n, s.k), cond(s.tb, s.k, s.n), 0)
			want := make([]float32, s.m*s.n)
			Gemm(p, s.ta, s.tb, s.m, s.n, s.k, a.data, a.ld, b.data, b.ld, want, s.n, false)
			for i := range want {
				want[i]++
			}
			got := make([]float32, s.m*s.n)
			tt := &thenTask{m: s.m, n: s.n, ldc: s.n, c: got, hits: make([]atomic.Int32, s.n), threads: threads}
			GemmThen(p, s.ta, s.tb, s.m, s.n, s.k, a.data, a.ld, b.data, b.ld, got, s.n, false, tt)
			if tt.bad.Load() != 0 {
				t.Errorf("threads=%d %+v: %d ranges with a bad thread number or bounds", threads, s, tt.bad.Load())
			}
			for j := range tt.hits {
				if h := tt.hits[j].Load(); h != 1 {
					t.Fatalf("threads=%d %+v: column %d finished %d times", threads, s, j, h)
				}
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("threads=%d %+v: C[%d] = %v, want Gemm's %v plus one", threads, s, i, got[i], want[i])
				}
			}
			if n := testing.AllocsPerRun(5, func() {
				GemmThen(p, s.ta, s.tb, s.m, s.n, s.k, a.data, a.ld, b.data, b.ld, got, s.n, false, tt)
			}); n != 0 {
				t.Errorf("threads=%d %+v: %v allocations per call", threads, s, n)
			}
		}
	}
}

func cond(c bool, x, y int) int {
	if c {
		return x
	}
	return y
}

// TestScheduleOwnShareFirst: a thread takes its own share of the chunks in
// order, [chunks·t/T, chunks·(t+1)/T), before any other's, and then the
// others' leftovers; every chunk is handed out once.
func TestScheduleOwnShareFirst(t *testing.T) {
	var s schedule
	s.slots = make([]slot, 3)
	s.reset(3, 9)
	var got []int
	for range 3 {
		c, ok := s.claim(1)
		if !ok {
			t.Fatal("thread 1 ran out of chunks within its own share")
		}
		got = append(got, c)
	}
	if want := []int{3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("thread 1 took %v first, want its share %v", got, want)
	}
	if c, _ := s.claim(0); c != 0 {
		t.Fatalf("thread 0 took chunk %d first, want 0", c)
	}
	// Thread 1, done with its share, steals from thread 2's next (6), then
	// thread 0's (1) once thread 2's are gone.
	seen := map[int]bool{0: true, 3: true, 4: true, 5: true}
	var order []int
	for {
		c, ok := s.claim(1)
		if !ok {
			break
		}
		if seen[c] {
			t.Fatalf("chunk %d handed out twice", c)
		}
		seen[c] = true
		order = append(order, c)
	}
	if want := []int{6, 7, 8, 1, 2}; !slices.Equal(order, want) {
		t.Fatalf("thread 1 stole %v, want %v", order, want)
	}
	if _, ok := s.claim(2); ok {
		t.Fatal("a chunk was left after every chunk was handed out")
	}
}
