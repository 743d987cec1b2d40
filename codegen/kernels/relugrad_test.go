package kernels

import (
	"math"
	"testing"
)

// TestReluGradVec32: the vector ReLU gradient is where(x > 0, dy, 0) bit for
// bit on every path, for every row length up to three blocks plus a tail, in
// place over x or dy and not, with NaN, ±0, ±Inf and subnormal x and dy.
func TestReluGradVec32(t *testing.T) { eachRowsLevel(t, testReluGradVec32) }

func testReluGradVec32(t *testing.T) {
	if !reluGradVec32(make([]float32, 1), make([]float32, 1), make([]float32, 1)) {
		if rowsLevel != rowsGo {
			t.Fatalf("no vector kernel on path %s", rowsNames[rowsLevel])
		}
		t.Skip("no vector kernel on this path")
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-45, -1e-45, 3.5, -2.25}
	const max = 3*16 + 5
	x, dy := make([]float32, max), make([]float32, max)
	for i := range x {
		x[i] = special[i%len(special)]
		dy[i] = special[(i*7+3)%len(special)]
	}
	want := func(x, dy float32) float32 {
		if x > 0 {
			return dy
		}
		return 0
	}
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	for n := 0; n <= max; n++ {
		got := make([]float32, n)
		for i := range got {
			got[i] = 42 // overwritten
		}
		reluGradVec32(got, x[:n], dy[:n])
		for i := range n {
			if w := want(x[i], dy[i]); !same(got[i], w) {
				t.Fatalf("n=%d: dst[%d] = %v (%#x), want %v (%#x) for x=%v dy=%v", n, i, got[i], math.Float32bits(got[i]), w, math.Float32bits(w), x[i], dy[i])
			}
		}
		// In place over dy, then over x.
		inDy := append([]float32(nil), dy[:n]...)
		reluGradVec32(inDy, x[:n], inDy)
		inX := append([]float32(nil), x[:n]...)
		reluGradVec32(inX, inX, dy[:n])
		for i := range n {
			if w := want(x[i], dy[i]); !same(inDy[i], w) || !same(inX[i], w) {
				t.Fatalf("n=%d: in place dst[%d] = %v over dy, %v over x, want %v", n, i, inDy[i], inX[i], w)
			}
		}
	}
}

func BenchmarkReluGradVec32(b *testing.B) {
	x, dy, dst := make([]float32, 16384), make([]float32, 16384), make([]float32, 16384)
	for i := range x {
		x[i] = float32(i%7) - 3
		dy[i] = float32(i)
	}
	for _, l := range rowsLevels() {
		b.Run(rowsNames[l], func(b *testing.B) {
			defer setRowsLevel(setRowsLevel(l))
			for b.Loop() {
				if !reluGradVec32(dst, x, dy) {
					for i, v := range x {
						d := dy[i]
						if !(v > 0) {
							d = 0
						}
						dst[i] = d
					}
				}
			}
		})
	}
}
