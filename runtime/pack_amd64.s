//go:build !purego

#include "textflag.h"

// PREFETCH_AHEAD prefetches the 32 floats of the panel that the row 16
// steps ahead will read, when there is one (R11 rows left, R8 at this
// row's offset, SI at the panel's first column), then goes on at skip.
#define PREFETCH_AHEAD(skip) \
	CMPQ R11, $16 \
	JLE skip \
	MOVLQSX 64(R8), BX \
	PREFETCHT0 (SI)(BX*4) \
	PREFETCHT0 64(SI)(BX*4) \
skip:

// func packOffsAVX512(dst, src *float32, offs *int32, k, panels int, mask uint32)
//
// For each row p < k, copies the floats at src + offs[p] into the panels of
// packed B: panel q's row p at dst + (q·k + p)·32 floats. The last panel
// takes the columns that mask selects and zeros the others.
//
// It packs panel after panel, each one's k rows of 32 floats written one
// after the other. Row after row, writing 128 bytes to each panel in turn
// (k·128 bytes apart, a multiple of 4 KiB), took the two cores' shared
// pack of a 1024-channel 14×14 image 45 µs against 14 this way.
// The rows are read across, so the loop prefetches the row 16 steps
// ahead: at batch 8 the pack that follows the GEMM's streaming of the
// weights otherwise waits on the last-level cache (for a 1024-channel
// 14×14 image 80 µs against 38 with a prefetch). A prefetch never faults.
TEXT ·packOffsAVX512(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ k+24(FP), CX
	MOVQ panels+32(FP), DX
	MOVL mask+40(FP), R9
	KMOVW R9, K1
	SHRL $16, R9
	KMOVW R9, K2
	TESTQ CX, CX
	JEQ done
panel:
	MOVQ offs+16(FP), R8
	MOVQ CX, R11 // rows left
	DECQ DX // panels after this one
	JEQ last
full:
	PREFETCH_AHEAD(fullnopf)
	MOVLQSX (R8), AX
	VMOVUPS (SI)(AX*4), Z0
	VMOVUPS 64(SI)(AX*4), Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $4, R8
	ADDQ $128, DI
	DECQ R11
	JNE full
	ADDQ $128, SI // the next panel's columns
	JMP panel
last:
	PREFETCH_AHEAD(lastnopf)
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*4), AX
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z 64(AX), K2, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $4, R8
	ADDQ $128, DI
	DECQ R11
	JNE last
done:
	VZEROUPPER
	RET

// func packOffsActAVX512(dst, src *float32, offs *int32, k, panels int, mask uint32, scale, shift *float32, relu bool)
//
// packOffsAVX512 with the input prologue: row p is multiplied by scale[p],
// shifted by shift[p] and, if relu, clamped at 0 as it is copied (multiply,
// then add, rounding like scaleShift). It packs and prefetches as
// packOffsAVX512 does.
TEXT ·packOffsActAVX512(SB), NOSPLIT, $0-65
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ k+24(FP), CX
	MOVQ panels+32(FP), DX
	MOVL mask+40(FP), R9
	KMOVW R9, K1
	SHRL $16, R9
	KMOVW R9, K2
	MOVBLZX relu+64(FP), R9
	VXORPS Z18, Z18, Z18 // the clamp: 0 with relu, else -Inf
	TESTQ R9, R9
	JNE act_relu
	MOVL $0xff800000, R9
	VPBROADCASTD R9, Z18
act_relu:
	TESTQ CX, CX
	JEQ act_done
act_panel:
	MOVQ offs+16(FP), R8
	MOVQ scale+48(FP), R12
	MOVQ shift+56(FP), R13
	MOVQ CX, R11 // rows left
	DECQ DX // panels after this one
	JEQ act_last
act_full:
	PREFETCH_AHEAD(act_fullnopf)
	MOVLQSX (R8), AX
	VBROADCASTSS (R12), Z16
	VBROADCASTSS (R13), Z17
	VMULPS (SI)(AX*4), Z16, Z0
	VMULPS 64(SI)(AX*4), Z16, Z1
	VADDPS Z17, Z0, Z0
	VADDPS Z17, Z1, Z1
	VMAXPS Z18, Z0, Z0
	VMAXPS Z18, Z1, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $4, R8
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $128, DI
	DECQ R11
	JNE act_full
	ADDQ $128, SI // the next panel's columns
	JMP act_panel
act_last:
	PREFETCH_AHEAD(act_lastnopf)
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*4), AX
	VBROADCASTSS (R12), Z16
	VBROADCASTSS (R13), Z17
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z 64(AX), K2, Z1
	VMULPS Z16, Z0, Z0
	VMULPS Z16, Z1, Z1
	VADDPS Z17, Z0, Z0
	VADDPS Z17, Z1, Z1
	VMAXPS Z18, Z0, Z0
	VMAXPS Z18, Z1, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $4, R8
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $128, DI
	DECQ R11
	JNE act_last
act_done:
	VZEROUPPER
	RET

// func im2rowPackAVX512(dst, src *float32, origins, offs *int32, masks *uint16, k, taps, t0, h int, store uint16, scale, shift *float32, relu bool, win *uint32, o0 int)
//
// Packs k rows of a pixel panel for the im2row path: row p, of h floats at
// dst + p·h, holds in the lanes that masks[t] selects, t = (t0 + p) mod
// taps, the floats at src + offs[p] + j (a run), or with origins non-nil at
// src + offs[p] + origins[j] (gathered), and zero in the others. With scale
// non-nil each row is also multiplied by scale[c] and shifted by shift[c],
// c counting up as t wraps, and clamped at 0 if relu (multiply, then add,
// like scaleShift); the padding stays zero. store is the mask of h lanes.
// Masked-off lanes are never read, so a run may start before src or end
// past the input. With win non-nil, the origins lie within 32 floats of
// o0 (a strided panel within one input row): each row loads those 32
// floats under the mask win[t] of the ones its lanes read and permutes
// them into place, where a gather of 16 took as long as the multiply
// (3×3/2 layers: the pack 37% of the layer).
TEXT ·im2rowPackAVX512(SB), NOSPLIT, $0-120
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ origins+16(FP), R14
	MOVQ offs+24(FP), R8
	MOVQ masks+32(FP), R9
	MOVQ k+40(FP), CX
	MOVQ taps+48(FP), R10
	MOVQ t0+56(FP), R11
	MOVQ h+64(FP), DX
	SHLQ $2, DX // bytes between rows
	MOVWLZX store+72(FP), AX
	KMOVW AX, K2
	MOVQ scale+80(FP), R12
	MOVQ shift+88(FP), R13
	MOVBLZX relu+96(FP), AX
	VXORPS Z18, Z18, Z18 // the clamp: 0 with relu, else -Inf
	TESTQ AX, AX
	JNE rows_origins
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z18
rows_origins:
	TESTQ R14, R14
	JEQ rows_start
	VMOVDQU32 (R14), Z20
	MOVQ o0+112(FP), AX
	VPBROADCASTD AX, Z22
	VPSUBD Z22, Z20, Z21 // the lanes' places in the window at o0
rows_start:
	TESTQ CX, CX
	JEQ rows_done
rows_row:
	MOVWLZX (R9)(R11*2), AX
	KMOVW AX, K1
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*4), AX
	TESTQ R14, R14
	JNE rows_gather
	// Prefetch the run 32 rows ahead (a few input channels on): the
	// input often comes from the other core, whose lines arrive slowly.
	CMPQ CX, $33
	JLT rows_nopf
	MOVLQSX 128(R8), BX
	PREFETCHT0 (SI)(BX*4)
rows_nopf:
	VMOVUPS.Z (AX), K1, Z0
	JMP rows_act
rows_gather:
	MOVQ win+104(FP), BX
	TESTQ BX, BX
	JEQ rows_vgather
	MOVL (BX)(R11*4), BX
	KMOVW BX, K4
	SHRL $16, BX
	KMOVW BX, K5
	MOVQ o0+112(FP), BX
	LEAQ (AX)(BX*4), AX
	VMOVUPS.Z (AX), K4, Z0
	VMOVUPS.Z 64(AX), K5, Z1
	VMOVAPS Z21, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS.Z Z2, K1, Z0
	JMP rows_act
rows_vgather:
	VXORPS Z0, Z0, Z0
	KMOVW K1, K3 // the gather clears its mask
	VGATHERDPS (AX)(Z20*4), K3, Z0
rows_act:
	TESTQ R12, R12
	JEQ rows_store
	VBROADCASTSS (R12), Z16
	VBROADCASTSS (R13), Z17
	VMULPS Z16, Z0, Z0
	VADDPS Z17, Z0, Z0
	VMAXPS Z18, Z0, Z0
	VMOVAPS.Z Z0, K1, Z0 // the padding stays zero
rows_store:
	VMOVUPS Z0, K2, (DI)
	ADDQ DX, DI
	ADDQ $4, R8
	INCQ R11
	CMPQ R11, R10
	JNE rows_next
	XORQ R11, R11
	TESTQ R12, R12
	JEQ rows_next
	ADDQ $4, R12
	ADDQ $4, R13
rows_next:
	DECQ CX
	JNE rows_row
rows_done:
	VZEROUPPER
	RET
