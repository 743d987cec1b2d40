package kernels

// goKernels is the portable kernel set: a 4×4 register tile in plain Go,
// used on architectures without assembly kernels, with -tags purego, and
// on amd64 CPUs without AVX2 and FMA.
func goKernels[T Float]() kernelSet[T] {
	return kernelSet[T]{
		name: "go",
		mr:   4, nr: 4,
		kc: 256, mc: 64, nc: 1024,
		packed: gemmPackedGo4x4[T],
	}
}

// gemmPackedGo4x4 is the portable packedKernel with mr = nr = 4.
func gemmPackedGo4x4[T Float](k int, a, b, c []T, ldc int, accum bool) {
	var (
		c00, c01, c02, c03 T
		c10, c11, c12, c13 T
		c20, c21, c22, c23 T
		c30, c31, c32, c33 T
	)
	a, b = a[:4*k], b[:4*k]
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a, b = a[4:], b[4:]
	}
	r0 := c[0:4]
	r1 := c[ldc : ldc+4]
	r2 := c[2*ldc : 2*ldc+4]
	r3 := c[3*ldc : 3*ldc+4]
	if accum {
		c00, c01, c02, c03 = c00+r0[0], c01+r0[1], c02+r0[2], c03+r0[3]
		c10, c11, c12, c13 = c10+r1[0], c11+r1[1], c12+r1[2], c13+r1[3]
		c20, c21, c22, c23 = c20+r2[0], c21+r2[1], c22+r2[2], c23+r2[3]
		c30, c31, c32, c33 = c30+r3[0], c31+r3[1], c32+r3[2], c33+r3[3]
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
	r2[0], r2[1], r2[2], r2[3] = c20, c21, c22, c23
	r3[0], r3[1], r3[2], r3[3] = c30, c31, c32, c33
}
