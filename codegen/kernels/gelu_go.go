//go:build !amd64 || purego

package kernels

// geluVec32, geluGradVec32 and expShiftVec32 have no vector kernel on
// this build: the caller loops itself.
func geluVec32(dst, x []float32) bool                    { return false }
func geluGradVec32(dst, x, dy []float32) bool            { return false }
func expShiftVec32(dst, x []float32, shift float32) bool { return false }
