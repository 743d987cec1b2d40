// Command asmgen writes the AVX2+FMA micro-kernels of package kernels:
// gemm_amd64.s and the Go declarations that go with it, gemm_amd64.go. It
// uses only the standard library: the kernels are small, their register
// assignment is fixed (see below), and `go vet`'s asmdecl check verifies the
// frame offsets against the generated declarations.
//
// Run it from codegen/kernels with `go generate` (the directive is in
// generate.go), or directly:
//
//	go run ./asmgen -s gemm_amd64.s -go gemm_amd64.go
//
// Every kernel computes a tile of at most 6 rows and 2 vectors of columns
// (16 float32 or 8 float64) held in registers for the whole inner loop:
//
//	Y0, Y1      one row of B
//	Y2, Y3      broadcasts of A's elements (alternating); in masked kernels
//	            Y3 holds the column mask instead
//	Y4 … Y15    the accumulators: row r, vector v in Y(4+2r+v)
//	SI, R11     A pointers (rows 0–2, rows 3–5); R10 = A's row stride
//	DI          B pointer
//	DX, R9      C pointers (rows 0–2, rows 3–5); R8 = ldc in bytes
//	CX          k counter
//
// Kernels:
//
//	<t>gemmPacked6x<NR>    packed A and B panels (see blocked.go), k unrolled 4×
//	<t>gemmDirect<R>x<NR>  A and B read in place with strides, R = 1 … 6 rows
//	<t>gemmDirect<R>x<W>m  the same for the right edge: the last vector is
//	                       loaded and stored under a mask, W = NR or NR/2
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"
)

// elem describes one element type.
type elem struct {
	goType string // float32 or float64
	size   int    // bytes
	lanes  int    // per YMM register
	sfx    string // instruction suffix: PS or PD
	prefix string // s or d
}

func (e elem) bcast() string {
	if e.size == 4 {
		return "VBROADCASTSS"
	}
	return "VBROADCASTSD"
}

func (e elem) mov() string { return "VMOVUP" + e.sfx[1:] }

var (
	f32 = elem{"float32", 4, 8, "PS", "s"}
	f64 = elem{"float64", 8, 4, "PD", "d"}
)

const (
	maxRows = 6 // rows of a tile
	unroll  = 4 // k steps per iteration of the packed kernels' main loop
)

// kernel is one generated function.
type kernel struct {
	e      elem
	rows   int  // 1 … 6
	vecs   int  // 1 or 2 vectors of columns
	masked bool // the last vector is masked
	packed bool
}

func (k kernel) name() string {
	w := k.vecs * k.e.lanes
	switch {
	case k.packed:
		return fmt.Sprintf("%sgemmPacked%dx%d", k.e.prefix, k.rows, w)
	case k.masked:
		return fmt.Sprintf("%sgemmDirect%dx%dm", k.e.prefix, k.rows, w)
	}
	return fmt.Sprintf("%sgemmDirect%dx%d", k.e.prefix, k.rows, w)
}

func (k kernel) params() string {
	t := k.e.goType
	switch {
	case k.packed:
		return fmt.Sprintf("k int, a, b, c []%s, ldc int, accum bool", t)
	case k.masked:
		return fmt.Sprintf("k int, a []%s, rsa, csa int, b []%s, ldb int, c []%s, ldc int, accum bool, mask []int32", t, t, t)
	}
	return fmt.Sprintf("k int, a []%s, rsa, csa int, b []%s, ldb int, c []%s, ldc int, accum bool", t, t, t)
}

func (k kernel) frame() string {
	switch {
	case k.packed:
		return "$0-89"
	case k.masked:
		return "$0-144"
	}
	return "$0-113"
}

func (k kernel) accumOff() int {
	if k.packed {
		return 88
	}
	return 112
}

type gen struct{ bytes.Buffer }

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(&g.Buffer, format, args...)
	g.WriteByte('\n')
}

func (g *gen) i(format string, args ...any) { g.p("\t"+format, args...) }

// acc is the accumulator of row r, vector v in set u (kernels with several
// sets split k between them to hide the FMA latency).
func (k kernel) acc(u, r, v int) string { return fmt.Sprintf("Y%d", 4+2*(u*k.rows+r)+v) }

// ksplit is the number of accumulator sets: enough independent FMA chains
// (at least 8) to cover the FMA latency when the tile has few rows.
func (k kernel) ksplit() int {
	if k.packed {
		return 1
	}
	switch k.rows {
	case 1:
		return 4
	case 2, 3:
		return 2
	}
	return 1
}

// stridedA is the address of A's element in row r for the direct kernels.
func stridedA(r int) string {
	return [...]string{"(SI)", "(SI)(R10*1)", "(SI)(R10*2)", "(R11)", "(R11)(R10*1)", "(R11)(R10*2)"}[r]
}

// cAddr is the address of row r of the C tile plus off bytes.
func cAddr(r, off int) string {
	a := [...]string{"(DX)", "(DX)(R8*1)", "(DX)(R8*2)", "(R9)", "(R9)(R8*1)", "(R9)(R8*2)"}[r]
	if off != 0 {
		return fmt.Sprint(off) + a
	}
	return a
}

func disp(off int, base string) string {
	if off == 0 {
		return "(" + base + ")"
	}
	return fmt.Sprintf("%d(%s)", off, base)
}

// step emits one k step: load a row of B at bOff(DI), broadcast each row's
// element of A and multiply-add.
func (g *gen) step(k kernel, u int, aOf func(r int) string, bOff int) {
	for v := range k.vecs {
		src := disp(bOff+v*32, "DI")
		if k.masked && v == k.vecs-1 {
			g.i("VMASKMOV%s %s, Y3, Y%d", k.e.sfx, src, v)
		} else {
			g.i("%s %s, Y%d", k.e.mov(), src, v)
		}
	}
	for r := range k.rows {
		b := 2
		if !k.masked {
			b += r % 2
		}
		g.i("%s %s, Y%d", k.e.bcast(), aOf(r), b)
		for v := range k.vecs {
			g.i("VFMADD231%s Y%d, Y%d, %s", k.e.sfx, v, b, k.acc(u, r, v))
		}
	}
}

// store writes (or, when accum is set, adds) the accumulators to C.
func (g *gen) store(k kernel) {
	name := k.name()
	g.i("SHLQ $%d, R8", log2(k.e.size))
	if k.rows > 3 {
		g.i("LEAQ (DX)(R8*2), R9")
		g.i("ADDQ R8, R9")
	}
	g.i("CMPB accum+%d(FP), $0", k.accumOff())
	g.i("JEQ %s_store", name)
	for r := range k.rows {
		for v := range k.vecs {
			if k.masked && v == k.vecs-1 {
				g.i("VMASKMOV%s %s, Y3, Y2", k.e.sfx, cAddr(r, v*32))
				g.i("VADD%s Y2, %s, %s", k.e.sfx, k.acc(0, r, v), k.acc(0, r, v))
			} else {
				g.i("VADD%s %s, %s, %s", k.e.sfx, cAddr(r, v*32), k.acc(0, r, v), k.acc(0, r, v))
			}
		}
	}
	g.p("%s_store:", name)
	for r := range k.rows {
		for v := range k.vecs {
			if k.masked && v == k.vecs-1 {
				g.i("VMASKMOV%s %s, Y3, %s", k.e.sfx, k.acc(0, r, v), cAddr(r, v*32))
			} else {
				g.i("%s %s, %s", k.e.mov(), k.acc(0, r, v), cAddr(r, v*32))
			}
		}
	}
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

func (g *gen) header(k kernel) {
	g.p("// func %s(%s)", k.name(), k.params())
	g.p("TEXT ·%s(SB), NOSPLIT, %s", k.name(), k.frame())
}

func (g *gen) zero(k kernel) {
	for u := range k.ksplit() {
		for r := range k.rows {
			for v := range k.vecs {
				a := k.acc(u, r, v)
				g.i("VXORPS %s, %s, %s", a, a, a)
			}
		}
	}
}

// reduce adds the accumulator sets into set 0.
func (g *gen) reduce(k kernel) {
	for u := 1; u < k.ksplit(); u++ {
		for r := range k.rows {
			for v := range k.vecs {
				g.i("VADD%s %s, %s, %s", k.e.sfx, k.acc(u, r, v), k.acc(0, r, v), k.acc(0, r, v))
			}
		}
	}
}

func log2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

// packed emits a kernel on packed panels: a holds k columns of 6
// consecutive elements, b holds k rows of NR consecutive elements; k ≥ 0.
func (g *gen) packed(k kernel) {
	name, e := k.name(), k.e
	g.header(k)
	g.i("MOVQ k+0(FP), CX")
	g.i("MOVQ a_base+8(FP), SI")
	g.i("MOVQ b_base+32(FP), DI")
	g.i("MOVQ c_base+56(FP), DX")
	g.i("MOVQ ldc+80(FP), R8")
	g.zero(k)
	aStep := k.rows * e.size
	bStep := k.vecs * 32
	a := func(off int) func(r int) string {
		return func(r int) string { return disp(off+r*e.size, "SI") }
	}
	g.i("CMPQ CX, $%d", unroll)
	g.i("JLT %s_tail", name)
	g.p("%s_loop%d:", name, unroll)
	for u := range unroll {
		g.step(k, 0, a(u*aStep), u*bStep)
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
	g.step(k, 0, a(0), 0)
	g.i("ADDQ $%d, SI", aStep)
	g.i("ADDQ $%d, DI", bStep)
	g.i("DECQ CX")
	g.i("JNE %s_loop1", name)
	g.p("%s_done:", name)
	g.store(k)
}

// direct emits a kernel on unpacked operands: A's element (i, p) is at
// a[i*rsa + p*csa], B's (p, j) at b[p*ldb + j]; strides are in elements;
// k ≥ 1.
func (g *gen) direct(k kernel) {
	name, e := k.name(), k.e
	g.header(k)
	g.i("MOVQ k+0(FP), CX")
	g.i("MOVQ a_base+8(FP), SI")
	g.i("MOVQ rsa+32(FP), R10")
	g.i("MOVQ csa+40(FP), R12")
	g.i("MOVQ b_base+48(FP), DI")
	g.i("MOVQ ldb+72(FP), R13")
	g.i("MOVQ c_base+80(FP), DX")
	g.i("MOVQ ldc+104(FP), R8")
	if k.masked {
		g.i("MOVQ mask_base+120(FP), AX")
		g.i("VMOVDQU (AX), Y3")
	}
	sh := log2(e.size)
	g.i("SHLQ $%d, R10", sh)
	g.i("SHLQ $%d, R12", sh)
	g.i("SHLQ $%d, R13", sh)
	if k.rows > 3 {
		g.i("LEAQ (SI)(R10*2), R11")
		g.i("ADDQ R10, R11")
	}
	g.zero(k)
	advance := func() {
		g.i("ADDQ R12, SI")
		if k.rows > 3 {
			g.i("ADDQ R12, R11")
		}
		g.i("ADDQ R13, DI")
	}
	if s := k.ksplit(); s > 1 {
		// s k steps per iteration, one into each accumulator set.
		g.i("CMPQ CX, $%d", s)
		g.i("JLT %s_tail", name)
		g.p("%s_loop%d:", name, s)
		for u := range s {
			g.step(k, u, stridedA, 0)
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
	g.step(k, 0, stridedA, 0)
	advance()
	g.i("DECQ CX")
	g.i("JNE %s_loop", name)
	g.p("%s_done:", name)
	g.reduce(k)
	g.store(k)
}

func (g *gen) cpu() {
	g.p("// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)")
	g.p("TEXT ·cpuid(SB), NOSPLIT, $0-24")
	g.i("MOVL leaf+0(FP), AX")
	g.i("MOVL sub+4(FP), CX")
	g.i("CPUID")
	g.i("MOVL AX, eax+8(FP)")
	g.i("MOVL BX, ebx+12(FP)")
	g.i("MOVL CX, ecx+16(FP)")
	g.i("MOVL DX, edx+20(FP)")
	g.i("RET")
	g.p("")
	g.p("// func xgetbv() (eax, edx uint32)")
	g.p("TEXT ·xgetbv(SB), NOSPLIT, $0-8")
	g.i("MOVL $0, CX")
	g.i("XGETBV")
	g.i("MOVL AX, eax+0(FP)")
	g.i("MOVL DX, edx+4(FP)")
	g.i("RET")
}

const header = "// Code generated by asmgen (go run ./asmgen); DO NOT EDIT.\n\n//go:build amd64 && !purego\n\n"

func main() {
	sOut := flag.String("s", "gemm_amd64.s", "assembly output file")
	goOut := flag.String("go", "gemm_amd64.go", "Go declarations output file")
	flag.Parse()
	if dotRequested() { // the attention kernels (dot.go)
		if err := writeDot(); err != nil {
			log.Fatal(err)
		}
		return
	}

	var s, d gen
	s.p("%s#include \"textflag.h\"\n", header)
	d.p("%spackage kernels\n", header)
	for _, e := range []elem{f32, f64} {
		pk := kernel{e: e, rows: maxRows, vecs: 2, packed: true}
		s.packed(pk)
		d.p("//go:noescape\nfunc %s(%s)\n", pk.name(), pk.params())
		var full, wide, narrow []string
		for rows := 1; rows <= maxRows; rows++ {
			for _, k := range []kernel{
				{e: e, rows: rows, vecs: 2},
				{e: e, rows: rows, vecs: 2, masked: true},
				{e: e, rows: rows, vecs: 1, masked: true},
			} {
				s.direct(k)
				d.p("//go:noescape\nfunc %s(%s)\n", k.name(), k.params())
			}
			full = append(full, kernel{e: e, rows: rows, vecs: 2}.name())
			wide = append(wide, kernel{e: e, rows: rows, vecs: 2, masked: true}.name())
			narrow = append(narrow, kernel{e: e, rows: rows, vecs: 1, masked: true}.name())
		}
		t := e.goType
		d.p("// %sDirect[r] computes an r×%d tile; %sDirectMasked[0][r] an r×%d tile and",
			e.prefix, 2*e.lanes, e.prefix, e.lanes)
		d.p("// %sDirectMasked[1][r] an r×%d tile, of which the mask keeps the left columns.", e.prefix, 2*e.lanes)
		d.p("var (")
		d.p("%sDirect = [%d]directKernel[%s]{nil, %s}", e.prefix, maxRows+1, t, strings.Join(full, ", "))
		d.p("%sDirectMasked = [2][%d]maskedKernel[%s]{{nil, %s}, {nil, %s}}", e.prefix, maxRows+1, t,
			strings.Join(narrow, ", "), strings.Join(wide, ", "))
		d.p(")\n")
	}
	s.cpu()
	d.p("func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)\n")
	d.p("func xgetbv() (eax, edx uint32)")
	src, err := format.Source(d.Bytes())
	if err != nil {
		log.Fatalf("formatting Go declarations: %v\n%s", err, d.Bytes())
	}
	if err := os.WriteFile(*sOut, s.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*goOut, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
