//go:build !amd64 || purego

package kernels

import "math"

// rowsBest is the portable path: this build has no vector row kernels.
const rowsBest = rowsGo

// adamVec32 has no vector kernel on this build: it updates nothing and
// returns 0, and adamRow32 loops over every element.
func adamVec32(p, g, m, v []float32, h *adamHyper) int { return 0 }

// colSumVec32 has no vector kernel on this build: it adds nothing and
// returns 0.
func colSumVec32(acc []float64, x []float32, rows, stride int) int { return 0 }

// devSumsVec and lnGradSumsVec have no vector kernel on this build.
func devSumsVec(x []float32, c float64) (s, s2 float64, n int) { return 0, 0, 0 }
func lnGradSumsVec(x, dh, gamma []float32, mean, rstd float64) (sdy, sdyx float64, n int) {
	return 0, 0, 0
}

// lnAffineVec32 and lnGradVec32 have no vector kernel on this build.
func lnAffineVec32(y, xhat, x, gamma, beta []float32, mean, rstd float64) int { return 0 }
func lnGradVec32(dx, x, dh, gamma []float32, mean, rstd, mdy, mdyx float64) int {
	return 0
}

// rowDivVec32, rowDotVec and smGradVec32 have no vector kernel on this
// build.
func rowDivVec32(x []float32, s float64) int          { return 0 }
func rowDotVec(a, b []float32) (float64, int)         { return 0, 0 }
func smGradVec32(out, y, dy []float32, s float64) int { return 0 }

// scaleMaxVec32 has no vector kernel on this build.
func scaleMaxVec32(x []float32, c float32) (float64, int) { return math.Inf(-1), 0 }

// sgdVec32 has no vector kernel on this build.
func sgdVec32(p, g []float32, lr, scale float64) int { return 0 }
