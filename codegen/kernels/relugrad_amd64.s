//go:build !purego

#include "textflag.h"

// ReLU's gradient over float32 rows: dst[i] = dy[i] where x[i] > 0, else
// +0. The comparison is ordered (a NaN x selects 0, as Go's x > 0 does) and
// dy's bits are moved, not computed, so the result is the interpreter's bit
// for bit, −0 and NaN included.

// func reluGradAVX2(dst, x, dy []float32)
// Eight lanes at a time; len(x) is a multiple of 8.
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-72
	MOVQ   dst_base+0(FP), DI
	MOVQ   x_base+24(FP), SI
	MOVQ   x_len+32(FP), CX
	MOVQ   dy_base+48(FP), DX
	SHRQ   $3, CX
	JZ     relu2_done
	VXORPS Y0, Y0, Y0

relu2_loop:
	VMOVUPS (SI), Y1
	VCMPPS  $0x1e, Y0, Y1, Y1 // x > 0, ordered: all ones or zero
	VANDPS  (DX), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     relu2_loop

relu2_done:
	VZEROUPPER
	RET

// func reluGradAVX512(dst, x, dy []float32)
// Sixteen lanes at a time; len(x) is a multiple of 16.
TEXT ·reluGradAVX512(SB), NOSPLIT, $0-72
	MOVQ   dst_base+0(FP), DI
	MOVQ   x_base+24(FP), SI
	MOVQ   x_len+32(FP), CX
	MOVQ   dy_base+48(FP), DX
	SHRQ   $4, CX
	JZ     relu512_done
	VPXORD Z0, Z0, Z0

relu512_loop:
	VMOVUPS   (SI), Z1
	VCMPPS    $0x1e, Z0, Z1, K1 // x > 0, ordered
	VMOVUPS.Z (DX), K1, Z2
	VMOVUPS   Z2, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	ADDQ      $64, DX
	DECQ      CX
	JNZ       relu512_loop

relu512_done:
	VZEROUPPER
	RET
