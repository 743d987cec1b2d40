package kernels

import "math"

// The conversions of bf16 storage: the activations a mixed-precision
// training step saves for its backward pass are written as bf16 (uint16 bit
// patterns) and read back widened to float32. The rule is
// runtime/lowp.F32ToBF16's, bit for bit, on every path: round to nearest,
// ties to even; subnormals round like any other value (no flush to zero);
// overflow to ±Inf; a NaN stays a NaN with its sign and top payload bits,
// quieted.

// F32ToBF16 is x rounded to the nearest bf16.
func F32ToBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BF16ToF32 is the float32 of the bf16 h: exact.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16s writes F32ToBF16 of each element of src into dst (len(dst) ≥
// len(src)), on SIMD kernels where the CPU has them. It does not allocate.
func F32ToBF16s(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i := f32ToBF16Vec(dst, src); i < len(src); i++ {
		dst[i] = F32ToBF16(src[i])
	}
}

// BF16ToF32s writes BF16ToF32 of each element of src into dst (len(dst) ≥
// len(src)), on SIMD kernels where the CPU has them. It does not allocate.
func BF16ToF32s(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i := bf16ToF32Vec(dst, src); i < len(src); i++ {
		dst[i] = BF16ToF32(src[i])
	}
}
