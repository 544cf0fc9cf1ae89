//go:build !purego

#include "textflag.h"

// func packOffsAVX512(dst, src *float32, offs *int32, k, panels int, mask uint32)
//
// For each row p < k, copies the floats at src + offs[p] into the panels of
// packed B: panel q's row p at dst + (q·k + p)·32 floats. The last panel
// takes the columns that mask selects and zeros the others.
TEXT ·packOffsAVX512(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ k+24(FP), CX
	MOVQ panels+32(FP), DX
	MOVL mask+40(FP), R9
	KMOVW R9, K1
	SHRL $16, R9
	KMOVW R9, K2
	MOVQ CX, R10
	SHLQ $7, R10 // bytes between panels: k·128
	DECQ DX // full panels
	TESTQ CX, CX
	JEQ done
row:
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*4), AX // row source
	MOVQ DI, BX // row destination in panel 0
	MOVQ DX, R11
	TESTQ R11, R11
	JEQ last
full:
	VMOVUPS (AX), Z0
	VMOVUPS 64(AX), Z1
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	ADDQ $128, AX
	ADDQ R10, BX
	DECQ R11
	JNE full
last:
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z 64(AX), K2, Z1
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	ADDQ $4, R8
	ADDQ $128, DI
	DECQ CX
	JNE row
done:
	VZEROUPPER
	RET

// func packOffsActAVX512(dst, src *float32, offs *int32, k, panels int, mask uint32, scale, shift *float32, relu bool)
//
// packOffsAVX512 with the input prologue: row p is multiplied by scale[p],
// shifted by shift[p] and, if relu, clamped at 0 as it is copied (multiply,
// then add, rounding like scaleShift).
TEXT ·packOffsActAVX512(SB), NOSPLIT, $0-65
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ k+24(FP), CX
	MOVQ panels+32(FP), DX
	MOVL mask+40(FP), R9
	KMOVW R9, K1
	SHRL $16, R9
	KMOVW R9, K2
	MOVQ scale+48(FP), R12
	MOVQ shift+56(FP), R13
	MOVBLZX relu+64(FP), R9
	VXORPS Z18, Z18, Z18 // the clamp: 0 with relu, else -Inf
	TESTQ R9, R9
	JNE act_relu
	MOVL $0xff800000, R9
	VPBROADCASTD R9, Z18
act_relu:
	MOVQ CX, R10
	SHLQ $7, R10 // bytes between panels: k·128
	DECQ DX // full panels
	TESTQ CX, CX
	JEQ act_done
act_row:
	VBROADCASTSS (R12), Z16
	VBROADCASTSS (R13), Z17
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*4), AX // row source
	MOVQ DI, BX // row destination in panel 0
	MOVQ DX, R11
	TESTQ R11, R11
	JEQ act_last
act_full:
	VMULPS (AX), Z16, Z0
	VMULPS 64(AX), Z16, Z1
	VADDPS Z17, Z0, Z0
	VADDPS Z17, Z1, Z1
	VMAXPS Z18, Z0, Z0
	VMAXPS Z18, Z1, Z1
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	ADDQ $128, AX
	ADDQ R10, BX
	DECQ R11
	JNE act_full
act_last:
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z 64(AX), K2, Z1
	VMULPS Z16, Z0, Z0
	VMULPS Z16, Z1, Z1
	VADDPS Z17, Z0, Z0
	VADDPS Z17, Z1, Z1
	VMAXPS Z18, Z0, Z0
	VMAXPS Z18, Z1, Z1
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	ADDQ $4, R8
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $128, DI
	DECQ CX
	JNE act_row
act_done:
	VZEROUPPER
	RET
