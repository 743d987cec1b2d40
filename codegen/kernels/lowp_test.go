package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlc-dev/mlc/runtime/lowp"
)

// lowpPaths are the kernel paths this machine runs; the others are skipped
// (the AVX2 and AVX-512 kernels run here when the CPU has them).
func lowpPaths(t *testing.T) []string {
	var ps []string
	for _, p := range []string{"go", "avx2", "avx512"} {
		if lowpRuns(p) {
			ps = append(ps, p)
		} else {
			t.Logf("path %s: not on this CPU or build", p)
		}
	}
	return ps
}

func withLowpPath(p string, f func()) {
	old := LowpPath
	LowpPath = p
	defer func() { LowpPath = old }()
	f()
}

// TestQMatMul checks every kernel path against a float64 reference of the
// formula, on shapes around the vector widths (32 and 64 columns), both
// layouts, one to three rows of x, and k odd and even: to 1e-5 of Σ|x·w|,
// the bound of float32 rounding here.
func TestQMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 1))
	for _, path := range lowpPaths(t) {
		for _, m := range []int{1, 3} {
			for _, n := range []int{1, 31, 32, 33, 64, 65, 100, 128, 200, 255, 256, 257, 320, 513, 800} {
				for _, k := range []int{1, 2, 3, 17, 128} {
					for _, transB := range []bool{false, true} {
						x := make([]float32, m*k)
						for i := range x {
							x[i] = float32(r.NormFloat64())
						}
						q := make([]int8, n*k)
						s := make([]float32, n+1) // one extra: the kernels read only n
						for i := range q {
							q[i] = int8(r.IntN(255) - 127)
						}
						for i := range s {
							s[i] = float32(r.Float64())
						}
						yq := make([]float32, m*n+1)
						yq[m*n] = 7
						withLowpPath(path, func() {
							QMatMulI8(m, n, k, transB, x, q, s, yq)
						})
						if yq[m*n] != 7 {
							t.Fatalf("%s m=%d n=%d k=%d: wrote past y", path, m, n, k)
						}
						for i := range m {
							for j := range n {
								var wantQ, absQ float64
								for l := range k {
									wi := l*n + j
									if transB {
										wi = j*k + l
									}
									xv := float64(x[i*k+l])
									wantQ += xv * float64(q[wi])
									absQ += math.Abs(xv * float64(q[wi]))
								}
								wantQ *= float64(s[j])
								absQ *= float64(s[j])
								if d := math.Abs(float64(yq[i*n+j]) - wantQ); d > 1e-5*absQ+1e-30 {
									t.Fatalf("%s i8 m=%d n=%d k=%d transB=%v: y[%d,%d] = %v, want %v", path, m, n, k, transB, i, j, yq[i*n+j], wantQ)
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestQMatMulAllocs(t *testing.T) {
	const n, k = 128, 96
	x, s, y := make([]float32, k), make([]float32, n), make([]float32, n)
	q := make([]int8, n*k)
	for _, path := range lowpPaths(t) {
		withLowpPath(path, func() {
			if a := testing.AllocsPerRun(10, func() {
				QMatMulI8(1, n, k, false, x, q, s, y)
			}); a != 0 {
				t.Errorf("%s: %v allocations per call", path, a)
			}
		})
	}
}

// BenchmarkQGemv is the decode-sized product 1×512·512×512 for each path
// and format, and f32 Sgemm on the same shape for comparison.
func BenchmarkQGemv(b *testing.B) {
	const n, k = 512, 512
	x, s, y := make([]float32, k), make([]float32, n), make([]float32, n)
	q, h, w := make([]int8, n*k), make([]uint16, n*k), make([]float32, n*k)
	b.Run("f32", func(b *testing.B) {
		for b.Loop() {
			GemmSmall(false, false, 1, n, k, x, k, w, n, y, n, false)
		}
	})
	for _, path := range []string{"go", "avx2", "avx512"} {
		if !lowpRuns(path) {
			continue
		}
		b.Run("i8/"+path, func(b *testing.B) {
			withLowpPath(path, func() {
				for b.Loop() {
					QMatMulI8(1, n, k, false, x, q, s, y)
				}
			})
		})
	}
	for _, path := range []string{"go", "avx2", "avx512bf16"} {
		if !qbf16Runs(path) {
			continue
		}
		b.Run("bf16/"+path, func(b *testing.B) {
			withQBF16Path(path, func() {
				for b.Loop() {
					QMatMulBF16(1, n, k, false, x, h, y)
				}
			})
		})
	}
}

// TestRoundBF16: generated code's rounding is runtime/lowp's, bit for bit,
// on every 65th float32 pattern (NaNs included).
func TestRoundBF16(t *testing.T) {
	for b := uint64(0); b < 1<<32; b += 65 {
		x := math.Float32frombits(uint32(b))
		got := math.Float32bits(roundBF16(x))
		want := math.Float32bits(lowp.BF16ToF32(lowp.F32ToBF16(x)))
		if got != want {
			t.Fatalf("roundBF16(%08x) = %08x, lowp %08x", b, got, want)
		}
	}
}
