//go:build amd64 && !purego

package kernels

import "math"

// dotBest is the best attention kernel set the CPU and the OS support,
// by the same CPUID and XGETBV checks as the GEMM kernels' sets.
func dotBest() int {
	switch {
	case hasAVX512():
		return dotAVX512
	case hasAVX2FMA():
		return dotAVX2
	}
	return dotPortable
}

// sdotRowsVec computes dotRows over the leading columns a vector kernel
// covers and returns how many that is (0 without a kernel).
func sdotRowsVec(q, k []float32, ldk int, w []float32) int {
	d := len(q)
	switch {
	case dotPath >= dotAVX512 && d%16 == 0:
		sdotRowsAVX512(q, k, ldk, w)
		return d
	case dotPath >= dotAVX2 && d >= 8:
		d &^= 7
		sdotRowsAVX2(q[:d], k, ldk, w)
		return d
	}
	return 0
}

// sdotTilesVec is tiledScores' vector kernel (false without AVX2).
func sdotTilesVec(q, k, w []float32, scale float32) (bool, float32) {
	switch {
	case dotPath >= dotAVX512:
		return true, sdotTilesAVX512(q, k, w, scale)
	case dotPath >= dotAVX2:
		return true, sdotTilesAVX2(q, k, w, scale)
	}
	return false, 0
}

func ddotRowsVec(q, k []float64, ldk int, w []float64) int {
	d := len(q)
	switch {
	case dotPath >= dotAVX512 && d%8 == 0:
		ddotRowsAVX512(q, k, ldk, w)
		return d
	case dotPath >= dotAVX2 && d >= 4:
		d &^= 3
		ddotRowsAVX2(q[:d], k, ldk, w)
		return d
	}
	return 0
}

// axpyKernels are the axpyRows kernels of one width: [n-1] covers n
// vectors of lanes columns.
type axpyKernels[T Float] struct {
	lanes int
	k     [4]func(w, v []T, ldv int, o []T)
}

var (
	saxpy512 = axpyKernels[float32]{16, [4]func(w, v []float32, ldv int, o []float32){saxpyRows1AVX512, saxpyRows2AVX512, saxpyRows3AVX512, saxpyRows4AVX512}}
	saxpy2   = axpyKernels[float32]{8, [4]func(w, v []float32, ldv int, o []float32){saxpyRows1AVX2, saxpyRows2AVX2, saxpyRows3AVX2, saxpyRows4AVX2}}
	daxpy512 = axpyKernels[float64]{8, [4]func(w, v []float64, ldv int, o []float64){daxpyRows1AVX512, daxpyRows2AVX512, daxpyRows3AVX512, daxpyRows4AVX512}}
	daxpy2   = axpyKernels[float64]{4, [4]func(w, v []float64, ldv int, o []float64){daxpyRows1AVX2, daxpyRows2AVX2, daxpyRows3AVX2, daxpyRows4AVX2}}
)

// run computes axpyRows over columns c… of o in blocks of up to four
// vectors while a whole vector is left, and returns the next column.
func (a *axpyKernels[T]) run(w, v []T, ldv int, o []T, c int) int {
	for len(o)-c >= a.lanes {
		nv := min(4, (len(o)-c)/a.lanes)
		a.k[nv-1](w, v[c:], ldv, o[c:c+a.lanes*nv])
		c += a.lanes * nv
	}
	return c
}

// saxpyRowsVec computes axpyRows over the leading columns the vector
// kernels cover (the widest first) and returns how many that is.
// len(w) > 0.
func saxpyRowsVec(w, v []float32, ldv int, o []float32) int {
	return axpyRowsVec(w, v, ldv, o, &saxpy512, &saxpy2)
}

func daxpyRowsVec(w, v []float64, ldv int, o []float64) int {
	return axpyRowsVec(w, v, ldv, o, &daxpy512, &daxpy2)
}

func axpyRowsVec[T Float](w, v []T, ldv int, o []T, wide, narrow *axpyKernels[T]) int {
	if dotPath < dotAVX2 {
		return 0
	}
	c := 0
	if dotPath >= dotAVX512 {
		c = wide.run(w, v, ldv, o, c)
	}
	return narrow.run(w, v, ldv, o, c)
}

// sscaleMaxVec scales the leading multiple of 8 elements of x in place and
// returns how many that is and their largest (0 and −inf without AVX2).
func sscaleMaxVec(x []float32, scale float32) (int, float32) {
	n := len(x) &^ 7
	if dotPath < dotAVX2 || n == 0 {
		return 0, float32(math.Inf(-1))
	}
	return n, sscaleMaxAVX2(x[:n], scale)
}

// ssumVec sums the leading multiple of 8 elements of x and returns how many
// that is and the sum (0 and 0 without AVX2).
func ssumVec(x []float32) (int, float32) {
	n := len(x) &^ 7
	if dotPath < dotAVX2 || n == 0 {
		return 0, 0
	}
	return n, ssumAVX2(x[:n])
}
