//go:build purego || !amd64

package runtime

func gateUpdateAVX512(xs, r, gate, xg *float32, n int) {
	panic("runtime: no assembly kernels")
}

func scaleShiftAVX512(dst, src *float32, n int, s, t float32, relu bool) {
	panic("runtime: no assembly kernels")
}

func winoInputAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask uint32) {
	panic("runtime: no assembly kernels")
}

func winoOutputAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32) {
	panic("runtime: no assembly kernels")
}

func winoInput2AVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask uint32) {
	panic("runtime: no assembly kernels")
}

func winoOutput2AVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32) {
	panic("runtime: no assembly kernels")
}

func winoInput2PairAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask, mask2 uint32, delta int) {
	panic("runtime: no assembly kernels")
}

func winoOutput2PairAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32, colMask2 uint64, delta, rows2 int) {
	panic("runtime: no assembly kernels")
}

func winoInputPairAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask, mask2 uint32, delta int) {
	panic("runtime: no assembly kernels")
}

func winoOutputPairAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32, colMask2 uint64, delta, rows2 int) {
	panic("runtime: no assembly kernels")
}

func winoInput42AVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask uint32) {
	panic("runtime: no assembly kernels")
}

func winoInput42PairAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask, mask2 uint32, delta int) {
	panic("runtime: no assembly kernels")
}

func winoOutput42AVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32) {
	panic("runtime: no assembly kernels")
}

func winoOutput42PairAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32, colMask2 uint64, delta, rows2 int) {
	panic("runtime: no assembly kernels")
}

func dotAVX512(a, b *float32, n int) float32 {
	panic("runtime: no assembly kernels")
}

func gatherEvenAVX512(dst, src *float32, blocks int) {
	panic("runtime: no assembly kernels")
}

func avgPool2s2AVX512(dst, r0, r1 *float32, n int, inv, s, t float32, flags int) {
	panic("runtime: no assembly kernels")
}

func sumAVX512(x *float32, n int) float64 {
	panic("runtime: no assembly kernels")
}

func addAVX512(out, a, b *float32, n int) {
	panic("runtime: no assembly kernels")
}

func mix2AVX512(dst, u0, u1 *float32, n int, a0, a1 float32) {
	panic("runtime: no assembly kernels")
}

func padPhasesAVX512(dst *float32, rowLen, phase, n int, src *float32, srcStride, inW, pad, rows int, s, t float32, flags int) {
	panic("runtime: no assembly kernels")
}

func maxPoolRow3s2AVX512(dst, r0, r1, r2 *float32, inW, outW int) {
	panic("runtime: no assembly kernels")
}

// prefetchSpan has no portable form; asking for lines is only a hint.
func prefetchSpan(p *float32, n int) {}
