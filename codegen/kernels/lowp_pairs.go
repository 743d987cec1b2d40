package kernels

// bf16 weights in the pair layout. A weight matrix W, k×n, is stored for
// the products as pairs of rows: rows 2q and 2q+1 interleaved, so that one
// uint32 (two uint16, little-endian) holds W[2q][j] in its low half and
// W[2q+1][j] in its high half: the pair of weights that VDPBF16PS
// multiplies by the pair (x[2q], x[2q+1]), two weights per lane, 32 per
// instruction, without widening. The columns are cut into panels, widest
// first from pairPanels (the widths of the kernels that walk them, 24 to 1
// vectors of 16) and a last one of what is left (fewer than 16); each
// panel's pair rows are stored together, so that a kernel reads its panel
// as one run of memory, front to back: the panel of P columns starting at
// column c0 begins at element 2·c0·⌊k/2⌋, and its pair row q is the 2P
// elements from there plus 2·P·q. When k is odd, its last row follows all
// panels as it is, at (k−1)·n. The size is k·n either way. The layout is
// made once, when the weights are written into a package (codegen;
// PairBF16 below); files keep the plain [k, n] bit patterns.

// pairPanels are the panel widths in columns, widest first.
var pairPanels = [...]int{384, 256, 128, 64, 32, 16}

// pairPanel is the width of the panel that starts at column c0 of n: the
// widest of pairPanels that fits, or what is left.
func pairPanel(n, c0 int) int {
	for _, p := range pairPanels {
		if n-c0 >= p {
			return p
		}
	}
	return n - c0
}

// PairBF16 writes W, k×n in the plain row-major layout (src), into dst in
// the pair layout. len(dst) and len(src) are at least k·n; they must not
// overlap.
func PairBF16(dst, src []uint16, k, n int) {
	src, dst = src[:k*n], dst[:k*n]
	kp := k / 2
	for c0 := 0; c0 < n; {
		p := pairPanel(n, c0)
		for q := range kp {
			r0, r1 := src[2*q*n+c0:2*q*n+c0+p], src[(2*q+1)*n+c0:(2*q+1)*n+c0+p]
			d := dst[2*kp*c0+2*p*q : 2*kp*c0+2*p*(q+1)]
			for j := range p {
				d[2*j], d[2*j+1] = r0[j], r1[j]
			}
		}
		c0 += p
	}
	if k%2 == 1 {
		copy(dst[(k-1)*n:], src[(k-1)*n:])
	}
}

// pairChunk is how many elements of x (an even number) QMatMulBF16 rounds
// into its stack buffer at a time; a longer row is multiplied in chunks of
// pair rows, accumulating into y.
const pairChunk = 1024

// gemvBF16Pairs is y[j] (+= with accum) Σ_q x[2q]·W(2q, j) + x[2q+1]·W(2q+1, j)
// for j < len(y), q < kp, with x bf16 bit patterns and W pair rows ldw
// apart: the leading columns on the SIMD kernels of QBF16Path, the rest in
// Go.
func gemvBF16Pairs(kp int, x, w []uint16, ldw int, y []float32, accum bool) {
	j := gemvBF16PairsVec(kp, x, w, ldw, y, accum)
	gemvBF16PairsGo(kp, x, w, ldw, j, y[j:], accum)
}

// gemvBF16PairsGo is gemvBF16Pairs in Go for the columns j, j+1, … of W
// that y holds.
func gemvBF16PairsGo(kp int, x, w []uint16, ldw, j int, y []float32, accum bool) {
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
// pair layout, one panel after another.
func qMatMulBF16Pairs(m, n, k int, x []float32, w []uint16, y []float32) {
	i := 0
	if m >= 4 && qgemmBF16Rows4() {
		i = qMatMulBF16Pairs4(m&^3, n, k, x, w, y)
	}
	var xb [pairChunk]uint16
	kp := k / 2
	for ; i < m; i++ {
		xr, yr := x[i*k:(i+1)*k], y[i*n:(i+1)*n]
		if kp == 0 {
			clear(yr)
		}
		for c := 0; c < 2*kp; c += pairChunk {
			e := min(2*kp, c+pairChunk)
			F32ToBF16s(xb[:e-c], xr[c:e])
			for c0 := 0; c0 < n; {
				p := pairPanel(n, c0)
				wp := w[2*kp*c0+p*c:]
				gemvBF16Pairs((e-c)/2, xb[:e-c], wp, 2*p, yr[c0:c0+p], c > 0)
				c0 += p
			}
		}
		if k%2 == 1 {
			xv := BF16ToF32(F32ToBF16(xr[k-1]))
			for j, h := range w[(k-1)*n : k*n] {
				yr[j] += xv * BF16ToF32(h)
			}
		}
	}
}

// qMatMulBF16Pairs4 is qMatMulBF16Pairs for m rows, a multiple of 4, on the
// four-row kernels (W read once per four rows), and returns m. x's rows are
// rounded four at a time into a stack buffer.
func qMatMulBF16Pairs4(m, n, k int, x []float32, w []uint16, y []float32) int {
	var xb [4 * pairChunk]uint16
	kp := k / 2
	for i := 0; i < m; i += 4 {
		xr, yr := x[i*k:(i+4)*k], y[i*n:(i+4)*n]
		if kp == 0 {
			clear(yr)
		}
		for c := 0; c < 2*kp; c += pairChunk {
			e := min(2*kp, c+pairChunk)
			for r := range 4 {
				F32ToBF16s(xb[r*pairChunk:r*pairChunk+e-c], xr[r*k+c:r*k+e])
			}
			for c0 := 0; c0 < n; {
				p := pairPanel(n, c0)
				gemmBF16Pairs4((e-c)/2, xb[:], pairChunk, w[2*kp*c0+p*c:], 2*p, yr[c0:], n, p, c > 0)
				c0 += p
			}
		}
		if k%2 == 1 {
			for r := range 4 {
				xv := BF16ToF32(F32ToBF16(xr[r*k+k-1]))
				yy := yr[r*n : (r+1)*n]
				for j, h := range w[(k-1)*n : k*n] {
					yy[j] += xv * BF16ToF32(h)
				}
			}
		}
	}
	return m
}

// gemmBF16Pairs4 is gemvBF16Pairs for four rows: x's rows ldx apart, y's
// ldy apart, p columns; the leading columns on the four-row kernels, the
// rest row by row.
func gemmBF16Pairs4(kp int, x []uint16, ldx int, w []uint16, ldw int, y []float32, ldy, p int, accum bool) {
	j := gemmBF16Pairs4Vec(kp, x, ldx, w, ldw, y, ldy, p, accum)
	if j == p {
		return
	}
	for r := range 4 {
		gemvBF16PairsGo(kp, x[r*ldx:r*ldx+2*kp], w, ldw, j, y[r*ldy+j:r*ldy+p], accum)
	}
}
