//go:build !amd64 || purego

package kernels

// gemvKernels: no one-row kernels without the assembly.
func gemvKernels[T Float](string) ([]gemvWidth[T], int) { return nil, 0 }
