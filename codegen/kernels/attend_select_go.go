//go:build !amd64 || purego

package kernels

import "math"

// No vector attention kernels on this build: the Go loops of attend.go.

func dotBest() int { return dotPortable }

func sdotRowsVec(q, k []float32, ldk int, w []float32) int          { return 0 }
func sdotTilesVec(q, k, w []float32, scale float32) (bool, float32) { return false, 0 }
func ddotRowsVec(q, k []float64, ldk int, w []float64) int          { return 0 }
func saxpyRowsVec(w, v []float32, ldv int, o []float32) int         { return 0 }
func daxpyRowsVec(w, v []float64, ldv int, o []float64) int         { return 0 }

func sscaleMaxVec(x []float32, scale float32) (int, float32) { return 0, float32(math.Inf(-1)) }
func ssumVec(x []float32) (int, float32)                     { return 0, 0 }
