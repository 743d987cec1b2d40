//go:build amd64 && !purego && !goexperiment.simd

package kernels

func kernelVariants() []variant {
	v := []variant{{goKernels[float32](), goKernels[float64]()}}
	if hasAVX2FMA() {
		v = append(v, variant{asmKernels32(), asmKernels64()})
	}
	return v
}
