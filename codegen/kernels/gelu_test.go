package kernels

import (
	"math"
	"testing"
)

// geluRef and geluGradRef are GELU's tanh form and its derivative in
// float64, the interpreter's definition.
func geluRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func geluGradRef(x float64) float64 {
	c := math.Sqrt(2 / math.Pi)
	th := math.Tanh(c * (x + 0.044715*x*x*x))
	return 0.5*(1+th) + 0.5*x*(1-th*th)*c*(1+3*0.044715*x*x)
}

// TestGeluVec32: the vector GELU and its gradient agree with the float64
// definition to float32 rounding (4e-7 of max(1, |value|)) over every row
// length up to 4 blocks plus a tail, in place and not, for ordinary and
// extreme inputs; NaN stays NaN.
func TestGeluVec32(t *testing.T) { eachRowsLevel(t, testGeluVec32) }

func testGeluVec32(t *testing.T) {
	if !geluVec32(make([]float32, 1), make([]float32, 1)) {
		if rowsLevel != rowsGo {
			t.Fatalf("no vector kernel on path %s", rowsNames[rowsLevel])
		}
		t.Skip("no vector kernel on this path")
	}
	var xs []float32
	for x := -12.0; x <= 12; x += 0.0173 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, 0, 1e-30, -1e-30, 50, -50, 1e4, -1e4, float32(math.Inf(1)), float32(math.Inf(-1)))
	close := func(got float32, want float64) bool {
		if math.IsInf(want, 0) || math.IsNaN(want) {
			return float64(got) == want || math.IsNaN(want) && math.IsNaN(float64(got))
		}
		return math.Abs(float64(got)-want) <= 4e-7*math.Max(1, math.Abs(want))
	}
	dy := make([]float32, len(xs))
	for i := range dy {
		dy[i] = float32(1 + i%5)
	}
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 33, len(xs)} {
		x := xs[len(xs)-n:]
		y := make([]float32, n)
		geluVec32(y, x)
		g := make([]float32, n)
		geluGradVec32(g, x, dy[:n])
		for i, v := range x {
			want := geluRef(float64(v))
			if math.IsInf(float64(v), -1) { // the tanh form's −Inf·0 is NaN; −Inf·σ(−Inf) may be −Inf too
				want = math.Inf(-1)
				if math.IsNaN(float64(y[i])) {
					want = math.NaN()
				}
			}
			if !close(y[i], want) {
				t.Fatalf("n=%d: gelu(%g) = %g, want %g", n, v, y[i], want)
			}
			wantG := float64(dy[i]) * geluGradRef(float64(v))
			if !math.IsInf(float64(v), 0) && !close(g[i], wantG) { // the tanh form's is NaN there
				t.Fatalf("n=%d: geluGrad(%g)·%g = %g, want %g", n, v, dy[i], g[i], wantG)
			}
		}
		// In place gives the same values.
		inPlace := append([]float32(nil), x...)
		geluVec32(inPlace, inPlace)
		for i := range inPlace {
			if inPlace[i] != y[i] && !(math.IsNaN(float64(y[i])) && math.IsNaN(float64(inPlace[i]))) {
				t.Fatalf("n=%d: in place gelu(%g) = %g, not %g", n, x[i], inPlace[i], y[i])
			}
		}
	}
	nan := []float32{float32(math.NaN()), 1, 2, 3, 4, 5, 6, 7, float32(math.NaN())}
	out, outG := make([]float32, len(nan)), make([]float32, len(nan))
	geluVec32(out, nan)
	geluGradVec32(outG, nan, nan)
	for _, i := range []int{0, 8} {
		if !math.IsNaN(float64(out[i])) || !math.IsNaN(float64(outG[i])) {
			t.Errorf("NaN in lane %d gave %g, %g", i, out[i], outG[i])
		}
	}
}

func BenchmarkGeluVec32(b *testing.B) {
	x, y := make([]float32, 4096), make([]float32, 4096)
	for i := range x {
		x[i] = float32(i-2048) * 0.003
	}
	for _, l := range rowsLevels()[1:] {
		b.Run(rowsNames[l], func(b *testing.B) {
			defer setRowsLevel(setRowsLevel(l))
			for range b.N {
				geluVec32(y, x)
			}
		})
	}
}

// TestGeluAVX512MatchesAVX2: the AVX-512 GELU, its gradient and exp do
// the AVX2 kernels' operations lane for lane, so their values are equal
// bit for bit, tails included; and no call allocates.
func TestGeluAVX512MatchesAVX2(t *testing.T) {
	if rowsBest < rowsAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	defer setRowsLevel(setRowsLevel(rowsBest))
	var x, dy []float32
	for i := range 1000 {
		x = append(x, float32(i-500)*0.0271)
		dy = append(dy, float32(i%7)-3)
	}
	x = append(x, float32(math.NaN()), float32(math.Inf(1)), -1e4, 1e-30)
	dy = append(dy, 1, 2, 3, 4)
	run := func(l int, n int) (g, gg, e []float32) {
		setRowsLevel(l)
		g, gg, e = make([]float32, n), make([]float32, n), make([]float32, n)
		geluVec32(g, x[:n])
		geluGradVec32(gg, x[:n], dy[:n])
		expShiftVec32(e, x[:n], 2)
		return
	}
	for _, n := range []int{1, 8, 15, 16, 17, 33, len(x)} {
		a, b, c := run(rowsAVX2, n)
		a5, b5, c5 := run(rowsAVX512, n)
		for i := range n {
			for k, p := range [][2]float32{{a[i], a5[i]}, {b[i], b5[i]}, {c[i], c5[i]}} {
				if math.Float32bits(p[0]) != math.Float32bits(p[1]) {
					t.Fatalf("n=%d, x=%g: kernel %d gives %g (AVX2), %g (AVX-512)", n, x[i], k, p[0], p[1])
				}
			}
		}
	}
	y := make([]float32, 17)
	if a := testing.AllocsPerRun(10, func() {
		geluVec32(y, x[:17])
		geluGradVec32(y, x[:17], dy[:17])
		expShiftVec32(y, x[:17], 1)
	}); a != 0 {
		t.Errorf("the GELU kernels allocate %v times per call", a)
	}
}

// TestExpShiftVec32: exp(x − shift) to 4e-7 relative over a softmax's
// range of exponents (the row maximum gives 0) and every tail length, in
// place; far below, a tiny positive number; NaN stays NaN.
func TestExpShiftVec32(t *testing.T) { eachRowsLevel(t, testExpShiftVec32) }

func testExpShiftVec32(t *testing.T) {
	if !expShiftVec32(make([]float32, 1), make([]float32, 1), 0) {
		if rowsLevel != rowsGo {
			t.Fatalf("no vector kernel on path %s", rowsNames[rowsLevel])
		}
		t.Skip("no vector kernel on this path")
	}
	var xs []float32
	for x := -87.0; x <= 0; x += 0.0137 {
		xs = append(xs, float32(x)+3)
	}
	for _, n := range []int{0, 1, 7, 8, 9, 33, len(xs)} {
		x := xs[len(xs)-n:]
		y := make([]float32, n)
		expShiftVec32(y, x, 3)
		for i, v := range x {
			want := math.Exp(float64(v) - 3)
			if math.Abs(float64(y[i])-want) > 4e-7*want {
				t.Fatalf("n=%d: exp(%g − 3) = %g, want %g", n, v, y[i], want)
			}
		}
		in := append([]float32(nil), x...)
		expShiftVec32(in, in, 3)
		for i := range in {
			if in[i] != y[i] {
				t.Fatalf("n=%d: in place exp(%g − 3) = %g, not %g", n, x[i], in[i], y[i])
			}
		}
	}
	odd := []float32{float32(math.Inf(-1)), -1000, float32(math.NaN())}
	expShiftVec32(odd, odd, 0)
	if !(odd[0] >= 0 && odd[0] < 1.3e-38 && odd[1] >= 0 && odd[1] < 1.3e-38) || !math.IsNaN(float64(odd[2])) {
		t.Errorf("exp(−Inf), exp(−1000), exp(NaN) = %v", odd)
	}
}
