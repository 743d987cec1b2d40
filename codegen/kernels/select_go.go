//go:build !amd64 || purego

package kernels

func selectF32() kernelSet[float32] { return goKernels[float32]() }
func selectF64() kernelSet[float64] { return goKernels[float64]() }
