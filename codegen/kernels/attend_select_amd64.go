//go:build amd64 && !purego

package kernels

import "math"

// dotBest is the best attention kernel set the CPU and the OS support:
// AVX-512F needs CPUID.7.EBX bit 16 and XCR0 showing the opmask and ZMM
// state saved (bits 5–7) on top of AVX2 and FMA with the YMM state.
func dotBest() int {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return dotPortable
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return dotPortable
	}
	xcr0, _ := xgetbv()
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2, avx512f = 1 << 5, 1 << 16
	switch {
	case xcr0&6 != 6 || ebx7&avx2 == 0:
		return dotPortable
	case xcr0&0xe0 == 0xe0 && ebx7&avx512f != 0:
		return dotAVX512
	}
	return dotAVX2
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

// saxpyRowsVec computes axpyRows over the leading columns the vector
// kernels cover, in blocks of up to four vectors, and returns how many
// that is. len(w) > 0.
func saxpyRowsVec(w, v []float32, ldv int, o []float32) int {
	if dotPath < dotAVX2 {
		return 0
	}
	c := 0
	if dotPath >= dotAVX512 {
		for len(o)-c >= 16 {
			nv := min(4, (len(o)-c)/16)
			cs := o[c : c+16*nv]
			switch nv {
			case 1:
				saxpyRows1AVX512(w, v[c:], ldv, cs)
			case 2:
				saxpyRows2AVX512(w, v[c:], ldv, cs)
			case 3:
				saxpyRows3AVX512(w, v[c:], ldv, cs)
			default:
				saxpyRows4AVX512(w, v[c:], ldv, cs)
			}
			c += 16 * nv
		}
	}
	for len(o)-c >= 8 {
		nv := min(4, (len(o)-c)/8)
		cs := o[c : c+8*nv]
		switch nv {
		case 1:
			saxpyRows1AVX2(w, v[c:], ldv, cs)
		case 2:
			saxpyRows2AVX2(w, v[c:], ldv, cs)
		case 3:
			saxpyRows3AVX2(w, v[c:], ldv, cs)
		default:
			saxpyRows4AVX2(w, v[c:], ldv, cs)
		}
		c += 8 * nv
	}
	return c
}

func daxpyRowsVec(w, v []float64, ldv int, o []float64) int {
	if dotPath < dotAVX2 {
		return 0
	}
	c := 0
	if dotPath >= dotAVX512 {
		for len(o)-c >= 8 {
			nv := min(4, (len(o)-c)/8)
			cs := o[c : c+8*nv]
			switch nv {
			case 1:
				daxpyRows1AVX512(w, v[c:], ldv, cs)
			case 2:
				daxpyRows2AVX512(w, v[c:], ldv, cs)
			case 3:
				daxpyRows3AVX512(w, v[c:], ldv, cs)
			default:
				daxpyRows4AVX512(w, v[c:], ldv, cs)
			}
			c += 8 * nv
		}
	}
	for len(o)-c >= 4 {
		nv := min(4, (len(o)-c)/4)
		cs := o[c : c+4*nv]
		switch nv {
		case 1:
			daxpyRows1AVX2(w, v[c:], ldv, cs)
		case 2:
			daxpyRows2AVX2(w, v[c:], ldv, cs)
		case 3:
			daxpyRows3AVX2(w, v[c:], ldv, cs)
		default:
			daxpyRows4AVX2(w, v[c:], ldv, cs)
		}
		c += 4 * nv
	}
	return c
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
