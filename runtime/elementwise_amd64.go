//go:build !purego

package runtime

// gateUpdateAVX512 is GateUpdate over n elements, n a multiple of 16.
//
//go:noescape
func gateUpdateAVX512(xs, r, gate, xg *float32, n int)

// scaleShiftAVX512 is scaleShift over n elements, n a multiple of 16.
//
//go:noescape
func scaleShiftAVX512(dst, src *float32, n int, s, t float32, relu bool)
