//go:build amd64 && !purego

package kernels

//go:noescape
func geluAVX2(dst, x []float32)

//go:noescape
func geluGradAVX2(dst, x, dy []float32)

//go:noescape
func expShiftAVX2(dst, x []float32, shift float32)

//go:noescape
func geluAVX512(dst, x []float32)

//go:noescape
func geluGradAVX512(dst, x, dy []float32)

//go:noescape
func expShiftAVX512(dst, x []float32, shift float32)

// vecBlock is the row kernels' float32 block on the current path (8 lanes
// for AVX2, 16 for AVX-512), or 0 on the Go path.
func vecBlock() int {
	switch rowsLevel {
	case rowsAVX512:
		return 16
	case rowsAVX2:
		return 8
	}
	return 0
}

// expShiftVec32 sets dst[i] = exp(x[i] − shift) for every i (to a few
// float32 ulps; exponents below −87.3 give 2⁻¹²⁶ rather than less) and
// reports true, or reports false, changing nothing, when the CPU has no
// vector kernel (or the Go path is forced). dst may be x. The AVX-512 and
// AVX2 kernels give the same values bit for bit.
func expShiftVec32(dst, x []float32, shift float32) bool {
	b := vecBlock()
	if b == 0 {
		return false
	}
	dst = dst[:len(x)]
	n := len(x) / b * b
	var buf [16]float32
	r := len(x) - n
	copy(buf[:], x[n:])
	// Direct calls (not through a func value), so that buf stays on the stack.
	if b == 16 {
		expShiftAVX512(dst[:n], x[:n], shift)
		if r > 0 { // the last few through one padded block
			expShiftAVX512(buf[:], buf[:], shift)
		}
	} else {
		expShiftAVX2(dst[:n], x[:n], shift)
		if r > 0 {
			expShiftAVX2(buf[:8], buf[:8], shift)
		}
	}
	copy(dst[n:], buf[:r])
	return true
}

// geluVec32 sets dst[i] = gelu(x[i]) for every i (GELU's tanh form, to a
// few float32 ulps) and reports true, or reports false, changing nothing,
// when the CPU has no vector kernel (or the Go path is forced): the caller
// then loops itself. dst may be x.
func geluVec32(dst, x []float32) bool {
	b := vecBlock()
	if b == 0 {
		return false
	}
	dst = dst[:len(x)]
	n := len(x) / b * b
	var buf [16]float32
	r := len(x) - n
	copy(buf[:], x[n:])
	if b == 16 {
		geluAVX512(dst[:n], x[:n])
		if r > 0 {
			geluAVX512(buf[:], buf[:])
		}
	} else {
		geluAVX2(dst[:n], x[:n])
		if r > 0 {
			geluAVX2(buf[:8], buf[:8])
		}
	}
	copy(dst[n:], buf[:r])
	return true
}

// geluGradVec32 sets dst[i] = dy[i]·gelu′(x[i]), as geluVec32 does gelu.
func geluGradVec32(dst, x, dy []float32) bool {
	b := vecBlock()
	if b == 0 {
		return false
	}
	dst, dy = dst[:len(x)], dy[:len(x)]
	n := len(x) / b * b
	var bx, bdy [16]float32
	r := len(x) - n
	copy(bx[:], x[n:])
	copy(bdy[:], dy[n:])
	if b == 16 {
		geluGradAVX512(dst[:n], x[:n], dy[:n])
		if r > 0 {
			geluGradAVX512(bx[:], bx[:], bdy[:])
		}
	} else {
		geluGradAVX2(dst[:n], x[:n], dy[:n])
		if r > 0 {
			geluGradAVX2(bx[:8], bx[:8], bdy[:8])
		}
	}
	copy(dst[n:], bx[:r])
	return true
}
