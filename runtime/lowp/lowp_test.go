package lowp

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

func isQuietNaN16(h uint16) bool { return h&0x7f80 == 0x7f80 && h&0x40 != 0 }

// TestBF16Golden checks the conversions bit for bit against PyTorch's
// (testdata/bf16_golden.py). NaNs are the one stated difference: torch 1.13
// turns every NaN into 0xffff; F32ToBF16 keeps the sign and the top payload
// bits and sets the quiet bit, as the CPU's VCVTNEPS2BF16 does. Both must be
// quiet NaNs, and the NaN must come back a NaN.
func TestBF16Golden(t *testing.T) {
	f, err := os.Open("testdata/bf16_golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines, nans := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("bad golden line %q", line)
		}
		in, err1 := strconv.ParseUint(fs[0], 16, 32)
		want, err2 := strconv.ParseUint(fs[1], 16, 16)
		back, err3 := strconv.ParseUint(fs[2], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("bad golden line %q", line)
		}
		lines++
		x := math.Float32frombits(uint32(in))
		got := F32ToBF16(x)
		if x != x {
			nans++
			if !isQuietNaN16(got) || !isQuietNaN16(uint16(want)) || got>>15 != uint16(in>>31) {
				t.Errorf("F32ToBF16(%08x) = %04x, torch %04x: want a quiet NaN of the input's sign", in, got, want)
			}
			if y := BF16ToF32(got); y == y {
				t.Errorf("BF16ToF32(%04x) = %v, want NaN", got, y)
			}
			continue
		}
		if got != uint16(want) {
			t.Errorf("F32ToBF16(%08x) = %04x, torch %04x", in, got, want)
		}
		if y := math.Float32bits(BF16ToF32(uint16(want))); y != uint32(back) {
			t.Errorf("BF16ToF32(%04x) = %08x, torch %08x", want, y, back)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 4000 || nans < 8 {
		t.Fatalf("golden file has %d lines, %d NaNs: regenerate it", lines, nans)
	}
}

// TestBF16RoundTrip: every bf16 that is not a NaN survives bf16 → f32 → bf16.
func TestBF16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := BF16ToF32(uint16(h))
		if f != f {
			if !isQuietNaN16(F32ToBF16(f)) {
				t.Errorf("NaN %04x came back as %04x", h, F32ToBF16(f))
			}
			continue
		}
		if g := F32ToBF16(f); g != uint16(h) {
			t.Errorf("%04x → %v → %04x", h, f, g)
		}
	}
}

// bf16Value is the value of a bf16 pattern that is not a NaN, in float64,
// with the exponent field 255 read as 2^128 like any other binade (so that
// 0x7f80 is the "next value" above the largest finite bf16: IEEE rounding
// overflows to Inf exactly when that value is nearer).
func bf16Value(h uint16) float64 {
	e, m := int(h>>7&0xff), float64(h&0x7f)
	v := math.Ldexp(m, -133) // subnormal: m · 2^-126 · 2^-7
	if e != 0 {
		v = math.Ldexp(128+m, e-134)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// refBF16 is the textbook rule: of the two bf16 values around x (the
// truncation and the next one away from zero), the nearer; on a tie, the
// one with an even last bit.
func refBF16(x float32) uint16 {
	if x != x {
		return uint16(math.Float32bits(x)>>16) | 0x40
	}
	lo := uint16(math.Float32bits(x) >> 16)
	if math.IsInf(float64(x), 0) {
		return lo
	}
	hi := lo + 1
	dlo := math.Abs(float64(x) - bf16Value(lo))
	dhi := math.Abs(bf16Value(hi) - float64(x))
	switch {
	case dlo < dhi:
		return lo
	case dhi < dlo:
		return hi
	case lo&1 == 0:
		return lo
	}
	return hi
}

func TestBF16Reference(t *testing.T) {
	for _, b := range []uint32{0, 1, 0x8000, 0x18000, 0x3f808000, 0x3f818000, 0x7f7f7fff, 0x7f7f8000, 0xff7fffff, 0x7f800000, 0x7fc00001} {
		x := math.Float32frombits(b)
		if got, want := F32ToBF16(x), refBF16(x); got != want {
			t.Errorf("F32ToBF16(%08x) = %04x, reference %04x", b, got, want)
		}
	}
	// Every 997th float32 pattern, through all binades.
	for b := uint64(0); b < 1<<32; b += 997 {
		x := math.Float32frombits(uint32(b))
		if got, want := F32ToBF16(x), refBF16(x); got != want {
			t.Fatalf("F32ToBF16(%08x) = %04x, reference %04x", b, got, want)
		}
	}
}

func FuzzBF16(f *testing.F) {
	for _, b := range []uint32{0, 0x8000, 0x3f808000, 0x7f7f8000, 0x7f800001} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b uint32) {
		x := math.Float32frombits(b)
		if got, want := F32ToBF16(x), refBF16(x); got != want {
			t.Fatalf("F32ToBF16(%08x) = %04x, reference %04x", b, got, want)
		}
	})
}

func TestBF16Slices(t *testing.T) {
	src := []float32{1, -2.5, 3.0078125, float32(math.Inf(-1))}
	h := make([]uint16, 5)
	F32ToBF16s(h, src)
	back := make([]float32, 4)
	BF16ToF32s(back, h[:4])
	want := []float32{1, -2.5, 3, float32(math.Inf(-1))} // 3.0078125 is a tie between 3 and 3.015625: even is 3
	for i := range want {
		if back[i] != want[i] {
			t.Errorf("element %d: %v → %v, want %v", i, src[i], back[i], want[i])
		}
	}
	if h[4] != 0 {
		t.Errorf("dst beyond len(src) written: %04x", h[4])
	}
}

func TestQuantizeI8(t *testing.T) {
	// Column channels: w is 3×2, channel 0 = (1.27, -0.635, 0.005), channel 1 = (0, 0, 0).
	w := []float32{1.27, 0, -0.635, 0, 0.005, 0}
	q := make([]int8, 6)
	s := make([]float32, 2)
	QuantizeI8(q, s, w, 3, 2, false)
	if s[0] != float32(1.27)/127 || s[1] != 0 {
		t.Fatalf("scales %v, want [%v 0]", s, float32(1.27)/127)
	}
	// 1.27/s = 127; -0.635/s ≈ -63.5 → -64; 0.005/s ≈ 0.5 → 0.
	if want := []int8{127, 0, -64, 0, 0, 0}; !equalI8(q, want) {
		x0, x1 := float32(-0.635)/s[0], float32(0.005)/s[0]
		t.Fatalf("q = %v, want %v (quotients %v %v)", q, want, x0, x1)
	}
	back := make([]float32, 6)
	DequantizeI8(back, q, s, 3, 2, false)
	if back[0] != 127*s[0] || back[2] != -64*s[0] || back[1] != 0 {
		t.Errorf("dequantised %v", back)
	}
}

// TestQuantizeI8Ties pins half-to-even on exact ties: with a channel maximum
// of 127 the scale is 1 and the quotients are the weights themselves.
func TestQuantizeI8Ties(t *testing.T) {
	w := []float32{127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 3.4999998}
	want := []int8{127, 0, 2, 2, 0, -2, -2, 126, 3}
	q := make([]int8, len(w))
	s := make([]float32, 1)
	QuantizeI8(q, s, w, 1, len(w), true) // one row channel
	if s[0] != 1 || !equalI8(q, want) {
		t.Fatalf("scale %v q %v, want 1 %v", s[0], q, want)
	}
	// The same weights as a column: the same answer.
	QuantizeI8(q, s, w, len(w), 1, false)
	if s[0] != 1 || !equalI8(q, want) {
		t.Fatalf("column: scale %v q %v, want 1 %v", s[0], q, want)
	}
}

// TestQuantizeI8Error: every weight reads back within half a step of its
// channel's scale, and each channel's largest weight exactly.
func TestQuantizeI8Error(t *testing.T) {
	const rows, cols = 37, 19
	w := make([]float32, rows*cols)
	x := uint32(1)
	for i := range w {
		x = x*1664525 + 1013904223
		w[i] = (float32(x>>8)/(1<<24) - 0.5) * float32(1+i%7)
	}
	for _, rowCh := range []bool{false, true} {
		nch := cols
		if rowCh {
			nch = rows
		}
		q := make([]int8, rows*cols)
		s := make([]float32, nch)
		QuantizeI8(q, s, w, rows, cols, rowCh)
		back := make([]float32, rows*cols)
		DequantizeI8(back, q, s, rows, cols, rowCh)
		for i := range w {
			ch := i % cols
			if rowCh {
				ch = i / cols
			}
			if d := abs32(back[i] - w[i]); d > s[ch]*0.5001 {
				t.Fatalf("rowChannels=%v: w[%d] = %v reads back %v, error %v > half the scale %v", rowCh, i, w[i], back[i], d, s[ch])
			}
			if q[i] == -128 {
				t.Fatalf("q uses -128")
			}
		}
	}
}

func equalI8(a, b []int8) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
