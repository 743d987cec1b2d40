package main

// The low-precision kernels of package kernels (lowp_amd64.s and its
// declarations, lowp_asm_amd64.go): matrix-vector products y = x·W for one
// row x, with W stored as int8 (times per-column f32 scales) and widened to
// f32 in registers. (The generator also widens bf16, wbytes 2; the bf16
// weights now run on the pair-layout kernels of lowppairs.go instead.)
//
// Each kernel computes blocks of 4 vectors of columns (32 with AVX2, 64
// with AVX-512) over all k rows of W, two rows per iteration into two sets
// of accumulators, which are added at the end:
//
//	X/Y/Z0–3     accumulators of even rows, 4–7 of odd rows
//	8, 9         broadcasts of x[l], x[l+1]
//	10–13        W's row widened to f32
//	SI x, DI W (current row), R8 W's row stride in bytes, R10 the block's
//	first W column, BX scales, DX y, CX rows left, R9 blocks left, R11 k,
//	R12 x's start

import "fmt"

type lowpKernel struct {
	name   string
	wbytes int  // bytes of one weight: 1 (int8) or 2 (bf16)
	scale  bool // multiply each column by its scale (int8)
	avx512 bool
}

func (k lowpKernel) reg(i int) string {
	if k.avx512 {
		return fmt.Sprintf("Z%d", i)
	}
	return fmt.Sprintf("Y%d", i)
}

func (k lowpKernel) lanes() int {
	if k.avx512 {
		return 16
	}
	return 8
}

// params are the Go parameters; the frame offsets below follow them.
func (k lowpKernel) params() string {
	w := "[]int8"
	if k.wbytes == 2 {
		w = "[]uint16"
	}
	return "k int, x []float32, w " + w + ", ldw int, s []float32, y []float32"
}

// widen loads one vector of W at off(DI) into register r as f32.
func (g *gen) widen(k lowpKernel, off, r int) {
	dst := k.reg(r)
	if k.wbytes == 1 {
		g.i("VPMOVSXBD %d(DI), %s", off, dst)
		g.i("VCVTDQ2PS %s, %s", dst, dst)
		return
	}
	g.i("VPMOVZXWD %d(DI), %s", off, dst)
	g.i("VPSLLD $16, %s, %s", dst, dst)
}

func (g *gen) lowpGemv(k lowpKernel) {
	g.p("// func %s(%s)", k.name, k.params())
	g.p("TEXT ·%s(SB), NOSPLIT, $0-112", k.name)
	g.i("MOVQ k+0(FP), R11")
	g.i("MOVQ x_base+8(FP), R12")
	g.i("MOVQ w_base+32(FP), R10")
	g.i("MOVQ ldw+56(FP), R8")
	if k.wbytes == 2 {
		g.i("SHLQ $1, R8")
	}
	g.i("MOVQ s_base+64(FP), BX")
	g.i("MOVQ y_base+88(FP), DX")
	g.i("MOVQ y_len+96(FP), R9")
	cols := 4 * k.lanes()
	shift := map[int]int{32: 5, 64: 6}[cols]
	g.i("SHRQ $%d, R9", shift)
	step := k.lanes() * k.wbytes // bytes of W per vector
	g.p("%s_block:", k.name)
	g.i("TESTQ R9, R9")
	g.i("JZ %s_done", k.name)
	for r := range 8 {
		g.i("VXORPS %s, %s, %s", k.reg(r), k.reg(r), k.reg(r))
	}
	g.i("MOVQ R10, DI")
	g.i("MOVQ R12, SI")
	g.i("MOVQ R11, CX")
	g.i("SHRQ $1, CX")
	g.i("JZ %s_tail", k.name)
	g.p("%s_loop2:", k.name)
	for set := range 2 {
		g.i("VBROADCASTSS %d(SI), %s", 4*set, k.reg(8+set))
		for v := range 4 {
			g.widen(k, v*step, 10+v)
		}
		for v := range 4 {
			g.i("VFMADD231PS %s, %s, %s", k.reg(10+v), k.reg(8+set), k.reg(4*set+v))
		}
		g.i("ADDQ R8, DI")
	}
	g.i("ADDQ $8, SI")
	g.i("DECQ CX")
	g.i("JNZ %s_loop2", k.name)
	g.p("%s_tail:", k.name)
	g.i("TESTQ $1, R11")
	g.i("JZ %s_store", k.name)
	g.i("VBROADCASTSS (SI), %s", k.reg(8))
	for v := range 4 {
		g.widen(k, v*step, 10+v)
		g.i("VFMADD231PS %s, %s, %s", k.reg(10+v), k.reg(8), k.reg(v))
	}
	g.p("%s_store:", k.name)
	vb := 4 * k.lanes() // bytes of f32 per vector
	for v := range 4 {
		g.i("VADDPS %s, %s, %s", k.reg(4+v), k.reg(v), k.reg(v))
		if k.scale {
			g.i("VMULPS %d(BX), %s, %s", v*vb, k.reg(v), k.reg(v))
		}
		g.i("VMOVUPS %s, %d(DX)", k.reg(v), v*vb)
	}
	g.i("ADDQ $%d, R10", 4*step)
	if k.scale {
		g.i("ADDQ $%d, BX", 4*vb)
	}
	g.i("ADDQ $%d, DX", 4*vb)
	g.i("DECQ R9")
	g.i("JMP %s_block", k.name)
	g.p("%s_done:", k.name)
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// lowpMain writes the low-precision kernels when -lowp-s is given.
func init() {
	outputs = append(outputs, output{"lowp_amd64.s", "lowp_asm_amd64.go", genLowp})
}

// genLowp writes the low-precision GEMV kernels.
func genLowp(s, d *gen) {
	kernels := []lowpKernel{
		{name: "qgemvI8AVX2", wbytes: 1, scale: true},
		{name: "qgemvI8AVX512", wbytes: 1, scale: true, avx512: true},
	}
	d.p("// Each computes y[j] = s[j]·Σₗ x[l]·w[l·ldw+j] for j < len(y), a")
	d.p("// multiple of 32 (AVX2) or 64 (AVX-512): 4 vectors of columns at a time.\n")
	for _, k := range kernels {
		s.lowpGemv(k)
		d.p("//go:noescape\nfunc %s(%s)\n", k.name, k.params())
	}
}
