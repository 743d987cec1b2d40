package kernels

import (
	"math"
	"testing"
)

// TestBiasRows checks biasRows on every path the CPU has (the Go loops,
// AVX2, AVX-512), both element types, with and without ReLU, in place and
// not, on widths around each vector size, bit for bit against Go's own
// arithmetic, including NaN, ±0 and ±∞, and that nothing past the
// rows×n elements is written.
func TestBiasRows(t *testing.T) {
	for _, level := range []int{rowsGo, rowsAVX2, rowsAVX512} {
		if level > rowsBest {
			continue
		}
		old := setRowsLevel(level)
		testBiasRows[float32](t, level)
		testBiasRows[float64](t, level)
		setRowsLevel(old)
	}
}

func testBiasRows[T Float](t *testing.T, level int) {
	special := []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1), -1.5, 2.25}
	for _, rows := range []int{0, 1, 2, 5} {
		for _, n := range []int{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100} {
			for _, relu := range []bool{false, true} {
				for _, inPlace := range []bool{false, true} {
					c := make([]T, rows*n+3)
					bias := make([]T, n)
					for i := range c {
						c[i] = T(special[(i*5)%len(special)])
						if i%4 == 3 {
							c[i] = T(i%11) - 5
						}
					}
					for j := range bias {
						bias[j] = T(special[(j*3+1)%len(special)])
						if j%3 == 2 {
							bias[j] = T(math.Copysign(0, -1))
						}
					}
					want := make([]T, len(c))
					for i := range rows * n {
						v := c[i] + bias[i%n]
						if relu {
							v = max(v, 0)
						}
						want[i] = v
					}
					out := make([]T, len(c))
					for i := range out {
						out[i] = 42
					}
					copy(want[rows*n:], out[rows*n:])
					if inPlace {
						copy(want[rows*n:], c[rows*n:])
						out = c
					}
					biasRows(out, c, bias, rows, relu)
					for i := range out {
						if math.Float64bits(float64(out[i])) != math.Float64bits(float64(want[i])) && !(out[i] != out[i] && want[i] != want[i]) {
							t.Fatalf("level %d, %T, %d×%d, relu %v, in place %v: out[%d] = %v, want %v", level, out[0], rows, n, relu, inPlace, i, out[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestBiasRowsAllocs(t *testing.T) {
	c32, b32 := make([]float32, 64*100), make([]float32, 100)
	c64, b64 := make([]float64, 64*100), make([]float64, 100)
	if a := testing.AllocsPerRun(10, func() {
		biasRows(c32, c32, b32, 64, true)
		biasRows(c64, c64, b64, 64, false)
	}); a != 0 {
		t.Fatalf("biasRows allocates %v times per call", a)
	}
}

func TestBiasRowsShort(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("biasRows with a short c did not panic")
		}
	}()
	biasRows(make([]float32, 8), make([]float32, 7), make([]float32, 4), 2, false)
}

// TestBiasReLURows: both results, with either one in c's place or neither,
// bit for bit against biasRows' own results.
func TestBiasReLURows(t *testing.T) {
	const rows, n = 5, 37
	bias := make([]float32, n)
	for j := range bias {
		bias[j] = float32(j%5) - 2.5
	}
	fresh := func() []float32 {
		c := make([]float32, rows*n)
		for i := range c {
			c[i] = float32(i%9) - 4
		}
		return c
	}
	wantPre, wantOut := make([]float32, rows*n), make([]float32, rows*n)
	biasRows(wantPre, fresh(), bias, rows, false)
	biasRows(wantOut, fresh(), bias, rows, true)
	for _, alias := range []string{"none", "pre", "out"} {
		c := fresh()
		pre, out := make([]float32, rows*n), make([]float32, rows*n)
		switch alias {
		case "pre":
			pre = c
		case "out":
			out = c
		}
		biasReLURows(pre, out, c, bias, rows)
		for i := range pre {
			if pre[i] != wantPre[i] || out[i] != wantOut[i] {
				t.Fatalf("%s in c's place: element %d: pre %v out %v, want %v %v", alias, i, pre[i], out[i], wantPre[i], wantOut[i])
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("biasReLURows with both results in c's place did not panic")
		}
	}()
	c := fresh()
	biasReLURows(c, c, c, bias, rows)
}
