//go:build amd64 && !purego

package kernels

// biasRowsVec runs biasRows' columns [0, d) of every row on the vector
// kernels of rowsLevel and returns d: every column with AVX-512 (masked
// tail), the whole vectors with AVX2, none on the Go path.
func biasRowsVec[T Float](out, c, bias []T, rows int, floor, fix T) int {
	n := len(bias)
	switch rowsLevel {
	case rowsAVX512:
		switch o := any(out).(type) {
		case []float32:
			sbiasRowsAVX512(o, any(c).([]float32), any(bias).([]float32), rows, n, float32(floor), float32(fix))
		case []float64:
			dbiasRowsAVX512(o, any(c).([]float64), any(bias).([]float64), rows, n, float64(floor), float64(fix))
		}
		return n
	case rowsAVX2:
		switch o := any(out).(type) {
		case []float32:
			d := n &^ 7
			if d > 0 {
				sbiasRowsAVX2(o, any(c).([]float32), any(bias).([]float32)[:d], rows, n, float32(floor), float32(fix))
			}
			return d
		case []float64:
			d := n &^ 3
			if d > 0 {
				dbiasRowsAVX2(o, any(c).([]float64), any(bias).([]float64)[:d], rows, n, float64(floor), float64(fix))
			}
			return d
		}
	}
	return 0
}
