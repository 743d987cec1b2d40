package main

// The NT kernels (B transposed), for both instruction sets: a band of
// rows × cols of C, 4 columns at a time (the last group masked), each group
// a grid of dot products of rows of A with rows of B, both contiguous in k;
// the loop over the groups is in the kernel, which saves a Go call per
// 4 columns. Each accumulator holds one (row, column) pair's partial
// sums across a vector's lanes, so the k loop needs no shuffles; the lanes
// are added up once, at the end, four columns at a time with horizontal
// adds. Registers (V is Z for AVX-512, Y for AVX2):
//
//	V1 … V(rows)        a vector of each row of A
//	V7                  a vector of a row of B
//	V8 … V(8+4·rows-1)  the accumulators: row r, column j in V(8+4r+j)
//	Y0 … Y7             scratch for the final reduction (AVX-512)
//	K1 (Y3 for AVX2)    the lanes of the last, partial vector of k
//	K2 (Y3 after the loop for AVX2)  the group's columns of C kept
//	SI, R8 … R12        A's rows; DI, R13, AX, DX B's rows (a row past
//	                    cols repeats row 0; its result is masked off)
//	BX                  byte offset into the rows; CX vector counter
//	(after the loop: DI C's rows, R13 ldc in bytes, AX accumulate)
//
// AVX2 has 16 registers, so its tiles are at most 2 rows; AVX-512's are up
// to 6 (24 accumulators).

import (
	"fmt"
	"strings"
)

type dotK struct {
	e      elem
	rows   int
	avx512 bool
}

const dotCols = 4

func (k dotK) name() string {
	isa := ""
	if k.avx512 {
		isa = "512"
	}
	return fmt.Sprintf("%sgemm%sDot%dx%d", k.e.prefix, isa, k.rows, dotCols)
}

func (k dotK) params() string {
	t := k.e.goType
	return fmt.Sprintf("k int, a []%s, lda int, b []%s, ldb int, c []%s, ldc int, accum bool, cols int", t, t, t)
}

func (k dotK) vec() string {
	if k.avx512 {
		return "Z"
	}
	return "Y"
}

func (k dotK) vbytes() int {
	if k.avx512 {
		return 64
	}
	return 32
}

func (k dotK) acc(r, j int) string { return fmt.Sprintf("%s%d", k.vec(), 8+dotCols*r+j) }

// iota returns the AVX2 constant 0, 1, 2, … in lanes of the element's size.
func (k dotK) iota() string { return fmt.Sprintf("dotIota%d<>(SB)", 8*k.e.size) }

// laneMask sets Y3 to the AVX2 mask of the first n lanes (n in CX).
func (g *gen) laneMask(k dotK, n string) {
	g.i("MOVQ %s, X3", n)
	if k.e.size == 4 {
		g.i("VPBROADCASTD X3, Y3")
		g.i("VPCMPGTD %s, Y3, Y3", k.iota())
	} else {
		g.i("VPBROADCASTQ X3, Y3")
		g.i("VPCMPGTQ %s, Y3, Y3", k.iota())
	}
}

func (g *gen) dot(k dotK) {
	name, e := k.name(), k.e
	lanes := k.vbytes() / e.size
	mov := "VMOVUP" + e.sfx[1:]
	aPtr := []string{"SI", "R8", "R9", "R10", "R11", "R12"}
	bPtr := []string{"DI", "R13", "AX", "DX"}
	v := k.vec()
	g.p("// func %s(%s)", name, k.params())
	g.p("TEXT ·%s(SB), NOSPLIT, $0-120", name)
	if k.avx512 {
		// K1: the low k mod lanes bits.
		g.i("MOVQ k+0(FP), CX")
		g.i("ANDQ $%d, CX", lanes-1)
		g.i("MOVL $1, AX")
		g.i("SHLL CX, AX")
		g.i("DECL AX")
		g.i("KMOVW AX, K1")
	}
	g.i("MOVQ a_base+8(FP), SI")
	g.i("MOVQ lda+32(FP), CX")
	g.i("SHLQ $%d, CX", log2(e.size))
	for r := 1; r < k.rows; r++ {
		g.i("LEAQ (%s)(CX*1), %s", aPtr[r-1], aPtr[r])
	}
	// One group of 4 columns per iteration; b_base, c_base and cols in the
	// frame step to the next group at its end.
	g.p("%s_group:", name)
	g.i("MOVQ cols+112(FP), BX")
	g.i("CMPQ BX, $%d", dotCols)
	g.i("MOVQ $%d, CX", dotCols)
	g.i("CMOVQGT CX, BX") // BX: the group's columns, min(cols, 4)
	if k.avx512 {
		// K2: the low BX bits.
		g.i("MOVQ BX, CX")
		g.i("MOVL $1, AX")
		g.i("SHLL CX, AX")
		g.i("DECL AX")
		g.i("KMOVW AX, K2")
	} else {
		g.i("MOVQ k+0(FP), CX")
		g.i("ANDQ $%d, CX", lanes-1)
		g.i("MOVQ CX, R12") // k mod lanes, for the tail
		g.laneMask(k, "CX")
	}
	// B's rows: row j < BX at b + j·ldb, the others at b.
	g.i("MOVQ b_base+40(FP), DI")
	g.i("MOVQ ldb+64(FP), CX")
	g.i("SHLQ $%d, CX", log2(e.size))
	g.i("LEAQ (DI)(CX*1), R13")
	g.i("LEAQ (DI)(CX*2), AX")
	g.i("LEAQ (AX)(CX*1), DX")
	for j := 1; j < dotCols; j++ {
		g.i("CMPQ BX, $%d", j+1)
		g.i("CMOVQLT DI, %s", bPtr[j])
	}
	for r := range k.rows {
		for j := range dotCols {
			a := k.acc(r, j)
			g.i("VPXOR%s %s, %s, %s", map[bool]string{true: "D", false: ""}[k.avx512], a, a, a)
		}
	}
	g.i("XORQ BX, BX")
	g.i("MOVQ k+0(FP), CX")
	g.i("SHRQ $%d, CX", log2(lanes))
	load := func(masked bool, ptr string, dst int) {
		switch {
		case !masked:
			g.i("%s (%s)(BX*1), %s%d", mov, ptr, v, dst)
		case k.avx512:
			g.i("%s.Z (%s)(BX*1), K1, %s%d", mov, ptr, v, dst)
		default:
			g.i("VMASKMOV%s (%s)(BX*1), Y3, Y%d", e.sfx, ptr, dst)
		}
	}
	step := func(masked bool) {
		for r := range k.rows {
			load(masked, aPtr[r], 1+r)
		}
		for j := range dotCols {
			load(masked, bPtr[j], 7)
			for r := range k.rows {
				g.i("VFMADD231%s %s7, %s%d, %s", e.sfx, v, v, 1+r, k.acc(r, j))
			}
		}
	}
	g.i("TESTQ CX, CX")
	g.i("JEQ %s_tail", name)
	g.p("%s_loop:", name)
	step(false)
	g.i("ADDQ $%d, BX", k.vbytes())
	g.i("DECQ CX")
	g.i("JNE %s_loop", name)
	g.p("%s_tail:", name)
	if k.avx512 {
		g.i("KORTESTW K1, K1")
	} else {
		g.i("TESTQ R12, R12")
	}
	g.i("JEQ %s_reduce", name)
	step(true)
	g.p("%s_reduce:", name)
	// B's pointers are free now: DI walks C's rows, R13 is ldc in bytes,
	// AX the accumulate flag.
	if !k.avx512 {
		g.i("MOVQ cols+112(FP), CX")
		g.i("CMPQ CX, $%d", dotCols)
		g.i("MOVQ $%d, AX", dotCols)
		g.i("CMOVQGT AX, CX")
		g.laneMask(k, "CX")
	}
	g.i("MOVQ c_base+72(FP), DI")
	g.i("MOVQ ldc+96(FP), R13")
	g.i("SHLQ $%d, R13", log2(e.size))
	g.i("MOVBQZX accum+104(FP), AX")
	for r := range k.rows {
		// in[j]: column j's sums in a YMM register.
		in := make([]string, dotCols)
		for j := range dotCols {
			in[j] = "Y" + k.acc(r, j)[1:]
			if k.avx512 {
				g.i("VEXTRACTF64X4 $1, %s, Y%d", k.acc(r, j), j)
				g.i("VADD%s %s, Y%d, Y%d", e.sfx, in[j], j, j)
				in[j] = fmt.Sprintf("Y%d", j)
			}
		}
		res := "X4"
		if e.size == 4 {
			g.i("VHADDPS %s, %s, Y4", in[1], in[0])
			g.i("VHADDPS %s, %s, Y5", in[3], in[2])
			g.i("VHADDPS Y5, Y4, Y4")
			g.i("VEXTRACTF128 $1, Y4, X5")
			g.i("VADDPS X5, X4, X4")
		} else {
			g.i("VHADDPD %s, %s, Y4", in[1], in[0])
			g.i("VHADDPD %s, %s, Y5", in[3], in[2])
			g.i("VPERM2F128 $0x20, Y5, Y4, Y6")
			g.i("VPERM2F128 $0x31, Y5, Y4, Y7")
			g.i("VADDPD Y7, Y6, Y4")
			res = "Y4"
		}
		tmp := res[:1] + "5"
		g.i("TESTQ AX, AX")
		g.i("JEQ %s_store%d", name, r)
		if k.avx512 {
			g.i("%s.Z (DI), K2, %s", mov, tmp)
		} else {
			g.i("VMASKMOV%s (DI), %s3, %s", e.sfx, res[:1], tmp)
		}
		g.i("VADD%s %s, %s, %s", e.sfx, tmp, res, res)
		g.p("%s_store%d:", name, r)
		if k.avx512 {
			g.i("%s %s, K2, (DI)", mov, res)
		} else {
			g.i("VMASKMOV%s %s, %s3, (DI)", e.sfx, res, res[:1])
		}
		if r < k.rows-1 {
			g.i("ADDQ R13, DI")
		}
	}
	// The next group: 4 columns of C and 4 rows of B on.
	g.i("ADDQ $%d, c_base+72(FP)", dotCols*e.size)
	g.i("MOVQ ldb+64(FP), CX")
	g.i("SHLQ $%d, CX", log2(dotCols*e.size))
	g.i("ADDQ CX, b_base+40(FP)")
	g.i("SUBQ $%d, cols+112(FP)", dotCols)
	g.i("JGT %s_group", name)
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// genDot writes the NT kernels of one instruction set and the tables
// gemmDot indexes by tile height.
func genDot(s, d *gen, avx512 bool) {
	maxR, isa := 2, ""
	if avx512 {
		maxR, isa = maxRows, "512"
	} else {
		s.p("DATA dotIota32<>+0(SB)/8, $0x0000000100000000")
		s.p("DATA dotIota32<>+8(SB)/8, $0x0000000300000002")
		s.p("DATA dotIota32<>+16(SB)/8, $0x0000000500000004")
		s.p("DATA dotIota32<>+24(SB)/8, $0x0000000700000006")
		s.p("GLOBL dotIota32<>(SB), RODATA|NOPTR, $32\n")
		for i := range 4 {
			s.p("DATA dotIota64<>+%d(SB)/8, $%d", 8*i, i)
		}
		s.p("GLOBL dotIota64<>(SB), RODATA|NOPTR, $32\n")
	}
	for _, e := range []elem{f32, f64} {
		var names []string
		for rows := 1; rows <= maxR; rows++ {
			k := dotK{e, rows, avx512}
			s.dot(k)
			d.p("//go:noescape\nfunc %s(%s)\n", k.name(), k.params())
			names = append(names, k.name())
		}
		d.p("// %sDot%s[r] computes an r×%d tile of C = A·Bᵀ, of which the first cols columns are kept.", e.prefix, isa, dotCols)
		d.p("var %sDot%s = []dotKernel[%s]{nil, %s}\n", e.prefix, isa, e.goType, strings.Join(names, ", "))
	}
}
