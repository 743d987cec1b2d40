//go:build !amd64 || purego

package kernels

// biasRowsVec has no vector kernels on this build: biasRows loops over
// every column.
func biasRowsVec[T Float](out, c, bias []T, rows int, floor, fix T) int { return 0 }
