package main

// The AVX-512 GEMM kernels: gemm512_amd64.s and gemm512_amd64.go. They use
// only AVX-512F and VL instructions on ZMM registers (32 of them), with K
// registers masking the right edge. Register use:
//
//	packed kernels (rows R, V vectors of columns):
//	Z0 … Z(V-1)         one row of the B panel
//	Z(V), Z(V+1)        broadcasts of A's elements (alternating)
//	Z(V+2) …            the accumulators: row r, vector v in Z(V+2+V·r+v)
//	SI A panel, DI B panel, DX C, R8 ldc, CX k counter, R9 C row pointer
//
//	direct kernels: as the AVX2 ones (see main.go) with Z for Y, and the
//	column mask in K1 instead of Y3.
//
//	dot kernels (NT): see dotnt.go.

import "fmt"

// zmm is the number of lanes of a ZMM register.
func zmm(e elem) int { return 64 / e.size }

// packed512 describes one packed AVX-512 kernel.
type packed512 struct {
	e          elem
	rows, vecs int
}

func (k packed512) name() string {
	return fmt.Sprintf("%sgemm512Packed%dx%d", k.e.prefix, k.rows, k.vecs*zmm(k.e))
}

func (k packed512) acc(r, v int) string { return fmt.Sprintf("Z%d", k.vecs+2+k.vecs*r+v) }

// packed512Kernels are the packed kernels generated: 6 rows by 4 vectors
// (6×64 float32, 6×32 float64), 24 accumulators. Of the tiles measured on
// a Zen 5 (14×32, 12×32, 8×48, 6×64 for float32; 14×16, 6×32 for float64,
// see docs/kernels.md) these were the fastest; add an entry here to
// measure another.
var packed512Kernels = []packed512{{f32, 6, 4}, {f64, 6, 4}}

func (g *gen) packed512(k packed512) {
	name, e := k.name(), k.e
	if k.vecs+2+k.rows*k.vecs > 32 {
		panic(name + ": too many registers")
	}
	g.p("// func %s(k int, a, b, c []%s, ldc int, accum bool)", name, e.goType)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-89", name)
	g.i("MOVQ k+0(FP), CX")
	g.i("MOVQ a_base+8(FP), SI")
	g.i("MOVQ b_base+32(FP), DI")
	g.i("MOVQ c_base+56(FP), DX")
	g.i("MOVQ ldc+80(FP), R8")
	for r := range k.rows {
		for v := range k.vecs {
			a := k.acc(r, v)
			g.i("VPXORD %s, %s, %s", a, a, a)
		}
	}
	aStep, bStep := k.rows*e.size, k.vecs*64
	step := func(u int) {
		for v := range k.vecs {
			g.i("VMOVUP%s %d(DI), Z%d", e.sfx[1:], u*bStep+v*64, v)
		}
		for r := range k.rows {
			b := k.vecs + r%2
			g.i("%s %d(SI), Z%d", e.bcast(), u*aStep+r*e.size, b)
			for v := range k.vecs {
				g.i("VFMADD231%s Z%d, Z%d, %s", e.sfx, v, b, k.acc(r, v))
			}
		}
	}
	g.i("CMPQ CX, $%d", unroll)
	g.i("JLT %s_tail", name)
	g.p("%s_loop%d:", name, unroll)
	for u := range unroll {
		step(u)
	}
	g.i("ADDQ $%d, SI", unroll*aStep)
	g.i("ADDQ $%d, DI", unroll*bStep)
	g.i("SUBQ $%d, CX", unroll)
	g.i("CMPQ CX, $%d", unroll)
	g.i("JGE %s_loop%d", name, unroll)
	g.p("%s_tail:", name)
	g.i("TESTQ CX, CX")
	g.i("JEQ %s_done", name)
	g.p("%s_loop1:", name)
	step(0)
	g.i("ADDQ $%d, SI", aStep)
	g.i("ADDQ $%d, DI", bStep)
	g.i("DECQ CX")
	g.i("JNE %s_loop1", name)
	g.p("%s_done:", name)
	g.i("SHLQ $%d, R8", log2(e.size))
	g.i("CMPB accum+88(FP), $0")
	g.i("JEQ %s_store", name)
	g.i("MOVQ DX, R9")
	for r := range k.rows {
		for v := range k.vecs {
			g.i("VADD%s %d(R9), %s, %s", e.sfx, v*64, k.acc(r, v), k.acc(r, v))
		}
		if r < k.rows-1 {
			g.i("ADDQ R8, R9")
		}
	}
	g.p("%s_store:", name)
	for r := range k.rows {
		for v := range k.vecs {
			g.i("VMOVUP%s %s, %d(DX)", e.sfx[1:], k.acc(r, v), v*64)
		}
		if r < k.rows-1 {
			g.i("ADDQ R8, DX")
		}
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// direct512 emits a direct kernel (see gen.direct) on ZMM registers. k's
// lanes are those of a YMM register (elem.lanes); the kernel's are twice
// as many.
func (g *gen) direct512(k kernel) {
	name, e := k.name512(), k.e
	g.p("// func %s(%s)", name, k.params())
	g.p("TEXT ·%s(SB), NOSPLIT, %s", name, k.frame())
	g.i("MOVQ k+0(FP), CX")
	g.i("MOVQ a_base+8(FP), SI")
	g.i("MOVQ rsa+32(FP), R10")
	g.i("MOVQ csa+40(FP), R12")
	g.i("MOVQ b_base+48(FP), DI")
	g.i("MOVQ ldb+72(FP), R13")
	g.i("MOVQ c_base+80(FP), DX")
	g.i("MOVQ ldc+104(FP), R8")
	if k.masked {
		// The mask's int32 lanes, one per column, become K1's bits.
		g.i("MOVQ mask_base+120(FP), AX")
		g.i("VMOVDQU32 (AX), Z31")
		g.i("VPTESTMD Z31, Z31, K1")
	}
	sh := log2(e.size)
	g.i("SHLQ $%d, R10", sh)
	g.i("SHLQ $%d, R12", sh)
	g.i("SHLQ $%d, R13", sh)
	if k.rows > 3 {
		g.i("LEAQ (SI)(R10*2), R11")
		g.i("ADDQ R10, R11")
	}
	acc := func(u, r, v int) string { return "Z" + k.acc(u, r, v)[1:] }
	for u := range k.ksplit() {
		for r := range k.rows {
			for v := range k.vecs {
				a := acc(u, r, v)
				g.i("VPXORD %s, %s, %s", a, a, a)
			}
		}
	}
	step := func(u int) {
		for v := range k.vecs {
			src := disp(v*64, "DI")
			if k.masked && v == k.vecs-1 {
				g.i("VMOVUP%s.Z %s, K1, Z%d", e.sfx[1:], src, v)
			} else {
				g.i("VMOVUP%s %s, Z%d", e.sfx[1:], src, v)
			}
		}
		for r := range k.rows {
			b := 2 + r%2
			g.i("%s %s, Z%d", e.bcast(), stridedA(r), b)
			for v := range k.vecs {
				g.i("VFMADD231%s Z%d, Z%d, %s", e.sfx, v, b, acc(u, r, v))
			}
		}
	}
	advance := func() {
		g.i("ADDQ R12, SI")
		if k.rows > 3 {
			g.i("ADDQ R12, R11")
		}
		g.i("ADDQ R13, DI")
	}
	if s := k.ksplit(); s > 1 {
		g.i("CMPQ CX, $%d", s)
		g.i("JLT %s_tail", name)
		g.p("%s_loop%d:", name, s)
		for u := range s {
			step(u)
			advance()
		}
		g.i("SUBQ $%d, CX", s)
		g.i("CMPQ CX, $%d", s)
		g.i("JGE %s_loop%d", name, s)
		g.p("%s_tail:", name)
		g.i("TESTQ CX, CX")
		g.i("JEQ %s_done", name)
	}
	g.p("%s_loop:", name)
	step(0)
	advance()
	g.i("DECQ CX")
	g.i("JNE %s_loop", name)
	g.p("%s_done:", name)
	for u := 1; u < k.ksplit(); u++ {
		for r := range k.rows {
			for v := range k.vecs {
				g.i("VADD%s %s, %s, %s", e.sfx, acc(u, r, v), acc(0, r, v), acc(0, r, v))
			}
		}
	}
	g.i("SHLQ $%d, R8", log2(e.size))
	if k.rows > 3 {
		g.i("LEAQ (DX)(R8*2), R9")
		g.i("ADDQ R8, R9")
	}
	g.i("CMPB accum+%d(FP), $0", k.accumOff())
	g.i("JEQ %s_store", name)
	for r := range k.rows {
		for v := range k.vecs {
			if k.masked && v == k.vecs-1 {
				g.i("VMOVUP%s.Z %s, K1, Z2", e.sfx[1:], cAddr(r, v*64))
				g.i("VADD%s Z2, %s, %s", e.sfx, acc(0, r, v), acc(0, r, v))
			} else {
				g.i("VADD%s %s, %s, %s", e.sfx, cAddr(r, v*64), acc(0, r, v), acc(0, r, v))
			}
		}
	}
	g.p("%s_store:", name)
	for r := range k.rows {
		for v := range k.vecs {
			if k.masked && v == k.vecs-1 {
				g.i("VMOVUP%s %s, K1, %s", e.sfx[1:], acc(0, r, v), cAddr(r, v*64))
			} else {
				g.i("VMOVUP%s %s, %s", e.sfx[1:], acc(0, r, v), cAddr(r, v*64))
			}
		}
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// name512 is the name of the AVX-512 version of a direct kernel.
func (k kernel) name512() string {
	w := k.vecs * zmm(k.e)
	if k.masked {
		return fmt.Sprintf("%sgemm512Direct%dx%dm", k.e.prefix, k.rows, w)
	}
	return fmt.Sprintf("%sgemm512Direct%dx%d", k.e.prefix, k.rows, w)
}

func genAVX512(s, d *gen) {
	for _, pk := range packed512Kernels {
		s.packed512(pk)
		d.p("//go:noescape\nfunc %s(k int, a, b, c []%s, ldc int, accum bool)\n", pk.name(), pk.e.goType)
	}
	for _, e := range []elem{f32, f64} {
		var full, wide, narrow []string
		for rows := 1; rows <= maxRows; rows++ {
			for _, k := range []kernel{
				{e: e, rows: rows, vecs: 2},
				{e: e, rows: rows, vecs: 2, masked: true},
				{e: e, rows: rows, vecs: 1, masked: true},
			} {
				s.direct512(k)
				d.p("//go:noescape\nfunc %s(%s)\n", k.name512(), k.params())
			}
			full = append(full, kernel{e: e, rows: rows, vecs: 2}.name512())
			wide = append(wide, kernel{e: e, rows: rows, vecs: 2, masked: true}.name512())
			narrow = append(narrow, kernel{e: e, rows: rows, vecs: 1, masked: true}.name512())
		}
		directTables(d, e, zmm(e), full, narrow, wide)
	}
	genDot(s, d, true)
}

func init() {
	outputs = append(outputs, output{"gemm512_amd64.s", "gemm512_amd64.go", genAVX512})
}
