//go:build amd64 && !purego

package kernels

import "os"

// kernelChoice names the kernels this process uses: the best the CPU
// supports (avx512, avx2 or go), or, when the environment variable
// MLC_KERNELS asks for a lesser one (avx2 or go), that one. The variable is
// read once, when the package is initialised; it exists to compare the
// paths on one machine (tests and benchmarks run every path regardless).
func kernelChoice() string {
	best := "go"
	switch {
	case hasAVX512():
		best = "avx512"
	case hasAVX2FMA():
		best = "avx2"
	}
	rank := map[string]int{"go": 0, "avx2": 1, "avx512": 2}
	if want, ok := rank[os.Getenv("MLC_KERNELS")]; ok && want < rank[best] {
		return os.Getenv("MLC_KERNELS")
	}
	return best
}

func selectF32() kernelSet[float32] {
	switch kernelChoice() {
	case "avx512":
		return avx512Kernels32()
	case "avx2":
		return asmKernels32()
	}
	return goKernels[float32]()
}

func selectF64() kernelSet[float64] {
	switch kernelChoice() {
	case "avx512":
		return avx512Kernels64()
	case "avx2":
		return asmKernels64()
	}
	return goKernels[float64]()
}
