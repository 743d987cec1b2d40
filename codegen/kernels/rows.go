package kernels

import "math"

// The row kernels: the optimizer updates, LayerNorm's row statistics, GELU
// and softmax's exponentials over float32 rows, each with an AVX-512 path,
// an AVX2 path and a portable Go loop (rows_amd64.s; docs/kernels-rows.md).
// rowsLevel picks the path for every kernel at once: the best the CPU and
// the OS support (rowsBest), or a lower one that a test forces with
// setRowsLevel, so that every path runs on a machine with AVX-512.

// The row-kernel paths, in increasing order.
const (
	rowsGo     = iota // portable Go loops
	rowsAVX2          // AVX2 and FMA, 8 float32 (4 float64) lanes
	rowsAVX512        // AVX-512F, 16 float32 (8 float64) lanes
)

// rowsLevel is the path the row kernels take.
var rowsLevel = rowsBest

// setRowsLevel forces the row kernels onto path l, capped at what the CPU
// supports, and returns the previous level (for a test's deferred reset).
func setRowsLevel(l int) int {
	old := rowsLevel
	rowsLevel = min(l, rowsBest)
	return old
}

// adamHyper holds one Adam or AdamW update's constants, computed in float64
// once per update as the interpreter computes them: the gradient's scale,
// β₁ and 1 − β₁, β₂ and 1 − β₂, the decoupled weight decay factor 1 − lr·wd
// (1 for Adam), the step lr/(1 − β₁ᵗ), bc2 = √(1 − β₂ᵗ) and ε. The field
// order is the assembly's.
type adamHyper struct {
	scale, beta1, c1, beta2, c2, decay, step, bc2, eps float64
}

// newAdamHyper computes an update's constants from its hyperparameters at
// update t (1-based); wd is 0 for Adam.
func newAdamHyper(scale, lr, beta1, beta2, eps, wd, t float64) adamHyper {
	return adamHyper{
		scale: scale,
		beta1: beta1, c1: 1 - beta1,
		beta2: beta2, c2: 1 - beta2,
		decay: 1 - lr*wd,
		step:  lr / (1 - math.Pow(beta1, t)),
		bc2:   math.Sqrt(1 - math.Pow(beta2, t)),
		eps:   eps,
	}
}

// adamRow32 applies one Adam(W) update to the float32 parameter p with
// gradient g and moments m and v, all of len(p) elements, in one pass:
//
//	p  ← p·decay
//	m  ← float32(m·β₁ + (1−β₁)·s·g)
//	v  ← float32(v·β₂ + (1−β₂)·s·g·s·g)
//	p  ← float32(p − step·m/(√v/bc2 + ε))
//
// in float64 with the operations in the interpreter's order, so that every
// path gives the interpreter's float32 values bit for bit (IEEE products,
// quotients and square roots round alike in a vector lane; no FMA).
func adamRow32(p, g, m, v []float32, h adamHyper) {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	i := adamVec32(p, g, m, v, &h)
	for ; i < n; i++ {
		pi := float64(p[i]) * h.decay
		gi := h.scale * float64(g[i])
		m[i] = float32(float64(m[i])*h.beta1 + h.c1*gi)
		v[i] = float32(float64(v[i])*h.beta2 + h.c2*gi*gi)
		p[i] = float32(pi - h.step*float64(m[i])/(math.Sqrt(float64(v[i]))/h.bc2+h.eps))
	}
}

// colSums sets out[c] = Σᵣ x[r·cols + c] over the rows r of a rows×cols
// block, for the columns c in [lo, hi), divided by rows when mean is set:
// the sum over the leading axes (a bias's gradient). Each column is summed
// in float64 in row order from 0, as the generated loop nest and the
// interpreter sum it, so the result is theirs bit for bit; but 64 columns
// run at once, reading x row by row instead of down each column, on the
// vector path 8 (AVX-512) or 4 (AVX2) columns to an instruction.
func colSums[T Float](out, x []T, rows, cols, lo, hi int, mean bool) {
	var acc [64]float64
	for c0 := lo; c0 < hi; c0 += len(acc) {
		a := acc[:min(len(acc), hi-c0)]
		clear(a)
		done := 0
		if xf, ok := any(x).([]float32); ok && rows > 0 {
			done = colSumVec32(a, xf[c0:c0+(rows-1)*cols+len(a)], rows, cols)
		}
		if rest := a[done:]; len(rest) > 0 {
			for r := range rows {
				xr := x[r*cols+c0+done:]
				xr = xr[:len(rest)]
				for j, v := range xr {
					rest[j] += float64(v)
				}
			}
		}
		for j, s := range a {
			if mean {
				s /= float64(rows)
			}
			out[c0+j] = T(s)
		}
	}
}

// rowStatsVec32 is LayerNorm's row statistics, the mean and 1/√(var + eps)
// (biased variance), with the sums in float64 on the vector path, 8 or 4
// lanes at a time then across the lanes, and ok; on the Go path it reports
// false and the caller sums in order. The sums' order differs from the
// interpreter's, so the statistics may differ from its in the last bits
// of a float64 (relative 1e-16·d at worst), far below float32's 6e-8.
func rowStatsVec32(x []float32, eps float64) (mean, rstd float64, ok bool) {
	if rowsLevel == rowsGo || len(x) == 0 {
		return 0, 0, false
	}
	s, _, n := devSumsVec(x, 0)
	for _, v := range x[n:] {
		s += float64(v)
	}
	mean = s / float64(len(x))
	_, s2, n := devSumsVec(x, mean)
	for _, v := range x[n:] {
		d := float64(v) - mean
		s2 += d * d
	}
	return mean, 1 / math.Sqrt(s2/float64(len(x))+eps), true
}

// lnGradSumsVec32 returns the two sums of LayerNorm's backward row, Σ dy
// and Σ dy·x̂ with dy = float64(dh·γ) (the product rounded to float32) and
// x̂ = (x − mean)·rstd, and ok, on the vector path (reordered sums, as
// rowStatsVec32's); on the Go path it reports false.
func lnGradSumsVec32(x, dh, gamma []float32, mean, rstd float64) (sdy, sdyx float64, ok bool) {
	if rowsLevel == rowsGo {
		return 0, 0, false
	}
	dh, gamma = dh[:len(x)], gamma[:len(x)]
	sdy, sdyx, n := lnGradSumsVec(x, dh, gamma, mean, rstd)
	for j := n; j < len(x); j++ {
		dy := float64(dh[j] * gamma[j])
		sdy += dy
		sdyx += dy * ((float64(x[j]) - mean) * rstd)
	}
	return sdy, sdyx, true
}

// sumSqVec32 is Σx² in float64 on the vector path (reordered, as
// rowStatsVec32's sums) and true, or false on the Go path: RMSNorm's sum.
func sumSqVec32(x []float32) (float64, bool) {
	if rowsLevel == rowsGo {
		return 0, false
	}
	_, s2, n := devSumsVec(x, 0)
	for _, v := range x[n:] {
		s2 += float64(v) * float64(v)
	}
	return s2, true
}

// sumVec32 is Σx in float64 on the vector path (in lanes, then across
// them: a different order from the scalar loop's, within 1e-16·len(x) of
// it relative to Σ|x|) and true, or false on the Go path.
func sumVec32(x []float32) (float64, bool) {
	if rowsLevel == rowsGo {
		return 0, false
	}
	s, _, n := devSumsVec(x, 0)
	for _, v := range x[n:] {
		s += float64(v)
	}
	return s, true
}

// dotVec32 is Σ float64(a[i])·float64(b[i]) on the vector path (reordered,
// as sumVec32) and true, or false on the Go path. b is at least as long
// as a.
func dotVec32(a, b []float32) (float64, bool) {
	if rowsLevel == rowsGo {
		return 0, false
	}
	b = b[:len(a)]
	s, n := rowDotVec(a, b)
	for i := n; i < len(a); i++ {
		s += float64(a[i]) * float64(b[i])
	}
	return s, true
}

// sgdRow32 applies one SGD update to the float32 parameter p with gradient
// g: p ← float32(p − lr·(scale·g)) in float64, the emitted loop's and the
// interpreter's operations in their order, so every path gives their
// values bit for bit (scale 1 multiplies exactly).
func sgdRow32(p, g []float32, lr, scale float64) {
	g = g[:len(p)]
	for i := sgdVec32(p, g, lr, scale); i < len(p); i++ {
		p[i] = float32(float64(p[i]) - lr*(scale*float64(g[i])))
	}
}
