package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
)

// Tolerance. For each element the test bounds the error by
//
//	|got − want| ≤ (k+2)·ε·(Σ_p |op(A)_ip|·|op(B)_pj| + |C₀_ij|)
//
// with ε the machine epsilon of the element type (2⁻²³ for float32, 2⁻⁵² for
// float64), the classical worst-case bound for a k-term dot product in any
// summation order, with or without FMA. The reference is the naive triple
// loop in float64 (for float64 data its own error is within the same bound,
// hence (k+2) rather than k). An error in indexing or packing shows up as an
// O(1) relative error, far above the bound.

// shapes are the (m, n, k) the correctness tests run: ones, primes around
// the tile sizes (6, 8, 16), block sizes (kc = 256, mc = 72/144), and
// non-square shapes.
var shapes = [][3]int{
	{1, 1, 1}, {1, 7, 1}, {7, 1, 1}, {1, 1, 7}, {7, 7, 7},
	{2, 4, 2}, {4, 4, 2}, {4, 1, 4}, {1, 33, 17}, {1, 64, 300},
	{3, 17, 5}, {5, 16, 16}, {6, 16, 1}, {6, 16, 9}, {12, 32, 64},
	{33, 33, 33}, {5, 300, 17}, {300, 5, 17}, {17, 5, 300}, {13, 47, 260},
	{64, 10, 256}, {64, 256, 784}, {145, 161, 513}, {257, 257, 257},
	{1, 1040, 3}, {73, 1030, 20},
}

type testMat[T Float] struct {
	rows, cols, ld int
	data           []T
}

// newMat returns a rows×cols matrix with leading dimension cols+pad, filled
// with uniform values in [-1, 1); the padding holds NaNs, which must never
// reach C.
func newMat[T Float](r *rand.Rand, rows, cols, pad int) testMat[T] {
	ld := max(cols+pad, 1)
	d := make([]T, max(rows*ld, 0))
	for i := range d {
		if i%ld < cols {
			d[i] = T(2*r.Float64() - 1)
		} else {
			d[i] = T(math.NaN())
		}
	}
	return testMat[T]{rows, cols, ld, d}
}

func (x testMat[T]) at(i, j int) float64 { return float64(x.data[i*x.ld+j]) }

// reference computes C₀ + op(A)·op(B) (C₀ = 0 without accumulate) in float64
// and the error bound's Σ|a||b| + |C₀|.
func reference[T Float](transA, transB bool, m, n, k int, a, b, c0 testMat[T], accum bool) (want, mag []float64) {
	want, mag = make([]float64, m*n), make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, abs float64
			if accum {
				s, abs = c0.at(i, j), math.Abs(c0.at(i, j))
			}
			for p := range k {
				av, bv := 0.0, 0.0
				if transA {
					av = a.at(p, i)
				} else {
					av = a.at(i, p)
				}
				if transB {
					bv = b.at(j, p)
				} else {
					bv = b.at(p, j)
				}
				s += av * bv
				abs += math.Abs(av * bv)
			}
			want[i*n+j], mag[i*n+j] = s, abs
		}
	}
	return want, mag
}

func eps[T Float]() float64 {
	var x T
	if _, ok := any(x).(float32); ok {
		return 0x1p-23
	}
	return 0x1p-52
}

// gemmFunc is one entry point under test.
type gemmFunc[T Float] func(transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accum bool)

func entryPoints[T Float](pool2 *Pool) []struct {
	name string
	f    gemmFunc[T]
} {
	return []struct {
		name string
		f    gemmFunc[T]
	}{
		{"Gemm/nil", func(tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool) {
			Gemm(nil, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
		}},
		{"Gemm/pool2", func(tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool) {
			Gemm(pool2, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
		}},
		{"GemmBlocked/nil", func(tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool) {
			GemmBlocked(nil, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
		}},
		{"GemmBlocked/pool2", func(tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool) {
			GemmBlocked(pool2, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
		}},
		{"GemmSmall", GemmSmall[T]},
		{"GemmOnThread/nil", func(tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool) {
			GemmOnThread(nil, 0, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
		}},
		{"GemmOnThread/pool2/1", func(tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool) {
			GemmOnThread(pool2, 1, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
		}},
	}
}

// checkGemmShapes runs every entry point on every shape, transposition,
// accumulate flag and two paddings, and compares with reference.
func checkGemmShapes[T Float](t *testing.T, pool2 *Pool) {
	r := rand.New(rand.NewPCG(1, 2))
	e := eps[T]()
	for _, s := range shapes {
		if !testutil.LongTests() && s[0]*s[1]*s[2] > 100_000 {
			continue
		}
		m, n, k := s[0], s[1], s[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			transA, transB := tr[0], tr[1]
			for _, accum := range []bool{false, true} {
				pad := r.IntN(3) * 3
				ar, ac := m, k
				if transA {
					ar, ac = k, m
				}
				br, bc := k, n
				if transB {
					br, bc = n, k
				}
				a := newMat[T](r, ar, ac, pad)
				b := newMat[T](r, br, bc, pad)
				c0 := newMat[T](r, m, n, pad)
				if !accum {
					// C's old contents must be ignored, NaNs included.
					for i := range c0.data {
						c0.data[i] = T(math.NaN())
					}
				}
				want, mag := reference(transA, transB, m, n, k, a, b, c0, accum)
				for _, ep := range entryPoints[T](pool2) {
					c := testMat[T]{m, n, c0.ld, append([]T(nil), c0.data...)}
					ep.f(transA, transB, m, n, k, a.data, a.ld, b.data, b.ld, c.data, c.ld, accum)
					for i := range m {
						for j := range n {
							got, w := c.at(i, j), want[i*n+j]
							tol := float64(k+2) * e * mag[i*n+j]
							if !(math.Abs(got-w) <= tol) {
								t.Fatalf("%s %s m=%d n=%d k=%d transA=%v transB=%v accum=%v pad=%d: C[%d,%d] = %g, want %g (tol %g)",
									ep.name, kernelsFor[T]().name, m, n, k, transA, transB, accum, pad, i, j, got, w, tol)
							}
						}
					}
					// The padding of C must be untouched.
					for i, v := range c.data {
						if i%c.ld >= n && !math.IsNaN(float64(v)) && !(v == c0.data[i]) {
							t.Fatalf("%s: C padding at %d overwritten", ep.name, i)
						}
					}
				}
			}
		}
	}
}

// TestDirectEdges runs the direct path on every tile height and every width
// of the masked right edge, for both element types.
func TestDirectEdges(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		if f32Kernels.direct == nil {
			t.Skip("no direct kernels in this variant")
		}
		ms, ns := seq(1, 7), seq(1, 40)
		t.Run("f32", func(t *testing.T) { checkDirect[float32](t, ms, ns, []int{1, 2, 5}) })
		t.Run("f64", func(t *testing.T) { checkDirect[float64](t, ms, ns, []int{1, 2, 5}) })
	})
}

// TestGemvEdges runs one-row products (and the one-row tile under six
// more rows) on the direct path, where the one-row kernels (gemv.go) cover
// every whole vector and the masked tile the rest: widths that need every
// kernel width of both vector sizes, with and without a remainder.
func TestGemvEdges(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		if f32Kernels.direct == nil {
			t.Skip("no direct kernels in this variant")
		}
		ms := []int{1, 7}
		ns := []int{1, 8, 15, 16, 17, 31, 32, 48, 63, 64, 65, 96, 127, 128, 129, 191, 255, 256, 383, 384, 385, 400, 511, 512, 513, 777}
		ks := []int{1, 2, 37}
		t.Run("f32", func(t *testing.T) { checkDirect[float32](t, ms, ns, ks) })
		t.Run("f64", func(t *testing.T) { checkDirect[float64](t, ms, ns, ks) })
	})
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// checkDirect runs gemmDirect on every m×n·n×k of the lists, A plain and
// transposed, C set and accumulated, against a float64 reference.
func checkDirect[T Float](t *testing.T, ms, ns, ks []int) {
	r := rand.New(rand.NewPCG(5, 6))
	e := eps[T]()
	for _, m := range ms {
		for _, n := range ns {
			for _, k := range ks {
				for _, transA := range []bool{false, true} {
					for _, accum := range []bool{false, true} {
						ar, ac := m, k
						if transA {
							ar, ac = k, m
						}
						a, b, c0 := newMat[T](r, ar, ac, 1), newMat[T](r, k, n, 2), newMat[T](r, m, n, 3)
						want, mag := reference(transA, false, m, n, k, a, b, c0, accum)
						c := append([]T(nil), c0.data...)
						job := newJob(transA, false, m, n, k, a.data, a.ld, b.data, b.ld, c, c0.ld, accum, true)
						gemmDirect(kernelsFor[T](), &job)
						for i := range m {
							for j := range n {
								got, w := float64(c[i*c0.ld+j]), want[i*n+j]
								if !(math.Abs(got-w) <= float64(k+2)*e*mag[i*n+j]) {
									t.Fatalf("m=%d n=%d k=%d transA=%v accum=%v: C[%d,%d] = %g, want %g", m, n, k, transA, accum, i, j, got, w)
								}
							}
							// Columns past n (the padding) must be untouched.
							for j := n; j < c0.ld; j++ {
								if !math.IsNaN(float64(c[i*c0.ld+j])) {
									t.Fatalf("m=%d n=%d: padding C[%d,%d] written", m, n, i, j)
								}
							}
						}
					}
				}
			}
		}
	}
}

// withKernels runs f with each kernel variant of this build installed.
func withKernels(t *testing.T, f func(t *testing.T)) {
	saved32, saved64 := f32Kernels, f64Kernels
	defer func() { f32Kernels, f64Kernels = saved32, saved64 }()
	for _, v := range kernelVariants() {
		f32Kernels, f64Kernels = v.k32, v.k64
		t.Run(v.k32.name, f)
	}
}

type variant struct {
	k32 kernelSet[float32]
	k64 kernelSet[float64]
}

func TestGemm(t *testing.T) {
	pool2 := NewPool(2)
	defer pool2.Close()
	withKernels(t, func(t *testing.T) {
		t.Run("f32", func(t *testing.T) { checkGemmShapes[float32](t, pool2) })
		t.Run("f64", func(t *testing.T) { checkGemmShapes[float64](t, pool2) })
	})
}

// TestGemmZeroSizes checks empty products: C is zeroed unless accumulating.
func TestGemmZeroSizes(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Sgemm(nil, false, false, 2, 2, 0, nil, 1, nil, 2, c, 2, true)
	if c[0] != 1 || c[3] != 4 {
		t.Fatalf("accumulate with k=0 changed C: %v", c)
	}
	Sgemm(nil, false, false, 2, 2, 0, nil, 1, nil, 2, c, 2, false)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("k=0 left C = %v, want zeros", c)
		}
	}
	Sgemm(nil, false, false, 0, 2, 3, nil, 3, make([]float32, 6), 2, nil, 2, false)
}

func TestGemmPanics(t *testing.T) {
	cases := []struct {
		name string
		f    func()
		want string
	}{
		{"short a", func() {
			Sgemm(nil, false, false, 2, 2, 2, make([]float32, 3), 2, make([]float32, 4), 2, make([]float32, 4), 2, false)
		},
			"kernels: Gemm: len(a)=3 too short for 2×2 with lda=2"},
		{"small ldb", func() {
			Sgemm(nil, false, true, 2, 3, 2, make([]float32, 4), 2, make([]float32, 6), 1, make([]float32, 6), 3, false)
		},
			"kernels: Gemm: ldb=1 < 2 columns"},
		{"negative", func() { Dgemm(nil, false, false, -1, 2, 2, nil, 2, nil, 2, nil, 2, false) },
			"kernels: Gemm: negative dimension m=-1 n=2 k=2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if got := fmt.Sprint(recover()); got != tc.want {
					t.Fatalf("panic %q, want %q", got, tc.want)
				}
			}()
			tc.f()
		})
	}
}

// TestGemmAllocs proves that no entry point allocates once the pool's
// buffers have grown: AllocsPerRun makes one warm-up call first.
func TestGemmAllocs(t *testing.T) {
	pool1, pool2 := NewPool(1), NewPool(2)
	defer pool1.Close()
	defer pool2.Close()
	for _, s := range [][3]int{{4, 4, 2}, {1, 384, 128}, {64, 256, 784}, {64, 10, 256}, {256, 256, 256}} {
		m, n, k := s[0], s[1], s[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}} {
			a32, b32, c32 := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
			a64, b64, c64 := make([]float64, m*k), make([]float64, k*n), make([]float64, m*n)
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			for _, p := range []*Pool{nil, pool1, pool2} {
				calls := map[string]func(){
					"Sgemm":       func() { Sgemm(p, tr[0], tr[1], m, n, k, a32, lda, b32, ldb, c32, n, true) },
					"Dgemm":       func() { Dgemm(p, tr[0], tr[1], m, n, k, a64, lda, b64, ldb, c64, n, false) },
					"GemmBlocked": func() { GemmBlocked(p, tr[0], tr[1], m, n, k, a32, lda, b32, ldb, c32, n, false) },
					"GemmSmall":   func() { GemmSmall(tr[0], tr[1], m, n, k, a64, lda, b64, ldb, c64, n, true) },
					"GemmOnThread": func() {
						GemmOnThread(p, max(threadsOf(p)-1, 0), tr[0], tr[1], m, n, k, a32, lda, b32, ldb, c32, n, false)
					},
				}
				for name, f := range calls {
					if allocs := testing.AllocsPerRun(5, f); allocs != 0 {
						t.Errorf("%s %v threads=%d trans=%v: %v allocs per call", name, s, threadsOf(p), tr, allocs)
					}
				}
			}
		}
	}
}

func threadsOf(p *Pool) int {
	if p == nil {
		return 0
	}
	return p.Threads()
}

// TestPoolConcurrentCallers runs products on one Pool from several
// goroutines at once (run with -race).
func TestPoolConcurrentCallers(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	const m, n, k = 150, 130, 140
	r := rand.New(rand.NewPCG(3, 4))
	a, b := newMat[float32](r, m, k, 0), newMat[float32](r, k, n, 0)
	want := make([]float32, m*n)
	GemmSmall(false, false, m, n, k, a.data, k, b.data, n, want, n, false)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, m*n)
			for range 5 {
				pool := p
				if g%2 == 1 {
					pool = nil
				}
				Sgemm(pool, false, false, m, n, k, a.data, k, b.data, n, c, n, false)
				for i := range c {
					if d := math.Abs(float64(c[i] - want[i])); d > 1e-3 {
						t.Errorf("goroutine %d: C[%d] = %g, want %g", g, i, c[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestPoolClose(t *testing.T) {
	p := NewPool(3)
	if p.Threads() != 3 {
		t.Fatalf("Threads() = %d, want 3", p.Threads())
	}
	p.Close()
	p.Close() // idempotent
	defer func() {
		if recover() == nil {
			t.Fatal("Gemm on a closed Pool did not panic")
		}
	}()
	c := make([]float32, 256*256)
	GemmBlocked(p, false, false, 256, 256, 256, c, 256, c, 256, c, 256, false)
}

func TestUseBlocked(t *testing.T) {
	for _, tc := range []struct {
		f64     bool
		transB  bool
		m, n, k int
		want    bool
	}{
		{false, false, 4, 4, 2, false},     // XOR network forward
		{false, true, 4, 4, 1, false},      // XOR network backward dA1 = dZ2·W2ᵀ
		{false, false, 1, 384, 128, false}, // decoding one token
		{false, true, 1, 256, 128, false},  // decoding: q·Kᵀ on the dot kernels
		{false, true, 64, 256, 784, false}, // MLP forward with weights [out,in]
		{false, true, 64, 256, 10, true},   // MLP backward dX = dY·Wᵀ, k = 10
		{false, true, 65, 256, 784, true},
		{false, true, 16, 256, 32, false},
		{false, true, 32, 256, 32, true},
		{false, false, 64, 256, 784, false}, // MLP layer
		{false, false, 512, 512, 512, true},
		{false, false, 128, 256, 256, false},
		{true, false, 128, 256, 256, false}, // B 512 KiB, m ≤ 128
		{true, false, 128, 512, 256, true},
		{false, false, 128, 128, 1024, false}, // dW = Xᵀ·dY of a 128×128 weight over 1024 rows
		{false, false, 512, 128, 1024, true},
		{false, false, 129, 128, 1024, true},
		{false, false, 16, 1024, 1024, false},
	} {
		got := UseBlocked[float32](false, tc.transB, tc.m, tc.n, tc.k)
		if tc.f64 {
			got = UseBlocked[float64](false, tc.transB, tc.m, tc.n, tc.k)
		}
		if got != tc.want {
			t.Errorf("UseBlocked(f64=%v, transB=%v, %d, %d, %d) = %v, want %v", tc.f64, tc.transB, tc.m, tc.n, tc.k, got, tc.want)
		}
	}
}

// TestDotEdges runs the dot kernels (C = A·Bᵀ read in place) on every tile
// height, every count of columns kept and lengths of k around the vector
// width, for both element types.
func TestDotEdges(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		if f32Kernels.dot == nil {
			t.Skip("no dot kernels in this variant")
		}
		t.Run("f32", func(t *testing.T) { checkDotEdges[float32](t) })
		t.Run("f64", func(t *testing.T) { checkDotEdges[float64](t) })
	})
}

// checkDotRegion checks columns [j0,j1) of the m×n C against want.
func checkDotRegion[T Float](t *testing.T, c []T, ldc int, want, mag []float64, m, n, k int, accum bool, j0, j1 int, e float64) {
	t.Helper()
	for i := range m {
		for j := j0; j < j1; j++ {
			got, w := float64(c[i*ldc+j]), want[i*n+j]
			if !(math.Abs(got-w) <= float64(k+2)*e*mag[i*n+j]) {
				t.Fatalf("m=%d n=%d k=%d accum=%v, columns [%d,%d): C[%d,%d] = %g, want %g", m, n, k, accum, j0, j1, i, j, got, w)
			}
		}
	}
}

func checkDotEdges[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	e := eps[T]()
	for m := 1; m <= 13; m++ {
		for n := 1; n <= 13; n++ {
			for _, k := range []int{1, 3, 7, 8, 9, 15, 16, 17, 40} {
				for _, accum := range []bool{false, true} {
					a, b, c0 := newMat[T](r, m, k, 1), newMat[T](r, n, k, 2), newMat[T](r, m, n, 3)
					want, mag := reference(false, true, m, n, k, a, b, c0, accum)
					c := append([]T(nil), c0.data...)
					job := newJob(false, true, m, n, k, a.data, a.ld, b.data, b.ld, c, c0.ld, accum, true)
					gemmDot(kernelsFor[T](), &job)
					checkDotRegion(t, c, c0.ld, want, mag, m, n, k, accum, 0, n, e)
					// A band of columns, as a thread of a split product
					// computes it: only its columns change.
					j0, j1 := n/3, n-n/4
					c = append(c[:0], c0.data...)
					job.c, job.j0, job.j1 = c, j0, j1
					gemmDot(kernelsFor[T](), &job)
					checkDotRegion(t, c, c0.ld, want, mag, m, n, k, accum, j0, j1, e)
					for i := range m {
						for j := range n {
							if (j < j0 || j >= j1) && c[i*c0.ld+j] != c0.data[i*c0.ld+j] {
								t.Fatalf("m=%d n=%d k=%d, columns [%d,%d): C[%d,%d] written", m, n, k, j0, j1, i, j)
							}
						}
						for j := n; j < c0.ld; j++ {
							if !math.IsNaN(float64(c[i*c0.ld+j])) {
								t.Fatalf("m=%d n=%d k=%d: padding C[%d,%d] written", m, n, k, i, j)
							}
						}
					}
				}
			}
		}
	}
}
