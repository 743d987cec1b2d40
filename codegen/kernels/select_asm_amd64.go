//go:build amd64 && !purego && !goexperiment.simd

package kernels

func selectF32() kernelSet[float32] {
	if hasAVX2FMA() {
		return asmKernels32()
	}
	return goKernels[float32]()
}

func selectF64() kernelSet[float64] {
	if hasAVX2FMA() {
		return asmKernels64()
	}
	return goKernels[float64]()
}
