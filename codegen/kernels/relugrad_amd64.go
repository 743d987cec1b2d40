//go:build amd64 && !purego

package kernels

//go:noescape
func reluGradAVX2(dst, x, dy []float32)

//go:noescape
func reluGradAVX512(dst, x, dy []float32)

// reluGradVec32 sets dst[i] = dy[i] where x[i] > 0 and +0 elsewhere (NaN x
// included), ReLU's gradient bit for bit, and reports true, or reports
// false, changing nothing, when the CPU has no vector kernel (or the Go path
// is forced): the caller then loops itself. dst may be x or dy.
func reluGradVec32(dst, x, dy []float32) bool {
	b := vecBlock()
	if b == 0 {
		return false
	}
	dst, dy = dst[:len(x)], dy[:len(x)]
	n := len(x) / b * b
	if b == 16 {
		reluGradAVX512(dst[:n], x[:n], dy[:n])
	} else {
		reluGradAVX2(dst[:n], x[:n], dy[:n])
	}
	for i := n; i < len(x); i++ {
		v := dy[i]
		if !(x[i] > 0) {
			v = 0
		}
		dst[i] = v
	}
	return true
}
