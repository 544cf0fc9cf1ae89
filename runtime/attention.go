package runtime

import (
	"fmt"
	"math"
)

// SKAttention is the selective-kernel fusion of M branch outputs U_m, each
// batch×C×HW:
//
//	s = global average of Σ_m U_m                   (batch×C)
//	z = relu((FC1·s)*Scale1 + Shift1)               (batch×D; FC1 is D×C)
//	a = FC2·z                                       (batch×M·C; FC2 is M·C×D, row m·C+c)
//	a[m,c] = softmax over m of a[m,c], per channel
//	out = Σ_m a[m,c]·U_m
//
// Scale1 and Shift1 are fc1's BatchNorm as a scale and shift; nil means 1
// and 0.
type SKAttention struct {
	M, C, HW, D    int
	FC1            []float32
	Scale1, Shift1 []float32
	FC2            []float32
}

// skCall holds the arguments of the Forward in progress and which of its
// two parallel phases is running.
type skCall struct {
	loop
	s        *SKAttention
	branches [][]float32
	out      []float32
	mean     []float32 // batch×C: s
	z        []float32 // batch×D
	attn     []float32 // batch×M×C: a, then its softmax
	fuse     bool      // phase 2: weighted sum into out; else phase 1: channel means
}

var skCalls calls[skCall]

// ScratchLen is the number of float32s of scratch Forward needs for a batch.
func (s *SKAttention) ScratchLen(batch int) int {
	return batch * (s.C + s.D + s.M*s.C)
}

// Forward fuses batch images of the M branches into out (batch×C×HW).
// branches must hold M slices; out must not alias any of them.
func (s *SKAttention) Forward(batch int, branches [][]float32, out, scratch []float32) {
	s.check(batch, branches, out, scratch)
	cl := skCalls.get()
	defer skCalls.put(cl)
	cl.s, cl.branches, cl.out = s, branches, out
	nc := batch * s.C
	cl.mean = scratch[:nc]
	cl.z = scratch[nc : nc+batch*s.D]
	cl.attn = scratch[nc+batch*s.D : s.ScratchLen(batch)]

	cl.fuse = false
	cl.parallelFor(nc, max(1, 4096/max(1, s.HW)), cl)
	// Only fc1, D dot products of C, runs on one core between the two
	// passes; fc2 and the softmax, M dot products of D and M exponentials a
	// channel, run in the second pass, each channel's before its weighted
	// sum. All three one after the other on one core took half of an
	// attention's time at 14×14 with 512 channels (57 µs, batch 1).
	for b := range batch {
		mean := cl.mean[b*s.C : (b+1)*s.C]
		z := cl.z[b*s.D : (b+1)*s.D]
		for d := range z {
			v := dot(s.FC1[d*s.C:(d+1)*s.C], mean)
			if s.Scale1 != nil {
				v *= s.Scale1[d]
			}
			if s.Shift1 != nil {
				v += s.Shift1[d]
			}
			z[d] = max(v, 0)
		}
	}
	cl.fuse = true
	cl.parallelFor(nc, max(1, 4096/max(1, s.HW)), cl)
	cl.branches, cl.out, cl.mean, cl.z, cl.attn = nil, nil, nil, nil, nil
}

func (s *SKAttention) check(batch int, branches [][]float32, out, scratch []float32) {
	n := batch * s.C * s.HW
	bad := len(branches) != s.M || len(out) < n || len(scratch) < s.ScratchLen(batch) ||
		len(s.FC1) != s.D*s.C || len(s.FC2) != s.M*s.C*s.D ||
		(s.Scale1 != nil && len(s.Scale1) != s.D) || (s.Shift1 != nil && len(s.Shift1) != s.D)
	for _, u := range branches {
		bad = bad || len(u) < n
	}
	if bad {
		panic(fmt.Sprintf("runtime: SKAttention M=%d C=%d HW=%d D=%d batch %d: inconsistent lengths: %d branches, out %d, scratch %d, FC1 %d, FC2 %d, Scale1 %d, Shift1 %d",
			s.M, s.C, s.HW, s.D, batch, len(branches), len(out), len(scratch), len(s.FC1), len(s.FC2), len(s.Scale1), len(s.Shift1)))
	}
}

// run handles planes [lo, hi) of batch×C for the current phase.
func (cl *skCall) run(lo, hi, _ int) {
	s := cl.s
	for p := lo; p < hi; p++ {
		b, c := p/s.C, p%s.C
		dst := cl.out[p*s.HW : (p+1)*s.HW]
		if !cl.fuse {
			var sum float64
			for _, u := range cl.branches {
				sum += float64(mean(u[p*s.HW : (p+1)*s.HW]))
			}
			cl.mean[p] = float32(sum)
			continue
		}
		attn := cl.attn[b*s.M*s.C : (b+1)*s.M*s.C]
		z := cl.z[b*s.D : (b+1)*s.D]
		for m := range s.M {
			r := m*s.C + c
			attn[r] = dot(s.FC2[r*s.D:(r+1)*s.D], z)
		}
		softmaxStrided(attn[c:], s.M, s.C)
		if s.M == 2 {
			// One pass over both branches, as the selective-kernel
			// convolutions have them.
			mix2(dst, cl.branches[0][p*s.HW:(p+1)*s.HW], cl.branches[1][p*s.HW:(p+1)*s.HW], attn[c], attn[s.C+c])
			continue
		}
		for m, u := range cl.branches {
			scaleInto(dst, u[p*s.HW:(p+1)*s.HW], attn[m*s.C+c], m > 0)
		}
	}
}

// scaleInto sets dst = a·src, or dst += a·src when add is set.
func scaleInto(dst, src []float32, a float32, add bool) {
	if add {
		axpy(dst, src, a)
		return
	}
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = a * v
	}
}

// mix2 sets dst = a0·u0 + a1·u1, each product rounded before the sum (the
// bits scaleInto gives for the two branches one after the other).
func mix2(dst, u0, u1 []float32, a0, a1 float32) {
	u0, u1 = u0[:len(dst)], u1[:len(dst)]
	i := 0
	if useAVX512 && len(dst) >= 16 {
		i = len(dst) &^ 15
		mix2AVX512(&dst[0], &u0[0], &u1[0], i, a0, a1)
	}
	for ; i < len(dst); i++ {
		dst[i] = float32(a0*u0[i]) + float32(a1*u1[i])
	}
}

// softmaxStrided replaces x[0], x[stride], …, x[(n-1)·stride] by their
// softmax, computed in float64, each exponential once for up to eight
// (math.Exp took a third of an attention's time).
func softmaxStrided(x []float32, n, stride int) {
	hi := math.Inf(-1)
	for i := range n {
		hi = max(hi, float64(x[i*stride]))
	}
	var e [8]float64 // the first eight exponentials, kept for the second loop
	var sum float64
	for i := range n {
		v := math.Exp(float64(x[i*stride]) - hi)
		if i < len(e) {
			e[i] = v
		}
		sum += v
	}
	for i := range n {
		var v float64
		if i < len(e) {
			v = e[i]
		} else {
			v = math.Exp(float64(x[i*stride]) - hi)
		}
		x[i*stride] = float32(v / sum)
	}
}
