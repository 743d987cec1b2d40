package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// rowsLevels are the row-kernel paths this machine runs, each forced in
// turn by eachRowsLevel.
func rowsLevels() []int {
	var ls []int
	for l := rowsGo; l <= rowsBest; l++ {
		ls = append(ls, l)
	}
	return ls
}

var rowsNames = [...]string{rowsGo: "go", rowsAVX2: "avx2", rowsAVX512: "avx512"}

// eachRowsLevel runs f as a subtest on every path the CPU supports.
func eachRowsLevel(t *testing.T, f func(t *testing.T)) {
	for _, l := range rowsLevels() {
		t.Run(rowsNames[l], func(t *testing.T) {
			defer setRowsLevel(setRowsLevel(l))
			if rowsLevel != l {
				t.Fatalf("forced level %d, got %d", l, rowsLevel)
			}
			f(t)
		})
	}
}

// TestRowsLevels: setRowsLevel forces each path up to the best the CPU
// has, caps a request above it, and returns the level it replaced.
func TestRowsLevels(t *testing.T) {
	t.Logf("best row-kernel path: %s", rowsNames[rowsBest])
	defer setRowsLevel(setRowsLevel(rowsBest))
	for _, l := range rowsLevels() {
		prev := rowsLevel
		if old := setRowsLevel(l); old != prev || rowsLevel != l {
			t.Fatalf("setRowsLevel(%d) returned %d (was %d) and set %d", l, old, prev, rowsLevel)
		}
	}
	if setRowsLevel(rowsAVX512 + 1); rowsLevel != rowsBest {
		t.Fatalf("a level above the CPU's gave %d, want %d", rowsLevel, rowsBest)
	}
}

// adamRef is the interpreter's Adam(W) update (runtime.kernApplyAdam),
// element by element, with float32 storage.
func adamRef(p, g, m, v []float32, scale, lr, beta1, beta2, eps, wd, t float64) {
	bc1 := 1 - math.Pow(beta1, t)
	bc2 := math.Sqrt(1 - math.Pow(beta2, t))
	step := lr / bc1
	for i := range p {
		pi := float64(p[i])
		if wd != 0 {
			pi *= 1 - lr*wd
		}
		gi := scale * float64(g[i])
		mi := float64(m[i])*beta1 + (1-beta1)*gi
		vi := float64(v[i])*beta2 + (1-beta2)*gi*gi
		m[i], v[i] = float32(mi), float32(vi)
		mi, vi = float64(m[i]), float64(v[i])
		p[i] = float32(pi - step*mi/(math.Sqrt(vi)/bc2+eps))
	}
}

// TestAdamRow32: every path gives the interpreter's parameters and moments
// bit for bit, for Adam and AdamW, a scaled gradient, every tail length and
// values from subnormal to large, zero gradients and NaN.
func TestAdamRow32(t *testing.T) {
	eachRowsLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		val := func() float32 {
			switch r.IntN(8) {
			case 0:
				return 0
			case 1:
				return float32(r.NormFloat64() * 1e-39) // subnormal
			case 2:
				return float32(r.NormFloat64() * 1e20)
			default:
				return float32(r.NormFloat64())
			}
		}
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 33, 1000} {
			for _, c := range []struct{ scale, lr, wd, t float64 }{{1, 1e-3, 0, 1}, {1, 1e-3, 0.01, 7}, {0.25, 0.05, 0.1, 1000}} {
				p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range p {
					p[i], g[i], m[i] = val(), val(), val()
					v[i] = float32(math.Abs(float64(val())))
				}
				if n > 3 {
					g[3] = float32(math.NaN())
				}
				wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
				adamRef(wp, g, wm, wv, c.scale, c.lr, 0.9, 0.999, 1e-8, c.wd, c.t)
				adamRow32(p, g, m, v, newAdamHyper(c.scale, c.lr, 0.9, 0.999, 1e-8, c.wd, c.t))
				for i := range p {
					for _, x := range [][2]float32{{p[i], wp[i]}, {m[i], wm[i]}, {v[i], wv[i]}} {
						if math.Float32bits(x[0]) != math.Float32bits(x[1]) && !(x[0] != x[0] && x[1] != x[1]) {
							t.Fatalf("n=%d %+v: element %d: p, m, v = %g, %g, %g; want %g, %g, %g", n, c, i, p[i], m[i], v[i], wp[i], wm[i], wv[i])
						}
					}
				}
			}
		}
	})
}

func TestAdamRow32Allocs(t *testing.T) {
	p := make([]float32, 100)
	h := newAdamHyper(1, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1)
	if a := testing.AllocsPerRun(10, func() { adamRow32(p, p, p, p, h) }); a != 0 {
		t.Errorf("adamRow32 allocates %v times per call", a)
	}
}

func BenchmarkAdamRow32(b *testing.B) {
	const n = 65536
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p {
		p[i], g[i] = float32(i)*1e-5, float32(i%7)*1e-3
	}
	h := newAdamHyper(1, 1e-3, 0.9, 0.999, 1e-8, 0.01, 3)
	for _, l := range rowsLevels() {
		b.Run(fmt.Sprintf("%s", rowsNames[l]), func(b *testing.B) {
			defer setRowsLevel(setRowsLevel(l))
			b.SetBytes(n * 4 * 4)
			for b.Loop() {
				adamRow32(p, g, m, v, h)
			}
		})
	}
}

// TestColSums: on every path, each column's sum is the loop nest's (rows
// in order, float64 from 0) bit for bit, for whole and partial column
// blocks, column ranges, one row and mean; float64 too.
func TestColSums(t *testing.T) {
	eachRowsLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, c := range []struct{ rows, cols, lo, hi int }{{1024, 512, 0, 512}, {1024, 128, 32, 96}, {7, 130, 0, 130}, {1, 64, 0, 64}, {3, 200, 5, 199}, {0, 8, 0, 8}, {5, 33, 0, 33}} {
			x := make([]float32, c.rows*c.cols)
			for i := range x {
				x[i] = float32(r.NormFloat64() * math.Exp(4*r.NormFloat64()))
			}
			x64 := make([]float64, len(x))
			for i, v := range x {
				x64[i] = float64(v)
			}
			for _, mean := range []bool{false, true} {
				out, out64 := make([]float32, c.cols), make([]float64, c.cols)
				colSums(out, x, c.rows, c.cols, c.lo, c.hi, mean)
				colSums(out64, x64, c.rows, c.cols, c.lo, c.hi, mean)
				for k := range c.cols {
					var s float64 = 0.0
					for i := range c.rows {
						s += float64(x[i*c.cols+k])
					}
					if mean {
						s = s / float64(c.rows)
					}
					want, want64 := float32(s), s
					if k < c.lo || k >= c.hi {
						want, want64 = 0, 0
					}
					if math.Float32bits(out[k]) != math.Float32bits(want) || math.Float64bits(out64[k]) != math.Float64bits(want64) {
						t.Fatalf("%+v mean=%v: column %d = %g (f64 %g), want %g", c, mean, k, out[k], out64[k], want64)
					}
				}
			}
		}
	})
}

func BenchmarkColSums(b *testing.B) {
	x, out := make([]float32, 1024*512), make([]float32, 512)
	for _, l := range rowsLevels() {
		b.Run(rowsNames[l], func(b *testing.B) {
			defer setRowsLevel(setRowsLevel(l))
			for b.Loop() {
				colSums(out, x, 1024, 512, 0, 512, false)
			}
		})
	}
}

// TestRowStatsVec32: LayerNorm's row statistics and backward sums on the
// vector paths agree with the in-order float64 sums to 1e-14 relative (they
// differ only in the order of the float64 additions), for every tail
// length, rows with a large mean, and a constant row (variance 0); the Go
// path reports no vector kernel.
func TestRowStatsVec32(t *testing.T) {
	eachRowsLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, n := range []int{1, 3, 4, 5, 7, 8, 9, 17, 128, 768, 1001} {
			for _, shift := range []float64{0, 100, -3e4} {
				x, dh, gamma := make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range x {
					x[i] = float32(shift + r.NormFloat64())
					dh[i], gamma[i] = float32(r.NormFloat64()), float32(1+0.1*r.NormFloat64())
				}
				if n == 9 {
					for i := range x {
						x[i] = 2.5
					}
				}
				mean, rstd, ok := rowStatsVec32(x, 1e-5)
				if ok != (rowsLevel != rowsGo) {
					t.Fatalf("rowStatsVec32 ok = %v on path %s", ok, rowsNames[rowsLevel])
				}
				sdy, sdyx, ok2 := lnGradSumsVec32(x, dh, gamma, mean, rstd)
				if !ok || !ok2 {
					continue
				}
				wm := 0.0
				for _, v := range x {
					wm += float64(v)
				}
				wm /= float64(n)
				wv := 0.0
				for _, v := range x {
					wv += (float64(v) - wm) * (float64(v) - wm)
				}
				wr := 1 / math.Sqrt(wv/float64(n)+1e-5)
				wdy, wdyx := 0.0, 0.0
				for j, v := range x {
					dy := float64(dh[j] * gamma[j])
					wdy += dy
					wdyx += dy * ((float64(v) - wm) * wr)
				}
				near := func(what string, got, want, scale float64) {
					if math.Abs(got-want) > 1e-14*scale {
						t.Fatalf("n=%d shift=%g: %s = %.17g, want %.17g", n, shift, what, got, want)
					}
				}
				near("mean", mean, wm, math.Max(1, math.Abs(wm)))
				near("rstd", rstd, wr, wr)
				near("Σdy", sdy, wdy, float64(n))
				near("Σdy·x̂", sdyx, wdyx, float64(n))
			}
		}
	})
}

// TestLayerNormRowsVec32: LayerNorm's elementwise passes on the vector
// paths (lnAffineVec32 forward, x̂ stored or not; lnGradVec32 backward)
// give codegen/lib's scalar loops bit for bit, for every tail length; the
// Go path does nothing. sumSqVec32 (RMSNorm) is within 1e-14 of Σx².
func TestLayerNormRowsVec32(t *testing.T) {
	eachRowsLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{1, 3, 4, 5, 8, 9, 16, 31, 128, 1001} {
			x, dh, gamma, beta := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range x {
				x[i] = float32(3 + 2*r.NormFloat64())
				dh[i], gamma[i], beta[i] = float32(r.NormFloat64()), float32(1+0.1*r.NormFloat64()), float32(0.1*r.NormFloat64())
			}
			mean, rstd, mdy, mdyx := 3.01, 0.49, 0.03, -0.2
			y, xhat, dx := make([]float32, n), make([]float32, n), make([]float32, n)
			y2 := make([]float32, n)
			done := lnAffineVec32(y, xhat, x, gamma, beta, mean, rstd)
			done2 := lnAffineVec32(y2, nil, x, gamma, beta, mean, rstd)
			done3 := lnGradVec32(dx, x, dh, gamma, mean, rstd, mdy, mdyx)
			wantDone := map[int]int{rowsGo: 0, rowsAVX2: n &^ 3, rowsAVX512: n &^ 7}[rowsLevel]
			if done != wantDone || done2 != wantDone || done3 != wantDone {
				t.Fatalf("n=%d: vector kernels did %d, %d, %d elements on path %s", n, done, done2, done3, rowsNames[rowsLevel])
			}
			for j := range done {
				h := float32((float64(x[j]) - mean) * rstd)
				wy := h*gamma[j] + beta[j]
				dy := float64(dh[j] * gamma[j])
				xh := (float64(x[j]) - mean) * rstd
				wdx := float32((dy - mdy - xh*mdyx) * rstd)
				if xhat[j] != h || y[j] != wy || y2[j] != wy || dx[j] != wdx {
					t.Fatalf("n=%d element %d: x̂, y, y, dx = %g, %g, %g, %g; want %g, %g, %g, %g", n, j, xhat[j], y[j], y2[j], dx[j], h, wy, wy, wdx)
				}
			}
			for j := done; j < n; j++ {
				if y[j] != 0 || xhat[j] != 0 || dx[j] != 0 {
					t.Fatalf("n=%d: element %d past the vector part was written", n, j)
				}
			}
			ss, ok := sumSqVec32(x)
			if ok != (rowsLevel != rowsGo) {
				t.Fatalf("sumSqVec32 ok = %v on path %s", ok, rowsNames[rowsLevel])
			}
			want := 0.0
			for _, v := range x {
				want += float64(v) * float64(v)
			}
			if ok && math.Abs(ss-want) > 1e-14*want {
				t.Fatalf("n=%d: Σx² = %.17g, want %.17g", n, ss, want)
			}
		}
	})
}

// TestSoftmaxRowsVec32: softmax's normalisation (rowDivVec32) and backward
// row (smGradVec32) on the vector paths equal the scalar loops bit for
// bit, every tail length; the reordered sums (sumVec32, dotVec32) are
// within 1e-15·n of the in-order float64 sums relative to the sum of
// magnitudes; the Go path does nothing.
func TestSoftmaxRowsVec32(t *testing.T) {
	eachRowsLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range []int{1, 3, 4, 7, 8, 9, 64, 65, 1000} {
			y, dy := make([]float32, n), make([]float32, n)
			for i := range y {
				y[i], dy[i] = float32(r.Float64()), float32(r.NormFloat64())
			}
			lanes := map[int]int{rowsGo: 0, rowsAVX2: 4, rowsAVX512: 8}[rowsLevel]
			wantDone := 0
			if lanes > 0 {
				wantDone = n / lanes * lanes
			}
			s := 1.7320508
			div := append([]float32(nil), y...)
			if d := rowDivVec32(div, s); d != wantDone {
				t.Fatalf("n=%d: rowDivVec32 did %d elements, want %d", n, d, wantDone)
			}
			out := make([]float32, n)
			if d := smGradVec32(out, y, dy, 0.25); d != wantDone {
				t.Fatalf("n=%d: smGradVec32 did %d elements, want %d", n, d, wantDone)
			}
			for i := range wantDone {
				if w := float32(float64(y[i]) / s); div[i] != w {
					t.Fatalf("n=%d: %g/s = %g, want %g", n, y[i], div[i], w)
				}
				if w := float32(float64(y[i]) * (float64(dy[i]) - 0.25)); out[i] != w {
					t.Fatalf("n=%d: softmax grad element %d = %g, want %g", n, i, out[i], w)
				}
			}
			for i := wantDone; i < n; i++ {
				if div[i] != y[i] || out[i] != 0 {
					t.Fatalf("n=%d: element %d past the vector part was written", n, i)
				}
			}
			sum, ok := sumVec32(dy)
			dot, ok2 := dotVec32(dy, y)
			if ok != (lanes > 0) || ok2 != ok {
				t.Fatalf("sumVec32, dotVec32 ok = %v, %v on path %s", ok, ok2, rowsNames[rowsLevel])
			}
			if !ok {
				continue
			}
			ws, wd, mag := 0.0, 0.0, 0.0
			for i, v := range dy {
				ws += float64(v)
				wd += float64(v) * float64(y[i])
				mag += math.Abs(float64(v))
			}
			if math.Abs(sum-ws) > 1e-15*float64(n)*mag || math.Abs(dot-wd) > 1e-15*float64(n)*mag {
				t.Fatalf("n=%d: Σ, Σ· = %.17g, %.17g; want %.17g, %.17g", n, sum, dot, ws, wd)
			}
		}
	})
}

// TestScaleMaxVec32: fused attention's scaling and row maximum on the
// vector paths: every product the scalar loop's bit for bit, the maximum
// equal (NaN when a product is NaN, with −Inf and +Inf among the values),
// every tail length; the Go path does nothing.
func TestScaleMaxVec32(t *testing.T) {
	eachRowsLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		block := map[int]int{rowsGo: 0, rowsAVX2: 8, rowsAVX512: 16}[rowsLevel]
		for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100} {
			for _, special := range []float32{0, float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN())} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(r.NormFloat64() * 10)
				}
				if special != 0 && n > 0 {
					x[r.IntN(n)] = special
				}
				got := append([]float32(nil), x...)
				m, done := scaleMaxVec32(got, 0.17677669)
				wantDone := 0
				if block > 0 {
					wantDone = n / block * block
				}
				if done != wantDone {
					t.Fatalf("n=%d: did %d elements, want %d", n, done, wantDone)
				}
				want := math.Inf(-1)
				for i := range done {
					p := x[i] * 0.17677669
					if math.Float32bits(got[i]) != math.Float32bits(p) {
						t.Fatalf("n=%d: %g·c = %g, want %g", n, x[i], got[i], p)
					}
					if want == want && (p != p || float64(p) > want) {
						want = float64(p)
					}
				}
				for i := done; i < n; i++ {
					if math.Float32bits(got[i]) != math.Float32bits(x[i]) {
						t.Fatalf("n=%d: element %d past the vector part was written", n, i)
					}
				}
				if m != want && !(m != m && want != want) {
					t.Fatalf("n=%d special=%g: max = %g, want %g", n, special, m, want)
				}
			}
		}
	})
}

// TestSGDRow32: every path gives the interpreter's SGD update bit for bit
// (p − lr·(s·g) in float64), with and without a gradient scale, for every
// tail length.
func TestSGDRow32(t *testing.T) {
	eachRowsLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 17, 1000} {
			for _, c := range [][2]float64{{0.1, 1}, {0.037, 0.25}} {
				p, g := make([]float32, n), make([]float32, n)
				for i := range p {
					p[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*1e-3)
				}
				want := make([]float32, n)
				for i := range p {
					want[i] = float32(float64(p[i]) - c[0]*(c[1]*float64(g[i])))
				}
				sgdRow32(p, g, c[0], c[1])
				for i := range p {
					if math.Float32bits(p[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d lr=%g s=%g: p[%d] = %g, want %g", n, c[0], c[1], i, p[i], want[i])
					}
				}
			}
		}
	})
}
