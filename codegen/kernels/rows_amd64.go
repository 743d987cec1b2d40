//go:build amd64 && !purego

package kernels

import "math"

// rowsBest is the best row-kernel path the CPU and the OS support.
var rowsBest = rowsDetect()

// rowsDetect reports the widest row kernels the CPU and the OS support,
// by the GEMM kernels' checks (hasAVX512, hasAVX2FMA).
func rowsDetect() int {
	switch {
	case hasAVX512():
		return rowsAVX512
	case hasAVX2FMA():
		return rowsAVX2
	}
	return rowsGo
}

//go:noescape
func adamAVX512(p, g, m, v []float32, h *adamHyper)

//go:noescape
func adamAVX2(p, g, m, v []float32, h *adamHyper)

// adamVec32 runs adamRow32's update over the longest prefix of whole
// vector blocks (8 elements) on the vector path and returns its length, or
// 0 on the Go path. g, m and v are at least as long as p.
func adamVec32(p, g, m, v []float32, h *adamHyper) int {
	n := len(p) &^ 7
	if n == 0 {
		return 0
	}
	switch rowsLevel {
	case rowsAVX512:
		adamAVX512(p[:n], g[:n], m[:n], v[:n], h)
	case rowsAVX2:
		adamAVX2(p[:n], g[:n], m[:n], v[:n], h)
	default:
		return 0
	}
	return n
}

//go:noescape
func colSum64AVX512(acc []float64, x []float32, rows, stride int)

//go:noescape
func colSum32AVX2(acc []float64, x []float32, rows, stride int)

// colSumVec32 adds rows rows of x, stride elements apart, into acc on the
// vector path: as many whole blocks of columns as fit in len(acc) (64 for
// AVX-512, 32 for AVX2), and returns how many columns it summed (0 on the
// Go path). x holds at least (rows−1)·stride + len(acc) elements.
func colSumVec32(acc []float64, x []float32, rows, stride int) int {
	w := 0
	switch rowsLevel {
	case rowsAVX512:
		w = 64
	case rowsAVX2:
		w = 32
	default:
		return 0
	}
	n := len(acc) / w * w
	for c := 0; c < n; c += w {
		if w == 64 {
			colSum64AVX512(acc[c:c+w], x[c:], rows, stride)
		} else {
			colSum32AVX2(acc[c:c+w], x[c:], rows, stride)
		}
	}
	return n
}

//go:noescape
func devSumsAVX512(x []float32, c float64) (s, s2 float64)

//go:noescape
func devSumsAVX2(x []float32, c float64) (s, s2 float64)

//go:noescape
func lnGradSumsAVX512(x, dh, gamma []float32, mean, rstd float64) (sdy, sdyx float64)

//go:noescape
func lnGradSumsAVX2(x, dh, gamma []float32, mean, rstd float64) (sdy, sdyx float64)

// devSumsVec returns Σ(x − c) and Σ(x − c)² over the longest prefix of
// whole vector blocks, and its length (0 on the Go path).
func devSumsVec(x []float32, c float64) (s, s2 float64, n int) {
	switch rowsLevel {
	case rowsAVX512:
		if n = len(x) &^ 7; n > 0 {
			s, s2 = devSumsAVX512(x[:n], c)
		}
	case rowsAVX2:
		if n = len(x) &^ 3; n > 0 {
			s, s2 = devSumsAVX2(x[:n], c)
		}
	}
	return s, s2, n
}

// lnGradSumsVec is lnGradSums32's vector part, as devSumsVec is
// rowStatsVec32's.
func lnGradSumsVec(x, dh, gamma []float32, mean, rstd float64) (sdy, sdyx float64, n int) {
	switch rowsLevel {
	case rowsAVX512:
		if n = len(x) &^ 7; n > 0 {
			sdy, sdyx = lnGradSumsAVX512(x[:n], dh[:n], gamma[:n], mean, rstd)
		}
	case rowsAVX2:
		if n = len(x) &^ 3; n > 0 {
			sdy, sdyx = lnGradSumsAVX2(x[:n], dh[:n], gamma[:n], mean, rstd)
		}
	}
	return sdy, sdyx, n
}

//go:noescape
func lnAffineAVX512(y, xhat, x, gamma, beta []float32, mean, rstd float64)

//go:noescape
func lnAffineAVX2(y, xhat, x, gamma, beta []float32, mean, rstd float64)

//go:noescape
func lnGradAVX512(dx, x, dh, gamma []float32, mean, rstd, mdy, mdyx float64)

//go:noescape
func lnGradAVX2(dx, x, dh, gamma []float32, mean, rstd, mdy, mdyx float64)

// lnAffineVec32 runs layerNormAffine's loop over one row (x̂ stored in
// xhat unless it is nil) on the longest prefix of whole vector blocks and
// returns its length, 0 on the Go path; the caller does the rest. The
// results are the loop's bit for bit. y, gamma, beta and a non-nil xhat
// are at least as long as x.
func lnAffineVec32(y, xhat, x, gamma, beta []float32, mean, rstd float64) int {
	var n int
	switch rowsLevel {
	case rowsAVX512:
		n = len(x) &^ 7
	case rowsAVX2:
		n = len(x) &^ 3
	}
	if n == 0 {
		return 0
	}
	if xhat != nil {
		xhat = xhat[:n]
	}
	if rowsLevel == rowsAVX512 {
		lnAffineAVX512(y[:n], xhat, x[:n], gamma[:n], beta[:n], mean, rstd)
	} else {
		lnAffineAVX2(y[:n], xhat, x[:n], gamma[:n], beta[:n], mean, rstd)
	}
	return n
}

// lnGradVec32 runs layerNormGradScaled's last loop over one row, dx =
// float32((dh·γ − mdy − x̂·mdyx)·rstd), as lnAffineVec32 does the forward
// one: bit for bit, returning how many elements it did.
func lnGradVec32(dx, x, dh, gamma []float32, mean, rstd, mdy, mdyx float64) int {
	var n int
	switch rowsLevel {
	case rowsAVX512:
		n = len(x) &^ 7
	case rowsAVX2:
		n = len(x) &^ 3
	}
	if n == 0 {
		return 0
	}
	if rowsLevel == rowsAVX512 {
		lnGradAVX512(dx[:n], x[:n], dh[:n], gamma[:n], mean, rstd, mdy, mdyx)
	} else {
		lnGradAVX2(dx[:n], x[:n], dh[:n], gamma[:n], mean, rstd, mdy, mdyx)
	}
	return n
}

//go:noescape
func rowDivAVX512(x []float32, s float64)

//go:noescape
func rowDivAVX2(x []float32, s float64)

//go:noescape
func rowDotAVX512(a, b []float32) float64

//go:noescape
func rowDotAVX2(a, b []float32) float64

//go:noescape
func smGradAVX512(out, y, dy []float32, s float64)

//go:noescape
func smGradAVX2(out, y, dy []float32, s float64)

// vecLanes is the number of float64 lanes on the current path, 0 on the
// Go path.
func vecLanes() int {
	switch rowsLevel {
	case rowsAVX512:
		return 8
	case rowsAVX2:
		return 4
	}
	return 0
}

// rowDivVec32 sets x[i] = float32(float64(x[i])/s) over the longest prefix
// of whole vector blocks, bit for bit the scalar loop, and returns its
// length (0 on the Go path).
func rowDivVec32(x []float32, s float64) int {
	l := vecLanes()
	if l == 0 {
		return 0
	}
	n := len(x) / l * l
	if l == 8 {
		rowDivAVX512(x[:n], s)
	} else {
		rowDivAVX2(x[:n], s)
	}
	return n
}

// rowDotVec is Σ float64(a[i])·float64(b[i]) over the longest prefix of
// whole vector blocks, in lanes then across them, and the prefix's length.
func rowDotVec(a, b []float32) (float64, int) {
	l := vecLanes()
	if l == 0 {
		return 0, 0
	}
	n := len(a) / l * l
	if n == 0 {
		return 0, 0
	}
	if l == 8 {
		return rowDotAVX512(a[:n], b[:n]), n
	}
	return rowDotAVX2(a[:n], b[:n]), n
}

// smGradVec32 sets out[i] = float32(float64(y[i])·(float64(dy[i]) − s))
// over the longest prefix of whole vector blocks, bit for bit the scalar
// loop, and returns its length (0 on the Go path).
func smGradVec32(out, y, dy []float32, s float64) int {
	l := vecLanes()
	if l == 0 {
		return 0
	}
	n := len(y) / l * l
	if l == 8 {
		smGradAVX512(out[:n], y[:n], dy[:n], s)
	} else {
		smGradAVX2(out[:n], y[:n], dy[:n], s)
	}
	return n
}

//go:noescape
func scaleMaxAVX512(x []float32, c float32) (m float32, nan bool)

//go:noescape
func scaleMaxAVX2(x []float32, c float32) (m float32, nan bool)

// scaleMaxVec32 sets x[i] = x[i]·c (in float32, as the scalar loop) over
// the longest prefix of whole vector blocks and returns the largest of
// those products as float64 (NaN when one is NaN; −Inf for an empty
// prefix) and the prefix's length, 0 on the Go path: the scaling and the
// row maximum of fused attention's softmax. The maximum of a set does not
// depend on the order; only the sign of a zero maximum may differ from
// the scalar loop's, which x − max cannot tell.
func scaleMaxVec32(x []float32, c float32) (float64, int) {
	var m float32
	var nan bool
	var n int
	switch rowsLevel {
	case rowsAVX512:
		if n = len(x) &^ 15; n > 0 {
			m, nan = scaleMaxAVX512(x[:n], c)
		}
	case rowsAVX2:
		if n = len(x) &^ 7; n > 0 {
			m, nan = scaleMaxAVX2(x[:n], c)
		}
	}
	switch {
	case n == 0:
		return math.Inf(-1), 0
	case nan:
		return math.NaN(), n
	}
	return float64(m), n
}

//go:noescape
func sgdAVX512(p, g []float32, lr, scale float64)

//go:noescape
func sgdAVX2(p, g []float32, lr, scale float64)

// sgdVec32 runs sgdRow32's update over the longest prefix of whole vector
// blocks and returns its length, 0 on the Go path. g is at least as long
// as p.
func sgdVec32(p, g []float32, lr, scale float64) int {
	l := vecLanes()
	if l == 0 {
		return 0
	}
	n := len(p) / l * l
	if l == 8 {
		sgdAVX512(p[:n], g[:n], lr, scale)
	} else {
		sgdAVX2(p[:n], g[:n], lr, scale)
	}
	return n
}
