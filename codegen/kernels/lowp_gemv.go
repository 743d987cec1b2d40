package kernels

import "math"

// QMatMulI8 computes the m×n matrix y = (x·W)·diag(s) for x m×k (row-major,
// contiguous) and W int8, stored k×n (n×k when transB), with s the f32 scale
// of each of the n output channels: y[i,j] = s[j]·Σₗ x[i,l]·W[l,j], summed in
// float32. The weights are widened to float32 in registers; rows of x are
// multiplied one at a time (the matrix-vector product of decoding), on SIMD
// kernels where the CPU has them. It does not allocate.
func QMatMulI8(m, n, k int, transB bool, x []float32, w []int8, s, y []float32) {
	w, s = w[:n*k], s[:n]
	for i := range m {
		xr, yr := x[i*k:(i+1)*k], y[i*n:(i+1)*n]
		if transB {
			for j := range yr {
				yr[j] = dotI8(xr, w[j*k:(j+1)*k]) * s[j]
			}
			continue
		}
		done := gemvI8Vec(k, xr, w, n, s, yr)
		gemvI8Go(xr, w[done:], n, s[done:], yr[done:])
	}
}

// QMatMulBF16 is QMatMulI8 for bf16 weights (uint16 bit patterns) without
// scales, with x rounded to bf16 (F32ToBF16, ties to even) before it is
// multiplied: y[i,j] = Σₗ bf16(x[i,l])·W[l,j], the products exact, the sum in
// float32. Without transB, W is in the pair layout (PairBF16) and the
// products run on VDPBF16PS where the CPU has AVX512_BF16 (QBF16Path); with
// transB, W is n×k as it is, in Go loops.
func QMatMulBF16(m, n, k int, transB bool, x []float32, w []uint16, y []float32) {
	w = w[:n*k]
	if !transB {
		qMatMulBF16Pairs(m, n, k, x[:m*k], w, y[:m*n])
		return
	}
	for i := range m {
		xr, yr := x[i*k:(i+1)*k], y[i*n:(i+1)*n]
		for j := range yr {
			yr[j] = dotBF16(xr, w[j*k:(j+1)*k])
		}
	}
}

// gemvI8Go is y[j] = s[j]·Σₗ x[l]·w[l·ldw+j] for j < len(y), in plain Go.
func gemvI8Go(x []float32, w []int8, ldw int, s, y []float32) {
	if len(y) == 0 {
		return
	}
	clear(y)
	for l, xv := range x {
		wr := w[l*ldw : l*ldw+len(y)]
		for j, q := range wr {
			y[j] += xv * float32(q)
		}
	}
	for j := range y {
		y[j] *= s[j]
	}
}

func dotI8(x []float32, w []int8) float32 {
	var s float32
	for l, q := range w[:len(x)] {
		s += x[l] * float32(q)
	}
	return s
}

func dotBF16(x []float32, w []uint16) float32 {
	var s float32
	for l, h := range w[:len(x)] {
		s += roundBF16(x[l]) * math.Float32frombits(uint32(h)<<16)
	}
	return s
}

// roundBF16 is x rounded to the nearest bf16 (runtime/lowp.F32ToBF16's rule:
// ties to even, NaN kept and quieted), as a float32.
func roundBF16(x float32) float32 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 {
		return math.Float32frombits((b | 0x400000) &^ 0xffff)
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}
