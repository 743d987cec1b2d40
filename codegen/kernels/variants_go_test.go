//go:build !amd64 || purego

package kernels

func kernelVariants() []variant {
	return []variant{{goKernels[float32](), goKernels[float64]()}}
}
