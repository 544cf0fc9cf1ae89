//go:build purego || !amd64

package runtime

func gateUpdateAVX512(xs, r, gate, xg *float32, n int) {
	panic("runtime: no assembly kernels")
}

func scaleShiftAVX512(dst, src *float32, n int, s, t float32, relu bool) {
	panic("runtime: no assembly kernels")
}
