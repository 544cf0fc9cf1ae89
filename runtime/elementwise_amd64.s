//go:build !purego

#include "textflag.h"

// SIGMOID_SUM sets p = sigmoid(x + y) = 1/(1 + e^-(x+y)), clobbering x, y,
// e and sq: exp32's algorithm (Cephes expf) with the constants in
// Z16..Z27 (log2e, ln2Hi, ln2Lo, the polynomial, 1, 88, -88) and VSCALEFPS
// for the power of two.
#define SIGMOID_SUM(x, y, e, p, sq) \
	VADDPS y, x, x \
	VXORPS y, y, y \
	VSUBPS x, y, x \
	VMINPS Z26, x, x \
	VMAXPS Z27, x, x \
	VMULPS Z16, x, e \
	VRNDSCALEPS $0, e, e \
	VFNMADD231PS Z17, e, x \
	VFNMADD231PS Z18, e, x \
	VMOVAPS Z19, p \
	VFMADD213PS Z20, x, p \
	VFMADD213PS Z21, x, p \
	VFMADD213PS Z22, x, p \
	VFMADD213PS Z23, x, p \
	VFMADD213PS Z24, x, p \
	VMULPS x, x, sq \
	VFMADD213PS x, sq, p \
	VADDPS Z25, p, p \
	VSCALEFPS e, p, p \
	VADDPS Z25, p, p \
	VDIVPS p, Z25, p

// func gateUpdateAVX512(xs, r, gate, xg *float32, n int)
//
// xs += r*sigmoid(gate+xg) over n elements: 32 at a time in two
// independent chains, whose long latency (some 80 cycles from the loads
// to the store) the core then overlaps better, then 16, then the last n%16
// under a mask, each lane computed alike so that an element's value never
// depends on where a caller's range starts. The sigmoid is exp32's
// algorithm (Cephes expf) vectorised, the constants in Z16..Z27 (log2e,
// ln2Hi, ln2Lo, the polynomial, 1, 88, -88), with VSCALEFPS for the power
// of two.
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
	JMP gcheck2
gloop2:
	VMOVUPS (BX)(SI*1), Z0
	VMOVUPS (CX)(SI*1), Z6
	SIGMOID_SUM(Z0, Z6, Z1, Z2, Z3)
	VMOVUPS (DX)(SI*1), Z4
	VMOVUPS (AX)(SI*1), Z5
	VFMADD231PS Z4, Z2, Z5
	VMOVUPS Z5, (AX)(SI*1)
	VMOVUPS 64(BX)(SI*1), Z7
	VMOVUPS 64(CX)(SI*1), Z13
	SIGMOID_SUM(Z7, Z13, Z8, Z9, Z10)
	VMOVUPS 64(DX)(SI*1), Z11
	VMOVUPS 64(AX)(SI*1), Z12
	VFMADD231PS Z11, Z9, Z12
	VMOVUPS Z12, 64(AX)(SI*1)
	ADDQ $128, SI
gcheck2:
	LEAQ 128(SI), R9
	CMPQ R9, DI
	JLE gloop2
	LEAQ 64(SI), R9
	CMPQ R9, DI
	JGT glast
	VMOVUPS (BX)(SI*1), Z0
	VMOVUPS (CX)(SI*1), Z6
	SIGMOID_SUM(Z0, Z6, Z1, Z2, Z3)
	VMOVUPS (DX)(SI*1), Z4
	VMOVUPS (AX)(SI*1), Z5
	VFMADD231PS Z4, Z2, Z5
	VMOVUPS Z5, (AX)(SI*1)
	ADDQ $64, SI
glast:
	MOVQ DI, R9
	SUBQ SI, R9
	JLE gdone
	SHRQ $2, R9 // elements left, fewer than 16
	MOVL $1, R10
	SHLXL R9, R10, R10
	DECL R10
	KMOVW R10, K1
	VMOVUPS.Z (BX)(SI*1), K1, Z0
	VMOVUPS.Z (CX)(SI*1), K1, Z6
	SIGMOID_SUM(Z0, Z6, Z1, Z2, Z3)
	VMOVUPS.Z (DX)(SI*1), K1, Z4
	VMOVUPS.Z (AX)(SI*1), K1, Z5
	VFMADD231PS Z4, Z2, Z5
	VMOVUPS Z5, K1, (AX)(SI*1)
gdone:
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

// func dotAVX512(a, b *float32, n int) float32
//
// Σ a[i]·b[i] over n ≥ 1 elements, in 64 partial sums (four vectors of
// 16), the last vector masked.
TEXT ·dotAVX512(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), AX
	MOVQ b+8(FP), BX
	MOVQ n+16(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ CX, $64
	JLT dot_16
dot_64:
	VMOVUPS (AX), Z4
	VMOVUPS 64(AX), Z5
	VMOVUPS 128(AX), Z6
	VMOVUPS 192(AX), Z7
	VFMADD231PS (BX), Z4, Z0
	VFMADD231PS 64(BX), Z5, Z1
	VFMADD231PS 128(BX), Z6, Z2
	VFMADD231PS 192(BX), Z7, Z3
	ADDQ $256, AX
	ADDQ $256, BX
	SUBQ $64, CX
	CMPQ CX, $64
	JGE dot_64
dot_16:
	CMPQ CX, $16
	JLT dot_tail
	VMOVUPS (AX), Z4
	VFMADD231PS (BX), Z4, Z0
	ADDQ $64, AX
	ADDQ $64, BX
	SUBQ $16, CX
	JMP dot_16
dot_tail:
	TESTQ CX, CX
	JEQ dot_sum
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1
	VMOVUPS.Z (AX), K1, Z4
	VMOVUPS.Z (BX), K1, Z5
	VFMADD231PS Z5, Z4, Z1
dot_sum:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X1, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Lane indexes of the even and the odd floats of a pair of vectors.
DATA evenLanes<>+0(SB)/8, $0x0000000200000000
DATA evenLanes<>+8(SB)/8, $0x0000000600000004
DATA evenLanes<>+16(SB)/8, $0x0000000a00000008
DATA evenLanes<>+24(SB)/8, $0x0000000e0000000c
DATA evenLanes<>+32(SB)/8, $0x0000001200000010
DATA evenLanes<>+40(SB)/8, $0x0000001600000014
DATA evenLanes<>+48(SB)/8, $0x0000001a00000018
DATA evenLanes<>+56(SB)/8, $0x0000001e0000001c
GLOBL evenLanes<>(SB), RODATA, $64
DATA oddLanes<>+0(SB)/8, $0x0000000300000001
DATA oddLanes<>+8(SB)/8, $0x0000000700000005
DATA oddLanes<>+16(SB)/8, $0x0000000b00000009
DATA oddLanes<>+24(SB)/8, $0x0000000f0000000d
DATA oddLanes<>+32(SB)/8, $0x0000001300000011
DATA oddLanes<>+40(SB)/8, $0x0000001700000015
DATA oddLanes<>+48(SB)/8, $0x0000001b00000019
DATA oddLanes<>+56(SB)/8, $0x0000001f0000001d
GLOBL oddLanes<>(SB), RODATA, $64

// MAX2 sets d = max(a, b) as Go's max computes it, with t a temporary: a
// NaN in either gives NaN, and +0 is larger than -0. VMAXPS returns its
// second operand for NaNs and for two zeros, so MAX2 takes it both ways
// round and ANDs them (equal unless both are zeros: then +0 wins), and adds
// the two where either is a NaN. It clobbers K1.
#define MAX2(a, b, d, t) \
	VMAXPS b, a, t \
	VMAXPS a, b, d \
	VANDPS t, d, d \
	VCMPPS $3, b, a, K1 \
	VADDPS b, a, K1, d

// func gatherEvenAVX512(dst, src *float32, blocks int)
//
// For blocks·16 outputs, dst[j] = src[2j]: a row's columns at stride 2,
// as padPlane spreads them over the stride phases. It reads src[:32·blocks].
TEXT ·gatherEvenAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), AX
	MOVQ src+8(FP), BX
	MOVQ blocks+16(FP), CX
	VMOVDQU32 evenLanes<>(SB), Z30
	TESTQ CX, CX
	JEQ gather_done
gather_block:
	VMOVUPS (BX), Z0
	VMOVUPS 64(BX), Z1
	VMOVAPS Z30, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVUPS Z2, (AX)
	ADDQ $64, AX
	ADDQ $128, BX
	DECQ CX
	JNE gather_block
gather_done:
	VZEROUPPER
	RET

// func avgPool2s2AVX512(dst, r0, r1 *float32, n int, inv, s, t float32, flags int)
//
// For n outputs, dst[j] = (((f(r0[2j]) + f(r0[2j+1])) + f(r1[2j])) +
// f(r1[2j+1])) · inv: the 2×2 average at stride 2, summed in the order of
// the portable loop, of f(x) = x·s + t with flag 1 (multiply, then add, as
// ScaleShift rounds), then max(f, 0) with flag 2, else of x: the
// pre-activation BatchNorm and ReLU of the downsampling branch. Blocks of 16
// outputs; the last n%16 under masks. It reads r0 and r1 [0 : 2n].
TEXT ·avgPool2s2AVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), AX
	MOVQ r0+8(FP), BX
	MOVQ r1+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS inv+32(FP), Z29
	VBROADCASTSS s+36(FP), Z26
	VBROADCASTSS t+40(FP), Z27
	MOVQ flags+48(FP), R8
	VXORPS Z28, Z28, Z28
	VMOVDQU32 evenLanes<>(SB), Z30
	VMOVDQU32 oddLanes<>(SB), Z31
avg_block:
	TESTQ CX, CX
	JLE avg_done
	// K1, K2: the input columns of the block; K3: its outputs.
	MOVQ CX, R9
	CMPQ R9, $16
	JLE avg_count
	MOVQ $16, R9
avg_count:
	MOVL $1, R10
	SHLXL R9, R10, R10
	DECL R10
	KMOVW R10, K3
	ADDQ R9, R9
	MOVQ $1, R10
	SHLXQ R9, R10, R10
	DECQ R10
	KMOVW R10, K1
	SHRQ $16, R10
	KMOVW R10, K2
	VMOVUPS.Z (BX), K1, Z0
	VMOVUPS.Z 64(BX), K2, Z1
	VMOVUPS.Z (SI), K1, Z2
	VMOVUPS.Z 64(SI), K2, Z3
	TESTQ $1, R8
	JEQ avg_sum
	VMULPS Z26, Z0, Z0
	VADDPS Z27, Z0, Z0
	VMULPS Z26, Z1, Z1
	VADDPS Z27, Z1, Z1
	VMULPS Z26, Z2, Z2
	VADDPS Z27, Z2, Z2
	VMULPS Z26, Z3, Z3
	VADDPS Z27, Z3, Z3
	TESTQ $2, R8
	JEQ avg_sum
	VMAXPS Z28, Z0, Z0
	VMAXPS Z28, Z1, Z1
	VMAXPS Z28, Z2, Z2
	VMAXPS Z28, Z3, Z3
avg_sum:
	VMOVAPS Z30, Z4
	VPERMI2PS Z1, Z0, Z4
	VMOVAPS Z31, Z5
	VPERMI2PS Z1, Z0, Z5
	VMOVAPS Z30, Z6
	VPERMI2PS Z3, Z2, Z6
	VMOVAPS Z31, Z7
	VPERMI2PS Z3, Z2, Z7
	VADDPS Z5, Z4, Z4
	VADDPS Z6, Z4, Z4
	VADDPS Z7, Z4, Z4
	VMULPS Z29, Z4, Z4
	VMOVUPS Z4, K3, (AX)
	ADDQ $64, AX
	ADDQ $128, BX
	ADDQ $128, SI
	SUBQ $16, CX
	JMP avg_block
avg_done:
	VZEROUPPER
	RET

// func sumAVX512(x *float32, n int) float64
//
// Σ x[i] over n elements, n a multiple of 8, each converted to float64 and
// added into 32 partial sums (four vectors of 8).
TEXT ·sumAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), AX
	MOVQ n+8(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	CMPQ CX, $32
	JLT sum_8
sum_32:
	VCVTPS2PD (AX), Z4
	VCVTPS2PD 32(AX), Z5
	VCVTPS2PD 64(AX), Z6
	VCVTPS2PD 96(AX), Z7
	VADDPD Z4, Z0, Z0
	VADDPD Z5, Z1, Z1
	VADDPD Z6, Z2, Z2
	VADDPD Z7, Z3, Z3
	ADDQ $128, AX
	SUBQ $32, CX
	CMPQ CX, $32
	JGE sum_32
sum_8:
	CMPQ CX, $8
	JLT sum_done
	VCVTPS2PD (AX), Z4
	VADDPD Z4, Z0, Z0
	ADDQ $32, AX
	SUBQ $8, CX
	JMP sum_8
sum_done:
	VADDPD Z1, Z0, Z0
	VADDPD Z3, Z2, Z2
	VADDPD Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	MOVSD X0, ret+16(FP)
	VZEROUPPER
	RET

// func addAVX512(out, a, b *float32, n int)
//
// out[i] = a[i] + b[i] over n ≥ 1 elements, four vectors a step, then
// single vectors, the last n%16 under a mask; out may alias a or b. Go's
// loop for it ran one element at a time: a downsampling block's add at
// 28×28 (256 channels, batch 1) took 70 µs, and the same adds as the
// update of the convolution producing b most of its time.
TEXT ·addAVX512(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
add_four:
	CMPQ CX, $64
	JLT add_one
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VADDPS (DX), Z0, Z0
	VADDPS 64(DX), Z1, Z1
	VADDPS 128(DX), Z2, Z2
	VADDPS 192(DX), Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, SI
	ADDQ $256, DX
	ADDQ $256, DI
	SUBQ $64, CX
	JMP add_four
add_one:
	CMPQ CX, $16
	JLT add_tail
	VMOVUPS (SI), Z0
	VADDPS (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JMP add_one
add_tail:
	TESTQ CX, CX
	JEQ add_done
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DX), K1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)
add_done:
	VZEROUPPER
	RET

// func mix2AVX512(dst, u0, u1 *float32, n int, a0, a1 float32)
//
// dst[i] = a0·u0[i] + a1·u1[i] over n elements, n a multiple of 16: both
// products rounded, then added (no fused multiply-add), as Go computes
// float32(a0*u0[i]) + float32(a1*u1[i]).
TEXT ·mix2AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ u0+8(FP), SI
	MOVQ u1+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS a0+32(FP), Z0
	VBROADCASTSS a1+36(FP), Z1
	SHRQ $4, CX
	JEQ mix_done
mix_loop:
	VMULPS (SI), Z0, Z2
	VMULPS (DX), Z1, Z3
	VADDPS Z3, Z2, Z2
	VMOVUPS Z2, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNE mix_loop
mix_done:
	VZEROUPPER
	RET

// func padPhasesAVX512(dst *float32, rowLen, phase, n int, src *float32, srcStride, inW, pad, rows int, s, t float32, flags int)
//
// Pads rows input rows of inW floats (srcStride floats apart in src) with
// pad zeros on the left and zeros on the right, and splits each into its m
// column phases (m = 1 with flag 8, 4 with flag 4, else 2), phase floats
// apart: for t < n, dst[r·rowLen + p·phase + t] = f(src[r·srcStride +
// m·t + p - pad]) where that column lies in the row, else 0, with f(x) =
// x·s + t with flag 1 (then max(f, 0) with flag 2), else x. Padding each
// row into a buffer and splitting it took four calls a row; this is one
// call for all rows. The input columns of each block of 16 outputs are
// loaded under masks that hold the lanes inside the row (idx < inW,
// compared unsigned so that columns left of the row fail too), and the
// masked-off lanes stay zero through f, as the padding did.
TEXT ·padPhasesAVX512(SB), NOSPLIT, $0-88
	MOVQ dst+0(FP), AX
	MOVQ rowLen+8(FP), R12
	SHLQ $2, R12
	MOVQ phase+16(FP), DX
	MOVQ src+32(FP), BX
	MOVQ srcStride+40(FP), R13
	MOVQ inW+48(FP), R9
	VPBROADCASTD R9, Z19 // inW
	MOVQ pad+56(FP), R14
	MOVQ rows+64(FP), DI
	VBROADCASTSS s+72(FP), Z16
	VBROADCASTSS t+76(FP), Z17
	VXORPS Z18, Z18, Z18
	MOVQ flags+80(FP), R8
	VMOVDQU32 laneIndex<>(SB), Z20
	MOVL $16, R9
	VPBROADCASTD R9, Z22
	VMOVDQU32 evenLanes<>(SB), Z30
	VMOVDQU32 oddLanes<>(SB), Z31
	NEGQ R14 // the input column of lane 0 of the first block: -pad
	// One phase of at most 16 columns (the shifted planes of a small
	// image): the same masks for every row, computed once.
	TESTQ $8, R8
	JEQ pp_row
	MOVQ n+24(FP), CX
	CMPQ CX, $16
	JG pp_small2_setup
	MOVL $1, R11
	SHLXL CX, R11, R11
	DECL R11
	KMOVW R11, K7
	VPBROADCASTD R14, Z21
	VPADDD Z20, Z21, Z21
	VPCMPUD $1, Z19, Z21, K1
	LEAQ (BX)(R14*4), SI
	TESTQ DI, DI
	JEQ pp_done
	TESTQ $1, R8
	JNE pp_small_scaled
pp_small:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS Z0, K7, (AX)
	ADDQ R12, AX
	LEAQ (SI)(R13*4), SI
	DECQ DI
	JNE pp_small
	JMP pp_done
pp_small_scaled:
	VMOVUPS.Z (SI), K1, Z0
	VMULPS.Z Z16, Z0, K1, Z0
	VADDPS.Z Z17, Z0, K1, Z0
	TESTQ $2, R8
	JEQ pp_small_store
	VMAXPS Z18, Z0, Z0
pp_small_store:
	VMOVUPS Z0, K7, (AX)
	ADDQ R12, AX
	LEAQ (SI)(R13*4), SI
	DECQ DI
	JNE pp_small_scaled
	JMP pp_done
	// One phase of 17 to 32 columns (a 14-column row padded by 2 on each
	// side, the dilated selective-kernel branches at 14×14): two blocks,
	// their masks computed once for all rows. Through the general loop
	// below, padding took a third of those branches' time (512→512 in 32
	// groups, batch 1: 125 → 110 µs a layer with this path).
pp_small2_setup:
	CMPQ CX, $32
	JG pp_row
	SUBQ $16, CX
	MOVL $1, R11
	SHLXL CX, R11, R11
	DECL R11
	KMOVW R11, K6
	VPBROADCASTD R14, Z21
	VPADDD Z20, Z21, Z21
	VPCMPUD $1, Z19, Z21, K1
	VPADDD Z22, Z21, Z21
	VPCMPUD $1, Z19, Z21, K2
	LEAQ (BX)(R14*4), SI
	TESTQ DI, DI
	JEQ pp_done
pp_small2:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	TESTQ $1, R8
	JEQ pp_small2_store
	VMULPS.Z Z16, Z0, K1, Z0
	VADDPS.Z Z17, Z0, K1, Z0
	VMULPS.Z Z16, Z1, K2, Z1
	VADDPS.Z Z17, Z1, K2, Z1
	TESTQ $2, R8
	JEQ pp_small2_store
	VMAXPS Z18, Z0, Z0
	VMAXPS Z18, Z1, Z1
pp_small2_store:
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, K6, 64(AX)
	ADDQ R12, AX
	LEAQ (SI)(R13*4), SI
	DECQ DI
	JNE pp_small2
	JMP pp_done
pp_row:
	TESTQ DI, DI
	JEQ pp_done
	MOVQ AX, R9    // phase 0 of this row's block
	MOVQ R14, R10  // the input column of the block's lane 0
	MOVQ n+24(FP), CX // outputs of each phase left
pp_block:
	MOVQ $0xffff, R11
	CMPQ CX, $16
	JGE pp_full
	MOVL $1, R11
	SHLL CX, R11
	SUBL $1, R11
pp_full:
	KMOVW R11, K7
	// Z21: the input column of each lane of the block's first vector.
	VPBROADCASTD R10, Z21
	VPADDD Z20, Z21, Z21
	LEAQ (BX)(R10*4), SI
	VPCMPUD $1, Z19, Z21, K1
	VMOVUPS.Z (SI), K1, Z0
	TESTQ $8, R8
	JNE pp_loaded
	VPADDD Z22, Z21, Z21
	VPCMPUD $1, Z19, Z21, K2
	VMOVUPS.Z 64(SI), K2, Z1
	TESTQ $4, R8
	JEQ pp_loaded
	VPADDD Z22, Z21, Z21
	VPCMPUD $1, Z19, Z21, K3
	VMOVUPS.Z 128(SI), K3, Z2
	VPADDD Z22, Z21, Z21
	VPCMPUD $1, Z19, Z21, K4
	VMOVUPS.Z 192(SI), K4, Z3
pp_loaded:
	TESTQ $1, R8
	JEQ pp_permute
	// Lanes outside the row stay zero: the masks zero them.
	VMULPS.Z Z16, Z0, K1, Z0
	VADDPS.Z Z17, Z0, K1, Z0
	VMULPS.Z Z16, Z1, K2, Z1
	VADDPS.Z Z17, Z1, K2, Z1
	VMULPS.Z Z16, Z2, K3, Z2
	VADDPS.Z Z17, Z2, K3, Z2
	VMULPS.Z Z16, Z3, K4, Z3
	VADDPS.Z Z17, Z3, K4, Z3
	TESTQ $2, R8
	JEQ pp_permute
	VMAXPS Z18, Z0, Z0
	VMAXPS Z18, Z1, Z1
	VMAXPS Z18, Z2, Z2
	VMAXPS Z18, Z3, Z3
pp_permute:
	TESTQ $8, R8
	JEQ pp_two
	VMOVUPS Z0, K7, (R9)
	ADDQ $16, R10
	JMP pp_next
pp_two:
	LEAQ (R9)(DX*4), R11 // phase 1
	VMOVAPS Z30, Z4
	VPERMI2PS Z1, Z0, Z4 // columns 2j of the first 32
	VMOVAPS Z31, Z5
	VPERMI2PS Z1, Z0, Z5 // columns 2j+1
	TESTQ $4, R8
	JNE pp_four
	VMOVUPS Z4, K7, (R9)
	VMOVUPS Z5, K7, (R11)
	ADDQ $32, R10
	JMP pp_next
pp_four:
	VMOVAPS Z30, Z6
	VPERMI2PS Z3, Z2, Z6 // columns 32+2j
	VMOVAPS Z31, Z7
	VPERMI2PS Z3, Z2, Z7 // columns 32+2j+1
	VMOVAPS Z30, Z8
	VPERMI2PS Z6, Z4, Z8 // columns 4j
	VMOVAPS Z31, Z9
	VPERMI2PS Z6, Z4, Z9 // columns 4j+2
	VMOVAPS Z30, Z10
	VPERMI2PS Z7, Z5, Z10 // columns 4j+1
	VMOVAPS Z31, Z11
	VPERMI2PS Z7, Z5, Z11 // columns 4j+3
	VMOVUPS Z8, K7, (R9)
	VMOVUPS Z10, K7, (R11)
	LEAQ (R11)(DX*4), R11
	VMOVUPS Z9, K7, (R11)
	LEAQ (R11)(DX*4), R11
	VMOVUPS Z11, K7, (R11)
	ADDQ $64, R10
pp_next:
	ADDQ $64, R9
	SUBQ $16, CX
	JG pp_block
	ADDQ R12, AX
	LEAQ (BX)(R13*4), BX
	DECQ DI
	JMP pp_row
pp_done:
	VZEROUPPER
	RET

DATA laneIndex<>+0(SB)/8, $0x0000000100000000
DATA laneIndex<>+8(SB)/8, $0x0000000300000002
DATA laneIndex<>+16(SB)/8, $0x0000000500000004
DATA laneIndex<>+24(SB)/8, $0x0000000700000006
DATA laneIndex<>+32(SB)/8, $0x0000000900000008
DATA laneIndex<>+40(SB)/8, $0x0000000b0000000a
DATA laneIndex<>+48(SB)/8, $0x0000000d0000000c
DATA laneIndex<>+56(SB)/8, $0x0000000f0000000e
GLOBL laneIndex<>(SB), RODATA, $64

// func maxPoolRow3s2AVX512(dst, r0, r1, r2 *float32, inW, outW int)
//
// One output row of the 3×3 max pooling at stride 2 with padding 1, from
// the (up to) three input rows of its window (r0, r1, r2; a repeated row
// where the window has only two): dst[j] is the maximum over columns
// 2j-1 .. 2j+1 of the three rows that lie inside [0, inW), taken as Go's
// max takes it (MAX2). Blocks of 16 outputs read 32 columns from each row
// under masks that fill the columns past the row with -Inf, reduce them
// vertically, split them into the even columns 2j and the odd ones 2j+1,
// and take the odd columns shifted by one lane, the previous block's last
// one (-Inf before the first) in lane 0, as columns 2j-1.
TEXT ·maxPoolRow3s2AVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), AX
	MOVQ r0+8(FP), BX
	MOVQ r1+16(FP), CX
	MOVQ r2+24(FP), DX
	MOVQ inW+32(FP), SI // columns left from the block's first
	MOVQ outW+40(FP), DI // outputs left
	VMOVDQU32 evenLanes<>(SB), Z30
	VMOVDQU32 oddLanes<>(SB), Z31
	MOVL $0xff800000, R8
	VPBROADCASTD R8, Z29 // -Inf
	VMOVAPS Z29, Z20     // the previous block's odd columns
mp_block:
	TESTQ DI, DI
	JLE mp_done
	// K1, K2: the columns of the two vectors inside the row; K3: the
	// outputs to store.
	MOVQ SI, R9
	CMPQ R9, $32
	JLE mp_cols
	MOVQ $32, R9
mp_cols:
	MOVQ $1, R10
	SHLXQ R9, R10, R10 // R9 ≤ 32
	DECQ R10
	KMOVW R10, K1
	SHRQ $16, R10
	KMOVW R10, K2
	MOVQ DI, R9
	CMPQ R9, $16
	JLE mp_outs
	MOVQ $16, R9
mp_outs:
	MOVL $1, R10
	SHLXL R9, R10, R10
	DECL R10
	KMOVW R10, K3
	VMOVAPS Z29, Z0
	VMOVUPS (BX), K1, Z0
	VMOVAPS Z29, Z1
	VMOVUPS 64(BX), K2, Z1
	VMOVAPS Z29, Z2
	VMOVUPS (CX), K1, Z2
	VMOVAPS Z29, Z3
	VMOVUPS 64(CX), K2, Z3
	VMOVAPS Z29, Z4
	VMOVUPS (DX), K1, Z4
	VMOVAPS Z29, Z5
	VMOVUPS 64(DX), K2, Z5
	MAX2(Z0, Z2, Z6, Z8)
	MAX2(Z6, Z4, Z10, Z8) // columns 0..15 of the block, reduced vertically
	MAX2(Z1, Z3, Z7, Z8)
	MAX2(Z7, Z5, Z11, Z8) // columns 16..31
	VMOVAPS Z30, Z12
	VPERMI2PS Z11, Z10, Z12 // columns 2j
	VMOVAPS Z31, Z13
	VPERMI2PS Z11, Z10, Z13 // columns 2j+1
	VALIGND $15, Z20, Z13, Z14 // columns 2j-1
	VMOVAPS Z13, Z20
	MAX2(Z12, Z13, Z15, Z8)
	MAX2(Z15, Z14, Z16, Z8)
	VMOVUPS Z16, K3, (AX)
	ADDQ $64, AX
	ADDQ $128, BX
	ADDQ $128, CX
	ADDQ $128, DX
	SUBQ $32, SI
	JGE mp_next
	XORQ SI, SI
mp_next:
	SUBQ $16, DI
	JMP mp_block
mp_done:
	VZEROUPPER
	RET

// func prefetchSpan(p *float32, n int)
//
// One PREFETCHT0 for each 64-byte line from p to p+4n (the last line may
// lie past the span; a prefetch never faults).
TEXT ·prefetchSpan(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	LEAQ (AX)(CX*4), CX
pfloop:
	CMPQ AX, CX
	JAE pfdone
	PREFETCHT0 (AX)
	ADDQ $64, AX
	JMP pfloop
pfdone:
	RET
