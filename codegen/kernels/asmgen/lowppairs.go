package main

// The bf16-weight one-row kernels of package kernels (lowp_pairs_amd64.s
// and its declarations, lowp_pairs_asm_amd64.go): y = x·W for one row x
// already rounded to bf16, with W in the pair layout (lowp_pairs.go): the
// rows 2q and 2q+1 of W interleaved, so that the uint32 at pair q, column
// j holds W[2q][j] in its low half and W[2q+1][j] in its high half. Each
// kernel walks W's pair rows once per v vectors of columns, the
// accumulators in registers, like the f32 one-row kernels (gemv.go):
//
//	<name>V<v>(kp int, x []uint16, w []uint16, ldw int, y []float32, accum bool)
//	    y[j] (+)= Σ_q x[2q]·W(2q, j) + x[2q+1]·W(2q+1, j) for j < v vectors
//
// where W(2q, j) = w[q·ldw + 2j] and W(2q+1, j) = w[q·ldw + 2j + 1]
// (ldw = 2n).
//
//   - qgemvBF16DPV<v>: AVX512_BF16. One VDPBF16PS per vector of 16 columns
//     and pair: both products of the pair added to the f32 lane, no
//     widening. Accumulators Z0…Z(v−1), W's pairs loaded into Z24–Z30 in
//     turn, the broadcast x pair in Z31.
//   - qgemvBF16PairsAVX2V<v>: AVX2+FMA. Each vector of 8 pairs is split in
//     registers (the low halves shifted up, the high halves masked), two
//     FMAs with x[2q] and x[2q+1] (split the same way from the broadcast
//     pair). Accumulators Y0…Y(v−1), the halves in Y8–Y11, x in Y13/Y14,
//     the mask 0xffff0000 in Y15.
//
// Registers of both: CX pairs left, SI x's pair, DI W's pair row, R8 ldw in
// bytes, DX y.

import (
	"fmt"
	"strings"
)

type pairsKernel struct {
	avx512 bool // AVX512_BF16, else AVX2
	vecs   int
}

func (k pairsKernel) name() string {
	if k.avx512 {
		return fmt.Sprintf("qgemvBF16DPV%d", k.vecs)
	}
	return fmt.Sprintf("qgemvBF16PairsAVX2V%d", k.vecs)
}

const pairsParams = "kp int, x []uint16, w []uint16, ldw int, y []float32, accum bool"

func (g *gen) pairsGemv(k pairsKernel) {
	name := k.name()
	reg, vb := "Y", 32
	if k.avx512 {
		reg, vb = "Z", 64
	}
	acc := func(v int) string { return fmt.Sprintf("%s%d", reg, v) }
	g.p("// func %s(%s)", name, pairsParams)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-89", name)
	g.i("MOVQ kp+0(FP), CX")
	g.i("MOVQ x_base+8(FP), SI")
	g.i("MOVQ w_base+32(FP), DI")
	g.i("MOVQ ldw+56(FP), R8")
	g.i("SHLQ $1, R8")
	g.i("MOVQ y_base+64(FP), DX")
	if !k.avx512 {
		g.i("MOVL $0xffff0000, AX")
		g.i("MOVD AX, X15")
		g.i("VPBROADCASTD X15, Y15")
	}
	g.i("MOVBQZX accum+88(FP), AX")
	g.i("TESTQ AX, AX")
	g.i("JNE %s_load", name)
	xor := "VPXOR"
	if k.avx512 {
		xor = "VPXORD"
	}
	for v := range k.vecs {
		g.i("%s %s, %s, %s", xor, acc(v), acc(v), acc(v))
	}
	g.i("JMP %s_check", name)
	g.p("%s_load:", name)
	for v := range k.vecs {
		g.i("VMOVUPS %d(DX), %s", v*vb, acc(v))
	}
	g.p("%s_check:", name)
	g.i("TESTQ CX, CX")
	g.i("JZ %s_store", name)
	g.p("%s_loop:", name)
	if k.avx512 {
		g.i("VPBROADCASTD (SI), Z31")
		for v := range k.vecs {
			t := 24 + v%7
			g.i("VMOVDQU32 %d(DI), Z%d", v*vb, t)
			g.i("%s", evexDPBF16PS(v, t, 31))
		}
	} else {
		g.i("VPBROADCASTD (SI), Y14")
		g.i("VPSLLD $16, Y14, Y13")
		g.i("VPAND Y15, Y14, Y14")
		for v := range k.vecs {
			lo := 8 + 2*(v%2)
			hi := lo + 1
			g.i("VMOVDQU %d(DI), Y%d", v*vb, hi)
			g.i("VPSLLD $16, Y%d, Y%d", hi, lo)
			g.i("VPAND Y15, Y%d, Y%d", hi, hi)
			g.i("VFMADD231PS Y%d, Y13, %s", lo, acc(v))
			g.i("VFMADD231PS Y%d, Y14, %s", hi, acc(v))
		}
	}
	g.i("ADDQ $4, SI")
	g.i("ADDQ R8, DI")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.p("%s_store:", name)
	for v := range k.vecs {
		g.i("VMOVUPS %s, %d(DX)", acc(v), v*vb)
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// pairsWidths are the kernels' widths in vectors, widest first: up to 24
// of AVX-512's 32 registers hold accumulators (7 take W's pairs, one x's),
// up to 8 of AVX2's 16 (the split halves, x and the mask take the rest).
var pairsWidths = map[bool][]int{true: {24, 16, 8, 4, 2, 1}, false: {8, 4, 2, 1}}

func init() {
	outputs = append(outputs, output{"lowp_pairs_amd64.s", "lowp_pairs_asm_amd64.go", genPairs})
}

// genPairs writes the pair-layout kernels, and per ISA the widths
// gemvBF16PairsVec walks (in vectors, widest first) and a function that
// calls the kernel of a width: a switch of direct calls, not a table of
// func values, through which escape analysis would lose x (the caller's
// stack buffer) to the heap.
func genPairs(s, d *gen) {
	for _, avx512 := range []bool{true, false} {
		tab := "qgemvBF16PairsAVX2"
		if avx512 {
			tab = "qgemvBF16DP"
		}
		var ws []string
		for _, v := range pairsWidths[avx512] {
			k := pairsKernel{avx512: avx512, vecs: v}
			s.pairsGemv(k)
			d.p("//go:noescape\nfunc %s(%s)\n", k.name(), pairsParams)
			ws = append(ws, fmt.Sprint(v))
		}
		d.p("var %sWidths = []int{%s}\n", tab, strings.Join(ws, ", "))
		d.p("// %sRun calls the kernel v vectors wide.", tab)
		d.p("func %sRun(v int, %s) {", tab, pairsParams)
		d.p("switch v {")
		for _, v := range pairsWidths[avx512] {
			d.p("case %d:", v)
			d.p("%s(kp, x, w, ldw, y, accum)", pairsKernel{avx512: avx512, vecs: v}.name())
		}
		d.p("}\n}\n")
	}
}

// The four-row kernels, for products of more than one row (Predict,
// Prefill): y = x·W for four rows of x at once, so that W's pairs are
// read once per four rows, not per row.
//
//	qgemmBF16DP4V<v>(kp int, x []uint16, ldx int, w []uint16, ldw int, y []float32, ldy int, accum bool)
//	    y[r·ldy + j] (+)= Σ_q x[r·ldx + 2q]·W(2q, j) + x[r·ldx + 2q+1]·W(2q+1, j)
//	    for r < 4, j < v vectors
//
// Accumulators Z(6r + v) for row r, vector v (v ≤ 6: 24 registers), W's
// pairs in Z24–Z29, the broadcast x pairs in Z30/Z31 (rows in turn).
// Registers: CX pairs left, SI x's pair in row 0, R9 ldx in bytes (R10 =
// 3·ldx), DI W's pair row, R8 ldw in bytes, DX y, R11 ldy in bytes.

const pairs4Params = "kp int, x []uint16, ldx int, w []uint16, ldw int, y []float32, ldy int, accum bool"

func pairs4Name(v int) string { return fmt.Sprintf("qgemmBF16DP4V%d", v) }

func (g *gen) pairs4Gemm(vecs int) {
	name := pairs4Name(vecs)
	acc := func(r, v int) int { return 6*r + v }
	g.p("// func %s(%s)", name, pairs4Params)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-105", name)
	g.i("MOVQ kp+0(FP), CX")
	g.i("MOVQ x_base+8(FP), SI")
	g.i("MOVQ ldx+32(FP), R9")
	g.i("SHLQ $1, R9")
	g.i("LEAQ (R9)(R9*2), R10")
	g.i("MOVQ w_base+40(FP), DI")
	g.i("MOVQ ldw+64(FP), R8")
	g.i("SHLQ $1, R8")
	g.i("MOVQ y_base+72(FP), DX")
	g.i("MOVQ ldy+96(FP), R11")
	g.i("SHLQ $2, R11")
	rows := []string{"(SI)", "(SI)(R9*1)", "(SI)(R9*2)", "(SI)(R10*1)"}
	yrow := func(r, v int) string {
		switch r {
		case 0:
			return fmt.Sprintf("%d(DX)", 64*v)
		case 1:
			return fmt.Sprintf("%d(DX)(R11*1)", 64*v)
		case 2:
			return fmt.Sprintf("%d(DX)(R11*2)", 64*v)
		}
		return fmt.Sprintf("%d(R12)", 64*v)
	}
	g.i("LEAQ (R11)(R11*2), R12")
	g.i("ADDQ DX, R12")
	g.i("MOVBQZX accum+104(FP), AX")
	g.i("TESTQ AX, AX")
	g.i("JNE %s_load", name)
	for r := range 4 {
		for v := range vecs {
			a := acc(r, v)
			g.i("VPXORD Z%d, Z%d, Z%d", a, a, a)
		}
	}
	g.i("JMP %s_check", name)
	g.p("%s_load:", name)
	for r := range 4 {
		for v := range vecs {
			g.i("VMOVUPS %s, Z%d", yrow(r, v), acc(r, v))
		}
	}
	g.p("%s_check:", name)
	g.i("TESTQ CX, CX")
	g.i("JZ %s_store", name)
	g.p("%s_loop:", name)
	for v := range vecs {
		g.i("VMOVDQU32 %d(DI), Z%d", 64*v, 24+v)
	}
	for r := range 4 {
		bc := 30 + r%2
		g.i("VPBROADCASTD %s, Z%d", rows[r], bc)
		for v := range vecs {
			g.i("%s", evexDPBF16PS(acc(r, v), 24+v, bc))
		}
	}
	g.i("ADDQ $4, SI")
	g.i("ADDQ R8, DI")
	g.i("DECQ CX")
	g.i("JNZ %s_loop", name)
	g.p("%s_store:", name)
	for r := range 4 {
		for v := range vecs {
			g.i("VMOVUPS Z%d, %s", acc(r, v), yrow(r, v))
		}
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// pairs4Widths are the four-row kernels' widths in vectors, widest first:
// 6 divides the widest panel (24 vectors), 4 the next ones.
var pairs4Widths = []int{6, 4, 2, 1}

func init() {
	outputs = append(outputs, output{"lowp_pairs4_amd64.s", "lowp_pairs4_asm_amd64.go", genPairs4})
}

func genPairs4(s, d *gen) {
	var ws []string
	for _, v := range pairs4Widths {
		s.pairs4Gemm(v)
		d.p("//go:noescape\nfunc %s(%s)\n", pairs4Name(v), pairs4Params)
		ws = append(ws, fmt.Sprint(v))
	}
	d.p("var qgemmBF16DP4Widths = []int{%s}\n", strings.Join(ws, ", "))
	d.p("// qgemmBF16DP4Run calls the four-row kernel v vectors wide.")
	d.p("func qgemmBF16DP4Run(v int, %s) {", pairs4Params)
	d.p("switch v {")
	for _, v := range pairs4Widths {
		d.p("case %d:", v)
		d.p("%s(kp, x, ldx, w, ldw, y, ldy, accum)", pairs4Name(v))
	}
	d.p("}\n}\n")
}
