//go:build !amd64 || purego

package kernels

// geluVec32 and geluGradVec32 have no vector kernel on this build: the
// caller loops itself.
func geluVec32(dst, x []float32) bool         { return false }
func geluGradVec32(dst, x, dy []float32) bool { return false }
