//go:build !purego

package runtime

// gateUpdateAVX512 is GateUpdate over n elements, the last n%16 under a mask.
//
//go:noescape
func gateUpdateAVX512(xs, r, gate, xg *float32, n int)

// scaleShiftAVX512 is scaleShift over n elements, n a multiple of 16.
//
//go:noescape
func scaleShiftAVX512(dst, src *float32, n int, s, t float32, relu bool)

// dotAVX512 is dot over n ≥ 1 elements.
//
//go:noescape
func dotAVX512(a, b *float32, n int) float32

// gatherEvenAVX512 sets dst[j] = src[2j] for blocks·16 outputs, reading
// src[:32·blocks].
//
//go:noescape
func gatherEvenAVX512(dst, src *float32, blocks int)

// avgPool2s2AVX512 sets dst[j] to the average of r0[2j], r0[2j+1], r1[2j]
// and r1[2j+1] (summed in that order, times inv), each through the
// prologue of flags, for n outputs (see the assembly).
//
//go:noescape
func avgPool2s2AVX512(dst, r0, r1 *float32, n int, inv, s, t float32, flags int)

// sumAVX512 is Σ x[i] in float64 over n elements, n a multiple of 8.
//
//go:noescape
func sumAVX512(x *float32, n int) float64

// addAVX512 sets out[i] = a[i] + b[i] over n ≥ 1 elements (see addInto).
//
//go:noescape
func addAVX512(out, a, b *float32, n int)

// mix2AVX512 sets dst[i] = a0·u0[i] + a1·u1[i] over n elements, n a
// multiple of 16 (see mix2).
//
//go:noescape
func mix2AVX512(dst, u0, u1 *float32, n int, a0, a1 float32)

// padPhasesAVX512 pads rows input rows and splits them into Winograd's
// column phases (see Winograd.padRows and the assembly).
//
//go:noescape
func padPhasesAVX512(dst *float32, rowLen, phase, n int, src *float32, srcStride, inW, pad, rows int, s, t float32, flags int)

// maxPoolRow3s2AVX512 computes one output row of the 3×3/2 max pooling
// with padding 1 from the rows of its window (see the assembly).
//
//go:noescape
func maxPoolRow3s2AVX512(dst, r0, r1, r2 *float32, inW, outW int)

// prefetchSpan asks for the cache lines of n floats from p.
//
//go:noescape
func prefetchSpan(p *float32, n int)
