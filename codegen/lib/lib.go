// Package lib holds the helper kernels of generated packages. codegen copies
// this file into every package it writes (package clause replaced), so it
// may import only the standard library. Each kernel is the generated code's
// half of an op whose loop would not read well inline; elementwise ops are
// emitted inline instead. Reductions accumulate in float64 whatever the
// element type, as the interpreter does.
package lib

import (
	"errors"
	"math"
	"unsafe"
)

// float is the element type of a generated package's values.
type float interface{ ~float32 | ~float64 }

// errRange reports an id or target outside its range. It is a fixed error
// value so that the check costs no allocation on the success path; the
// caller wraps it with the position on failure.
var errRange = errors.New("index out of range")

// expApprox is exp(x) to a relative error below 1e-8 (7e-9 measured over
// the whole range), well under float32's resolution of 6e-8, at about half
// the cost of math.Exp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor
// polynomial of degree 7 (error ≤ r⁸/8! ≈ 5e-9), and 2ⁿ written into the
// exponent bits. x is clamped to [−708, 709], where the result is already
// 0 or +Inf in float32; NaN stays NaN.
func expApprox(x float64) float64 {
	if x < -708 {
		x = -708
	} else if x > 709 {
		x = 709
	}
	k := x*math.Log2E + 0x1.8p52 // n in the low bits of k: round to nearest
	r := x - (k-0x1.8p52)*math.Ln2
	r2 := r * r
	p := (1 + r) + r2*((1.0/2+r*(1.0/6))+r2*((1.0/24+r*(1.0/120))+r2*(1.0/720+r*(1.0/5040))))
	return p * math.Float64frombits((math.Float64bits(k)+1023)<<52)
}

// expOf is exp for the kernels of a T model: expApprox for float32, whose
// values cannot tell the two apart, math.Exp for float64.
func expOf[T float](x float64) float64 {
	var zero T
	if unsafe.Sizeof(zero) == 4 { // a constant in each instantiation
		return expApprox(x)
	}
	return math.Exp(x)
}

func sigmoid[T float](x T) T {
	if x >= 0 {
		return T(1 / (1 + expOf[T](-float64(x))))
	}
	e := expOf[T](float64(x))
	return T(e / (1 + e))
}

const geluC = 0.7978845608028654 // √(2/π)

// gelu is GELU's tanh form, 0.5·x·(1 + tanh u) with u = √(2/π)(x + 0.044715x³),
// written as x·σ(2u) (the same function: 0.5(1 + tanh u) = σ(2u)), which
// costs one exp where math.Tanh costs an exp and more. For large negative
// x, exp(−2u) overflows to +Inf and the result is −0, as the limit is.
func gelu[T float](x T) T {
	x64 := float64(x)
	u := geluC * (x64 + 0.044715*x64*x64*x64)
	return T(x64 / (1 + expOf[T](-2*u)))
}

// geluGrad is dy · d/dx x·σ(2u) = dy · (σ + x·σ(1−σ)·2u′), σ = σ(2u).
func geluGrad[T float](x, dy T) T {
	x64 := float64(x)
	x2 := x64 * x64
	s := 1 / (1 + expOf[T](-2*geluC*(x64+0.044715*x2*x64)))
	return T(float64(dy) * (s + 2*x64*s*(1-s)*geluC*(1+3*0.044715*x2)))
}

// geluErf is GELU's exact form, 0.5·x·(1 + erf(x/√2)), in float64 as the
// interpreter computes it.
func geluErf[T float](x T) T {
	x64 := float64(x)
	return T(0.5 * x64 * (1 + math.Erf(x64*math.Sqrt2/2)))
}

// geluErfGrad is dy · (Φ(x) + x·φ(x)), Φ the normal CDF and φ its density.
func geluErfGrad[T float](x, dy T) T {
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	x64 := float64(x)
	return T(float64(dy) * (0.5*(1+math.Erf(x64*math.Sqrt2/2)) + x64*invSqrt2Pi*math.Exp(-0.5*x64*x64)))
}

// maxNaN and minNaN propagate NaN from either side, like NumPy.
func maxNaN(a, b float64) float64 {
	if a != a || a >= b {
		return a
	}
	return b
}

func minNaN(a, b float64) float64 {
	if a != a || a <= b {
		return a
	}
	return b
}

func where[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

// softmax over the middle axis of an outer×n×inner block.
func softmax[T float](out, x []T, outer, n, inner int, logSoftmax bool) {
	for o := range outer {
		for i := range inner {
			base := o*n*inner + i
			m := math.Inf(-1)
			for j := range n {
				m = maxNaN(m, float64(x[base+j*inner]))
			}
			if inner == 1 && !logSoftmax { // a contiguous row: the exps once, then scale
				row := out[base : base+n]
				divRow(row, expShiftRow(row, x[base:base+n], m))
				continue
			}
			s := 0.0
			for j := range n {
				s += expOf[T](float64(x[base+j*inner]) - m)
			}
			if logSoftmax {
				ls := m + math.Log(s)
				for j := range n {
					out[base+j*inner] = T(float64(x[base+j*inner]) - ls)
				}
				continue
			}
			for j := range n {
				out[base+j*inner] = T(expOf[T](float64(x[base+j*inner])-m) / s)
			}
		}
	}
}

// softmaxGrad: y ⊙ (dy − Σ dy⊙y) (softmax) or dy − exp(y)·Σ dy (log-softmax).
func softmaxGrad[T float](out, y, dy []T, outer, n, inner int, logSoftmax bool) {
	for o := range outer {
		for i := range inner {
			base := o*n*inner + i
			if inner == 1 && !logSoftmax { // a contiguous row
				softmaxGradRow(out[base:base+n], y[base:base+n], dy[base:base+n])
				continue
			}
			s := 0.0
			for j := range n {
				if logSoftmax {
					s += float64(dy[base+j*inner])
				} else {
					s += float64(dy[base+j*inner]) * float64(y[base+j*inner])
				}
			}
			for j := range n {
				k := base + j*inner
				if logSoftmax {
					out[k] = T(float64(dy[k]) - expOf[T](float64(y[k]))*s)
				} else {
					out[k] = T(float64(y[k]) * (float64(dy[k]) - s))
				}
			}
		}
	}
}

// softmaxGradRow is softmaxGrad's contiguous row: y ⊙ (dy − Σ dy⊙y), the
// sum in float64. float32 rows go through the vector kernels (dotVec32,
// whose sum is reordered; smGradVec32, bit for bit this loop).
func softmaxGradRow[T float](out, y, dy []T) {
	s, ok := 0.0, false
	if y32, is32 := any(y).([]float32); is32 {
		s, ok = dotVec32(any(dy).([]float32), y32)
	}
	if !ok {
		for j, v := range dy {
			s += float64(v) * float64(y[j])
		}
	}
	done := 0
	if o32, is32 := any(out).([]float32); is32 {
		done = smGradVec32(o32, any(y).([]float32), any(dy).([]float32), s)
	}
	for j := done; j < len(y); j++ {
		out[j] = T(float64(y[j]) * (float64(dy[j]) - s))
	}
}

// divRow sets row[i] = T(float64(row[i])/s), softmax's normalisation.
// float32 rows go through the vector kernel (rowDivVec32), bit for bit
// this loop.
func divRow[T float](row []T, s float64) {
	done := 0
	if r32, ok := any(row).([]float32); ok {
		done = rowDivVec32(r32, s)
	}
	for j := done; j < len(row); j++ {
		row[j] = T(float64(row[j]) / s)
	}
}

// rowStats is the mean and 1/√(var+eps) of one row, biased variance.
// float32 rows go through the vector kernel (rowStatsVec32, among the
// kernels' files) when the CPU has one.
func rowStats[T float](x []T, eps float64) (mean, rstd float64) {
	if x32, ok := any(x).([]float32); ok {
		if mean, rstd, ok := rowStatsVec32(x32, eps); ok {
			return mean, rstd
		}
	}
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	v := 0.0
	for _, xv := range x {
		d := float64(xv) - mean
		v += d * d
	}
	v /= float64(len(x))
	return mean, 1 / math.Sqrt(v+eps)
}

// layerNorm normalises each row of d values: (x − mean)/√(var + eps).
func layerNorm[T float](out, x []T, rows, d int, eps float64) {
	for r := range rows {
		xr, or := x[r*d:r*d+d], out[r*d:r*d+d]
		mean, rstd := rowStats(xr, eps)
		for j, v := range xr {
			or[j] = T((float64(v) - mean) * rstd)
		}
	}
}

// layerNormGrad: dx = (dy − mean(dy) − x̂·mean(dy·x̂)) · rstd per row.
func layerNormGrad[T float](out, x, dy []T, rows, d int, eps float64) {
	for r := range rows {
		xr, dr, or := x[r*d:r*d+d], dy[r*d:r*d+d], out[r*d:r*d+d]
		mean, rstd := rowStats(xr, eps)
		mdy, mdyx := 0.0, 0.0
		for j, v := range xr {
			xh := (float64(v) - mean) * rstd
			mdy += float64(dr[j])
			mdyx += float64(dr[j]) * xh
		}
		mdy /= float64(d)
		mdyx /= float64(d)
		for j, v := range xr {
			xh := (float64(v) - mean) * rstd
			or[j] = T((float64(dr[j]) - mdy - xh*mdyx) * rstd)
		}
	}
}

// layerNormAffine is LayerNorm fused with its affine part, one pass per row:
// y = x̂·γ + β with x̂ = (x − mean)/√(var + eps); x̂ is stored too when xhat
// is not nil (backward reads it for dγ).
func layerNormAffine[T float](y, xhat, x, gamma, beta []T, rows, d int, eps float64) {
	gamma, beta = gamma[:d], beta[:d]
	for r := range rows {
		xr, yr := x[r*d:r*d+d], y[r*d:r*d+d]
		mean, rstd := rowStats(xr, eps)
		var hr []T
		if xhat != nil {
			hr = xhat[r*d : r*d+d]
		}
		done := 0
		if y32, ok := any(yr).([]float32); ok { // the vector kernel first (lnAffineVec32), bit for bit this loop
			done = lnAffineVec32(y32, any(hr).([]float32), any(xr).([]float32), any(gamma).([]float32), any(beta).([]float32), mean, rstd)
		}
		for j := done; j < d; j++ {
			v := xr[j]
			h := T((float64(v) - mean) * rstd)
			if hr != nil {
				hr[j] = h
			}
			yr[j] = h*gamma[j] + beta[j]
		}
	}
}

// layerNormGradScaled is LayerNormGrad(x, dh ⊙ γ) with the product formed on
// the fly, one pass per row.
func layerNormGradScaled[T float](dx, x, dh, gamma []T, rows, d int, eps float64) {
	gamma = gamma[:d]
	for r := range rows {
		xr, hr, or := x[r*d:r*d+d], dh[r*d:r*d+d], dx[r*d:r*d+d]
		mean, rstd := rowStats(xr, eps)
		mdy, mdyx, ok := 0.0, 0.0, false
		if x32, is32 := any(xr).([]float32); is32 {
			mdy, mdyx, ok = lnGradSumsVec32(x32, any(hr).([]float32), any(gamma).([]float32), mean, rstd)
		}
		if !ok {
			for j, v := range xr {
				dy := float64(hr[j] * gamma[j])
				xh := (float64(v) - mean) * rstd
				mdy += dy
				mdyx += dy * xh
			}
		}
		mdy /= float64(d)
		mdyx /= float64(d)
		done := 0
		if o32, ok := any(or).([]float32); ok { // the vector kernel first (lnGradVec32), bit for bit this loop
			done = lnGradVec32(o32, any(xr).([]float32), any(hr).([]float32), any(gamma).([]float32), mean, rstd, mdy, mdyx)
		}
		for j := done; j < d; j++ {
			dy := float64(hr[j] * gamma[j])
			xh := (float64(xr[j]) - mean) * rstd
			or[j] = T((dy - mdy - xh*mdyx) * rstd)
		}
	}
}

// rmsScale is 1/√(mean(x²) + eps) of one row. float32 rows sum on the
// vector kernel (sumSqVec32) when the CPU has one.
func rmsScale[T float](x []T, eps float64) float64 {
	if x32, ok := any(x).([]float32); ok {
		if ss, ok := sumSqVec32(x32); ok {
			return 1 / math.Sqrt(ss/float64(len(x))+eps)
		}
	}
	ss := 0.0
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	return 1 / math.Sqrt(ss/float64(len(x))+eps)
}

// rmsNorm normalises each row of d values by its root mean square:
// x/√(mean(x²) + eps).
func rmsNorm[T float](out, x []T, rows, d int, eps float64) {
	for r := range rows {
		xr, or := x[r*d:r*d+d], out[r*d:r*d+d]
		s := rmsScale(xr, eps)
		for j, v := range xr {
			or[j] = T(float64(v) * s)
		}
	}
}

// rmsNormGrad: dx = (dy − x̂·mean(dy·x̂)) / rms per row, x̂ = x/rms.
func rmsNormGrad[T float](out, x, dy []T, rows, d int, eps float64) {
	rmsNormGradScaled(out, x, dy, nil, rows, d, eps)
}

// rmsNormScaled is RMSNorm fused with its gain, one pass per row: y = x̂·g
// with x̂ = x/√(mean(x²) + eps); x̂ is stored too when xhat is not nil
// (backward reads it for dg).
func rmsNormScaled[T float](y, xhat, x, gain []T, rows, d int, eps float64) {
	gain = gain[:d]
	for r := range rows {
		xr, yr := x[r*d:r*d+d], y[r*d:r*d+d]
		s := rmsScale(xr, eps)
		var hr []T
		if xhat != nil {
			hr = xhat[r*d : r*d+d]
		}
		for j, v := range xr {
			h := T(float64(v) * s)
			if hr != nil {
				hr[j] = h
			}
			yr[j] = h * gain[j]
		}
	}
}

// rmsNormGradScaled is RMSNormGrad(x, dh ⊙ g) with the product formed on
// the fly (dh alone when gain is nil), one pass per row.
func rmsNormGradScaled[T float](dx, x, dh, gain []T, rows, d int, eps float64) {
	for r := range rows {
		xr, hr, or := x[r*d:r*d+d], dh[r*d:r*d+d], dx[r*d:r*d+d]
		s := rmsScale(xr, eps)
		dy := func(j int) float64 {
			if gain != nil {
				return float64(hr[j] * gain[j])
			}
			return float64(hr[j])
		}
		m := 0.0
		for j, v := range xr {
			m += dy(j) * float64(v) * s
		}
		m /= float64(d)
		for j, v := range xr {
			or[j] = T((dy(j) - float64(v)*s*m) * s)
		}
	}
}

// rope rotates the feature pairs of x, lead blocks of t rows of d values
// (rows at positions start, start+1, …), by the angles p·θ_i, θ_i =
// 1/theta^(2i/d): pairs (i, i+d/2), or (2i, 2i+1) when interleaved; inverse
// rotates by the negated angles. It does rows lo..hi−1 of every block (the
// pool's threads take ranges of them). out may be x.
//
// The angles of a position are computed once, into tables on the stack
// (ropeChunk pairs at a time), and then every block's row at that position
// is rotated in one sequential pass over its d values.
func rope[T float](out, x []T, lead, t, d, start, lo, hi int, theta float64, interleaved, inverse bool) {
	h := d / 2
	var sinT, cosT [ropeChunk]float64
	for tt := lo; tt < hi; tt++ {
		p := float64(start + tt)
		for i0 := 0; i0 < h; i0 += ropeChunk {
			n := min(h-i0, ropeChunk)
			sn, cs := sinT[:n], cosT[:n]
			for k := range n {
				s, c := math.Sincos(p * (1 / math.Pow(theta, float64(2*(i0+k))/float64(d))))
				if inverse {
					s = -s
				}
				sn[k], cs[k] = s, c
			}
			for l := range lead {
				o := (l*t + tt) * d
				xr, or := x[o:o+d], out[o:o+d]
				if interleaved {
					xr, or = xr[2*i0:2*(i0+n)], or[2*i0:2*(i0+n)]
					for k := range n {
						a, b := float64(xr[2*k]), float64(xr[2*k+1])
						or[2*k] = T(a*cs[k] - b*sn[k])
						or[2*k+1] = T(b*cs[k] + a*sn[k])
					}
					continue
				}
				xa, xb, oa, ob := xr[i0:i0+n], xr[h+i0:h+i0+n], or[i0:i0+n], or[h+i0:h+i0+n]
				for k := range n {
					a, b := float64(xa[k]), float64(xb[k])
					oa[k] = T(a*cs[k] - b*sn[k])
					ob[k] = T(b*cs[k] + a*sn[k])
				}
			}
		}
	}
}

// ropeChunk is how many angles rope tabulates at a time (4 KiB of stack).
const ropeChunk = 256

// softmaxXentGrad is the cross-entropy gradient (softmax(z) − onehot(y))·scale,
// one pass per row: from the probabilities p when given, else from the
// logits z. It returns the first row whose target is out of range, or −1.
func softmaxXentGrad[T float](dz, p, z []T, targets []int32, rows, c int, scale float64) int {
	for r := range rows {
		t := int(targets[r])
		if t < 0 || t >= c {
			return r
		}
		out := dz[r*c : r*c+c]
		if p != nil {
			pr := p[r*c : r*c+c]
			for j, v := range pr {
				out[j] = T(float64(v) * scale)
			}
			out[t] = T((float64(pr[t]) - 1) * scale)
			continue
		} else {
			zr := z[r*c : r*c+c]
			m := rowMax(zr)
			s := expShiftRow(out, zr, m) // out may be zr
			et := float64(out[t])
			for j, e := range out {
				out[j] = T(float64(e) / s * scale)
			}
			out[t] = T((et/s - 1) * scale)
		}
	}
	return -1
}

// badTarget returns the first index whose target is outside [0, c), or −1:
// softmaxXentGrad's check, made once before its rows are split between
// threads.
func badTarget(targets []int32, c int) int {
	for r, t := range targets {
		if t < 0 || int(t) >= c {
			return r
		}
	}
	return -1
}

// argmax writes the index of the first maximum along the middle axis.
func argmax[T float](out []int32, x []T, outer, n, inner int) {
	for o := range outer {
		for i := range inner {
			base := o*n*inner + i
			best, bi := float64(x[base]), 0
			for j := 1; j < n; j++ {
				if v := float64(x[base+j*inner]); v > best || (v != v && best == best) {
					best, bi = v, j
				}
			}
			out[o*inner+i] = int32(bi)
		}
	}
}

// gather copies rows of a table of v rows: out[i] = table[ids[i]]. It
// returns the position of the first bad id, or -1.
func gather[T float](out, table []T, ids []int32, row, v int) int {
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			return i
		}
		copy(out[i*row:i*row+row], table[int(id)*row:int(id)*row+row])
	}
	return -1
}

// scatterAdd is gather's adjoint: out = 0, then out[ids[i]] += upd[i].
func scatterAdd[T float](out, upd []T, ids []int32, row, v int) int {
	clear(out)
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			return i
		}
		o, u := out[int(id)*row:int(id)*row+row], upd[i*row:i*row+row]
		for j := range o {
			o[j] += u[j]
		}
	}
	return -1
}

// oneHot writes one row of depth per id.
func oneHot[T float](out []T, ids []int32, depth int) int {
	clear(out)
	for i, id := range ids {
		if id < 0 || int(id) >= depth {
			return i
		}
		out[i*depth+int(id)] = 1
	}
	return -1
}

// reduceLoss turns per-position losses into the op's reduction.
func reduceLoss(sum float64, counted int, reduce string) float64 {
	if reduce == "mean" {
		if counted == 0 {
			return 0
		}
		return sum / float64(counted)
	}
	return sum
}

// crossEntropy of rows×c logits against targets; mask (may be nil) selects
// counted rows. With perRow non-nil it receives each row's loss (0 where
// masked). It returns the reduced loss and the first bad target's row, or -1.
func crossEntropy[T float](z []T, targets []int32, mask []bool, rows, c int, reduce string, perRow []T) (float64, int) {
	sum, counted := 0.0, 0
	for r := range rows {
		if mask != nil && !mask[r] {
			if perRow != nil {
				perRow[r] = 0
			}
			continue
		}
		t := int(targets[r])
		if t < 0 || t >= c {
			return 0, r
		}
		l := xentRow(z[r*c:r*c+c], t)
		if perRow != nil {
			perRow[r] = T(l)
		}
		sum += l
		counted++
	}
	return reduceLoss(sum, counted, reduce), -1
}

// xentRow is the cross-entropy of one row of logits zr against target t:
// log Σ exp(zr) − zr[t], shifted by the row's maximum. The exponentials go
// through expShiftRow, xentChunk at a time into a stack buffer, so that
// float32 rows use the vector kernel as the gradient's do (the scalar
// float64 exp was 6–10% of a gpt train step).
func xentRow[T float](zr []T, t int) float64 {
	m := rowMax(zr)
	var buf [xentChunk]T
	s := 0.0
	for lo := 0; lo < len(zr); lo += xentChunk {
		c := zr[lo:min(lo+xentChunk, len(zr))]
		s += expShiftRow(buf[:len(c)], c, m)
	}
	return m + math.Log(s) - float64(zr[t])
}

// xentChunk is how many exponentials xentRow holds at a time (1 KiB of
// float32 on the stack, which Go zeroes on every call).
const xentChunk = 256

// rowMax is the largest element of x as float64, NaN when one is NaN (maxNaN
// over x). float32 rows go through the vector kernel, xentChunk at a time,
// on a copy (scaleMaxVec32 writes x·1 back); only the sign of a zero maximum
// may differ from the scalar loop's, which x − max cannot tell.
func rowMax[T float](x []T) float64 {
	m := math.Inf(-1)
	if x32, ok := any(x).([]float32); ok {
		var buf [xentChunk]float32
		for lo := 0; lo < len(x32); lo += xentChunk {
			c := buf[:copy(buf[:], x32[lo:])]
			v, n := scaleMaxVec32(c, 1)
			m = maxNaN(m, v)
			for _, e := range c[n:] {
				m = maxNaN(m, float64(e))
			}
		}
		return m
	}
	for _, v := range x {
		m = maxNaN(m, float64(v))
	}
	return m
}

// crossEntropyCheck returns the first counted row (mask nil or set) of
// rows whose target is outside [0, c), or −1: crossEntropy's check, made
// once before its rows are split between threads (crossEntropyRows).
func crossEntropyCheck(targets []int32, mask []bool, rows, c int) int {
	for r := range rows {
		if t := targets[r]; (mask == nil || mask[r]) && (t < 0 || int(t) >= c) {
			return r
		}
	}
	return -1
}

// crossEntropyRows writes the loss of each counted row of [lo, hi) of the
// logits z (rows of c) into loss[r], targets checked before.
func crossEntropyRows[T float](z []T, targets []int32, mask []bool, lo, hi, c int, loss []float64) {
	for r := lo; r < hi; r++ {
		if mask == nil || mask[r] {
			loss[r] = xentRow(z[r*c:r*c+c], int(targets[r]))
		}
	}
}

// crossEntropyTotal is crossEntropy's result from crossEntropyRows's losses:
// the counted rows summed in order, then reduced.
func crossEntropyTotal(loss []float64, mask []bool, rows int, reduce string) float64 {
	sum, counted := 0.0, 0
	for r := range rows {
		if mask == nil || mask[r] {
			sum += loss[r]
			counted++
		}
	}
	return reduceLoss(sum, counted, reduce)
}

// bceWithLogits: max(z,0) − z·y + log(1 + e^−|z|) per element.
func bceWithLogits[T float](z, y []T, reduce string, perElem []T) float64 {
	sum := 0.0
	for i, zv := range z {
		zi := float64(zv)
		l := max(zi, 0) - zi*float64(y[i]) + math.Log1p(expOf[T](-math.Abs(zi)))
		if perElem != nil {
			perElem[i] = T(l)
		}
		sum += l
	}
	return reduceLoss(sum, len(z), reduce)
}

// mse: (a − b)² per element.
func mse[T float](a, b []T, reduce string, perElem []T) float64 {
	sum := 0.0
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		if perElem != nil {
			perElem[i] = T(d * d)
		}
		sum += d * d
	}
	return reduceLoss(sum, len(a), reduce)
}

// lrAt is the learning rate of update t (1-based): linear warmup, then a
// cosine decay to lrMin at update steps (runtime.LRAt has the same lines).
func lrAt(t, lr float64, warmup, steps int, lrMin float64) float64 {
	w := float64(warmup)
	switch {
	case t <= w:
		return lr * t / w
	case steps == 0:
		return lr
	case t >= float64(steps):
		return lrMin
	}
	return lrMin + 0.5*(lr-lrMin)*(1+math.Cos(math.Pi*(t-w)/(float64(steps)-w)))
}

// rng is SplitMix64, the same generator as runtime.RNG: parameter
// initialisation and dropout draw identical numbers in both engines.
type rng struct{ state uint64 }

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float64() float64 { return float64(r.next()>>11) * 0x1p-53 }

func (r *rng) normal() float64 {
	u1 := 1 - r.float64()
	u2 := r.float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// seedFor derives a named stream's seed from the model seed (FNV-1a).
func seedFor(seed uint64, name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h ^ seed
}

// initNormal fills w with N(0, std²) draws from the parameter's own stream.
func initNormal[T float](w []T, std float64, seed uint64, name string) {
	r := rng{state: seedFor(seed, name)}
	for i := range w {
		w[i] = T(std * r.normal())
	}
}

// cacheWrite stores the new row of each head, x[h], as row t of cache c
// (s rows of width d per head).
func cacheWrite[T float](c, x []T, t, s, d int) {
	for h := range len(x) / d {
		copy(c[(h*s+t)*d:(h*s+t+1)*d], x[h*d:h*d+d])
	}
}

// maskedSoftmax is one row of fused causal attention: the first vis scores
// become softmax(scale·x) (scaled in the element type, as the unfused
// product does), the rest, masked, weight 0.
func maskedSoftmax[T float](row []T, vis int, scale float64) {
	c := T(scale)
	m, done := math.Inf(-1), 0
	if r32, ok := any(row).([]float32); ok { // the vector kernel first (scaleMaxVec32)
		m, done = scaleMaxVec32(r32[:vis], float32(c))
	}
	for i := done; i < vis; i++ {
		row[i] *= c
		m = maxNaN(m, float64(row[i]))
	}
	divRow(row[:vis], expShiftRow(row[:vis], row[:vis], m))
	clear(row[vis:])
}

// geluRow sets dst[i] = gelu(x[i]). float32 rows go through the vector
// kernel (geluVec32, among the kernels' files) when the CPU has one. dst
// may be x.
func geluRow[T float](dst, x []T) {
	if d, ok := any(dst).([]float32); ok && geluVec32(d, any(x).([]float32)) {
		return
	}
	for i, v := range x {
		dst[i] = gelu(v)
	}
}

// geluGradRow sets dst[i] = geluGrad(x[i], dy[i]), as geluRow does gelu.
func geluGradRow[T float](dst, x, dy []T) {
	if d, ok := any(dst).([]float32); ok && geluGradVec32(d, any(x).([]float32), any(dy).([]float32)) {
		return
	}
	for i, v := range x {
		dst[i] = geluGrad(v, dy[i])
	}
}

// reluGradRow sets dst[i] = dy[i] where x[i] > 0, else 0: ReLU's gradient,
// where(x > 0, dy, 0). float32 rows go through the vector kernel
// (reluGradVec32) when the CPU has one, which selects the same bits. dst
// may be x or dy.
func reluGradRow[T float](dst, x, dy []T) {
	if d, ok := any(dst).([]float32); ok && reluGradVec32(d, any(x).([]float32), any(dy).([]float32)) {
		return
	}
	for i, v := range x {
		dst[i] = where(v > 0, dy[i], 0)
	}
}

// causalScaleRows sets dst = where(causal, x, 0)·c over rows rows of s
// elements, row r being row r mod t of a t×s causal mask (column j kept
// when j ≤ r mod t + s − t): the scaled gradient of masked attention
// scores. c must be positive, so that a masked element is +0 as 0·c is.
// float32 rows scale in vector registers (scaleMaxVec32), the same float32
// products as the scalar loop's. dst may be x.
func causalScaleRows[T float](dst, x []T, rows, t, s int, c T) {
	for r := range rows {
		keep := min(max(r%t+s-t+1, 0), s)
		d, xr := dst[r*s:(r+1)*s], x[r*s:(r+1)*s]
		copy(d[:keep], xr[:keep])
		done := 0
		if d32, ok := any(d[:keep]).([]float32); ok {
			_, done = scaleMaxVec32(d32, float32(c))
		}
		for j := done; j < keep; j++ {
			d[j] *= c
		}
		clear(d[keep:])
	}
}

// expShiftRow sets dst[i] = exp(x[i] − m), the numerators of a softmax
// whose row maximum is m, and returns their sum, accumulated in float64.
// float32 rows go through the vector kernel (expShiftVec32) when the CPU
// has one. dst may be x.
func expShiftRow[T float](dst, x []T, m float64) float64 {
	s := 0.0
	if d, ok := any(dst).([]float32); ok && expShiftVec32(d, any(x).([]float32), float32(m)) {
		if s, ok := sumVec32(d[:len(x)]); ok {
			return s
		}
		for _, e := range d[:len(x)] {
			s += float64(e)
		}
		return s
	}
	for i, v := range x {
		e := expOf[T](float64(v) - m)
		dst[i] = T(e)
		s += e
	}
	return s
}
