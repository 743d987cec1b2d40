//go:build !amd64 || purego

package kernels

// reluGradVec32 has no vector kernel on this build: the caller loops itself.
func reluGradVec32(dst, x, dy []float32) bool { return false }
