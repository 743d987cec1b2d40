package main

// The epilogue kernels of package kernels (epilogue_amd64.s and its
// declarations, epilogue_asm_amd64.go): a product's bias and activation,
// out[i,j] = max(floor, c[i,j] + bias[j]) + fix, over rows of C (see
// epilogue.go). One vector of columns at a time, in registers:
//
//	V0, V1      C's vector, then the result; bias's vector
//	V30, V31    floor and fix, broadcast
//	SI c, DX bias, DI out (row starts), BX byte offset in the row,
//	R8 whole vectors per row, R9 rows left, R10 row stride in bytes, CX
//	vectors left in the row; K1 the last, partial vector's lanes (AVX-512)
//
// The AVX2 kernels stop at the last whole vector of each row; their Go
// caller finishes the rows.

import "fmt"

type biasKernel struct {
	e      elem
	avx512 bool
}

func (k biasKernel) name() string {
	isa := "AVX2"
	if k.avx512 {
		isa = "AVX512"
	}
	return fmt.Sprintf("%sbiasRows%s", k.e.prefix, isa)
}

func (k biasKernel) params() string {
	t := k.e.goType
	return fmt.Sprintf("out, c, bias []%s, rows, ld int, floor, fix %s", t, t)
}

func (g *gen) biasRows(k biasKernel) {
	name, e := k.name(), k.e
	v, bytes := "Y", 32
	if k.avx512 {
		v, bytes = "Z", 64
	}
	lanes := bytes / e.size
	mov := e.mov()
	g.p("// func %s(%s)", name, k.params())
	g.p("TEXT ·%s(SB), NOSPLIT, $0-%d", name, 88+2*e.size)
	g.i("MOVQ out_base+0(FP), DI")
	g.i("MOVQ c_base+24(FP), SI")
	g.i("MOVQ bias_base+48(FP), DX")
	g.i("MOVQ bias_len+56(FP), R8")
	g.i("MOVQ rows+72(FP), R9")
	g.i("MOVQ ld+80(FP), R10")
	g.i("SHLQ $%d, R10", log2(e.size))
	g.i("%s floor+88(FP), %s30", e.bcast(), v)
	g.i("%s fix+%d(FP), %s31", e.bcast(), 88+e.size, v)
	if k.avx512 {
		g.i("MOVQ R8, CX")
		g.i("ANDQ $%d, CX", lanes-1)
		g.i("MOVL $1, AX")
		g.i("SHLL CX, AX")
		g.i("DECL AX")
		g.i("KMOVW AX, K1")
	}
	g.i("SHRQ $%d, R8", log2(lanes))
	g.i("TESTQ R9, R9")
	g.i("JEQ %s_done", name)
	g.p("%s_row:", name)
	g.i("XORQ BX, BX")
	g.i("MOVQ R8, CX")
	g.i("TESTQ CX, CX")
	g.i("JEQ %s_tail", name)
	op := func() {
		g.i("VADD%s %s1, %s0, %s0", e.sfx, v, v, v)
		g.i("VMAX%s %s0, %s30, %s0", e.sfx, v, v, v) // floor > x ? floor : x, so NaN stays
		g.i("VADD%s %s31, %s0, %s0", e.sfx, v, v, v)
	}
	g.p("%s_vec:", name)
	g.i("%s (SI)(BX*1), %s0", mov, v)
	g.i("%s (DX)(BX*1), %s1", mov, v)
	op()
	g.i("%s %s0, (DI)(BX*1)", mov, v)
	g.i("ADDQ $%d, BX", bytes)
	g.i("DECQ CX")
	g.i("JNE %s_vec", name)
	g.p("%s_tail:", name)
	if k.avx512 {
		g.i("KORTESTW K1, K1")
		g.i("JEQ %s_next", name)
		g.i("%s.Z (SI)(BX*1), K1, Z0", mov)
		g.i("%s.Z (DX)(BX*1), K1, Z1", mov)
		op()
		g.i("%s Z0, K1, (DI)(BX*1)", mov)
	}
	g.p("%s_next:", name)
	g.i("ADDQ R10, SI")
	g.i("ADDQ R10, DI")
	g.i("DECQ R9")
	g.i("JNE %s_row", name)
	g.p("%s_done:", name)
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

func genEpilogue(s, d *gen) {
	d.p("// Each sets out[i·ld+j] = max(floor, c[i·ld+j] + bias[j]) + fix for i < rows")
	d.p("// and j < len(bias) (AVX-512), or j below len(bias)'s last whole vector")
	d.p("// (AVX2: 8 float32 or 4 float64 lanes). See biasRows.\n")
	for _, avx512 := range []bool{true, false} {
		for _, e := range []elem{f32, f64} {
			k := biasKernel{e, avx512}
			s.biasRows(k)
			d.p("//go:noescape\nfunc %s(%s)\n", k.name(), k.params())
		}
	}
}

func init() {
	outputs = append(outputs, output{"epilogue_amd64.s", "epilogue_asm_amd64.go", genEpilogue})
}
