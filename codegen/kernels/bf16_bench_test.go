package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkGemmBF16 compares GemmBF16 with Sgemm on the default gpt's
// training products (rows = batch·ctx = 1024, d = 128, ffn = 512), in the
// same run.
func BenchmarkGemmBF16(b *testing.B) {
	shapes := []struct {
		ta, tb  bool
		m, n, k int
	}{
		{false, false, 1024, 128, 128}, {false, false, 1024, 512, 128}, {false, false, 1024, 128, 512},
		{false, true, 1024, 128, 512}, {true, false, 128, 512, 1024}, {false, true, 128, 128, 32}, {false, false, 128, 32, 128},
	}
	p := NewPool(0) // GOMAXPROCS threads: -cpu 1,2
	defer p.Close()
	for _, s := range shapes {
		ar, ac, br, bc := s.m, s.k, s.k, s.n
		if s.ta {
			ar, ac = ac, ar
		}
		if s.tb {
			br, bc = bc, br
		}
		x, y, c := randBF16Operand(nil, ar*ac), randBF16Operand(nil, br*bc), make([]float32, s.m*s.n)
		name := fmt.Sprintf("%dx%dx%d/ta=%v,tb=%v", s.m, s.n, s.k, s.ta, s.tb)
		b.Run(name+"/f32", func(b *testing.B) {
			for b.Loop() {
				Sgemm(p, s.ta, s.tb, s.m, s.n, s.k, x, ac, y, bc, c, s.n, false)
			}
		})
		b.Run(name+"/bf16", func(b *testing.B) {
			for b.Loop() {
				GemmBF16(p, s.ta, s.tb, s.m, s.n, s.k, x, ac, y, bc, c, s.n, false)
			}
		})
	}
}
