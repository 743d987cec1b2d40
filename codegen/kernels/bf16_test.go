package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withBF16Path runs f with GemmBF16 forced onto path p.
func withBF16Path(p string, f func()) {
	old := BF16Path
	BF16Path = p
	defer func() { BF16Path = old }()
	f()
}

// bf16Paths are the paths this machine runs.
func bf16Paths() []string {
	var ps []string
	for _, p := range []string{"avx512bf16", "avx2", "go"} {
		if bf16Runs(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// TestGemmBF16 checks every path, form and edge (m, n, k not multiples of
// any tile, k odd, k across blocks) against a float64 product of the
// rounded operands, on one thread and two (bands of rows sharing the packed
// B, bands of columns sharing the packed A).
func TestGemmBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {6, 64, 2}, {7, 65, 3}, {13, 17, 33}, {64, 128, 64}, {37, 131, 129}, {150, 70, 1025}, {5, 1030, 11}, {70, 300, 65}, {70, 300, 601}, {1100, 1030, 7}}
	pools := []*Pool{NewPool(1), NewPool(2)}
	defer pools[1].Close()
	for _, path := range bf16Paths() {
		for _, sh := range shapes {
			m, n, k := sh[0], sh[1], sh[2]
			for form := range 4 {
				ta, tb := form&1 != 0, form&2 != 0
				for pi, p := range pools {
					for _, accum := range []bool{false, true} {
						name := fmt.Sprintf("%s/%dx%dx%d/ta=%v,tb=%v/threads=%d/accum=%v", path, m, n, k, ta, tb, pi+1, accum)
						withBF16Path(path, func() { checkGemmBF16(t, name, rng, p, ta, tb, m, n, k, accum) })
					}
				}
			}
		}
	}
}

func checkGemmBF16(t *testing.T, name string, rng *rand.Rand, p *Pool, ta, tb bool, m, n, k int, accum bool) {
	t.Helper()
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+3, bc+1, n+2
	a, b := randBF16Operand(rng, (ar-1)*lda+ac), randBF16Operand(rng, (br-1)*ldb+bc)
	c := randBF16Operand(rng, (m-1)*ldc+n)
	c0 := append([]float32(nil), c...)
	GemmBF16(p, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accum)
	at := func(i, l int) float64 {
		if ta {
			return float64(roundBF16(a[l*lda+i]))
		}
		return float64(roundBF16(a[i*lda+l]))
	}
	bt := func(l, j int) float64 {
		if tb {
			return float64(roundBF16(b[j*ldb+l]))
		}
		return float64(roundBF16(b[l*ldb+j]))
	}
	bad, unrounded := 0, 0
	for i := range m {
		for j := range n {
			var want, abs, raw float64
			for l := range k {
				x, y := at(i, l), bt(l, j)
				want += x * y
				abs += math.Abs(x * y)
				if ta {
					x = float64(a[l*lda+i])
				} else {
					x = float64(a[i*lda+l])
				}
				if tb {
					y = float64(b[j*ldb+l])
				} else {
					y = float64(b[l*ldb+j])
				}
				raw += x * y
			}
			if accum {
				want += float64(c0[i*ldc+j])
				raw += float64(c0[i*ldc+j])
				abs += math.Abs(float64(c0[i*ldc+j]))
			}
			got := float64(c[i*ldc+j])
			tol := 2*float64(k+1)*0x1p-24*abs + 1e-30
			if math.Abs(got-want) > tol {
				if bad++; bad <= 3 {
					t.Errorf("%s: c[%d,%d] = %g, want %g (±%g)", name, i, j, got, want, tol)
				}
			}
			if math.Abs(got-raw) > tol {
				unrounded++
			}
		}
	}
	// The operands are not bf16 values: rounding them must show somewhere.
	if m*n*k >= 64 && unrounded == 0 {
		t.Errorf("%s: the result equals the product of the unrounded operands", name)
	}
	// Outside C's columns, nothing is written.
	for i := range m - 1 {
		for j := n; j < ldc; j++ {
			if c[i*ldc+j] != c0[i*ldc+j] {
				t.Fatalf("%s: wrote c[%d,%d] past column %d", name, i, j, n)
			}
		}
	}
}

func randBF16Operand(rng *rand.Rand, n int) []float32 {
	if rng == nil {
		rng = rand.New(rand.NewPCG(5, 6))
	}
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// TestBF16PackBits checks the packing loops of every path bit for bit
// against roundBF16 on the edges: ties to even both ways, the largest
// finite values (which round to Inf), Inf, NaNs (quieted, sign and payload
// kept), subnormals and zeros of both signs.
func TestBF16PackBits(t *testing.T) {
	edge := []uint32{0, 0x80000000, 0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, 0x7f7fffff, 0xff7fffff,
		0x7f800000, 0xff800000, 0x7f800001, 0xffc00001, 0x7fa00000, 0x00000001, 0x807fffff, 0x007f8000, 0x00008000, 0x3f800000}
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 131)
	for i := range src {
		if i < len(edge) {
			src[i] = math.Float32frombits(edge[i])
		} else {
			src[i] = math.Float32frombits(rng.Uint32())
		}
	}
	want := func(x float32) uint32 { return math.Float32bits(roundBF16(x)) >> 16 }
	for _, path := range bf16Paths() {
		withBF16Path(path, func() {
			set := bf16Kernels(64)
			for _, n := range []int{len(src), 64, 33, 1} {
				// Two rows of n, lds = n+1 apart, into rows ldd apart.
				lds, ldd := n+1, (n+1)/2+3
				in := make([]float32, lds+n)
				copy(in, src[:n])
				copy(in[lds:], src[len(src)-n:])
				dst := make([]uint32, ldd+(n+1)/2)
				set.packRows(dst, ldd, in, lds, 2, n)
				for r := range 2 {
					for i := range n {
						x := in[r*lds+i]
						if got := dst[r*ldd+i/2] >> (16 * (i % 2)) & 0xffff; got != want(x) {
							t.Errorf("%s: packRows of %#08x (n=%d, row %d) = %#04x, want %#04x", path, math.Float32bits(x), n, r, got, want(x))
						}
					}
					if n%2 == 1 && dst[r*ldd+n/2]>>16 != 0 {
						t.Errorf("%s: packRows (n=%d) left the last pair's high half %#04x", path, n, dst[r*ldd+n/2]>>16)
					}
				}
				// Four rows (two pairs) of n, lds apart.
				in = make([]float32, 3*lds+n)
				for r := range 4 {
					copy(in[r*lds:], src[r*(len(src)-n)/3:][:n])
				}
				ldd = n + 5
				dst = make([]uint32, ldd+n)
				set.packPairs(dst, ldd, in, lds, 2, n)
				for q := range 2 {
					for i := range n {
						x, y := in[2*q*lds+i], in[(2*q+1)*lds+i]
						if got := dst[q*ldd+i]; got != want(x)|want(y)<<16 {
							t.Errorf("%s: packPairs %d,%d (n=%d) = %#08x, want %#08x", path, q, i, n, got, want(x)|want(y)<<16)
						}
					}
				}
			}
		})
	}
}

// TestGemmBF16Allocs checks that a product on a warmed pool allocates
// nothing, on one thread and two.
func TestGemmBF16Allocs(t *testing.T) {
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		a, b, c := make([]float32, 256*128), make([]float32, 128*256), make([]float32, 256*256)
		if n := testing.AllocsPerRun(5, func() { GemmBF16(p, false, false, 256, 256, 128, a, 128, b, 256, c, 256, false) }); n != 0 {
			t.Errorf("threads=%d: %v allocations per call", threads, n)
		}
		p.Close()
	}
}
