package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlc-dev/mlc/runtime/lowp"
)

// convertInputs are float32 bit patterns: every 4093rd pattern (all
// exponents, signs, NaN payloads), the edge cases by name, and lengths
// that leave every remainder for a vector loop.
func convertInputs() []float32 {
	var x []float32
	for b := uint64(0); b < 1<<32; b += 4093 {
		x = append(x, math.Float32frombits(uint32(b)))
	}
	for _, b := range []uint32{
		0x00000000, 0x80000000, 0x00000001, 0x00008000, 0x00018000, 0x007fffff, // zeros, subnormals, subnormal ties
		0x3f808000, 0x3f818000, 0x3f80ffff, 0x3f807fff, // ties to even, just above and below half an ulp
		0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0xff7f8000, // the largest bf16, overflow to ±Inf
		0x7f800000, 0xff800000, 0x7f800001, 0xffc00000, 0x7fbfffff, 0x7fff0000, // ±Inf, NaNs
	} {
		x = append(x, math.Float32frombits(b))
	}
	return x
}

// TestBF16Conversions: F32ToBF16s and BF16ToF32s agree with runtime/lowp bit
// for bit on every path, at every length up to 70 (the vector loops'
// remainders) and on the inputs above, and leave dst past len(src) alone.
func TestBF16Conversions(t *testing.T) {
	src := convertInputs()
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(src), func(i, j int) { src[i], src[j] = src[j], src[i] })
	defer func(p string) { LowpPath = p }(LowpPath)
	for _, p := range lowpPaths(t) {
		LowpPath = p
		for _, n := range append([]int{0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 70}, len(src)) {
			in := src[:n]
			h := make([]uint16, n+1)
			h[n] = 0xabcd
			F32ToBF16s(h, in)
			for i, x := range in {
				if want := lowp.F32ToBF16(x); h[i] != want {
					t.Fatalf("%s: F32ToBF16s(%08x) = %04x, lowp %04x", p, math.Float32bits(x), h[i], want)
				}
				if F32ToBF16(x) != lowp.F32ToBF16(x) {
					t.Fatalf("F32ToBF16(%08x) = %04x, lowp %04x", math.Float32bits(x), F32ToBF16(x), lowp.F32ToBF16(x))
				}
			}
			if h[n] != 0xabcd {
				t.Fatalf("%s: F32ToBF16s wrote past %d values", p, n)
			}
			f := make([]float32, n+1)
			f[n] = 42
			BF16ToF32s(f, h[:n])
			for i, v := range h[:n] {
				if got, want := math.Float32bits(f[i]), math.Float32bits(lowp.BF16ToF32(v)); got != want {
					t.Fatalf("%s: BF16ToF32s(%04x) = %08x, lowp %08x", p, v, got, want)
				}
			}
			if f[n] != 42 {
				t.Fatalf("%s: BF16ToF32s wrote past %d values", p, n)
			}
		}
	}
}

// TestBF16ConversionsAllocs: the conversions do not allocate.
func TestBF16ConversionsAllocs(t *testing.T) {
	src := make([]float32, 1000)
	h := make([]uint16, len(src))
	if a := testing.AllocsPerRun(10, func() { F32ToBF16s(h, src); BF16ToF32s(src, h) }); a != 0 {
		t.Errorf("%v allocations per call", a)
	}
}

// BenchmarkBF16Conversions: one f32 → bf16 → f32 round trip of 1M values.
func BenchmarkBF16Conversions(b *testing.B) {
	src := make([]float32, 1<<20)
	for i := range src {
		src[i] = float32(i) * 0.37
	}
	h := make([]uint16, len(src))
	defer func(p string) { LowpPath = p }(LowpPath)
	for _, p := range []string{"go", "avx2", "avx512"} {
		if !lowpRuns(p) {
			continue
		}
		b.Run(p, func(b *testing.B) {
			LowpPath = p
			b.SetBytes(int64(len(src)) * 6)
			for b.Loop() {
				F32ToBF16s(h, src)
				BF16ToF32s(src, h)
			}
		})
	}
}
