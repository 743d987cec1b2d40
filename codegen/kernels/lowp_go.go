//go:build !amd64 || purego

package kernels

// LowpPath is the kernel the low-precision products use: always "go" here.
var LowpPath = "go"

func lowpRuns(p string) bool { return p == "go" }

// QBF16Path is the kernel the products with bf16 weights use: always "go"
// here.
var QBF16Path = "go"

func qbf16Runs(p string) bool { return p == "go" }

// No SIMD low-precision kernels on this build: the Go loops do all columns.
func gemvI8Vec(k int, x []float32, w []int8, ldw int, s, y []float32) int { return 0 }
func gemvBF16PairsVec(kp int, x, w []uint16, ldw int, y []float32, accum bool) int {
	return 0
}
func qgemmBF16Rows4() bool { return false }
func gemmBF16Pairs4Vec(kp int, x []uint16, ldx int, w []uint16, ldw int, y []float32, ldy, p int, accum bool) int {
	return 0
}
func f32ToBF16Vec(dst []uint16, src []float32) int { return 0 }
func bf16ToF32Vec(dst []float32, src []uint16) int { return 0 }
