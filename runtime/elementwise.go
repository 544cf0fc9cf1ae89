package runtime

import "math"

// GateUpdate is the GRCL recurrence step xs = r*sigmoid(g+xg) + xs, applied
// elementwise over len(xs); r, g and xg have the same length as xs.
func GateUpdate(xs, r, g, xg []float32) {
	n := len(xs)
	runSpans(opGate, xs, r[:n], g[:n], xg[:n])
}

// gateUpdate is GateUpdate on the calling goroutine.
func gateUpdate(xs, r, g, xg []float32) {
	n := len(xs)
	r, g, xg = r[:n], g[:n], xg[:n]
	if !useAVX512 {
		for i := range xs {
			xs[i] += r[i] * Sigmoid(g[i]+xg[i])
		}
		return
	}
	if n > 0 {
		// The last n%16 elements go through the same vector code, under
		// a mask, so that an element's value never depends on where a
		// caller's range starts: fused and unfused gate updates agree to
		// the bit.
		gateUpdateAVX512(&xs[0], &r[0], &g[0], &xg[0], n)
	}
}

// AddInto computes out = a + b elementwise over len(out); out may alias a or
// b.
func AddInto(out, a, b []float32) {
	n := len(out)
	runSpans(opAdd, out, a[:n], b[:n], nil)
}

// addInto is AddInto on the calling goroutine.
func addInto(out, a, b []float32) {
	n := len(out)
	a, b = a[:n], b[:n]
	if useAVX512 {
		if n > 0 {
			addAVX512(&out[0], &a[0], &b[0], n)
		}
		return
	}
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// Sigmoid returns 1/(1+e^-x), accurate to a few ulps.
func Sigmoid(x float32) float32 {
	return 1 / (1 + exp32(-x))
}

// exp32 returns e^x with a relative error below 2e-7. It is the Cephes expf
// algorithm: e^x = 2^n · e^r with |r| ≤ ln2/2 and a degree-7 polynomial for
// e^r; in float32 it is several times faster than math.Exp.
func exp32(x float32) float32 {
	switch {
	case x > 88.3: // 2^127.5 < e^88.3 is within a factor √2 of overflow
		if x != x {
			return x
		}
		return float32(math.Inf(1))
	case x < -87.3: // below the smallest normal float32
		return 0
	case x != x:
		return x
	}
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
	)
	// Adding and subtracting 1.5·2²³ rounds |x·log2e| < 2²² to the nearest
	// integer without a branch, which random signs would mispredict. The
	// conversion forces the rounding even if the compiler fuses operations.
	const round = 1.5 * (1 << 23)
	fn := float32(x*log2e+round) - round
	n := int32(fn)
	r := x - fn*ln2Hi - fn*ln2Lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// FoldBias folds a convolution's bias into the scale and shift of the
// BatchNorm that follows it: (acc + bias)·scale + shift = acc·scale + (shift + bias·scale).
func FoldBias(scale, shift, bias []float32) {
	for c := range shift {
		shift[c] += bias[c] * scale[c]
	}
}
