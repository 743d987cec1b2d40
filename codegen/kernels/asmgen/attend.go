package main

// This file writes the attention kernels of DecodeStep (attend_amd64.s and
// attend_amd64.go): the scores of one query against many cached keys, and the
// weighted sum of many cached values, each for AVX2+FMA (YMM) and AVX-512F
// (ZMM), float32 and float64. They are independent of the GEMM kernels in
// main.go: own buffer and element types.
//
//	<t>dotRows<ISA>(q, k []T, ldk int, w []T)
//	    w[j] = Σ_c q[c]·k[j·ldk + c] for j < len(w), c < len(q); len(q) is a
//	    positive multiple of the vector width. Eight rows at once, one
//	    accumulator each (eight independent FMA chains, every key element
//	    read once), reduced by horizontal adds into one vector store of
//	    eight scores; the last len(w) mod 8 rows one at a time.
//	sdotTiles<ISA>(q, k []float32, w []float32, scale float32) float32
//	    The scores against keys stored in tiles of 16 positions: tile i at
//	    k[16·d·i:], position 16i+j's column c at k[16·d·i + 16c + j], d =
//	    len(q) ≥ 1. w[16i+j] = scale·Σ_c q[c]·k[16·d·i + 16c + j] for every
//	    tile of w (len(w) a multiple of 16); returns the largest (−inf for
//	    none). A tile is read front to back as d rows of 16 scores: one
//	    broadcast of q[c] and one FMA per row (two on YMM), four chains, no
//	    reduction across lanes.
//	<t>axpyRows<N><ISA>(w, v []T, ldv int, o []T)
//	    o[c] = Σ_j w[j]·v[j·ldv + c] for c < N vectors, j < len(w) (0 sets o
//	    to zero). The rows j are dealt round-robin to S sets of N
//	    accumulators (S·N ≥ 8 FMA chains), added together at the end.

import (
	"bytes"
	"fmt"
)

type dotElem struct {
	goType, sfx, prefix string
	size                int
}

var (
	dotF32 = dotElem{"float32", "PS", "s", 4}
	dotF64 = dotElem{"float64", "PD", "d", 8}
)

// dotISA is a vector width: YMM (AVX2+FMA) or ZMM (AVX-512F).
type dotISA struct {
	name  string // AVX2 or AVX512
	reg   string // Y or Z
	bytes int    // per register
}

var (
	isaAVX2   = dotISA{"AVX2", "Y", 32}
	isaAVX512 = dotISA{"AVX512", "Z", 64}
)

type dotGen struct{ bytes.Buffer }

func (g *dotGen) l(format string, args ...any) {
	fmt.Fprintf(&g.Buffer, format, args...)
	g.WriteByte('\n')
}

func (g *dotGen) i(format string, args ...any) { g.l("\t"+format, args...) }

func vreg(isa dotISA, n int) string { return fmt.Sprintf("%s%d", isa.reg, n) }

// zero clears vector register n (VPXORD: VXORPS on ZMM needs AVX512DQ).
func (g *dotGen) zero(isa dotISA, n int) {
	r := vreg(isa, n)
	if isa.reg == "Z" {
		g.i("VPXORD %s, %s, %s", r, r, r)
		return
	}
	g.i("VXORPS %s, %s, %s", r, r, r)
}

// widen reduces ZMM accumulators Z<r> to their low halves Y<r> (Y1 is
// scratch); YMM accumulators are left as they are.
func (g *dotGen) widen(e dotElem, isa dotISA, regs ...int) {
	if isa.reg != "Z" {
		return
	}
	for _, r := range regs {
		g.i("VEXTRACTF64X4 $1, Z%d, Y1", r)
		g.i("VADD%s Y1, Y%d, Y%d", e.sfx, r, r)
	}
}

// dotRows writes <t>dotRows<ISA>. Registers: DX q, BX len(q) in bytes,
// SI/R9/R10 key rows 0, 3 and 6 of the group, R8 ldk in bytes, R11 3·ldk,
// R12 the step from the end of a group's rows to the next group, DI w, CX
// rows left, AX vectors left in a row; Y0 (Z0) a vector of q, Y8–Y15
// (Z8–Z15) the eight accumulators.
func (g *dotGen) dotRows(e dotElem, isa dotISA) string {
	name := fmt.Sprintf("%sdotRows%s", e.prefix, isa.name)
	sh := map[int]int{4: 2, 8: 3}[e.size]
	g.l("// func %s(q, k []%s, ldk int, w []%s)", name, e.goType, e.goType)
	g.l("TEXT ·%s(SB), NOSPLIT, $0-80", name)
	g.i("MOVQ q_base+0(FP), DX")
	g.i("MOVQ q_len+8(FP), BX")
	g.i("SHLQ $%d, BX", sh)
	g.i("MOVQ k_base+24(FP), SI")
	g.i("MOVQ ldk+48(FP), R8")
	g.i("SHLQ $%d, R8", sh)
	g.i("MOVQ w_base+56(FP), DI")
	g.i("MOVQ w_len+64(FP), CX")
	g.i("LEAQ (R8)(R8*2), R11")
	g.i("MOVQ R8, R12")
	g.i("SHLQ $3, R12")
	g.i("SUBQ BX, R12")
	rows := [8]string{"(SI)", "(SI)(R8*1)", "(SI)(R8*2)", "(R9)", "(R9)(R8*1)", "(R9)(R8*2)", "(R10)", "(R10)(R8*1)"}
	g.i("CMPQ CX, $8")
	g.i("JLT %s_tail", name)
	g.l("%s_group:", name)
	g.i("LEAQ (SI)(R11*1), R9")
	g.i("LEAQ (R9)(R11*1), R10")
	for r := range 8 {
		g.zero(isa, 8+r)
	}
	g.i("MOVQ BX, AX")
	g.l("%s_vec8:", name)
	g.i("VMOVUP%s (DX), %s", e.sfx[1:], vreg(isa, 0))
	for r := range 8 {
		g.i("VFMADD231%s %s, %s, %s", e.sfx, rows[r], vreg(isa, 0), vreg(isa, 8+r))
	}
	for _, p := range []string{"DX", "SI", "R9", "R10"} {
		g.i("ADDQ $%d, %s", isa.bytes, p)
	}
	g.i("SUBQ $%d, AX", isa.bytes)
	g.i("JNE %s_vec8", name)
	g.i("SUBQ BX, DX")
	g.i("ADDQ R12, SI")
	g.widen(e, isa, 8, 9, 10, 11, 12, 13, 14, 15)
	if e.size == 4 {
		// [r0..r3 lo-half partials | r0..r3 hi-half partials] per four rows,
		// then the halves added: eight sums in lane order.
		g.i("VHADDPS Y9, Y8, Y8")
		g.i("VHADDPS Y11, Y10, Y10")
		g.i("VHADDPS Y10, Y8, Y8")
		g.i("VHADDPS Y13, Y12, Y12")
		g.i("VHADDPS Y15, Y14, Y14")
		g.i("VHADDPS Y14, Y12, Y12")
		g.i("VPERM2F128 $0x20, Y12, Y8, Y1")
		g.i("VPERM2F128 $0x31, Y12, Y8, Y2")
		g.i("VADDPS Y2, Y1, Y1")
		g.i("VMOVUPS Y1, (DI)")
	} else {
		// [r0 01, r1 01 | r0 23, r1 23] for rows (0,1) and (2,3), then the
		// 128-bit halves regrouped and added: four sums per YMM.
		for q := range 2 {
			b := 8 + 4*q
			g.i("VHADDPD Y%d, Y%d, Y%d", b+1, b, b)
			g.i("VHADDPD Y%d, Y%d, Y%d", b+3, b+2, b+2)
			g.i("VPERM2F128 $0x20, Y%d, Y%d, Y1", b+2, b)
			g.i("VPERM2F128 $0x31, Y%d, Y%d, Y2", b+2, b)
			g.i("VADDPD Y2, Y1, Y1")
			g.i("VMOVUPD Y1, %d(DI)", 32*q)
		}
	}
	g.i("ADDQ $%d, DI", 8*e.size)
	g.i("SUBQ $8, CX")
	g.i("CMPQ CX, $8")
	g.i("JGE %s_group", name)
	g.l("%s_tail:", name)
	g.i("TESTQ CX, CX")
	g.i("JEQ %s_done", name)
	g.i("SUBQ BX, R8") // from the end of one row to the start of the next
	g.l("%s_row:", name)
	a := vreg(isa, 8)
	g.zero(isa, 8)
	g.i("MOVQ BX, AX")
	g.l("%s_vec1:", name)
	g.i("VMOVUP%s (DX), %s", e.sfx[1:], vreg(isa, 0))
	g.i("VFMADD231%s (SI), %s, %s", e.sfx, vreg(isa, 0), a)
	g.i("ADDQ $%d, DX", isa.bytes)
	g.i("ADDQ $%d, SI", isa.bytes)
	g.i("SUBQ $%d, AX", isa.bytes)
	g.i("JNE %s_vec1", name)
	g.i("SUBQ BX, DX")
	g.i("ADDQ R8, SI")
	g.widen(e, isa, 8)
	g.i("VEXTRACTF128 $1, Y8, X1")
	g.i("VADD%s X1, X8, X8", e.sfx)
	if e.size == 4 {
		g.i("VHADDPS X8, X8, X8")
		g.i("VHADDPS X8, X8, X8")
		g.i("VMOVSS X8, (DI)")
	} else {
		g.i("VHADDPD X8, X8, X8")
		g.i("VMOVSD X8, (DI)")
	}
	g.i("ADDQ $%d, DI", e.size)
	g.i("DECQ CX")
	g.i("JNE %s_row", name)
	g.l("%s_done:", name)
	g.i("VZEROUPPER")
	g.i("RET")
	g.l("")
	return name
}

// dotTiles writes sdotTiles<ISA>. Registers: DX q, BX len(q), SI the tile,
// DI w, CX scores left, R9 q's column, AX columns left; accumulators Z0–Z3
// (Y0–Y3 low halves, Y8–Y11 high halves on YMM), Z4–Z7 broadcasts of q,
// Z14 the scale, Z15 the running maximum (Y12 a second one on YMM).
func (g *dotGen) dotTiles(isa dotISA) string {
	name := "sdotTiles" + isa.name
	wide := isa.reg == "Z"
	r := func(n int) string { return vreg(isa, n) }
	g.l("// func %s(q, k []float32, w []float32, scale float32) float32", name)
	g.l("TEXT ·%s(SB), NOSPLIT, $0-84", name)
	g.i("MOVQ q_base+0(FP), DX")
	g.i("MOVQ q_len+8(FP), BX")
	g.i("MOVQ k_base+24(FP), SI")
	g.i("MOVQ w_base+48(FP), DI")
	g.i("MOVQ w_len+56(FP), CX")
	g.i("VBROADCASTSS scale+72(FP), %s", r(14))
	g.i("MOVL $0xff800000, AX") // −inf
	g.i("VMOVD AX, X15")
	g.i("VBROADCASTSS X15, %s", r(15))
	if !wide {
		g.i("VMOVAPS Y15, Y12")
	}
	g.i("TESTQ CX, CX")
	g.i("JEQ %s_done", name)
	g.l("%s_tile:", name)
	accs := []int{0, 1, 2, 3}
	if !wide {
		accs = []int{0, 1, 2, 3, 8, 9, 10, 11}
	}
	for _, a := range accs {
		g.zero(isa, a)
	}
	g.i("MOVQ DX, R9")
	g.i("MOVQ BX, AX")
	g.i("CMPQ AX, $4")
	g.i("JLT %s_one", name)
	// fma adds q[c]·row c of the tile (at off(SI)) into chain u.
	fma := func(u, qOff, off int) {
		b := r(4 + u)
		g.i("VBROADCASTSS %d(R9), %s", qOff, b)
		if wide {
			g.i("VFMADD231PS %d(SI), %s, %s", off, b, r(u))
			return
		}
		g.i("VFMADD231PS %d(SI), %s, %s", off, b, r(u))
		g.i("VFMADD231PS %d(SI), %s, %s", off+32, b, r(8+u))
	}
	g.l("%s_four:", name)
	for u := range 4 {
		fma(u, 4*u, 64*u)
	}
	g.i("ADDQ $16, R9")
	g.i("ADDQ $256, SI")
	g.i("SUBQ $4, AX")
	g.i("CMPQ AX, $4")
	g.i("JGE %s_four", name)
	g.l("%s_one:", name)
	g.i("TESTQ AX, AX")
	g.i("JEQ %s_sum", name)
	fma(0, 0, 0)
	g.i("ADDQ $4, R9")
	g.i("ADDQ $64, SI")
	g.i("DECQ AX")
	g.i("JMP %s_one", name)
	g.l("%s_sum:", name)
	halves := [][4]int{{0, 1, 2, 3}}
	if !wide {
		halves = append(halves, [4]int{8, 9, 10, 11})
	}
	for hi, h := range halves {
		g.i("VADDPS %s, %s, %s", r(h[1]), r(h[0]), r(h[0]))
		g.i("VADDPS %s, %s, %s", r(h[3]), r(h[2]), r(h[2]))
		g.i("VADDPS %s, %s, %s", r(h[2]), r(h[0]), r(h[0]))
		g.i("VMULPS %s, %s, %s", r(14), r(h[0]), r(h[0]))
		mx := 15
		if hi == 1 {
			mx = 12
		}
		g.i("VMAXPS %s, %s, %s", r(h[0]), r(mx), r(mx))
		g.i("VMOVUPS %s, %d(DI)", r(h[0]), 32*hi)
	}
	g.i("ADDQ $64, DI")
	g.i("SUBQ $16, CX")
	g.i("JNE %s_tile", name)
	g.l("%s_done:", name)
	if wide {
		g.i("VEXTRACTF64X4 $1, Z15, Y1")
		g.i("VMAXPS Y1, Y15, Y15")
	} else {
		g.i("VMAXPS Y12, Y15, Y15")
	}
	g.i("VEXTRACTF128 $1, Y15, X1")
	g.i("VMAXPS X1, X15, X15")
	g.i("VPERMILPS $0x4e, X15, X1")
	g.i("VMAXPS X1, X15, X15")
	g.i("VPERMILPS $0xb1, X15, X1")
	g.i("VMAXPS X1, X15, X15")
	g.i("VMOVSS X15, ret+80(FP)")
	g.i("VZEROUPPER")
	g.i("RET")
	g.l("")
	return name
}

// axpySets is the number of accumulator sets for n vectors of columns.
func axpySets(n int) int { return [...]int{0, 8, 4, 3, 2}[n] }

// axpyRows writes <t>axpyRows<N><ISA>. Registers: SI w, CX rows left, DI
// the row of v, R8 ldv in bytes, DX o; Y0/Y1 (Z0/Z1) broadcasts of w,
// Y2… the accumulators, set u vector c in Y(2 + u·N + c).
func (g *dotGen) axpyRows(e dotElem, isa dotISA, n int) string {
	name := fmt.Sprintf("%saxpyRows%d%s", e.prefix, n, isa.name)
	sets := axpySets(n)
	acc := func(u, c int) string { return vreg(isa, 2+u*n+c) }
	bcast := "VBROADCASTSS"
	if e.size == 8 {
		bcast = "VBROADCASTSD"
	}
	g.l("// func %s(w, v []%s, ldv int, o []%s)", name, e.goType, e.goType)
	g.l("TEXT ·%s(SB), NOSPLIT, $0-80", name)
	g.i("MOVQ w_base+0(FP), SI")
	g.i("MOVQ w_len+8(FP), CX")
	g.i("MOVQ v_base+24(FP), DI")
	g.i("MOVQ ldv+48(FP), R8")
	g.i("SHLQ $%d, R8", map[int]int{4: 2, 8: 3}[e.size])
	g.i("MOVQ o_base+56(FP), DX")
	for u := range sets {
		for c := range n {
			g.zero(isa, 2+u*n+c)
		}
	}
	step := func(u int, wOff int) {
		b := vreg(isa, u%2)
		g.i("%s %d(SI), %s", bcast, wOff, b)
		for c := range n {
			g.i("VFMADD231%s %d(DI), %s, %s", e.sfx, c*isa.bytes, b, acc(u, c))
		}
		g.i("ADDQ R8, DI")
	}
	g.i("CMPQ CX, $%d", sets)
	g.i("JLT %s_tail", name)
	g.l("%s_loop:", name)
	for u := range sets {
		step(u, u*e.size)
	}
	g.i("ADDQ $%d, SI", sets*e.size)
	g.i("SUBQ $%d, CX", sets)
	g.i("CMPQ CX, $%d", sets)
	g.i("JGE %s_loop", name)
	g.l("%s_tail:", name)
	g.i("TESTQ CX, CX")
	g.i("JEQ %s_done", name)
	g.l("%s_one:", name)
	step(0, 0)
	g.i("ADDQ $%d, SI", e.size)
	g.i("DECQ CX")
	g.i("JNE %s_one", name)
	g.l("%s_done:", name)
	for u := 1; u < sets; u++ {
		for c := range n {
			g.i("VADD%s %s, %s, %s", e.sfx, acc(u, c), acc(0, c), acc(0, c))
		}
	}
	for c := range n {
		g.i("VMOVUP%s %s, %d(DX)", e.sfx[1:], acc(0, c), c*isa.bytes)
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.l("")
	return name
}

// softmaxHelpers writes the AVX2 row kernels of the softmax between the
// two products: sscaleMaxAVX2(x []float32, scale float32) float32 scales x
// in place and returns its largest element; ssumAVX2(x []float32) float32
// is the sum of x (two accumulators). len(x) is a multiple of 8.
func (g *dotGen) softmaxHelpers() {
	g.l("// func sscaleMaxAVX2(x []float32, scale float32) float32")
	g.l("TEXT ·sscaleMaxAVX2(SB), NOSPLIT, $0-36")
	g.i("MOVQ x_base+0(FP), SI")
	g.i("MOVQ x_len+8(FP), CX")
	g.i("VBROADCASTSS scale+24(FP), Y0")
	g.i("MOVL $0xff800000, AX") // −inf
	g.i("VMOVD AX, X1")
	g.i("VBROADCASTSS X1, Y1")
	g.i("TESTQ CX, CX")
	g.i("JEQ sscaleMaxAVX2_done")
	g.l("sscaleMaxAVX2_loop:")
	g.i("VMULPS (SI), Y0, Y2")
	g.i("VMOVUPS Y2, (SI)")
	g.i("VMAXPS Y2, Y1, Y1")
	g.i("ADDQ $32, SI")
	g.i("SUBQ $8, CX")
	g.i("JNE sscaleMaxAVX2_loop")
	g.l("sscaleMaxAVX2_done:")
	g.i("VEXTRACTF128 $1, Y1, X2")
	g.i("VMAXPS X2, X1, X1")
	g.i("VPERMILPS $0x4e, X1, X2")
	g.i("VMAXPS X2, X1, X1")
	g.i("VPERMILPS $0xb1, X1, X2")
	g.i("VMAXPS X2, X1, X1")
	g.i("VMOVSS X1, ret+32(FP)")
	g.i("VZEROUPPER")
	g.i("RET")
	g.l("")
	g.l("// func ssumAVX2(x []float32) float32")
	g.l("TEXT ·ssumAVX2(SB), NOSPLIT, $0-28")
	g.i("MOVQ x_base+0(FP), SI")
	g.i("MOVQ x_len+8(FP), CX")
	g.i("VXORPS Y1, Y1, Y1")
	g.i("VXORPS Y2, Y2, Y2")
	g.i("CMPQ CX, $16")
	g.i("JLT ssumAVX2_tail")
	g.l("ssumAVX2_loop:")
	g.i("VADDPS (SI), Y1, Y1")
	g.i("VADDPS 32(SI), Y2, Y2")
	g.i("ADDQ $64, SI")
	g.i("SUBQ $16, CX")
	g.i("CMPQ CX, $16")
	g.i("JGE ssumAVX2_loop")
	g.l("ssumAVX2_tail:")
	g.i("TESTQ CX, CX")
	g.i("JEQ ssumAVX2_done")
	g.i("VADDPS (SI), Y1, Y1")
	g.l("ssumAVX2_done:")
	g.i("VADDPS Y2, Y1, Y1")
	g.i("VEXTRACTF128 $1, Y1, X2")
	g.i("VADDPS X2, X1, X1")
	g.i("VHADDPS X1, X1, X1")
	g.i("VHADDPS X1, X1, X1")
	g.i("VMOVSS X1, ret+24(FP)")
	g.i("VZEROUPPER")
	g.i("RET")
	g.l("")
}

func init() {
	outputs = append(outputs, output{"attend_amd64.s", "attend_amd64.go", genAttend})
}

// genAttend writes the attention kernels.
func genAttend(sOut, dOut *gen) {
	var s, d dotGen
	d.l("// The attention kernels of DecodeStep (see attend.go), generated by")
	d.l("// asmgen/attend.go: scores of one query against many keys (dotRows) and the")
	d.l("// weighted sum of many values (axpyRows<N>, N vectors of columns).\n")
	for _, e := range []dotElem{dotF32, dotF64} {
		for _, isa := range []dotISA{isaAVX2, isaAVX512} {
			d.l("//go:noescape\nfunc %s(q, k []%s, ldk int, w []%s)\n", s.dotRows(e, isa), e.goType, e.goType)
			for n := 1; n <= 4; n++ {
				d.l("//go:noescape\nfunc %s(w, v []%s, ldv int, o []%s)\n", s.axpyRows(e, isa, n), e.goType, e.goType)
			}
		}
	}
	for _, isa := range []dotISA{isaAVX2, isaAVX512} {
		d.l("//go:noescape\nfunc %s(q, k []float32, w []float32, scale float32) float32\n", s.dotTiles(isa))
	}
	s.softmaxHelpers()
	d.l("//go:noescape\nfunc sscaleMaxAVX2(x []float32, scale float32) float32\n")
	d.l("//go:noescape\nfunc ssumAVX2(x []float32) float32")
	sOut.Write(s.Bytes())
	dOut.Write(d.Bytes())
}
