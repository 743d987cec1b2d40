// Package lowp holds the low-precision storage formats of mlc's weights
// (docs/low-precision.md): bf16 conversions and int8 per-channel
// quantisation. The interpreter, the passes and generated code use it: it
// imports only the standard library, and codegen copies lowp.go into the
// packages whose weights are low-precision.
//
// bf16 is the upper half of a float32: sign, the same 8-bit exponent, 7
// mantissa bits. Values are stored as uint16 bit patterns; arithmetic is
// always float32.
package lowp

import "math"

// F32ToBF16 rounds f to the nearest bf16, ties to even. Subnormals round like
// any other value (no flush to zero); a finite value at or above the largest
// bf16 plus half an ulp becomes ±Inf; ±Inf stays ±Inf; a NaN stays a NaN of
// the same sign with its top payload bits and the quiet bit set.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	// Adding 0x7fff rounds the low half up when it is above half an ulp;
	// adding the kept half's last bit as well breaks the tie towards even. A
	// carry into the exponent is the correct result (the next binade, or Inf).
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BF16ToF32 is the float32 with h's bits in its upper half: exact.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16s converts src into dst (len(dst) ≥ len(src)) with F32ToBF16.
func F32ToBF16s(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = F32ToBF16(f)
	}
}

// BF16ToF32s converts src into dst (len(dst) ≥ len(src)) with BF16ToF32.
func BF16ToF32s(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = BF16ToF32(h)
	}
}

// int8 weights are symmetric and per output channel: channel c has the
// float32 scale s[c] = max|w[·,c]| / 127 (computed in float32), and each
// weight the int8 q = round(w / s[c]) (the quotient in float32, rounded half
// to even, within ±127 by construction; −128 is never used). A weight reads
// back as float32(q) · s[c]. A channel of zeros has scale 0 and reads back
// as zeros; so does one whose largest magnitude is below 127 · 2⁻¹⁴⁹, whose
// scale underflows to 0. The weights must be finite (the caller checks).

// QuantizeI8 quantises the rows×cols row-major matrix w into q (same layout)
// and scale, one per output channel. The output channels are w's columns
// (a MatMul's B, x·W) when rowChannels is false, its rows (x·Wᵀ) when true.
func QuantizeI8(q []int8, scale []float32, w []float32, rows, cols int, rowChannels bool) {
	q, w = q[:rows*cols], w[:rows*cols]
	if rowChannels {
		scale = scale[:rows]
		for r := range rows {
			scale[r] = i8Scale(w[r*cols : (r+1)*cols])
			for c := range cols {
				q[r*cols+c] = quantI8(w[r*cols+c], scale[r])
			}
		}
		return
	}
	scale = scale[:cols]
	for c := range cols {
		var m float32
		for r := range rows {
			m = max(m, abs32(w[r*cols+c]))
		}
		scale[c] = m / 127
	}
	for r := range rows {
		for c := range cols {
			q[r*cols+c] = quantI8(w[r*cols+c], scale[c])
		}
	}
}

// DequantizeI8 is QuantizeI8's inverse up to rounding: w = float32(q) · scale
// of the element's channel.
func DequantizeI8(w []float32, q []int8, scale []float32, rows, cols int, rowChannels bool) {
	q, w = q[:rows*cols], w[:rows*cols]
	for r := range rows {
		for c := range cols {
			s := scale[c]
			if rowChannels {
				s = scale[r]
			}
			w[r*cols+c] = float32(q[r*cols+c]) * s
		}
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func i8Scale(w []float32) float32 {
	var m float32
	for _, x := range w {
		m = max(m, abs32(x))
	}
	return m / 127
}

// quantI8 is round-half-to-even of x/s, clamped to ±127; 0 when s is 0.
func quantI8(x, s float32) int8 {
	if s == 0 {
		return 0
	}
	v := math.RoundToEven(float64(x / s))
	return int8(max(-127, min(127, v)))
}
