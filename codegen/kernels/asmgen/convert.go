package main

import "fmt"

// The bf16 conversions of package kernels (lowp_convert_amd64.s and its
// declarations): f32 → bf16 with runtime/lowp's rule (round to nearest, ties
// to even, no flush of subnormals, a NaN kept and quieted), computed with
// integer instructions, and bf16 → f32 (a shift). Each runs 16 elements per
// iteration over len(src) rounded down to 16; the caller does the rest.
//
// The rounding, per 32-bit lane b:
//
//	r = b + 0x7fff + ((b >> 16) & 1)     round to nearest even (a carry into the exponent is right)
//	r = b | 0x400000 where |b| > 0x7f800000 (a NaN: set the quiet bit)
//	bf16 = r >> 16
//
// VCVTNEPS2BF16 (AVX512_BF16) would do it in one instruction, but it
// flushes subnormal inputs to zero, and bf16 storage must round as the
// interpreter does, bit for bit.

func init() {
	outputs = append(outputs, output{"lowp_convert_amd64.s", "lowp_convert_asm_amd64.go", genConvert})
}

func genConvert(s, d *gen) {
	for _, avx512 := range []bool{false, true} {
		s.f32ToBF16(avx512)
		s.bf16ToF32(avx512)
	}
	d.p("// f32ToBF16AVX2/AVX512 convert the first len(src)&^15 elements of src to")
	d.p("// bf16 in dst; bf16ToF32AVX2/AVX512 widen them. len(dst) ≥ len(src).")
	d.p("")
	for _, suf := range []string{"AVX2", "AVX512"} {
		d.p("//go:noescape\nfunc f32ToBF16%s(dst []uint16, src []float32)\n", suf)
		d.p("//go:noescape\nfunc bf16ToF32%s(dst []float32, src []uint16)\n", suf)
	}
}

// broadcast puts the 32-bit constant c in every lane of r.
func (g *gen) broadcast(c uint32, r string) {
	g.i("MOVL $0x%x, AX", c)
	g.i("VMOVD AX, X14")
	g.i("VPBROADCASTD X14, %s", r)
}

func (g *gen) f32ToBF16(avx512 bool) {
	name, v := "f32ToBF16AVX2", "Y"
	if avx512 {
		name, v = "f32ToBF16AVX512", "Z"
	}
	r := func(i int) string { return fmt.Sprintf("%s%d", v, i) }
	and := "VPAND"
	if avx512 {
		and = "VPANDD"
	}
	g.p("// func %s(dst []uint16, src []float32)", name)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-48", name)
	g.i("MOVQ dst_base+0(FP), DI")
	g.i("MOVQ src_base+24(FP), SI")
	g.i("MOVQ src_len+32(FP), CX")
	g.i("SHRQ $4, CX")
	g.i("JZ %s_done", name)
	g.broadcast(0x7fff, r(1))
	g.broadcast(0x7fffffff, r(2))
	g.broadcast(0x7f800000, r(3))
	g.broadcast(1, r(4))
	g.broadcast(0x400000, r(5))
	g.p("%s_loop:", name)
	// round b (register b) into register out; AVX2 uses 7–9 as scratch.
	round := func(b, out int) {
		g.i("VPSRLD $16, %s, %s", r(b), r(out))
		g.i("%s %s, %s, %s", and, r(4), r(out), r(out))
		g.i("VPADDD %s, %s, %s", r(1), r(out), r(out))
		g.i("VPADDD %s, %s, %s", r(b), r(out), r(out))
		g.i("%s %s, %s, %s", and, r(2), r(b), r(7))
		if avx512 {
			g.i("VPCMPUD $6, %s, %s, K1", r(3), r(7)) // K1: |b| > Inf, a NaN
			g.i("VPORD %s, %s, K1, %s", r(5), r(b), r(out))
		} else {
			g.i("VPCMPGTD %s, %s, %s", r(3), r(7), r(8))
			g.i("VPOR %s, %s, %s", r(5), r(b), r(9))
			g.i("VPBLENDVB %s, %s, %s, %s", r(8), r(9), r(out), r(out))
		}
		g.i("VPSRLD $16, %s, %s", r(out), r(out))
	}
	if avx512 {
		g.i("VMOVDQU32 (SI), Z0")
		round(0, 6)
		g.i("VPMOVDW Z6, (DI)")
		g.i("ADDQ $64, SI")
	} else {
		g.i("VMOVDQU (SI), Y0")
		g.i("VMOVDQU 32(SI), Y10")
		round(0, 6)
		round(10, 11)
		g.i("VPACKUSDW Y11, Y6, Y6") // each 128-bit lane: 4 of the first 8, then 4 of the second
		g.i("VPERMQ $0xd8, Y6, Y6")
		g.i("VMOVDQU Y6, (DI)")
		g.i("ADDQ $64, SI")
	}
	g.i("ADDQ $32, DI")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.i("VZEROUPPER")
	g.p("%s_done:", name)
	g.i("RET")
	g.p("")
}

func (g *gen) bf16ToF32(avx512 bool) {
	name := "bf16ToF32AVX2"
	if avx512 {
		name = "bf16ToF32AVX512"
	}
	g.p("// func %s(dst []float32, src []uint16)", name)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-48", name)
	g.i("MOVQ dst_base+0(FP), DI")
	g.i("MOVQ src_base+24(FP), SI")
	g.i("MOVQ src_len+32(FP), CX")
	g.i("SHRQ $4, CX")
	g.i("JZ %s_done", name)
	g.p("%s_loop:", name)
	if avx512 {
		g.i("VPMOVZXWD (SI), Z0")
		g.i("VPSLLD $16, Z0, Z0")
		g.i("VMOVDQU32 Z0, (DI)")
	} else {
		g.i("VPMOVZXWD (SI), Y0")
		g.i("VPMOVZXWD 16(SI), Y1")
		g.i("VPSLLD $16, Y0, Y0")
		g.i("VPSLLD $16, Y1, Y1")
		g.i("VMOVDQU Y0, (DI)")
		g.i("VMOVDQU Y1, 32(DI)")
	}
	g.i("ADDQ $32, SI")
	g.i("ADDQ $64, DI")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.i("VZEROUPPER")
	g.p("%s_done:", name)
	g.i("RET")
	g.p("")
}
