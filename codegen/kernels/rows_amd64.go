//go:build amd64 && !purego

package kernels

// rowsBest is the best row-kernel path the CPU and the OS support.
var rowsBest = rowsDetect()

// rowsDetect reports rowsAVX512 when CPUID shows AVX-512F and XCR0 shows
// that the OS saves the opmask and all 32 ZMM registers (bits 5, 6 and 7)
// besides the XMM and YMM state, rowsAVX2 when AVX2 and FMA are usable,
// and rowsGo otherwise.
func rowsDetect() int {
	if !hasAVX2FMA() {
		return rowsGo
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx512f = 1 << 16
	if xcr0, _ := xgetbv(); ebx7&avx512f != 0 && xcr0&0xe6 == 0xe6 {
		return rowsAVX512
	}
	return rowsAVX2
}

//go:noescape
func adamAVX512(p, g, m, v []float32, h *adamHyper)

//go:noescape
func adamAVX2(p, g, m, v []float32, h *adamHyper)

// adamVec32 runs adamRow32's update over the longest prefix of whole
// vector blocks (8 elements) on the vector path and returns its length, or
// 0 on the Go path. g, m and v are at least as long as p.
func adamVec32(p, g, m, v []float32, h *adamHyper) int {
	n := len(p) &^ 7
	if n == 0 {
		return 0
	}
	switch rowsLevel {
	case rowsAVX512:
		adamAVX512(p[:n], g[:n], m[:n], v[:n], h)
	case rowsAVX2:
		adamAVX2(p[:n], g[:n], m[:n], v[:n], h)
	default:
		return 0
	}
	return n
}
