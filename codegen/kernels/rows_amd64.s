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
