package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// qbf16Paths are the QBF16Path kernels this machine runs.
func qbf16Paths(t testing.TB) []string {
	var ps []string
	for _, p := range []string{"go", "avx2", "avx512bf16"} {
		if qbf16Runs(p) {
			ps = append(ps, p)
		} else {
			t.Logf("path %s: not on this CPU or build", p)
		}
	}
	return ps
}

func withQBF16Path(p string, f func()) {
	old := QBF16Path
	QBF16Path = p
	defer func() { QBF16Path = old }()
	f()
}

// TestPairBF16 checks where PairBF16 puts each weight, against the layout
// written out: panels of 384, 256, …, 16 columns and a last narrower one,
// each panel's pair rows together, an odd last row plain at the end.
func TestPairBF16(t *testing.T) {
	for _, k := range []int{1, 2, 3, 4, 5} {
		for _, n := range []int{3, 16, 17, 400, 400 + 256 + 64 + 16 + 5} {
			src := make([]uint16, k*n)
			for i := range src {
				src[i] = uint16(i + 1)
			}
			dst := make([]uint16, k*n)
			PairBF16(dst, src, k, n)
			// panel start and width of each column
			start, width := make([]int, n), make([]int, n)
			for c0 := 0; c0 < n; {
				p := n - c0
				for _, w := range []int{384, 256, 128, 64, 32, 16} {
					if n-c0 >= w {
						p = w
						break
					}
				}
				for j := c0; j < c0+p; j++ {
					start[j], width[j] = c0, p
				}
				c0 += p
			}
			for l := range k {
				for j := range n {
					at := (l/2)*2*width[j] + 2*(j-start[j]) + l%2 + 2*(k/2)*start[j]
					if l == k-1 && k%2 == 1 {
						at = l*n + j
					}
					if dst[at] != src[l*n+j] {
						t.Fatalf("k=%d n=%d: W[%d][%d] = %d at %d, found %d", k, n, l, j, src[l*n+j], at, dst[at])
					}
				}
			}
		}
	}
}

// TestQMatMulBF16 checks every QBF16Path kernel against a float64 reference
// of the formula (x rounded to bf16, exact products): shapes around the
// kernels' widths (8 and 16 columns and their multiples up to 24 vectors),
// k odd and even, k past the stack buffer's chunk, 1, 3, 4 and 9 rows (the
// four-row kernels and the rows left), both layouts, to 1e-5 of Σ|bf16(x)·w|; and that nothing past y is written.
func TestQMatMulBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 2))
	for _, path := range qbf16Paths(t) {
		for _, m := range []int{1, 3, 4, 9} {
			for _, n := range []int{1, 7, 8, 9, 16, 17, 31, 33, 64, 65, 200, 257, 384, 385, 513, 800, 1000} {
				for _, k := range []int{1, 2, 3, 17, 128, 2*pairChunk + 3} {
					if k > 1000 && (n > 300 || m > 4) {
						continue
					}
					for _, transB := range []bool{false, true} {
						x := make([]float32, m*k)
						for i := range x {
							x[i] = float32(r.NormFloat64())
						}
						h := make([]uint16, n*k)
						for i := range h {
							h[i] = uint16(math.Float32bits(float32(r.NormFloat64())) >> 16)
						}
						hw := h
						if !transB {
							hw = make([]uint16, n*k)
							PairBF16(hw, h, k, n)
						}
						y := make([]float32, m*n+1)
						y[m*n] = 7
						withQBF16Path(path, func() {
							QMatMulBF16(m, n, k, transB, x, hw, y)
						})
						if y[m*n] != 7 {
							t.Fatalf("%s m=%d n=%d k=%d: wrote past y", path, m, n, k)
						}
						for i := range m {
							for j := range n {
								var want, abs float64
								for l := range k {
									wi := l*n + j
									if transB {
										wi = j*k + l
									}
									xv := float64(BF16ToF32(F32ToBF16(x[i*k+l])))
									wh := float64(BF16ToF32(h[wi]))
									want += xv * wh
									abs += math.Abs(xv * wh)
								}
								if d := math.Abs(float64(y[i*n+j]) - want); d > 1e-5*abs+1e-30 {
									t.Fatalf("%s m=%d n=%d k=%d transB=%v: y[%d,%d] = %v, want %v", path, m, n, k, transB, i, j, y[i*n+j], want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestQMatMulBF16RoundsX: x = 1 + 2⁻⁸ is a tie between the bf16s 1 and
// 1 + 2⁻⁷ and rounds to 1 (even), so with w = 1 every path gives k exactly,
// not k·(1 + 2⁻⁸).
func TestQMatMulBF16RoundsX(t *testing.T) {
	const n, k = 48, 6
	x := make([]float32, k)
	w := make([]uint16, n*k)
	for i := range x {
		x[i] = 1 + 1.0/256
	}
	for i := range w {
		w[i] = 0x3f80 // 1
	}
	y := make([]float32, n)
	for _, path := range qbf16Paths(t) {
		withQBF16Path(path, func() { QMatMulBF16(1, n, k, false, x, w, y) })
		for j, v := range y {
			if v != k {
				t.Fatalf("%s: y[%d] = %v, want %d", path, j, v, k)
			}
		}
	}
}

func TestQMatMulBF16Allocs(t *testing.T) {
	const n, k = 128, 96
	x, y := make([]float32, k), make([]float32, n)
	x4 := make([]float32, 4*k)
	h := make([]uint16, n*k)
	for _, path := range qbf16Paths(t) {
		withQBF16Path(path, func() {
			if a := testing.AllocsPerRun(10, func() {
				QMatMulBF16(1, n, k, false, x, h, y)
				QMatMulBF16(4, n/4, k, false, x4, h, y)
				QMatMulBF16(1, n, k, true, x, h, y)
			}); a != 0 {
				t.Errorf("%s: %v allocations per call", path, a)
			}
		})
	}
}
