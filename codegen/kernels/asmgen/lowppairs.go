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
