package main

// The bf16 product kernels of package kernels (bf16_amd64.s and its
// declarations, bf16_asm_amd64.go), for GemmBF16 (bf16.go): the micro-kernels
// that multiply packed operands whose elements are bf16 pairs (two
// consecutive k of one row of op(A) or one column of op(B) in a uint32, the
// lower k in the low half), and the AVX-512 packing loops that round float32
// to those pairs.
//
// Tile kernels, func(kp int, a []uint32, rs, qs int, b []uint32, bs int,
// c []float32, ldc int, accum bool): the pair q of row r of A is at
// a[r·rs + q·qs], the 16 (or 8) pairs of B's columns v·16 … at b[q·bs + v·16];
// c's rows are ldc apart.
//
//   - bf16Tile6x64: AVX512_BF16. 24 ZMM accumulators (Z0–Z23, row r vector v
//     in Z(4r+v)), B's pairs in Z24–Z27, the broadcast A pair in Z28/Z29;
//     bf16Tile6x32, its half for narrow products (attention's weights·v).
//     VDPBF16PS adds both products of a pair to an f32 lane. Go's assembler
//     (1.26) has no AVX512_BF16 mnemonics, so VDPBF16PS is emitted as its
//     EVEX bytes (evexDPBF16PS below), register to register only.
//   - bf16Tile4x16AVX2: AVX2+FMA. The pairs are widened in registers (the low
//     half shifted up, the high half masked by two shifts), two FMAs per
//     pair: 8 YMM accumulators (Y0–Y7), B widened in Y8–Y11, A in Y12/Y13.
//
// Registers of both: CX pairs left, AX A at pair q (row 0), R8 rs in bytes
// (R13 = 3·rs, R14 = 5·rs), R9 qs in bytes, BX B at pair q, R10 bs in
// bytes, DI C, R11 ldc in bytes.
//
// Packing, AVX-512F/BW only (integer arithmetic, so the rounding is
// runtime/lowp's bit for bit, NaN quieted, subnormals kept):
//
//   - bf16PackRowsAVX512(rows, n int, src []float32, lds int, dst []uint32,
//     ldd int): dst[r·ldd + i] is the pair (src[r·lds + 2i], src[r·lds +
//     2i+1]) for r < rows, i < n, n a multiple of 8.
//   - bf16PackPairsAVX512(rows, n, src, lds, dst, ldd): dst[q·ldd + i] is
//     the pair (src[2q·lds + i], src[(2q+1)·lds + i]) for q < rows, i < n,
//     n a multiple of 16.

import "fmt"

// evexDPBF16PS is VDPBF16PS zmm(acc), zmm(src1), zmm(src2) as bytes:
// EVEX.512.F3.0F38.W0 52 /r, acc in ModRM.reg, src1 in EVEX.vvvv, src2 in
// ModRM.rm.
func evexDPBF16PS(acc, src1, src2 int) string {
	inv := func(b bool) byte {
		if b {
			return 0
		}
		return 1
	}
	p0 := inv(acc&8 != 0)<<7 | inv(src2&16 != 0)<<6 | inv(src2&8 != 0)<<5 | inv(acc&16 != 0)<<4 | 0x2
	p1 := byte(0)<<7 | byte(^src1&15)<<3 | 1<<2 | 0x2
	p2 := byte(0)<<7 | 2<<5 | 0<<4 | inv(src1&16 != 0)<<3
	modrm := 3<<6 | byte(acc&7)<<3 | byte(src2&7)
	return fmt.Sprintf("BYTE $0x62; BYTE $0x%02x; BYTE $0x%02x; BYTE $0x%02x; BYTE $0x52; BYTE $0x%02x // VDPBF16PS Z%d, Z%d, Z%d",
		p0, p1, p2, modrm, src2, src1, acc)
}

const bf16TileParams = "kp int, a []uint32, rs, qs int, b []uint32, bs int, c []float32, ldc int, accum bool"

// bf16Rows are the addresses of A's pair in rows 0–5.
var bf16Rows = [...]string{"(AX)", "(AX)(R8*1)", "(AX)(R8*2)", "(AX)(R13*1)", "(AX)(R8*4)", "(AX)(R14*1)"}

// bf16TileHead loads the arguments.
func (g *gen) bf16TileHead(name string) {
	g.p("// func %s(%s)", name, bf16TileParams)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-113", name)
	g.i("MOVQ kp+0(FP), CX")
	g.i("MOVQ a_base+8(FP), AX")
	g.i("MOVQ rs+32(FP), R8")
	g.i("SHLQ $2, R8")
	g.i("LEAQ (R8)(R8*2), R13")
	g.i("LEAQ (R8)(R8*4), R14")
	g.i("MOVQ qs+40(FP), R9")
	g.i("SHLQ $2, R9")
	g.i("MOVQ b_base+48(FP), BX")
	g.i("MOVQ bs+72(FP), R10")
	g.i("SHLQ $2, R10")
	g.i("MOVQ c_base+80(FP), DI")
	g.i("MOVQ ldc+104(FP), R11")
	g.i("SHLQ $2, R11")
}

// bf16TileStore adds (accum) and stores rows×vecs accumulators reg(r, v)
// of vector width vb bytes to C.
func (g *gen) bf16TileStore(name string, rows, vecs, vb int, reg func(r, v int) string, mov string) {
	g.i("MOVBLZX accum+112(FP), DX")
	g.i("MOVQ DI, SI")
	for r := range rows {
		for v := range vecs {
			g.i("TESTB DL, DL")
			g.i("JZ %s_st%d_%d", name, r, v)
			g.i("VADDPS %d(SI), %s, %s", v*vb, reg(r, v), reg(r, v))
			g.p("%s_st%d_%d:", name, r, v)
			g.i("%s %s, %d(SI)", mov, reg(r, v), v*vb)
		}
		g.i("ADDQ R11, SI")
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// bf16Tile512 writes the AVX512_BF16 tile kernel of 6 rows by vecs
// vectors of 16 columns.
func (g *gen) bf16Tile512(vecs int) {
	name := fmt.Sprintf("bf16Tile6x%d", 16*vecs)
	g.bf16TileHead(name)
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", 4*r+v) }
	for r := range 6 {
		for v := range vecs {
			g.i("VPXORD %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	g.i("TESTQ CX, CX")
	g.i("JZ %s_store", name)
	g.p("%s_loop:", name)
	for v := range vecs {
		g.i("VMOVDQU32 %d(BX), Z%d", 64*v, 24+v)
	}
	for r := range 6 {
		bc := 28 + r%2
		g.i("VPBROADCASTD %s, Z%d", bf16Rows[r], bc)
		for v := range vecs {
			g.i("%s", evexDPBF16PS(4*r+v, 24+v, bc))
		}
	}
	g.i("ADDQ R9, AX")
	g.i("ADDQ R10, BX")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.p("%s_store:", name)
	g.bf16TileStore(name, 6, vecs, 64, acc, "VMOVUPS")
}

func (g *gen) bf16TileAVX2() {
	const name = "bf16Tile4x16AVX2"
	g.bf16TileHead(name)
	acc := func(r, v int) string { return fmt.Sprintf("Y%d", 2*r+v) }
	for r := range 4 {
		for v := range 2 {
			g.i("VXORPS %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	g.i("TESTQ CX, CX")
	g.i("JZ %s_store", name)
	g.p("%s_loop:", name)
	// B's two vectors of pairs: low halves to Y8/Y9, high halves to Y10/Y11.
	for v := range 2 {
		g.i("VMOVDQU %d(BX), Y%d", 32*v, 10+v)
		g.i("VPSLLD $16, Y%d, Y%d", 10+v, 8+v)
		g.i("VPSRLD $16, Y%d, Y%d", 10+v, 10+v)
		g.i("VPSLLD $16, Y%d, Y%d", 10+v, 10+v)
	}
	for r := range 4 {
		g.i("VPBROADCASTD %s, Y13", bf16Rows[r])
		g.i("VPSLLD $16, Y13, Y12")
		g.i("VPSRLD $16, Y13, Y13")
		g.i("VPSLLD $16, Y13, Y13")
		for v := range 2 {
			g.i("VFMADD231PS Y%d, Y12, %s", 8+v, acc(r, v))
			g.i("VFMADD231PS Y%d, Y13, %s", 10+v, acc(r, v))
		}
	}
	g.i("ADDQ R9, AX")
	g.i("ADDQ R10, BX")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.p("%s_store:", name)
	g.bf16TileStore(name, 4, 2, 32, acc, "VMOVUPS")
}

// bf16Consts loads the rounding constants: Z28 = 1, Z29 = 0x7fff, Z30 =
// 0x7fffffff, Z31 = 0x7f800000, Z27 = 0x400000 (the quiet bit).
func (g *gen) bf16Consts() {
	for _, c := range []struct {
		v   uint32
		reg int
	}{{1, 28}, {0x7fff, 29}, {0x7fffffff, 30}, {0x7f800000, 31}, {0x400000, 27}} {
		g.i("MOVL $0x%x, DX", c.v)
		g.i("VPBROADCASTD DX, Z%d", c.reg)
	}
}

// bf16Round rounds the 16 floats in zx to bf16 in the high halves of zt's
// lanes (the low halves are garbage), with za as scratch: x + 0x7fff +
// (x>>16 & 1), or x with the quiet bit set when x is a NaN.
func (g *gen) bf16Round(zx, zt, za string) {
	g.i("VPSRLD $16, %s, %s", zx, zt)
	g.i("VPANDD Z28, %s, %s", zt, zt)
	g.i("VPADDD Z29, %s, %s", zt, zt)
	g.i("VPADDD %s, %s, %s", zx, zt, zt)
	g.i("VPANDD Z30, %s, %s", zx, za)  // |x|
	g.i("VPCMPUD $6, Z31, %s, K1", za) // |x| > Inf: NaN
	g.i("VPORD Z27, %s, K1, %s", zx, zt)
}

func (g *gen) bf16PackRows() {
	const name = "bf16PackRowsAVX512"
	g.p("// func %s(rows, n int, src []float32, lds int, dst []uint32, ldd int)", name)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-80", name)
	g.i("MOVQ rows+0(FP), R11")
	g.i("MOVQ n+8(FP), R12")
	g.i("SHRQ $3, R12")
	g.i("MOVQ src_base+16(FP), SI")
	g.i("MOVQ lds+40(FP), R8")
	g.i("SHLQ $2, R8")
	g.i("MOVQ dst_base+48(FP), DI")
	g.i("MOVQ ldd+72(FP), R9")
	g.i("SHLQ $2, R9")
	g.bf16Consts()
	g.i("TESTQ R12, R12")
	g.i("JZ %s_done", name)
	g.p("%s_row:", name)
	g.i("TESTQ R11, R11")
	g.i("JZ %s_done", name)
	g.i("MOVQ SI, R13")
	g.i("MOVQ DI, R14")
	g.i("MOVQ R12, CX")
	g.p("%s_loop:", name)
	g.i("VMOVDQU32 (R13), Z0")
	g.bf16Round("Z0", "Z1", "Z2")
	g.i("VPSRLD $16, Z1, Z1")
	g.i("VPMOVDW Z1, (R14)")
	g.i("ADDQ $64, R13")
	g.i("ADDQ $32, R14")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.i("ADDQ R8, SI")
	g.i("ADDQ R9, DI")
	g.i("DECQ R11")
	g.i("JMP %s_row", name)
	g.p("%s_done:", name)
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

func (g *gen) bf16PackPairs() {
	const name = "bf16PackPairsAVX512"
	g.p("// func %s(rows, n int, src []float32, lds int, dst []uint32, ldd int)", name)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-80", name)
	g.i("MOVQ rows+0(FP), R11")
	g.i("MOVQ n+8(FP), R12")
	g.i("SHRQ $4, R12")
	g.i("MOVQ src_base+16(FP), SI")
	g.i("MOVQ lds+40(FP), R8")
	g.i("SHLQ $2, R8")
	g.i("MOVQ dst_base+48(FP), DI")
	g.i("MOVQ ldd+72(FP), R9")
	g.i("SHLQ $2, R9")
	g.bf16Consts()
	g.i("MOVL $0xffff0000, R10")
	g.i("VPBROADCASTD R10, Z26")
	g.i("TESTQ R12, R12")
	g.i("JZ %s_done", name)
	g.p("%s_row:", name)
	g.i("TESTQ R11, R11")
	g.i("JZ %s_done", name)
	g.i("MOVQ SI, R13")
	g.i("LEAQ (SI)(R8*1), DX")
	g.i("MOVQ DI, R14")
	g.i("MOVQ R12, CX")
	g.p("%s_loop:", name)
	g.i("VMOVDQU32 (R13), Z0")
	g.i("VMOVDQU32 (DX), Z2")
	g.bf16Round("Z0", "Z1", "Z4")
	g.bf16Round("Z2", "Z3", "Z4")
	g.i("VPSRLD $16, Z1, Z1")
	g.i("VPANDD Z26, Z3, Z3")
	g.i("VPORD Z3, Z1, Z1")
	g.i("VMOVDQU32 Z1, (R14)")
	g.i("ADDQ $64, R13")
	g.i("ADDQ $64, DX")
	g.i("ADDQ $64, R14")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.i("LEAQ (SI)(R8*2), SI")
	g.i("ADDQ R9, DI")
	g.i("DECQ R11")
	g.i("JMP %s_row", name)
	g.p("%s_done:", name)
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

func init() {
	outputs = append(outputs, output{"bf16_amd64.s", "bf16_asm_amd64.go", genBF16})
}

// genBF16 writes the bf16 product kernels.
func genBF16(s, d *gen) {
	s.bf16Tile512(4)
	s.bf16Tile512(2)
	s.bf16TileAVX2()
	s.bf16PackRows()
	s.bf16PackPairs()
	d.p("// Tile kernels: C (+)= the mr×nr tile of the packed pairs (asmgen/bf16.go).\n")
	d.p("//go:noescape\nfunc bf16Tile6x64(%s)\n", bf16TileParams)
	d.p("//go:noescape\nfunc bf16Tile6x32(%s)\n", bf16TileParams)
	d.p("//go:noescape\nfunc bf16Tile4x16AVX2(%s)\n", bf16TileParams)
	d.p("// Packing: round float32 to bf16 pairs.\n")
	d.p("//go:noescape\nfunc bf16PackRowsAVX512(rows, n int, src []float32, lds int, dst []uint32, ldd int)\n")
	d.p("//go:noescape\nfunc bf16PackPairsAVX512(rows, n int, src []float32, lds int, dst []uint32, ldd int)\n")
}
