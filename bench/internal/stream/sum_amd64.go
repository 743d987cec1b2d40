//go:build amd64 && !purego

package stream

import (
	"os"
	"strings"
)

// hasAVX2 reads the CPU's flags once (the bench does not need CPUID).
var hasAVX2 = func() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && strings.Contains(string(b), " avx2")
}()

// sumAVX2 sums n float32 from p, n a positive multiple of 64: eight
// 256-bit accumulators, 256 bytes per iteration.
//
//go:noescape
func sumAVX2(p *float32, n int) float32

func sum(x []float32) float32 {
	if hasAVX2 {
		return sumAVX2(&x[0], len(x))
	}
	return sumGo(x)
}

// Vectorised reports whether Sum uses vector loads.
func Vectorised() bool { return hasAVX2 }
