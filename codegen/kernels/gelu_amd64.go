//go:build amd64 && !purego

package kernels

// vecAVX2 is set when the CPU runs the AVX2 and FMA row kernels.
var vecAVX2 = hasAVX2FMA()

//go:noescape
func geluAVX2(dst, x []float32)

//go:noescape
func geluGradAVX2(dst, x, dy []float32)

//go:noescape
func expShiftAVX2(dst, x []float32, shift float32)

// expShiftVec32 sets dst[i] = exp(x[i] − shift) for every i (to a few
// float32 ulps; exponents below −87.3 give 2⁻¹²⁶ rather than less) and
// reports true, or reports false, changing nothing, when the CPU has no
// vector kernel. dst may be x.
func expShiftVec32(dst, x []float32, shift float32) bool {
	if !vecAVX2 {
		return false
	}
	dst = dst[:len(x)]
	n := len(x) &^ 7
	expShiftAVX2(dst[:n], x[:n], shift)
	if r := len(x) - n; r > 0 {
		var buf [8]float32
		copy(buf[:], x[n:])
		expShiftAVX2(buf[:], buf[:], shift)
		copy(dst[n:], buf[:r])
	}
	return true
}

// geluVec32 sets dst[i] = gelu(x[i]) for every i (GELU's tanh form, to a
// few float32 ulps) and reports true, or reports false, changing nothing,
// when the CPU has no vector kernel: the caller then loops itself. dst may
// be x.
func geluVec32(dst, x []float32) bool {
	if !vecAVX2 {
		return false
	}
	dst = dst[:len(x)]
	n := len(x) &^ 7
	geluAVX2(dst[:n], x[:n])
	if r := len(x) - n; r > 0 { // the last few through one padded block
		var buf [8]float32
		copy(buf[:], x[n:])
		geluAVX2(buf[:], buf[:])
		copy(dst[n:], buf[:r])
	}
	return true
}

// geluGradVec32 sets dst[i] = dy[i]·gelu′(x[i]), as geluVec32 does gelu.
func geluGradVec32(dst, x, dy []float32) bool {
	if !vecAVX2 {
		return false
	}
	dst, dy = dst[:len(x)], dy[:len(x)]
	n := len(x) &^ 7
	geluGradAVX2(dst[:n], x[:n], dy[:n])
	if r := len(x) - n; r > 0 {
		var bx, bdy [8]float32
		copy(bx[:], x[n:])
		copy(bdy[:], dy[n:])
		geluGradAVX2(bx[:], bx[:], bdy[:])
		copy(dst[n:], bx[:r])
	}
	return true
}
