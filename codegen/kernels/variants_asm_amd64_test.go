//go:build amd64 && !purego && !goexperiment.simd

package kernels

func kernelVariants() []variant {
	v := []variant{{goKernels[float32](), goKernels[float64]()}}
	if hasAVX2FMA() {
		v = append(v, variant{asmKernels32(), asmKernels64()})
	}
	if hasAVX512() {
		v = append(v, variant{avx512Kernels32(), avx512Kernels64()})
	}
	return v
}
