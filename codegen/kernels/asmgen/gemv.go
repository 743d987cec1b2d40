package main

// The one-row kernels of package kernels (gemv_amd64.s and its
// declarations, gemv_asm_amd64.go): c = a·B (or c += a·B) for one row a of
// A and B not transposed, the products of batch-1 decoding. The direct
// tiles walk B's k rows once per two vectors of columns; these walk them
// once per up to 24 vectors (AVX-512) or 12 (AVX2), each row of B read as
// one contiguous run, so a weight matrix streams from memory front to back
// and the accumulators stay in registers:
//
//	<t>gemv<ISA>V<v>(k int, a []T, csa int, b []T, ldb int, c []T, accum bool)
//	    c[j] (+)= Σ_p a[p·csa]·b[p·ldb + j] for j < v vectors of lanes
//
// Registers: CX rows left, SI a (stepping by csa), DI B's row, R8 ldb and
// R9 csa in bytes, DX c; vectors 0…v−1 the accumulators, the last one the
// broadcast of a[p].

import "fmt"

type gemvKernel struct {
	e      elem
	avx512 bool
	vecs   int
}

func (k gemvKernel) lanes() int {
	if k.avx512 {
		return 64 / k.e.size
	}
	return 32 / k.e.size
}

func (k gemvKernel) reg(i int) string {
	if k.avx512 {
		return fmt.Sprintf("Z%d", i)
	}
	return fmt.Sprintf("Y%d", i)
}

func (k gemvKernel) name() string {
	isa := "AVX2"
	if k.avx512 {
		isa = "AVX512"
	}
	return fmt.Sprintf("%sgemv%sV%d", k.e.prefix, isa, k.vecs)
}

func (k gemvKernel) params() string {
	return fmt.Sprintf("k int, a []%s, csa int, b []%s, ldb int, c []%s, accum bool", k.e.goType, k.e.goType, k.e.goType)
}

func (g *gen) gemv(k gemvKernel) {
	name, sh := k.name(), map[int]int{4: 2, 8: 3}[k.e.size]
	vb := k.lanes() * k.e.size // bytes per vector
	bc := k.reg(31)
	if !k.avx512 {
		bc = k.reg(15)
	}
	sfx := "S"
	if k.e.size == 8 {
		sfx = "D"
	}
	g.p("// func %s(%s)", name, k.params())
	g.p("TEXT ·%s(SB), NOSPLIT, $0-97", name)
	g.i("MOVQ k+0(FP), CX")
	g.i("MOVQ a_base+8(FP), SI")
	g.i("MOVQ csa+32(FP), R9")
	g.i("SHLQ $%d, R9", sh)
	g.i("MOVQ b_base+40(FP), DI")
	g.i("MOVQ ldb+64(FP), R8")
	g.i("SHLQ $%d, R8", sh)
	g.i("MOVQ c_base+72(FP), DX")
	g.i("MOVBQZX accum+96(FP), AX")
	g.i("TESTQ AX, AX")
	g.i("JNE %s_load", name)
	for v := range k.vecs {
		r := k.reg(v)
		if k.avx512 {
			g.i("VPXORD %s, %s, %s", r, r, r)
		} else {
			g.i("VXORP%s %s, %s, %s", sfx, r, r, r)
		}
	}
	g.i("JMP %s_loop", name)
	g.p("%s_load:", name)
	for v := range k.vecs {
		g.i("VMOVUP%s %d(DX), %s", sfx, v*vb, k.reg(v))
	}
	g.p("%s_loop:", name)
	g.i("VBROADCASTS%s (SI), %s", sfx, bc)
	for v := range k.vecs {
		g.i("VFMADD231P%s %d(DI), %s, %s", sfx, v*vb, bc, k.reg(v))
	}
	g.i("ADDQ R9, SI")
	g.i("ADDQ R8, DI")
	g.i("DECQ CX")
	g.i("JNE %s_loop", name)
	for v := range k.vecs {
		g.i("VMOVUP%s %s, %d(DX)", sfx, k.reg(v), v*vb)
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// gemvWidths are the kernels' widths in vectors, widest first: the
// accumulators take 24 of AVX-512's 32 registers and 12 of AVX2's 16 at
// most, and a row is covered greedily by the widest that fit.
var gemvWidths = map[bool][]int{true: {24, 16, 8, 4, 2, 1}, false: {12, 8, 4, 2, 1}}

func init() {
	outputs = append(outputs, output{"gemv_amd64.s", "gemv_asm_amd64.go", genGemv})
}

// genGemv writes the one-row kernels and, per element type and ISA, the
// table gemvRowVec walks (widths in vectors, widest first).
func genGemv(s, d *gen) {
	for _, e := range []elem{f32, f64} {
		for _, avx512 := range []bool{true, false} {
			var names []string
			for _, v := range gemvWidths[avx512] {
				k := gemvKernel{e: e, avx512: avx512, vecs: v}
				s.gemv(k)
				d.p("//go:noescape\nfunc %s(%s)\n", k.name(), k.params())
				names = append(names, fmt.Sprintf("{%d, %s}", v, k.name()))
			}
			isa := "AVX2"
			if avx512 {
				isa = "AVX512"
			}
			d.p("var %sgemv%s = []gemvWidth[%s]{", e.prefix, isa, e.goType)
			for _, n := range names {
				d.p("%s,", n)
			}
			d.p("}\n")
		}
	}
}
