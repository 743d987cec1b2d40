package kernels

// bf16 weights in the pair layout. A weight matrix W, k×n, is stored for
// the products as pairs of rows: rows 2q and 2q+1 interleaved, so that
// elements 2j and 2j+1 of pair row q (a uint32, little-endian) are
// W[2q][j] and W[2q+1][j]; when k is odd, its last row follows as it is.
// The size is k·n either way. One dword is then the pair of weights that
// VDPBF16PS multiplies by the pair (x[2q], x[2q+1]), two weights per lane,
// 32 per instruction, without widening. The layout is made once, when the
// weights are written into a package (codegen; PairBF16 below); files keep
// the plain [k, n] bit patterns.

// PairBF16 writes W, k×n in the plain row-major layout (src), into dst in
// the pair layout. len(dst) and len(src) are at least k·n; they must not
// overlap.
func PairBF16(dst, src []uint16, k, n int) {
	src, dst = src[:k*n], dst[:k*n]
	for q := range k / 2 {
		r0, r1 := src[2*q*n:(2*q+1)*n], src[(2*q+1)*n:(2*q+2)*n]
		d := dst[2*q*n : 2*(q+1)*n]
		for j := range n {
			d[2*j], d[2*j+1] = r0[j], r1[j]
		}
	}
	if k%2 == 1 {
		copy(dst[(k-1)*n:], src[(k-1)*n:])
	}
}

// pairChunk is how many elements of x (an even number) QMatMulBF16 rounds
// into its stack buffer at a time; a longer row is multiplied in chunks of
// pair rows, accumulating into y.
const pairChunk = 2048

// gemvBF16Pairs is y[j] (+= with accum) Σ_q x[2q]·W(2q, j) + x[2q+1]·W(2q+1, j)
// for j < len(y), q < kp, with x bf16 bit patterns and W pair rows ldw
// apart: the leading columns on the SIMD kernels of QBF16Path, the rest in
// Go.
func gemvBF16Pairs(kp int, x, w []uint16, ldw int, y []float32, accum bool) {
	j := gemvBF16PairsVec(kp, x, w, ldw, y, accum)
	y = y[j:]
	if len(y) == 0 {
		return
	}
	if !accum {
		clear(y)
	}
	for q := range kp {
		x0, x1 := BF16ToF32(x[2*q]), BF16ToF32(x[2*q+1])
		wr := w[q*ldw+2*j : q*ldw+2*(j+len(y))]
		for c := range y {
			y[c] += x0*BF16ToF32(wr[2*c]) + x1*BF16ToF32(wr[2*c+1])
		}
	}
}

// qMatMulBF16Pairs is QMatMulBF16's product without transB: one row of x
// at a time, rounded to bf16 (F32ToBF16s) into a stack buffer, W in the
// pair layout.
func qMatMulBF16Pairs(m, n, k int, x []float32, w []uint16, y []float32) {
	var xb [pairChunk]uint16
	kp := k / 2
	for i := range m {
		xr, yr := x[i*k:(i+1)*k], y[i*n:(i+1)*n]
		if kp == 0 {
			clear(yr)
		}
		for c := 0; c < 2*kp; c += pairChunk {
			e := min(2*kp, c+pairChunk)
			F32ToBF16s(xb[:e-c], xr[c:e])
			gemvBF16Pairs((e-c)/2, xb[:e-c], w[c*n:], 2*n, yr, c > 0)
		}
		if k%2 == 1 {
			xv := BF16ToF32(F32ToBF16(xr[k-1]))
			for j, h := range w[(k-1)*n : k*n] {
				yr[j] += xv * BF16ToF32(h)
			}
		}
	}
}
