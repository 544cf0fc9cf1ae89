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
