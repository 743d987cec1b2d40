//go:build !purego

#include "textflag.h"

// GELU (tanh form, as x·σ(2u), u = √(2/π)(x + 0.044715x³)), its gradient
// and exp over float32 rows, eight lanes at a time with AVX2 and FMA. The
// exp of a (−2u for GELU): n = round(a·log2 e), r = a − n·ln2 (ln2 split in two for
// accuracy), e^r by its Taylor polynomial of degree 7, and 2ⁿ built in the
// exponent bits. a is clamped to [−87.3, 88]: above, e^a stays finite
// (1.6e38) so that σ = 1/(1 + e^a) is 0 rather than 1/Inf and e^a·σ is 1
// rather than Inf·0; below, e^a is 2⁻¹²⁶ instead of smaller, which 1 + e^a
// cannot tell apart. Each constant is one float32, broadcast when used.

DATA geluK<>+0(SB)/4, $0x3d372713 // 0.044715
GLOBL geluK<>(SB), RODATA|NOPTR, $4
DATA geluK3<>+0(SB)/4, $0x3e095d4f // 3·0.044715
GLOBL geluK3<>(SB), RODATA|NOPTR, $4
DATA geluNeg2C<>+0(SB)/4, $0xbfcc422a // −2√(2/π)
GLOBL geluNeg2C<>(SB), RODATA|NOPTR, $4
DATA gelu2C<>+0(SB)/4, $0x3fcc422a // 2√(2/π)
GLOBL gelu2C<>(SB), RODATA|NOPTR, $4
DATA expHi<>+0(SB)/4, $0x42b00000 // 88
GLOBL expHi<>(SB), RODATA|NOPTR, $4
DATA expLo<>+0(SB)/4, $0xc2ae999a // −87.3
GLOBL expLo<>(SB), RODATA|NOPTR, $4
DATA expLog2e<>+0(SB)/4, $0x3fb8aa3b // log2 e
GLOBL expLog2e<>(SB), RODATA|NOPTR, $4
DATA expLn2Hi<>+0(SB)/4, $0x3f318000 // 0.693359375
GLOBL expLn2Hi<>(SB), RODATA|NOPTR, $4
DATA expLn2Lo<>+0(SB)/4, $0xb95e8083 // ln 2 − 0.693359375
GLOBL expLn2Lo<>(SB), RODATA|NOPTR, $4
DATA expOne<>+0(SB)/4, $0x3f800000 // 1
GLOBL expOne<>(SB), RODATA|NOPTR, $4
DATA expC2<>+0(SB)/4, $0x3f000000 // 1/2
GLOBL expC2<>(SB), RODATA|NOPTR, $4
DATA expC3<>+0(SB)/4, $0x3e2aaaab // 1/6
GLOBL expC3<>(SB), RODATA|NOPTR, $4
DATA expC4<>+0(SB)/4, $0x3d2aaaab // 1/24
GLOBL expC4<>(SB), RODATA|NOPTR, $4
DATA expC5<>+0(SB)/4, $0x3c088889 // 1/120
GLOBL expC5<>(SB), RODATA|NOPTR, $4
DATA expC6<>+0(SB)/4, $0x3ab60b61 // 1/720
GLOBL expC6<>(SB), RODATA|NOPTR, $4
DATA expC7<>+0(SB)/4, $0x39500d01 // 1/5040
GLOBL expC7<>(SB), RODATA|NOPTR, $4

// EXP: e = exp(a) from a in Y2 into Y4, a clamped to [−87.3, 88]; leaves
// Y5 = 1. Uses Y3. MINPS and MAXPS return their second source when one
// operand is NaN, so a is that operand: NaN stays NaN.
#define EXP \
	VBROADCASTSS expHi<>(SB), Y3           \
	VMINPS       Y2, Y3, Y2                \
	VBROADCASTSS expLo<>(SB), Y3           \
	VMAXPS       Y2, Y3, Y2                \
	VBROADCASTSS expLog2e<>(SB), Y3        \
	VMULPS       Y3, Y2, Y3                \
	VROUNDPS     $0, Y3, Y3                \
	VBROADCASTSS expLn2Hi<>(SB), Y5        \
	VFNMADD231PS Y5, Y3, Y2                \
	VBROADCASTSS expLn2Lo<>(SB), Y5        \
	VFNMADD231PS Y5, Y3, Y2                \
	VBROADCASTSS expC7<>(SB), Y4           \
	VBROADCASTSS expC6<>(SB), Y5           \
	VFMADD213PS  Y5, Y2, Y4                \
	VBROADCASTSS expC5<>(SB), Y5           \
	VFMADD213PS  Y5, Y2, Y4                \
	VBROADCASTSS expC4<>(SB), Y5           \
	VFMADD213PS  Y5, Y2, Y4                \
	VBROADCASTSS expC3<>(SB), Y5           \
	VFMADD213PS  Y5, Y2, Y4                \
	VBROADCASTSS expC2<>(SB), Y5           \
	VFMADD213PS  Y5, Y2, Y4                \
	VBROADCASTSS expOne<>(SB), Y5          \
	VFMADD213PS  Y5, Y2, Y4                \
	VFMADD213PS  Y5, Y2, Y4                \
	VCVTPS2DQ    Y3, Y3                    \
	VPSLLD       $23, Y3, Y3               \
	VPADDD       Y5, Y3, Y3                \
	VMULPS       Y3, Y4, Y4

// GELU_EXP: from x in Y0, x² in Y1 and e = exp(−2u) in Y4; Y5 = 1.
// Uses Y2 and Y3.
#define GELU_EXP \
	VMULPS       Y0, Y0, Y1                \
	VBROADCASTSS geluK<>(SB), Y2           \
	VMULPS       Y2, Y1, Y2                \
	VMULPS       Y0, Y2, Y2                \
	VADDPS       Y0, Y2, Y2                \
	VBROADCASTSS geluNeg2C<>(SB), Y3       \
	VMULPS       Y3, Y2, Y2                \
	EXP

// func geluAVX2(dst, x []float32)
// len(x) is a multiple of 8 and len(dst) ≥ len(x); dst may be x.
TEXT ·geluAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	SHRQ $3, CX
	JZ   gelu_done

gelu_loop:
	VMOVUPS (SI), Y0
	GELU_EXP
	VADDPS  Y5, Y4, Y4
	VDIVPS  Y4, Y0, Y6
	VMOVUPS Y6, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     gelu_loop

gelu_done:
	VZEROUPPER
	RET

// func geluGradAVX2(dst, x, dy []float32)
// dst = dy · d/dx gelu(x) = dy·(s + 2x·s(1−s)·√(2/π)(1 + 3·0.044715x²)),
// s = σ(2u) = 1/(1 + e), with 1 − s computed as e·s (1 − s would cancel
// for large x). len(x) is a multiple of 8, dst and dy as long; dst may be x
// or dy.
TEXT ·geluGradAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ dy_base+48(FP), DX
	SHRQ $3, CX
	JZ   grad_done

grad_loop:
	VMOVUPS      (SI), Y0
	GELU_EXP
	VADDPS       Y5, Y4, Y6
	VDIVPS       Y6, Y5, Y6
	VMULPS       Y6, Y4, Y4
	VMULPS       Y6, Y4, Y4
	VMULPS       Y0, Y4, Y4
	VBROADCASTSS geluK3<>(SB), Y2
	VMULPS       Y2, Y1, Y1
	VADDPS       Y5, Y1, Y1
	VMULPS       Y1, Y4, Y4
	VBROADCASTSS gelu2C<>(SB), Y2
	VFMADD213PS  Y6, Y2, Y4
	VMULPS       (DX), Y4, Y4
	VMOVUPS      Y4, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	ADDQ         $32, DX
	DECQ         CX
	JNZ          grad_loop

grad_done:
	VZEROUPPER
	RET

// func expShiftAVX2(dst, x []float32, shift float32)
// dst = exp(x − shift), the numerators of a softmax. len(x) is a multiple
// of 8 and len(dst) ≥ len(x); dst may be x.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-52
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS shift+48(FP), Y7
	SHRQ         $3, CX
	JZ           exp_done

exp_loop:
	VMOVUPS (SI), Y2
	VSUBPS  Y7, Y2, Y2
	EXP
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     exp_loop

exp_done:
	VZEROUPPER
	RET

// The same three kernels with AVX-512F, sixteen lanes at a time: EXP512
// and GELU_EXP512 are EXP and GELU_EXP on Z registers (VRNDSCALEPS for
// VROUNDPS, which has no ZMM form), lane for lane the same operations, so
// the results equal the AVX2 kernels' bit for bit.

// EXP512: e = exp(a) from a in Z2 into Z4, as EXP; leaves Z5 = 1. Uses Z3.
#define EXP512 \
	VBROADCASTSS expHi<>(SB), Z3           \
	VMINPS       Z2, Z3, Z2                \
	VBROADCASTSS expLo<>(SB), Z3           \
	VMAXPS       Z2, Z3, Z2                \
	VBROADCASTSS expLog2e<>(SB), Z3        \
	VMULPS       Z3, Z2, Z3                \
	VRNDSCALEPS  $0, Z3, Z3                \
	VBROADCASTSS expLn2Hi<>(SB), Z5        \
	VFNMADD231PS Z5, Z3, Z2                \
	VBROADCASTSS expLn2Lo<>(SB), Z5        \
	VFNMADD231PS Z5, Z3, Z2                \
	VBROADCASTSS expC7<>(SB), Z4           \
	VBROADCASTSS expC6<>(SB), Z5           \
	VFMADD213PS  Z5, Z2, Z4                \
	VBROADCASTSS expC5<>(SB), Z5           \
	VFMADD213PS  Z5, Z2, Z4                \
	VBROADCASTSS expC4<>(SB), Z5           \
	VFMADD213PS  Z5, Z2, Z4                \
	VBROADCASTSS expC3<>(SB), Z5           \
	VFMADD213PS  Z5, Z2, Z4                \
	VBROADCASTSS expC2<>(SB), Z5           \
	VFMADD213PS  Z5, Z2, Z4                \
	VBROADCASTSS expOne<>(SB), Z5          \
	VFMADD213PS  Z5, Z2, Z4                \
	VFMADD213PS  Z5, Z2, Z4                \
	VCVTPS2DQ    Z3, Z3                    \
	VPSLLD       $23, Z3, Z3               \
	VPADDD       Z5, Z3, Z3                \
	VMULPS       Z3, Z4, Z4

// GELU_EXP512: GELU_EXP on Z registers.
#define GELU_EXP512 \
	VMULPS       Z0, Z0, Z1                \
	VBROADCASTSS geluK<>(SB), Z2           \
	VMULPS       Z2, Z1, Z2                \
	VMULPS       Z0, Z2, Z2                \
	VADDPS       Z0, Z2, Z2                \
	VBROADCASTSS geluNeg2C<>(SB), Z3       \
	VMULPS       Z3, Z2, Z2                \
	EXP512

// func geluAVX512(dst, x []float32)
// len(x) is a multiple of 16 and len(dst) ≥ len(x); dst may be x.
TEXT ·geluAVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	SHRQ $4, CX
	JZ   gelu512_done

gelu512_loop:
	VMOVUPS (SI), Z0
	GELU_EXP512
	VADDPS  Z5, Z4, Z4
	VDIVPS  Z4, Z0, Z6
	VMOVUPS Z6, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     gelu512_loop

gelu512_done:
	VZEROUPPER
	RET

// func geluGradAVX512(dst, x, dy []float32)
// geluGradAVX2 sixteen lanes at a time. len(x) is a multiple of 16.
TEXT ·geluGradAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ dy_base+48(FP), DX
	SHRQ $4, CX
	JZ   grad512_done

grad512_loop:
	VMOVUPS      (SI), Z0
	GELU_EXP512
	VADDPS       Z5, Z4, Z6
	VDIVPS       Z6, Z5, Z6
	VMULPS       Z6, Z4, Z4
	VMULPS       Z6, Z4, Z4
	VMULPS       Z0, Z4, Z4
	VBROADCASTSS geluK3<>(SB), Z2
	VMULPS       Z2, Z1, Z1
	VADDPS       Z5, Z1, Z1
	VMULPS       Z1, Z4, Z4
	VBROADCASTSS gelu2C<>(SB), Z2
	VFMADD213PS  Z6, Z2, Z4
	VMULPS       (DX), Z4, Z4
	VMOVUPS      Z4, (DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	ADDQ         $64, DX
	DECQ         CX
	JNZ          grad512_loop

grad512_done:
	VZEROUPPER
	RET

// func expShiftAVX512(dst, x []float32, shift float32)
// expShiftAVX2 sixteen lanes at a time. len(x) is a multiple of 16.
TEXT ·expShiftAVX512(SB), NOSPLIT, $0-52
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS shift+48(FP), Z7
	SHRQ         $4, CX
	JZ           exp512_done

exp512_loop:
	VMOVUPS (SI), Z2
	VSUBPS  Z7, Z2, Z2
	EXP512
	VMOVUPS Z4, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     exp512_loop

exp512_done:
	VZEROUPPER
	RET
