//go:build !purego

#include "textflag.h"

// The row kernels' AVX-512 and AVX2 paths (rows.go, rows_amd64.go).

// ADAM512(off): adamRow32's update of the 8 elements at byte offset off,
// in float64 lanes. Constants in Z16–Z24 (adamHyper's fields in order);
// p, g, m, v at DI, SI, R8, R9. Uses Z0–Z4. The operations and their order
// are the scalar loop's, without FMA, so the results are bit for bit its.
#define ADAM512(off) \
	VCVTPS2PD off(SI), Z1  \ // g
	VMULPD    Z1, Z16, Z1  \ // gi = scale·g
	VCVTPS2PD off(R8), Z2  \ // m
	VMULPD    Z17, Z2, Z2  \ // m·β₁
	VMULPD    Z1, Z18, Z3  \ // (1−β₁)·gi
	VADDPD    Z3, Z2, Z2   \
	VCVTPD2PS Z2, Y2       \ // m as stored
	VMOVUPS   Y2, off(R8)  \
	VCVTPS2PD Y2, Z2       \
	VCVTPS2PD off(R9), Z4  \ // v
	VMULPD    Z19, Z4, Z4  \ // v·β₂
	VMULPD    Z1, Z20, Z3  \ // (1−β₂)·gi
	VMULPD    Z1, Z3, Z3   \ // ·gi
	VADDPD    Z3, Z4, Z4   \
	VCVTPD2PS Z4, Y4       \ // v as stored
	VMOVUPS   Y4, off(R9)  \
	VCVTPS2PD Y4, Z4       \
	VSQRTPD   Z4, Z4       \
	VDIVPD    Z23, Z4, Z4  \ // √v/bc2
	VADDPD    Z24, Z4, Z4  \ // + ε
	VMULPD    Z2, Z22, Z2  \ // step·m
	VDIVPD    Z4, Z2, Z2   \
	VCVTPS2PD off(DI), Z0  \ // p
	VMULPD    Z21, Z0, Z0  \ // p·decay
	VSUBPD    Z2, Z0, Z0   \
	VCVTPD2PS Z0, Y0       \
	VMOVUPS   Y0, off(DI)

// ADAM256(off): ADAM512 for the 4 elements at byte offset off, with the
// constants in Y7–Y15. Uses Y0–Y4.
#define ADAM256(off) \
	VCVTPS2PD off(SI), Y1  \
	VMULPD    Y1, Y7, Y1   \
	VCVTPS2PD off(R8), Y2  \
	VMULPD    Y8, Y2, Y2   \
	VMULPD    Y1, Y9, Y3   \
	VADDPD    Y3, Y2, Y2   \
	VCVTPD2PSY Y2, X2      \
	VMOVUPS   X2, off(R8)  \
	VCVTPS2PD X2, Y2       \
	VCVTPS2PD off(R9), Y4  \
	VMULPD    Y10, Y4, Y4  \
	VMULPD    Y1, Y11, Y3  \
	VMULPD    Y1, Y3, Y3   \
	VADDPD    Y3, Y4, Y4   \
	VCVTPD2PSY Y4, X4      \
	VMOVUPS   X4, off(R9)  \
	VCVTPS2PD X4, Y4       \
	VSQRTPD   Y4, Y4       \
	VDIVPD    Y14, Y4, Y4  \
	VADDPD    Y15, Y4, Y4  \
	VMULPD    Y2, Y13, Y2  \
	VDIVPD    Y4, Y2, Y2   \
	VCVTPS2PD off(DI), Y0  \
	VMULPD    Y12, Y0, Y0  \
	VSUBPD    Y2, Y0, Y0   \
	VCVTPD2PSY Y0, X0      \
	VMOVUPS   X0, off(DI)

// func adamAVX512(p, g, m, v []float32, h *adamHyper)
// len(p) is a multiple of 8; g, m and v are as long.
TEXT ·adamAVX512(SB), NOSPLIT, $0-104
	MOVQ         p_base+0(FP), DI
	MOVQ         p_len+8(FP), CX
	MOVQ         g_base+24(FP), SI
	MOVQ         m_base+48(FP), R8
	MOVQ         v_base+72(FP), R9
	MOVQ         h+96(FP), AX
	VBROADCASTSD 0(AX), Z16
	VBROADCASTSD 8(AX), Z17
	VBROADCASTSD 16(AX), Z18
	VBROADCASTSD 24(AX), Z19
	VBROADCASTSD 32(AX), Z20
	VBROADCASTSD 40(AX), Z21
	VBROADCASTSD 48(AX), Z22
	VBROADCASTSD 56(AX), Z23
	VBROADCASTSD 64(AX), Z24
	SHRQ         $3, CX
	JZ           adam512_done

adam512_loop:
	ADAM512(0)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  adam512_loop

adam512_done:
	VZEROUPPER
	RET

// func adamAVX2(p, g, m, v []float32, h *adamHyper)
// len(p) is a multiple of 8; g, m and v are as long.
TEXT ·adamAVX2(SB), NOSPLIT, $0-104
	MOVQ         p_base+0(FP), DI
	MOVQ         p_len+8(FP), CX
	MOVQ         g_base+24(FP), SI
	MOVQ         m_base+48(FP), R8
	MOVQ         v_base+72(FP), R9
	MOVQ         h+96(FP), AX
	VBROADCASTSD 0(AX), Y7
	VBROADCASTSD 8(AX), Y8
	VBROADCASTSD 16(AX), Y9
	VBROADCASTSD 24(AX), Y10
	VBROADCASTSD 32(AX), Y11
	VBROADCASTSD 40(AX), Y12
	VBROADCASTSD 48(AX), Y13
	VBROADCASTSD 56(AX), Y14
	VBROADCASTSD 64(AX), Y15
	SHRQ         $3, CX
	JZ           adam2_done

adam2_loop:
	ADAM256(0)
	ADAM256(16)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  adam2_loop

adam2_done:
	VZEROUPPER
	RET

// func colSum64AVX512(acc []float64, x []float32, rows, stride int)
// acc[j] += x[r·stride + j] for j < 64, r < rows, in row order, in eight
// accumulators of 8 float64 lanes. len(acc) = 64.
TEXT ·colSum64AVX512(SB), NOSPLIT, $0-64
	MOVQ    acc_base+0(FP), DI
	MOVQ    x_base+24(FP), SI
	MOVQ    rows+48(FP), CX
	MOVQ    stride+56(FP), DX
	SHLQ    $2, DX
	VMOVUPD 0(DI), Z0
	VMOVUPD 64(DI), Z1
	VMOVUPD 128(DI), Z2
	VMOVUPD 192(DI), Z3
	VMOVUPD 256(DI), Z4
	VMOVUPD 320(DI), Z5
	VMOVUPD 384(DI), Z6
	VMOVUPD 448(DI), Z7
	TESTQ   CX, CX
	JZ      cs512_store

cs512_loop:
	VCVTPS2PD 0(SI), Z8
	VCVTPS2PD 32(SI), Z9
	VCVTPS2PD 64(SI), Z10
	VCVTPS2PD 96(SI), Z11
	VCVTPS2PD 128(SI), Z12
	VCVTPS2PD 160(SI), Z13
	VCVTPS2PD 192(SI), Z14
	VCVTPS2PD 224(SI), Z15
	VADDPD    Z8, Z0, Z0
	VADDPD    Z9, Z1, Z1
	VADDPD    Z10, Z2, Z2
	VADDPD    Z11, Z3, Z3
	VADDPD    Z12, Z4, Z4
	VADDPD    Z13, Z5, Z5
	VADDPD    Z14, Z6, Z6
	VADDPD    Z15, Z7, Z7
	ADDQ      DX, SI
	DECQ      CX
	JNZ       cs512_loop

cs512_store:
	VMOVUPD Z0, 0(DI)
	VMOVUPD Z1, 64(DI)
	VMOVUPD Z2, 128(DI)
	VMOVUPD Z3, 192(DI)
	VMOVUPD Z4, 256(DI)
	VMOVUPD Z5, 320(DI)
	VMOVUPD Z6, 384(DI)
	VMOVUPD Z7, 448(DI)
	VZEROUPPER
	RET

// func colSum32AVX2(acc []float64, x []float32, rows, stride int)
// colSum64AVX512 for 32 columns in eight accumulators of 4 lanes.
// len(acc) = 32.
TEXT ·colSum32AVX2(SB), NOSPLIT, $0-64
	MOVQ    acc_base+0(FP), DI
	MOVQ    x_base+24(FP), SI
	MOVQ    rows+48(FP), CX
	MOVQ    stride+56(FP), DX
	SHLQ    $2, DX
	VMOVUPD 0(DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	VMOVUPD 128(DI), Y4
	VMOVUPD 160(DI), Y5
	VMOVUPD 192(DI), Y6
	VMOVUPD 224(DI), Y7
	TESTQ   CX, CX
	JZ      cs2_store

cs2_loop:
	VCVTPS2PD 0(SI), Y8
	VCVTPS2PD 16(SI), Y9
	VCVTPS2PD 32(SI), Y10
	VCVTPS2PD 48(SI), Y11
	VCVTPS2PD 64(SI), Y12
	VCVTPS2PD 80(SI), Y13
	VCVTPS2PD 96(SI), Y14
	VCVTPS2PD 112(SI), Y15
	VADDPD    Y8, Y0, Y0
	VADDPD    Y9, Y1, Y1
	VADDPD    Y10, Y2, Y2
	VADDPD    Y11, Y3, Y3
	VADDPD    Y12, Y4, Y4
	VADDPD    Y13, Y5, Y5
	VADDPD    Y14, Y6, Y6
	VADDPD    Y15, Y7, Y7
	ADDQ      DX, SI
	DECQ      CX
	JNZ       cs2_loop

cs2_store:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VMOVUPD Y4, 128(DI)
	VMOVUPD Y5, 160(DI)
	VMOVUPD Y6, 192(DI)
	VMOVUPD Y7, 224(DI)
	VZEROUPPER
	RET

// HSUM512(z, y, x): the sum of z's 8 float64 lanes into the low lane of x
// (y and x the same register's halves); uses Y15.
#define HSUM512(z, y, x) \
	VEXTRACTF64X4 $1, z, Y15 \
	VADDPD        Y15, y, y  \
	VEXTRACTF128  $1, y, X15 \
	VADDPD        X15, x, x  \
	VUNPCKHPD     x, x, X15  \
	VADDSD        X15, x, x

// HSUM256(y, x): the sum of y's 4 float64 lanes into the low lane of x;
// uses Y15.
#define HSUM256(y, x) \
	VEXTRACTF128 $1, y, X15 \
	VADDPD       X15, x, x  \
	VUNPCKHPD    x, x, X15  \
	VADDSD       X15, x, x

// func devSumsAVX512(x []float32, c float64) (s, s2 float64)
// s = Σ(x − c), s2 = Σ(x − c)² in float64, lane by lane then across the
// lanes. len(x) is a multiple of 8.
TEXT ·devSumsAVX512(SB), NOSPLIT, $0-48
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD c+24(FP), Z7
	VPXORQ       Z0, Z0, Z0
	VPXORQ       Z2, Z2, Z2
	SHRQ         $3, CX
	JZ           ds512_sum

ds512_loop:
	VCVTPS2PD   (SI), Z4
	VSUBPD      Z7, Z4, Z4
	VADDPD      Z4, Z0, Z0
	VFMADD231PD Z4, Z4, Z2
	ADDQ        $32, SI
	DECQ        CX
	JNZ         ds512_loop

ds512_sum:
	HSUM512(Z0, Y0, X0)
	HSUM512(Z2, Y2, X2)
	MOVSD X0, s+32(FP)
	MOVSD X2, s2+40(FP)
	VZEROUPPER
	RET

// func devSumsAVX2(x []float32, c float64) (s, s2 float64)
// devSumsAVX512 in 4 lanes. len(x) is a multiple of 4.
TEXT ·devSumsAVX2(SB), NOSPLIT, $0-48
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD c+24(FP), Y7
	VXORPD       Y0, Y0, Y0
	VXORPD       Y2, Y2, Y2
	SHRQ         $2, CX
	JZ           ds2_sum

ds2_loop:
	VCVTPS2PD   (SI), Y4
	VSUBPD      Y7, Y4, Y4
	VADDPD      Y4, Y0, Y0
	VFMADD231PD Y4, Y4, Y2
	ADDQ        $16, SI
	DECQ        CX
	JNZ         ds2_loop

ds2_sum:
	HSUM256(Y0, X0)
	HSUM256(Y2, X2)
	MOVSD X0, s+32(FP)
	MOVSD X2, s2+40(FP)
	VZEROUPPER
	RET

// func lnGradSumsAVX512(x, dh, gamma []float32, mean, rstd float64) (sdy, sdyx float64)
// With dy = float64(dh·γ) (the product in float32) and x̂ = (x − mean)·rstd:
// sdy = Σ dy, sdyx = Σ dy·x̂. len(x) is a multiple of 8; dh and gamma are
// as long.
TEXT ·lnGradSumsAVX512(SB), NOSPLIT, $0-104
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVQ         dh_base+24(FP), DX
	MOVQ         gamma_base+48(FP), R8
	VBROADCASTSD mean+72(FP), Z6
	VBROADCASTSD rstd+80(FP), Z7
	VPXORQ       Z0, Z0, Z0
	VPXORQ       Z2, Z2, Z2
	SHRQ         $3, CX
	JZ           lg512_sum

lg512_loop:
	VMOVUPS     (DX), Y4
	VMULPS      (R8), Y4, Y4
	VCVTPS2PD   Y4, Z4
	VCVTPS2PD   (SI), Z5
	VSUBPD      Z6, Z5, Z5
	VMULPD      Z7, Z5, Z5
	VADDPD      Z4, Z0, Z0
	VFMADD231PD Z5, Z4, Z2
	ADDQ        $32, SI
	ADDQ        $32, DX
	ADDQ        $32, R8
	DECQ        CX
	JNZ         lg512_loop

lg512_sum:
	HSUM512(Z0, Y0, X0)
	HSUM512(Z2, Y2, X2)
	MOVSD X0, sdy+88(FP)
	MOVSD X2, sdyx+96(FP)
	VZEROUPPER
	RET

// func lnGradSumsAVX2(x, dh, gamma []float32, mean, rstd float64) (sdy, sdyx float64)
// lnGradSumsAVX512 in 4 lanes. len(x) is a multiple of 4.
TEXT ·lnGradSumsAVX2(SB), NOSPLIT, $0-104
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVQ         dh_base+24(FP), DX
	MOVQ         gamma_base+48(FP), R8
	VBROADCASTSD mean+72(FP), Y6
	VBROADCASTSD rstd+80(FP), Y7
	VXORPD       Y0, Y0, Y0
	VXORPD       Y2, Y2, Y2
	SHRQ         $2, CX
	JZ           lg2_sum

lg2_loop:
	VMOVUPS     (DX), X4
	VMULPS      (R8), X4, X4
	VCVTPS2PD   X4, Y4
	VCVTPS2PD   (SI), Y5
	VSUBPD      Y6, Y5, Y5
	VMULPD      Y7, Y5, Y5
	VADDPD      Y4, Y0, Y0
	VFMADD231PD Y5, Y4, Y2
	ADDQ        $16, SI
	ADDQ        $16, DX
	ADDQ        $16, R8
	DECQ        CX
	JNZ         lg2_loop

lg2_sum:
	HSUM256(Y0, X0)
	HSUM256(Y2, X2)
	MOVSD X0, sdy+88(FP)
	MOVSD X2, sdyx+96(FP)
	VZEROUPPER
	RET

// func lnAffineAVX512(y, xhat, x, gamma, beta []float32, mean, rstd float64)
// x̂ = float32((x − mean)·rstd) in float64 lanes, stored in xhat unless
// xhat is empty, and y = x̂·γ + β in float32 (product rounded, no FMA):
// layerNormAffine's loop bit for bit. len(x) is a multiple of 8; y, gamma,
// beta (and xhat when not empty) are as long.
TEXT ·lnAffineAVX512(SB), NOSPLIT, $0-136
	MOVQ         y_base+0(FP), DI
	MOVQ         xhat_base+24(FP), R9
	MOVQ         xhat_len+32(FP), R10
	MOVQ         x_base+48(FP), SI
	MOVQ         x_len+56(FP), CX
	MOVQ         gamma_base+72(FP), R8
	MOVQ         beta_base+96(FP), DX
	VBROADCASTSD mean+120(FP), Z6
	VBROADCASTSD rstd+128(FP), Z7
	SHRQ         $3, CX
	JZ           la512_done

la512_loop:
	VCVTPS2PD (SI), Z0
	VSUBPD    Z6, Z0, Z0
	VMULPD    Z7, Z0, Z0
	VCVTPD2PS Z0, Y0
	TESTQ     R10, R10
	JZ        la512_nohat
	VMOVUPS   Y0, (R9)
	ADDQ      $32, R9

la512_nohat:
	VMULPS  (R8), Y0, Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, DX
	DECQ    CX
	JNZ     la512_loop

la512_done:
	VZEROUPPER
	RET

// func lnAffineAVX2(y, xhat, x, gamma, beta []float32, mean, rstd float64)
// lnAffineAVX512 in 4 lanes. len(x) is a multiple of 4.
TEXT ·lnAffineAVX2(SB), NOSPLIT, $0-136
	MOVQ         y_base+0(FP), DI
	MOVQ         xhat_base+24(FP), R9
	MOVQ         xhat_len+32(FP), R10
	MOVQ         x_base+48(FP), SI
	MOVQ         x_len+56(FP), CX
	MOVQ         gamma_base+72(FP), R8
	MOVQ         beta_base+96(FP), DX
	VBROADCASTSD mean+120(FP), Y6
	VBROADCASTSD rstd+128(FP), Y7
	SHRQ         $2, CX
	JZ           la2_done

la2_loop:
	VCVTPS2PD  (SI), Y0
	VSUBPD     Y6, Y0, Y0
	VMULPD     Y7, Y0, Y0
	VCVTPD2PSY Y0, X0
	TESTQ      R10, R10
	JZ         la2_nohat
	VMOVUPS    X0, (R9)
	ADDQ       $16, R9

la2_nohat:
	VMULPS  (R8), X0, X0
	VADDPS  (DX), X0, X0
	VMOVUPS X0, (DI)
	ADDQ    $16, SI
	ADDQ    $16, DI
	ADDQ    $16, R8
	ADDQ    $16, DX
	DECQ    CX
	JNZ     la2_loop

la2_done:
	VZEROUPPER
	RET

// func lnGradAVX512(dx, x, dh, gamma []float32, mean, rstd, mdy, mdyx float64)
// dx = float32((dy − mdy − x̂·mdyx)·rstd), dy = float64(dh·γ) (the product
// in float32), x̂ = (x − mean)·rstd, in float64 lanes in that order:
// layerNormGradScaled's last loop bit for bit. len(x) is a multiple of 8;
// dx, dh and gamma are as long.
TEXT ·lnGradAVX512(SB), NOSPLIT, $0-128
	MOVQ         dx_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVQ         dh_base+48(FP), DX
	MOVQ         gamma_base+72(FP), R8
	VBROADCASTSD mean+96(FP), Z4
	VBROADCASTSD rstd+104(FP), Z5
	VBROADCASTSD mdy+112(FP), Z6
	VBROADCASTSD mdyx+120(FP), Z7
	SHRQ         $3, CX
	JZ           lgr512_done

lgr512_loop:
	VMOVUPS   (DX), Y0
	VMULPS    (R8), Y0, Y0
	VCVTPS2PD Y0, Z0
	VSUBPD    Z6, Z0, Z0
	VCVTPS2PD (SI), Z1
	VSUBPD    Z4, Z1, Z1
	VMULPD    Z5, Z1, Z1
	VMULPD    Z7, Z1, Z1
	VSUBPD    Z1, Z0, Z0
	VMULPD    Z5, Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $32, DX
	ADDQ      $32, R8
	DECQ      CX
	JNZ       lgr512_loop

lgr512_done:
	VZEROUPPER
	RET

// func lnGradAVX2(dx, x, dh, gamma []float32, mean, rstd, mdy, mdyx float64)
// lnGradAVX512 in 4 lanes. len(x) is a multiple of 4.
TEXT ·lnGradAVX2(SB), NOSPLIT, $0-128
	MOVQ         dx_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVQ         dh_base+48(FP), DX
	MOVQ         gamma_base+72(FP), R8
	VBROADCASTSD mean+96(FP), Y4
	VBROADCASTSD rstd+104(FP), Y5
	VBROADCASTSD mdy+112(FP), Y6
	VBROADCASTSD mdyx+120(FP), Y7
	SHRQ         $2, CX
	JZ           lgr2_done

lgr2_loop:
	VMOVUPS    (DX), X0
	VMULPS     (R8), X0, X0
	VCVTPS2PD  X0, Y0
	VSUBPD     Y6, Y0, Y0
	VCVTPS2PD  (SI), Y1
	VSUBPD     Y4, Y1, Y1
	VMULPD     Y5, Y1, Y1
	VMULPD     Y7, Y1, Y1
	VSUBPD     Y1, Y0, Y0
	VMULPD     Y5, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	ADDQ       $16, DX
	ADDQ       $16, R8
	DECQ       CX
	JNZ        lgr2_loop

lgr2_done:
	VZEROUPPER
	RET

// func rowDivAVX512(x []float32, s float64)
// x[i] = float32(float64(x[i])/s) in float64 lanes: softmax's
// normalisation, bit for bit the scalar loop's. len(x) is a multiple of 8.
TEXT ·rowDivAVX512(SB), NOSPLIT, $0-32
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD s+24(FP), Z7
	SHRQ         $3, CX
	JZ           rd512_done

rd512_loop:
	VCVTPS2PD (SI), Z0
	VDIVPD    Z7, Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (SI)
	ADDQ      $32, SI
	DECQ      CX
	JNZ       rd512_loop

rd512_done:
	VZEROUPPER
	RET

// func rowDivAVX2(x []float32, s float64)
// rowDivAVX512 in 4 lanes. len(x) is a multiple of 4.
TEXT ·rowDivAVX2(SB), NOSPLIT, $0-32
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD s+24(FP), Y7
	SHRQ         $2, CX
	JZ           rd2_done

rd2_loop:
	VCVTPS2PD  (SI), Y0
	VDIVPD     Y7, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (SI)
	ADDQ       $16, SI
	DECQ       CX
	JNZ        rd2_loop

rd2_done:
	VZEROUPPER
	RET

// func rowDotAVX512(a, b []float32) float64
// Σ float64(a)·float64(b) in 8 float64 lanes, then across them. len(a)
// is a multiple of 8; b is as long.
TEXT ·rowDotAVX512(SB), NOSPLIT, $0-56
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DX
	VPXORQ Z0, Z0, Z0
	SHRQ   $3, CX
	JZ     dot512_sum

dot512_loop:
	VCVTPS2PD   (SI), Z1
	VCVTPS2PD   (DX), Z2
	VFMADD231PD Z1, Z2, Z0
	ADDQ        $32, SI
	ADDQ        $32, DX
	DECQ        CX
	JNZ         dot512_loop

dot512_sum:
	HSUM512(Z0, Y0, X0)
	MOVSD X0, ret+48(FP)
	VZEROUPPER
	RET

// func rowDotAVX2(a, b []float32) float64
// rowDotAVX512 in 4 lanes. len(a) is a multiple of 4.
TEXT ·rowDotAVX2(SB), NOSPLIT, $0-56
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DX
	VXORPD Y0, Y0, Y0
	SHRQ   $2, CX
	JZ     dot2_sum

dot2_loop:
	VCVTPS2PD   (SI), Y1
	VCVTPS2PD   (DX), Y2
	VFMADD231PD Y1, Y2, Y0
	ADDQ        $16, SI
	ADDQ        $16, DX
	DECQ        CX
	JNZ         dot2_loop

dot2_sum:
	HSUM256(Y0, X0)
	MOVSD X0, ret+48(FP)
	VZEROUPPER
	RET

// func smGradAVX512(out, y, dy []float32, s float64)
// out = float32(float64(y)·(float64(dy) − s)) in float64 lanes: softmax's
// backward row, bit for bit the scalar loop's. len(y) is a multiple of 8;
// out and dy are as long.
TEXT ·smGradAVX512(SB), NOSPLIT, $0-80
	MOVQ         out_base+0(FP), DI
	MOVQ         y_base+24(FP), SI
	MOVQ         y_len+32(FP), CX
	MOVQ         dy_base+48(FP), DX
	VBROADCASTSD s+72(FP), Z7
	SHRQ         $3, CX
	JZ           sg512_done

sg512_loop:
	VCVTPS2PD (DX), Z0
	VSUBPD    Z7, Z0, Z0
	VCVTPS2PD (SI), Z1
	VMULPD    Z0, Z1, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	DECQ      CX
	JNZ       sg512_loop

sg512_done:
	VZEROUPPER
	RET

// func smGradAVX2(out, y, dy []float32, s float64)
// smGradAVX512 in 4 lanes. len(y) is a multiple of 4.
TEXT ·smGradAVX2(SB), NOSPLIT, $0-80
	MOVQ         out_base+0(FP), DI
	MOVQ         y_base+24(FP), SI
	MOVQ         y_len+32(FP), CX
	MOVQ         dy_base+48(FP), DX
	VBROADCASTSD s+72(FP), Y7
	SHRQ         $2, CX
	JZ           sg2_done

sg2_loop:
	VCVTPS2PD  (DX), Y0
	VSUBPD     Y7, Y0, Y0
	VCVTPS2PD  (SI), Y1
	VMULPD     Y0, Y1, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DX
	ADDQ       $16, DI
	DECQ       CX
	JNZ        sg2_loop

sg2_done:
	VZEROUPPER
	RET

// func scaleMaxAVX512(x []float32, c float32) (m float32, nan bool)
// x[i] = x[i]·c in float32, and the largest product, or nan when a product
// is NaN. len(x) is a multiple of 16, at least 16.
TEXT ·scaleMaxAVX512(SB), NOSPLIT, $0-37
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS c+24(FP), Z7
	KXORW        K2, K2, K2
	VMULPS       (SI), Z7, Z1
	VMOVUPS      Z1, (SI)
	VCMPPS       $3, Z1, Z1, K2
	ADDQ         $64, SI
	SHRQ         $4, CX
	DECQ         CX
	JZ           sm512_sum

sm512_loop:
	VMULPS  (SI), Z7, Z0
	VMOVUPS Z0, (SI)
	VCMPPS  $3, Z0, Z0, K1
	KORW    K1, K2, K2
	VMAXPS  Z0, Z1, Z1
	ADDQ    $64, SI
	DECQ    CX
	JNZ     sm512_loop

sm512_sum:
	VEXTRACTF64X4 $1, Z1, Y0
	VMAXPS        Y0, Y1, Y1
	VEXTRACTF128  $1, Y1, X0
	VMAXPS        X0, X1, X1
	VPERMILPS     $0x4e, X1, X0
	VMAXPS        X0, X1, X1
	VPERMILPS     $0xb1, X1, X0
	VMAXPS        X0, X1, X1
	MOVSS         X1, m+32(FP)
	KORTESTW      K2, K2
	SETNE         nan+36(FP)
	VZEROUPPER
	RET

// func scaleMaxAVX2(x []float32, c float32) (m float32, nan bool)
// scaleMaxAVX512 eight lanes at a time. len(x) is a multiple of 8, at
// least 8.
TEXT ·scaleMaxAVX2(SB), NOSPLIT, $0-37
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS c+24(FP), Y7
	VMULPS       (SI), Y7, Y1
	VMOVUPS      Y1, (SI)
	VCMPPS       $3, Y1, Y1, Y3
	ADDQ         $32, SI
	SHRQ         $3, CX
	DECQ         CX
	JZ           sm2_sum

sm2_loop:
	VMULPS  (SI), Y7, Y0
	VMOVUPS Y0, (SI)
	VCMPPS  $3, Y0, Y0, Y2
	VORPS   Y2, Y3, Y3
	VMAXPS  Y0, Y1, Y1
	ADDQ    $32, SI
	DECQ    CX
	JNZ     sm2_loop

sm2_sum:
	VEXTRACTF128 $1, Y1, X0
	VMAXPS       X0, X1, X1
	VPERMILPS    $0x4e, X1, X0
	VMAXPS       X0, X1, X1
	VPERMILPS    $0xb1, X1, X0
	VMAXPS       X0, X1, X1
	MOVSS        X1, m+32(FP)
	VMOVMSKPS    Y3, AX
	TESTL        AX, AX
	SETNE        nan+36(FP)
	VZEROUPPER
	RET

// func sgdAVX512(p, g []float32, lr, scale float64)
// p = float32(float64(p) − lr·(scale·float64(g))) in float64 lanes, the
// emitted SGD loop's operations in its order. len(p) is a multiple of 8;
// g is as long.
TEXT ·sgdAVX512(SB), NOSPLIT, $0-64
	MOVQ         p_base+0(FP), DI
	MOVQ         p_len+8(FP), CX
	MOVQ         g_base+24(FP), SI
	VBROADCASTSD lr+48(FP), Z7
	VBROADCASTSD scale+56(FP), Z6
	SHRQ         $3, CX
	JZ           sgd512_done

sgd512_loop:
	VCVTPS2PD (SI), Z1
	VMULPD    Z1, Z6, Z1
	VMULPD    Z1, Z7, Z1
	VCVTPS2PD (DI), Z0
	VSUBPD    Z1, Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       sgd512_loop

sgd512_done:
	VZEROUPPER
	RET

// func sgdAVX2(p, g []float32, lr, scale float64)
// sgdAVX512 in 4 lanes. len(p) is a multiple of 4.
TEXT ·sgdAVX2(SB), NOSPLIT, $0-64
	MOVQ         p_base+0(FP), DI
	MOVQ         p_len+8(FP), CX
	MOVQ         g_base+24(FP), SI
	VBROADCASTSD lr+48(FP), Y7
	VBROADCASTSD scale+56(FP), Y6
	SHRQ         $2, CX
	JZ           sgd2_done

sgd2_loop:
	VCVTPS2PD  (SI), Y1
	VMULPD     Y1, Y6, Y1
	VMULPD     Y1, Y7, Y1
	VCVTPS2PD  (DI), Y0
	VSUBPD     Y1, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        sgd2_loop

sgd2_done:
	VZEROUPPER
	RET
