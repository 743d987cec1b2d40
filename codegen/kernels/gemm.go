package kernels

import (
	"fmt"
	"unsafe"
)

// Float is the element type of the kernels.
type Float interface{ float32 | float64 }

// Sgemm is Gemm for float32.
func Sgemm(p *Pool, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	Gemm(p, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate)
}

// Dgemm is Gemm for float64.
func Dgemm(p *Pool, transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, accumulate bool) {
	Gemm(p, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate)
}

// Gemm computes the m×n matrix C = op(A)·op(B), or C += op(A)·op(B) when
// accumulate is set, where op(X) is X or, when its trans flag is set, Xᵀ.
// All matrices are row-major with leading dimensions lda, ldb and ldc:
// A is stored [m,k] (or [k,m] when transA), B is stored [k,n] (or [n,k] when
// transB) and C is stored [m,n]. Without accumulate, C's previous contents are
// never read.
//
// Gemm picks the path by UseBlocked and the thread count by UseParallel. p
// supplies the packing buffers and threads; nil means a shared
// single-threaded Pool. Gemm panics on inconsistent arguments and never
// allocates once p's buffers have grown to the shape.
func Gemm[T Float](p *Pool, transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	checkGemm("Gemm", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		zeroUnlessAccumulate(m, n, c, ldc, accumulate)
		return
	}
	job := newJob[T](transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, false)
	ks := kernelsFor[T]()
	switch pth := pathFor(ks, transA, transB, m, n, k); pth {
	case pathTransposeB:
		job.transposeB = true
	case pathLoops:
		gemmLoops(transA, transB, m, 0, n, k, a, lda, b, ldb, c, ldc, accumulate)
		return
	case pathDirect:
		job.direct = true
		if p == nil || p.Threads() == 1 || !UseParallel[T](transA, transB, m, n, k) {
			// The direct path on one thread needs nothing from the Pool.
			job.runRegion(ks, nil)
			return
		}
	}
	gemmOnPool(p, job)
}

// GemmSmall is Gemm for products that UseBlocked leaves unpacked: it needs no
// Pool and runs on the calling goroutine only. It is correct for any shape,
// but products for which UseBlocked is true run faster through Gemm.
func GemmSmall[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	checkGemm("GemmSmall", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		zeroUnlessAccumulate(m, n, c, ldc, accumulate)
		return
	}
	ks := kernelsFor[T]()
	job := newJob[T](transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, true)
	switch pth := pathFor(ks, transA, transB, m, n, k); {
	case pth == pathDirect, !transB && ks.direct != nil, transB && ks.directNT(transA):
		job.runRegion(ks, nil)
	case pth == pathLoops, ks.direct == nil:
		// The portable set: loops, as GemmSmall has no packing buffers
		// of its own.
		gemmLoops(transA, transB, m, 0, n, k, a, lda, b, ldb, c, ldc, accumulate)
	default:
		// A and B both transposed: no kernel reads them in place.
		job.direct = false
		gemmOnPool(nil, job)
	}
}

// GemmBlocked is Gemm with the packed path forced, whatever UseBlocked says.
// It exists for tests and benchmarks.
func GemmBlocked[T Float](p *Pool, transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	checkGemm("GemmBlocked", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		zeroUnlessAccumulate(m, n, c, ldc, accumulate)
		return
	}
	gemmOnPool(p, newJob[T](transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, false))
}

// UseBlocked reports whether Gemm packs A and B into cache blocks for this
// shape and element type, rather than running unpacked (GemmSmall). The
// rule, measured with BenchmarkPaths and BenchmarkPathsNT (gemm_bench_test.go,
// see docs/kernels.md) on AVX2 and AVX-512:
//
//   - B transposed (NT, TT): unpacked when m·n·k < 8³ (plain loops of dot
//     products), or when A is not transposed, m ≤ 64 and k ≥ 2m (the dot
//     kernels, which read rows of A and B in place); packed otherwise.
//     Each of the dot kernels' outputs costs a reduction across a
//     vector's lanes, which k must amortise. Speed of the dot kernels ÷
//     packed, interleaved (AVX2, AVX-512): at k = m (16×256×16, 32×256×32,
//     64×256×64) 0.50–0.75, 0.65–0.90; at k = 2m (16×256×32, 32×256×64, 64×256×128)
//     0.83–1.00, 1.07–1.19; beyond, e.g. 64×256×784 (an MLP layer with
//     weights [out,in]) 1.05, 1.53 and 32×512×512 1.30, 1.75; for m = 1
//     (decoding's q·Kᵀ) packing B costs 5×.
//   - B not transposed: unpacked when packing would not pay, i.e. when
//     m ≤ 16 (B would be reused too few times), or B (k·n elements) fits in
//     256 KiB, or m ≤ 64 and B fits in 1 MiB, or m ≤ 128 and B fits in
//     512 KiB (a training step's dW = Xᵀ·dY over 1024 rows: 128×128×1024
//     TN ran at 183 GFLOP/s unpacked against 159 packed on AVX-512, 101
//     against 80 on AVX2; 512×128×1024 still gains from packing); packed
//     otherwise. The unpacked kernels beat plain loops even on a 4×2·2×4
//     product.
func UseBlocked[T Float](transA, transB bool, m, n, k int) bool {
	if transB {
		return m*n*k >= loopsMaxWorkNT && (transA || m > 64 || k < 2*m)
	}
	var zero T
	bBytes := k * n * int(unsafe.Sizeof(zero))
	switch {
	case m <= 16, bBytes <= 256<<10, m <= 64 && bBytes <= 1<<20, m <= 128 && bBytes <= 512<<10:
		return false
	}
	return true
}

// loopsMaxWorkNT is the m·n·k below which plain loops (dot products) beat
// packing a transposed B.
const loopsMaxWorkNT = 8 * 8 * 8

// The paths of a product.
type path int

const (
	pathPacked     path = iota // A and B packed (gemmRegion)
	pathDirect                 // read in place (gemmDirect, gemmDot)
	pathLoops                  // plain loops (gemmLoops)
	pathTransposeB             // Bᵀ copied into a Pool buffer, then the direct kernels (gemmDirect)
)

// transposeBMaxBytes bounds the B of a product that runs on
// pathTransposeB: it is copied once per call, and the direct kernels
// stream all of it for every band of rows, so it should stay in L2.
const transposeBMaxBytes = 256 << 10

// pathFor returns the path of a product on the kernel set ks: packed when
// UseBlocked says so; otherwise the direct kernels (even the dot kernels
// beat plain loops on a 4×4·4×1 product), unless ks has none for the form.
// Then the product runs as loops when B is not transposed (only the
// portable set lacks direct kernels) or the product is tiny, and is packed
// otherwise.
//
// A product that UseBlocked packs, whose B alone is transposed and small
// (at most transposeBMaxBytes), instead has B transposed into a buffer of
// the Pool and runs on the direct kernels, A read in place: that is packing
// B without packing A, and the direct kernels run as fast as the packed
// one when B stays in L2. Measured in thread CPU time on AVX-512
// (docs/kernels.md): 1024×128×128 216 GFLOP/s against 182 packed,
// 1024×128×512 219 against 178, 1024×65×128 161 against 92, 64×64×32 107
// against 79. float64 gains on AVX-512 (1024×65×128 64 → 86, 64×64×32
// 48 → 56) but not on AVX2 (0.85–1.04×), where it keeps packing.
func pathFor[T Float](ks *kernelSet[T], transA, transB bool, m, n, k int) path {
	switch {
	case UseBlocked[T](transA, transB, m, n, k):
		var zero T
		size := int(unsafe.Sizeof(zero))
		if transB && !transA && ks.direct != nil && k*n*size <= transposeBMaxBytes && (size == 4 || ks.name == "avx512") {
			return pathTransposeB
		}
		return pathPacked
	case !transB && ks.direct != nil, transB && ks.directNT(transA):
		return pathDirect
	case !transB || m*n*k < loopsMaxWorkNT:
		return pathLoops
	}
	return pathPacked
}

// directNT reports whether ks has kernels for C = op(A)·Bᵀ that read B in
// place: the dot kernels, for A not transposed.
func (ks *kernelSet[T]) directNT(transA bool) bool { return !transA && ks.dot != nil }

// checkGemm panics unless the dimensions, leading dimensions and slice
// lengths describe matrices that fit in a, b and c.
func checkGemm[T Float](fn string, transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: %s: negative dimension m=%d n=%d k=%d", fn, m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix(fn, "a", ar, ac, len(a), lda)
	checkMatrix(fn, "b", br, bc, len(b), ldb)
	checkMatrix(fn, "c", m, n, len(c), ldc)
}

func checkMatrix(fn, name string, rows, cols, length, ld int) {
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("kernels: %s: ld%s=%d < %d columns", fn, name, ld, cols))
	}
	if rows > 0 && cols > 0 && length < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels: %s: len(%s)=%d too short for %d×%d with ld%s=%d", fn, name, length, rows, cols, name, ld))
	}
}

// zeroUnlessAccumulate handles products with an empty inner dimension:
// op(A)·op(B) is then the zero matrix.
func zeroUnlessAccumulate[T Float](m, n int, c []T, ldc int, accumulate bool) {
	if accumulate || n == 0 {
		return
	}
	for i := range m {
		clear(c[i*ldc : i*ldc+n])
	}
}
