package kernels

// The direct path multiplies without packing: SIMD kernels read A and B
// where they are, tile by tile, with B's rows contiguous (B not transposed)
// and A's elements at any row and column stride (so A may be transposed).
// For the shapes of training steps and of decoding, where the packed
// operands would be used only a few times, this beats packing (see
// UseBlocked).

// directKernel computes a rows×nr tile, rows fixed per kernel: A's element
// (i, p) is a[i*rsa + p*csa], B's (p, j) is b[p*ldb + j]; k ≥ 1.
type directKernel[T Float] func(k int, a []T, rsa, csa int, b []T, ldb int, c []T, ldc int, accum bool)

// maskedKernel is a directKernel for the right edge of C: it loads and
// stores the last vector of columns under mask (an int32 lane is all ones
// for a column kept, zero otherwise).
type maskedKernel[T Float] func(k int, a []T, rsa, csa int, b []T, ldb int, c []T, ldc int, accum bool, mask []int32)

// maskTable[16-u : 32-u] is a mask whose first u int32 lanes are set.
var maskTable = [32]int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}

// gemmDirect computes job's region of C on the direct kernels of ks, which
// must have them; job.transB must be false and job.k ≥ 1.
func gemmDirect[T Float](ks *kernelSet[T], job *gemmJob[T]) {
	// Tiles are up to 6 rows (the direct kernels' limit, whatever the
	// packed kernel's mr) and nr columns, in two vectors of lanes each.
	mr, nr := ks.tile(true, false)
	lanes := nr / 2
	k, a, b, c := job.k, job.a, job.b, job.c
	ldb, ldc, accum := job.ldb, job.ldc, job.accumulate
	rsa, csa := job.lda, 1
	if job.transA {
		rsa, csa = 1, job.lda
	}
	for i := job.i0; i < job.i1; i += mr {
		rows := min(mr, job.i1-i)
		ai, ci := a[i*rsa:], c[i*ldc:]
		full := ks.direct[rows]
		j := job.j0
		if rows == 1 {
			j += gemvRow(ks, k, ai, csa, b[j:], ldb, ci[j:], job.j1-j, accum)
		}
		for ; j+nr <= job.j1; j += nr {
			full(k, ai, rsa, csa, b[j:], ldb, ci[j:], ldc, accum)
		}
		if cols := job.j1 - j; cols > 0 {
			vec := 0
			if cols > lanes {
				vec, cols = 1, cols-lanes
			}
			units := cols // int32 lanes of the mask
			if !ks.kmask {
				units = cols * 8 / lanes // a YMM register's 32-bit lanes
			}
			ks.masked[vec][rows](k, ai, rsa, csa, b[j:], ldb, ci[j:], ldc, accum, maskTable[16-units:32-units])
		}
	}
}

// gemmLoops computes columns [j0,j1) of C = op(A)·op(B) (or C += …) with
// plain loops: row-times-matrix updates when B is not transposed, dot
// products when it is. It serves tiny products and builds without SIMD
// kernels.
func gemmLoops[T Float](transA, transB bool, m, j0, j1, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accum bool) {
	for i := range m {
		crow := c[i*ldc+j0 : i*ldc+j1]
		if !accum {
			clear(crow)
		}
		if !transB {
			for p := range k {
				var av T
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				brow := b[p*ldb+j0:][:len(crow)]
				for j, bv := range brow {
					crow[j] += av * bv
				}
			}
			continue
		}
		for j := range crow {
			brow := b[(j0+j)*ldb:][:k]
			var s T
			if transA {
				for p, bv := range brow {
					s += a[p*lda+i] * bv
				}
			} else {
				s = dot(a[i*lda:][:k], brow)
			}
			crow[j] += s
		}
	}
}

// dot returns Σ x[i]·y[i] over len(x) ≤ len(y) elements, with four partial
// sums to overlap the additions' latency.
func dot[T Float](x, y []T) T {
	y = y[:len(x)]
	var s0, s1, s2, s3 T
	for len(x) >= 4 && len(y) >= 4 {
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		x, y = x[4:], y[4:]
	}
	for i, v := range x {
		s0 += v * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotKernel computes rows × cols of C = A·Bᵀ (rows fixed per kernel, cols ≥
// 1) as dot products of rows of A with rows of B, both contiguous in k, 4
// columns at a time, the last group masked; k ≥ 1.
type dotKernel[T Float] func(k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accum bool, cols int)

// gemmDot computes job's region of C = A·Bᵀ (transB set, transA not) on
// the dot kernels of ks, which must have them; job.k ≥ 1. Each call covers
// a band of rows and all the region's columns.
func gemmDot[T Float](ks *kernelSet[T], job *gemmJob[T]) {
	mr := len(ks.dot) - 1
	k, a, b, c := job.k, job.a, job.b, job.c
	lda, ldb, ldc, accum := job.lda, job.ldb, job.ldc, job.accumulate
	j0, cols := job.j0, job.j1-job.j0
	if cols <= 0 {
		return
	}
	for i := job.i0; i < job.i1; i += mr {
		rows := min(mr, job.i1-i)
		ks.dot[rows](k, a[i*lda:], lda, b[j0*ldb:], ldb, c[i*ldc+j0:], ldc, accum, cols)
	}
}
