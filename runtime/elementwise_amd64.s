//go:build !purego

#include "textflag.h"

// func gateUpdateAVX512(xs, r, gate, xg *float32, n int)
//
// xs += r*sigmoid(gate+xg) over n elements, n a multiple of 16: 16 at a
// time, with exp32's algorithm (Cephes expf) vectorised, the constants in
// Z16..Z27 (log2e, ln2Hi, ln2Lo, the polynomial, 1, 88, -88) and VSCALEFPS
// for the power of two.
TEXT ·gateUpdateAVX512(SB), NOSPLIT, $0-40
	MOVQ xs+0(FP), AX
	MOVQ r+8(FP), DX
	MOVQ gate+16(FP), BX
	MOVQ xg+24(FP), CX
	MOVQ n+32(FP), DI
	MOVL $0x3fb8aa3b, R8
	VPBROADCASTD R8, Z16
	MOVL $0x3f318000, R8
	VPBROADCASTD R8, Z17
	MOVL $0xb95e8083, R8
	VPBROADCASTD R8, Z18
	MOVL $0x39506967, R8
	VPBROADCASTD R8, Z19
	MOVL $0x3ab743ce, R8
	VPBROADCASTD R8, Z20
	MOVL $0x3c088908, R8
	VPBROADCASTD R8, Z21
	MOVL $0x3d2aa9c1, R8
	VPBROADCASTD R8, Z22
	MOVL $0x3e2aaaaa, R8
	VPBROADCASTD R8, Z23
	MOVL $0x3f000000, R8
	VPBROADCASTD R8, Z24
	MOVL $0x3f800000, R8
	VPBROADCASTD R8, Z25
	MOVL $0x42b00000, R8
	VPBROADCASTD R8, Z26
	MOVL $0xc2b00000, R8
	VPBROADCASTD R8, Z27
	XORQ SI, SI
	SHLQ $2, DI // bytes
	JMP gcheck
gloop:
	VMOVUPS (BX)(SI*1), Z0
	VADDPS (CX)(SI*1), Z0, Z0
	VXORPS Z6, Z6, Z6
	VSUBPS Z0, Z6, Z0
	VMINPS Z26, Z0, Z0
	VMAXPS Z27, Z0, Z0
	VMULPS Z16, Z0, Z1
	VRNDSCALEPS $0, Z1, Z1
	VFNMADD231PS Z17, Z1, Z0
	VFNMADD231PS Z18, Z1, Z0
	VMOVAPS Z19, Z2
	VFMADD213PS Z20, Z0, Z2
	VFMADD213PS Z21, Z0, Z2
	VFMADD213PS Z22, Z0, Z2
	VFMADD213PS Z23, Z0, Z2
	VFMADD213PS Z24, Z0, Z2
	VMULPS Z0, Z0, Z3
	VFMADD213PS Z0, Z3, Z2
	VADDPS Z25, Z2, Z2
	VSCALEFPS Z1, Z2, Z2
	VADDPS Z25, Z2, Z2
	VDIVPS Z2, Z25, Z2
	VMOVUPS (DX)(SI*1), Z4
	VMOVUPS (AX)(SI*1), Z5
	VFMADD231PS Z4, Z2, Z5
	VMOVUPS Z5, (AX)(SI*1)
	ADDQ $64, SI
gcheck:
	CMPQ SI, DI
	JLT gloop
	VZEROUPPER
	RET

// func scaleShiftAVX512(dst, src *float32, n int, s, t float32, relu bool)
//
// n is a multiple of 16. It multiplies, then adds, rounding twice like the
// Go loop of scaleShift (not a fused multiply-add), so that an element gets
// the same value whether it falls in the vector body or the scalar tail.
TEXT ·scaleShiftAVX512(SB), NOSPLIT, $0-33
	MOVQ dst+0(FP), AX
	MOVQ src+8(FP), BX
	MOVQ n+16(FP), DI
	VBROADCASTSS s+24(FP), Z16
	VBROADCASTSS t+28(FP), Z17
	VXORPS Z18, Z18, Z18
	MOVBLZX relu+32(FP), R8
	XORQ SI, SI
	SHLQ $2, DI
	TESTQ R8, R8
	JEQ scheck
	JMP rcheck
rloop:
	VMOVUPS (BX)(SI*1), Z0
	VMOVUPS 64(BX)(SI*1), Z1
	VMULPS Z16, Z0, Z0
	VADDPS Z17, Z0, Z0
	VMULPS Z16, Z1, Z1
	VADDPS Z17, Z1, Z1
	VMAXPS Z18, Z0, Z0
	VMAXPS Z18, Z1, Z1
	VMOVUPS Z0, (AX)(SI*1)
	VMOVUPS Z1, 64(AX)(SI*1)
	ADDQ $128, SI
rcheck:
	LEAQ 128(SI), R9
	CMPQ R9, DI
	JLE rloop
	CMPQ SI, DI
	JGE done
	VMOVUPS (BX)(SI*1), Z0
	VMULPS Z16, Z0, Z0
	VADDPS Z17, Z0, Z0
	VMAXPS Z18, Z0, Z0
	VMOVUPS Z0, (AX)(SI*1)
	JMP done
sloop:
	VMOVUPS (BX)(SI*1), Z0
	VMOVUPS 64(BX)(SI*1), Z1
	VMULPS Z16, Z0, Z0
	VADDPS Z17, Z0, Z0
	VMULPS Z16, Z1, Z1
	VADDPS Z17, Z1, Z1
	VMOVUPS Z0, (AX)(SI*1)
	VMOVUPS Z1, 64(AX)(SI*1)
	ADDQ $128, SI
scheck:
	LEAQ 128(SI), R9
	CMPQ R9, DI
	JLE sloop
	CMPQ SI, DI
	JGE done
	VMOVUPS (BX)(SI*1), Z0
	VMULPS Z16, Z0, Z0
	VADDPS Z17, Z0, Z0
	VMOVUPS Z0, (AX)(SI*1)
done:
	VZEROUPPER
	RET
