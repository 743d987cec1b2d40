package lib

import (
	"math"
	"testing"

	"github.com/mlc-dev/mlc/runtime"
)

// TestRNGMatchesRuntime: the generator copied into generated packages draws
// the same numbers as the interpreter's, so parameter initialisation and
// dropout agree across engines.
func TestRNGMatchesRuntime(t *testing.T) {
	a := rng{state: seedFor(7, "W1")}
	b := runtime.RNG{State: runtime.SeedFor(7, "W1")}
	for i := range 1000 {
		if x, y := a.next(), b.Uint64(); x != y {
			t.Fatalf("draw %d: %d vs %d", i, x, y)
		}
	}
	if a.normal() != b.Normal() {
		t.Fatal("normal draws differ")
	}
}

// TestGELUSigmoidForm: gelu and geluGrad, written with σ(2u), are GELU's
// tanh form (the interpreter's) to rounding, over the range that matters
// and far beyond it, where exp overflows.
func TestGELUSigmoidForm(t *testing.T) {
	tanhGELU := func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(geluC*(x+0.044715*x*x*x))) }
	tanhGrad := func(x float64) float64 {
		th := math.Tanh(geluC * (x + 0.044715*x*x*x))
		return 0.5*(1+th) + 0.5*x*(1-th*th)*geluC*(1+3*0.044715*x*x)
	}
	close := func(a, b float64) bool { return a == b || math.Abs(a-b) <= 1e-14*math.Max(1, math.Abs(b)) }
	for x := -60.0; x <= 60; x += 0.0137 {
		if g, w := gelu(x), tanhGELU(x); !close(g, w) {
			t.Errorf("gelu(%v) = %v, tanh form %v", x, g, w)
		}
		if g, w := geluGrad(x, 1.5), 1.5*tanhGrad(x); !close(g, w) {
			t.Errorf("geluGrad(%v) = %v, tanh form %v", x, g, w)
		}
	}
	for _, x := range []float64{-1e300, -1e10, 1e10, math.Inf(1)} {
		if g := gelu(x); math.IsNaN(g) || !close(g, tanhGELU(x)) && !(x < 0 && g == 0) {
			t.Errorf("gelu(%v) = %v", x, g)
		}
	}
	if !math.IsNaN(gelu(math.NaN())) || !math.IsNaN(geluGrad(math.NaN(), 1)) {
		t.Error("NaN does not propagate")
	}
	// The float32 forms (fast exp) agree with the float64 ones to float32
	// rounding: a few units in the last place.
	close32 := func(a float32, b float64) bool {
		return math.Abs(float64(a)-b) <= 4*0x1p-24*math.Max(math.Abs(b), 1e-30) || float32(b) == 0 && a == 0
	}
	for x := -60.0; x <= 60; x += 0.0137 {
		x32 := float32(x)
		if g, w := gelu(x32), gelu(float64(x32)); !close32(g, w) {
			t.Errorf("gelu(float32(%v)) = %v, float64 %v", x, g, w)
		}
		if g, w := geluGrad(x32, 1.5), geluGrad(float64(x32), 1.5); !close32(g, w) {
			t.Errorf("geluGrad(float32(%v)) = %v, float64 %v", x, g, w)
		}
		if g, w := sigmoid(x32), sigmoid(float64(x32)); !close32(g, w) {
			t.Errorf("sigmoid(float32(%v)) = %v, float64 %v", x, g, w)
		}
	}
}

// TestExpApprox: the float32 kernels' exp is within 1e-8 of math.Exp
// (relative) wherever the result is a normal float64, clamps beyond, and
// keeps NaN.
func TestExpApprox(t *testing.T) {
	worst := 0.0
	for x := -707.0; x < 709; x += 0.000977 {
		w := math.Exp(x)
		worst = math.Max(worst, math.Abs(expApprox(x)-w)/w)
	}
	if worst > 1e-8 {
		t.Errorf("worst relative error %g > 1e-8", worst)
	}
	for _, x := range []float64{-1000, math.Inf(-1)} {
		if g := float32(expApprox(x)); g != 0 {
			t.Errorf("float32(expApprox(%v)) = %v, want 0", x, g)
		}
	}
	for _, x := range []float64{100, 1000, math.Inf(1)} {
		if g := float32(expApprox(x)); !math.IsInf(float64(g), 1) {
			t.Errorf("float32(expApprox(%v)) = %v, want +Inf", x, g)
		}
	}
	if !math.IsNaN(expApprox(math.NaN())) {
		t.Error("expApprox(NaN) is not NaN")
	}
	if expOf[float64](1.25) != math.Exp(1.25) || expOf[float32](1.25) != expApprox(1.25) {
		t.Error("expOf does not pick math.Exp for float64 and expApprox for float32")
	}
}

// ropeNaive is rope written from its definition, one element at a time.
func ropeNaive(x []float64, lead, t, d, start int, theta float64, interleaved, inverse bool) []float64 {
	out := make([]float64, len(x))
	h := d / 2
	for l := range lead {
		for tt := range t {
			for i := range h {
				ang := float64(start+tt) / math.Pow(theta, float64(2*i)/float64(d))
				if inverse {
					ang = -ang
				}
				ia, ib := i, i+h
				if interleaved {
					ia, ib = 2*i, 2*i+1
				}
				o := (l*t + tt) * d
				a, b := x[o+ia], x[o+ib]
				out[o+ia] = a*math.Cos(ang) - b*math.Sin(ang)
				out[o+ib] = b*math.Cos(ang) + a*math.Sin(ang)
			}
		}
	}
	return out
}

// TestRoPE: rope matches its definition for both pairings, inverse or not,
// in place or not, run over two ranges of positions as the pool's threads
// do, and with more pairs than one table of angles holds (d/2 > ropeChunk).
func TestRoPE(t *testing.T) {
	for _, c := range []struct{ lead, t, d, start int }{{3, 5, 8, 0}, {2, 4, 2*ropeChunk + 6, 7}} {
		for _, interleaved := range []bool{false, true} {
			for _, inverse := range []bool{false, true} {
				for _, inPlace := range []bool{false, true} {
					x := make([]float64, c.lead*c.t*c.d)
					for i := range x {
						x[i] = math.Sin(float64(3*i + 1))
					}
					want := ropeNaive(x, c.lead, c.t, c.d, c.start, 100, interleaved, inverse)
					out := make([]float64, len(x))
					if inPlace {
						out = x
					}
					mid := c.t / 2
					rope(out, x, c.lead, c.t, c.d, c.start, 0, mid, 100, interleaved, inverse)
					rope(out, x, c.lead, c.t, c.d, c.start, mid, c.t, 100, interleaved, inverse)
					for i := range want {
						if math.Abs(out[i]-want[i]) > 1e-12 {
							t.Fatalf("%+v interleaved %v inverse %v in place %v: out[%d] = %v, want %v", c, interleaved, inverse, inPlace, i, out[i], want[i])
						}
					}
				}
			}
		}
	}
}

// ropeByPair is the previous rope, kept as the benchmark's baseline: for
// each position and pair, the angle, then that pair in every block (a
// stride of t·d values between blocks).
func ropeByPair[T float](out, x []T, lead, t, d, start, lo, hi int, theta float64) {
	h := d / 2
	for tt := lo; tt < hi; tt++ {
		p := float64(start + tt)
		for i := range h {
			s, c := math.Sincos(p * (1 / math.Pow(theta, float64(2*i)/float64(d))))
			for l := range lead {
				o := (l*t + tt) * d
				a, b := float64(x[o+i]), float64(x[o+i+h])
				out[o+i] = T(a*c - b*s)
				out[o+i+h] = T(b*c + a*s)
			}
		}
	}
}

// BenchmarkRoPE: the q rotation of the zoo's llama (batch 8 × 4 heads,
// ctx 128, head width 32, f32), by rows (rope) and by pairs (the previous
// kernel).
func BenchmarkRoPE(b *testing.B) {
	const lead, t, d = 32, 128, 32
	x := make([]float32, lead*t*d)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	out := make([]float32, len(x))
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			rope(out, x, lead, t, d, 0, 0, t, 10000, false, false)
		}
	})
	b.Run("pairs", func(b *testing.B) {
		for b.Loop() {
			ropeByPair(out, x, lead, t, d, 0, 0, t, 10000)
		}
	})
}
