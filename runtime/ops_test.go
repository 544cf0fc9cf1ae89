package runtime_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// closeTo reports whether got is within tol·(1+|want|) of want: tol is a
// relative bound for values far from zero and an absolute one near it.
func closeTo(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*(1+math.Abs(want))
}

func refPool(p *runtime.Pool2D, batch int, in []float32) []float64 {
	out := make([]float64, batch*p.C*p.OutH*p.OutW)
	for bc := range batch * p.C {
		for oh := range p.OutH {
			for ow := range p.OutW {
				best, sum := math.Inf(-1), 0.0
				for kh := range p.KH {
					for kw := range p.KW {
						ih, iw := oh*p.SH-p.PH+kh, ow*p.SW-p.PW+kw
						if ih < 0 || ih >= p.InH || iw < 0 || iw >= p.InW {
							continue // max ignores padding; avg adds a zero
						}
						v := float64(in[(bc*p.InH+ih)*p.InW+iw])
						best = max(best, v)
						sum += v
					}
				}
				y := sum / float64(p.KH*p.KW)
				if p.Max {
					y = best
				}
				out[(bc*p.OutH+oh)*p.OutW+ow] = y
			}
		}
	}
	return out
}

func TestPool2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		k, s, p int
		max     bool
	}{
		{3, 2, 1, true}, {3, 2, 0, true}, {2, 2, 0, true}, {3, 1, 1, true}, {5, 3, 2, true},
		{3, 2, 1, false}, {3, 1, 1, false}, {2, 2, 0, false}, {7, 1, 0, false}, {3, 3, 1, false},
	} {
		for run := 1; run <= 4; run++ {
			batch, inH, inW := run, 11, 8+run%2 // odd and even widths
			if run == 4 {
				// Planes of over 1024 outputs, which Forward splits into
				// bands of rows.
				batch, inH, inW = 2, 70, 66
			}
			p := &runtime.Pool2D{
				C: 5, InH: inH, InW: inW,
				OutH: (inH+2*tc.p-tc.k)/tc.s + 1, OutW: (inW+2*tc.p-tc.k)/tc.s + 1,
				KH: tc.k, KW: tc.k, SH: tc.s, SW: tc.s, PH: tc.p, PW: tc.p, Max: tc.max,
			}
			in := randSlice(rng, batch*p.C*inH*inW)
			out := make([]float32, batch*p.C*p.OutH*p.OutW)
			p.Forward(batch, in, out)
			// Max is exact; the average is a float32 sum of at most 49 terms.
			for i, want := range refPool(p, batch, in) {
				if !closeTo(out[i], want, 1e-6) {
					t.Fatalf("%+v batch %d: out[%d] = %v, want %v", tc, batch, i, out[i], want)
				}
			}
		}
	}
}

func TestGlobalAvgPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const batch, c, hw = 2, 3, 49
	in := randSlice(rng, batch*c*hw)
	out := make([]float32, batch*c)
	runtime.GlobalAvgPool(batch, c, hw, in, out)
	for p := range batch * c {
		var want float64
		for _, v := range in[p*hw : (p+1)*hw] {
			want += float64(v)
		}
		want /= hw
		if !closeTo(out[p], want, 1e-7) { // summed in float64, rounded once
			t.Errorf("out[%d] = %v, want %v", p, out[p], want)
		}
	}
}

func TestScaleShiftAndBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, hw := range []int{10, 53} { // 53: vectors and a tail
		testScaleShift(t, rng, hw)
	}
}

func testScaleShift(t *testing.T, rng *rand.Rand, hw int) {
	const c, batch = 4, 2
	weight, bias, mean := randSlice(rng, c), randSlice(rng, c), randSlice(rng, c)
	variance := make([]float32, c)
	for i := range variance {
		variance[i] = rng.Float32() + 0.1
	}
	const eps = 1e-5
	scale, shift := runtime.BatchNormScaleShift(weight, bias, mean, variance, eps)
	in := randSlice(rng, batch*c*hw)
	for _, relu := range []bool{false, true} {
		s := &runtime.ScaleShift{C: c, HW: hw, Scale: scale, Shift: shift, Relu: relu}
		out := make([]float32, len(in))
		s.Forward(batch, in, out)
		inPlace := slices.Clone(in)
		s.Forward(batch, inPlace, inPlace)
		for i, x := range in {
			ch := i / hw % c
			// BatchNorm as PyTorch evaluates it, in float64.
			want := (float64(x)-float64(mean[ch]))/math.Sqrt(float64(variance[ch])+eps)*float64(weight[ch]) + float64(bias[ch])
			if relu {
				want = max(want, 0)
			}
			// Scale and shift are rounded to float32, then one multiply-add
			// in float32: a few ulps of the operands.
			if !closeTo(out[i], want, 1e-6) {
				t.Fatalf("relu %v: out[%d] = %v, want %v", relu, i, out[i], want)
			}
			if inPlace[i] != out[i] {
				t.Fatalf("in-place result %v differs from %v", inPlace[i], out[i])
			}
		}
	}
	// nil weight and bias mean an affine-free BatchNorm.
	scale, shift = runtime.BatchNormScaleShift(nil, nil, []float32{2}, []float32{3}, 1)
	if scale[0] != 0.5 || shift[0] != -1 {
		t.Errorf("affine-free: scale, shift = %v, %v, want 0.5, -1", scale[0], shift[0])
	}
}

func TestLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct{ in, out, batch int }{
		{1, 1, 1}, {7, 3, 2}, {64, 10, 3}, {70, 130, 1}, {2048, 100, 2},
	} {
		for _, bias := range []bool{false, true} {
			l := &runtime.Linear{In: tc.in, Out: tc.out, Weight: randSlice(rng, tc.in*tc.out)}
			if bias {
				l.Bias = randSlice(rng, tc.out)
			}
			x := randSlice(rng, tc.batch*tc.in)
			y := make([]float32, tc.batch*tc.out)
			l.Forward(tc.batch, x, y)
			for b := range tc.batch {
				for o := range tc.out {
					var want, mag float64
					for i := range tc.in {
						p := float64(l.Weight[o*tc.in+i]) * float64(x[b*tc.in+i])
						want += p
						mag += math.Abs(p)
					}
					if bias {
						want += float64(l.Bias[o])
						mag += math.Abs(float64(l.Bias[o]))
					}
					// Same bound as the convolution: 4√K ulps of Σ|w·x|.
					tol := 4 * math.Sqrt(float64(tc.in)) * mag / (1 << 24)
					if got := y[b*tc.out+o]; math.Abs(float64(got)-want) > tol {
						t.Fatalf("%+v bias %v: y[%d,%d] = %v, want %v", tc, bias, b, o, got, want)
					}
				}
			}
		}
	}
}

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestGateUpdateAndAddInto(t *testing.T) {
	// 70001 elements run in parallel, with a tail that is not a multiple
	// of the vector width.
	for _, n := range []int{1000, 70001} {
		testGateUpdateAndAddInto(t, n)
	}
}

func testGateUpdateAndAddInto(t *testing.T, n int) {
	rng := rand.New(rand.NewPCG(11, 12))
	xs, r, g, xg := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
	for i := range g {
		g[i] *= 20 // reach the saturated ends of the sigmoid
	}
	want := make([]float64, n)
	for i := range want {
		want[i] = float64(r[i])*sigmoid64(float64(g[i])+float64(xg[i])) + float64(xs[i])
	}
	runtime.GateUpdate(xs, r, g, xg)
	for i := range xs {
		// The sigmoid is good to a few ulps; r·σ + xs adds two roundings.
		if !closeTo(xs[i], want[i], 1e-6) {
			t.Fatalf("xs[%d] = %v, want %v", i, xs[i], want[i])
		}
	}

	a, b := randSlice(rng, n), randSlice(rng, n)
	out := make([]float32, n)
	runtime.AddInto(out, a, b)
	for i := range out {
		if out[i] != a[i]+b[i] {
			t.Fatalf("AddInto: out[%d] = %v, want %v", i, out[i], a[i]+b[i])
		}
	}
	runtime.AddInto(a, a, b) // aliasing
	if !slices.Equal(a, out) {
		t.Fatal("AddInto into a differs")
	}
}

// TestAddIntoLengths checks AddInto to the bit on every length around the
// vector kernel's steps (four vectors, one vector, a masked tail), on every
// kernel family, and that it leaves what lies past out alone.
func TestAddIntoLengths(t *testing.T) {
	for _, name := range []string{"avx512", "avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if !ok {
			restore()
			continue
		}
		rng := rand.New(rand.NewPCG(41, 42))
		for n := 0; n <= 200; n++ {
			a, b := randSlice(rng, n+16), randSlice(rng, n+16)
			out := randSlice(rng, n+16)
			past := slices.Clone(out[n:])
			runtime.AddInto(out[:n], a, b)
			for i := range n {
				if out[i] != a[i]+b[i] {
					t.Fatalf("%s, n %d: out[%d] = %v, want %v", name, n, i, out[i], a[i]+b[i])
				}
			}
			if !slices.Equal(out[n:], past) {
				t.Fatalf("%s, n %d: AddInto wrote past out", name, n)
			}
		}
		restore()
	}
}

func TestSigmoid(t *testing.T) {
	for x := -100.0; x <= 100; x += 0.01 {
		got := runtime.Sigmoid(float32(x))
		want := sigmoid64(float64(float32(x)))
		// Relative to the value, which for large -x is tiny: the result
		// must keep its relative precision, not just be close to 0.
		if want > 1e-37 && math.Abs(float64(got)-want) > 4e-7*want {
			t.Fatalf("Sigmoid(%v) = %v, want %v", float32(x), got, want)
		}
		if want <= 1e-37 && got > 1e-37 {
			t.Fatalf("Sigmoid(%v) = %v, want ≈0", float32(x), got)
		}
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 0.5}, {float32(math.Inf(1)), 1}, {float32(math.Inf(-1)), 0}, {200, 1}, {-200, 0},
	} {
		if got := runtime.Sigmoid(c.x); got != c.want {
			t.Errorf("Sigmoid(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := runtime.Sigmoid(float32(math.NaN())); got == got {
		t.Errorf("Sigmoid(NaN) = %v, want NaN", got)
	}
}

func refSK(s *runtime.SKAttention, batch int, branches [][]float32) []float64 {
	out := make([]float64, batch*s.C*s.HW)
	for b := range batch {
		mean := make([]float64, s.C)
		for c := range s.C {
			for _, u := range branches {
				for _, v := range u[(b*s.C+c)*s.HW : (b*s.C+c+1)*s.HW] {
					mean[c] += float64(v)
				}
			}
			mean[c] /= float64(s.HW)
		}
		z := make([]float64, s.D)
		for d := range s.D {
			for c := range s.C {
				z[d] += float64(s.FC1[d*s.C+c]) * mean[c]
			}
			z[d] = max(z[d]*float64(s.Scale1[d])+float64(s.Shift1[d]), 0)
		}
		for c := range s.C {
			logits := make([]float64, s.M)
			hi := math.Inf(-1)
			for m := range s.M {
				for d := range s.D {
					logits[m] += float64(s.FC2[(m*s.C+c)*s.D+d]) * z[d]
				}
				hi = max(hi, logits[m])
			}
			var sum float64
			for m := range logits {
				logits[m] = math.Exp(logits[m] - hi)
				sum += logits[m]
			}
			for i := range s.HW {
				for m, u := range branches {
					out[(b*s.C+c)*s.HW+i] += logits[m] / sum * float64(u[(b*s.C+c)*s.HW+i])
				}
			}
		}
	}
	return out
}

func TestSKAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, m := range []int{2, 3} {
		for batch := 1; batch <= 3; batch++ {
			s := &runtime.SKAttention{M: m, C: 24, HW: 35, D: 8}
			s.FC1 = randSlice(rng, s.D*s.C)
			s.Scale1, s.Shift1 = randSlice(rng, s.D), randSlice(rng, s.D)
			s.FC2 = randSlice(rng, m*s.C*s.D)
			for i := range s.FC2 {
				s.FC2[i] *= 3 // make the softmax far from uniform
			}
			branches := make([][]float32, m)
			for i := range branches {
				branches[i] = randSlice(rng, batch*s.C*s.HW)
			}
			out := make([]float32, batch*s.C*s.HW)
			s.Forward(batch, branches, out, make([]float32, s.ScratchLen(batch)))
			// Attention weights are softmax outputs in [0, 1] and the inputs
			// are in [-1, 1], so every output is a short float32 sum of
			// magnitude ≤ 1: an absolute 1e-5 bounds the rounding of the
			// means, the two dot products and the weighted sum.
			for i, want := range refSK(s, batch, branches) {
				if math.Abs(float64(out[i])-want) > 1e-5 {
					t.Fatalf("M=%d batch %d: out[%d] = %v, want %v", m, batch, i, out[i], want)
				}
			}
		}
	}
}

func TestSoftmax(t *testing.T) {
	src := []float32{1, 2, 3, 1000, -1000, 999}
	dst := make([]float32, len(src))
	runtime.Softmax(dst, src)
	var sum float64
	for i, v := range dst {
		sum += float64(v)
		var z float64
		for _, w := range src {
			z += math.Exp(float64(w) - 1000)
		}
		want := math.Exp(float64(src[i])-1000) / z
		if !closeTo(v, want, 1e-7) {
			t.Errorf("dst[%d] = %v, want %v", i, v, want)
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("sum = %v, want 1", sum)
	}
	runtime.Softmax(src, src) // in place
	if !slices.Equal(src, dst) {
		t.Errorf("in place: %v, want %v", src, dst)
	}
	runtime.Softmax(nil, nil) // empty input is fine
}

func TestTopK(t *testing.T) {
	nan := float32(math.NaN())
	scores := []float32{0.1, 0.5, nan, 0.5, 0.9, -1, 0.3}
	for _, tc := range []struct {
		k    int
		want []int
	}{
		{0, []int{}},
		{1, []int{4}},
		{3, []int{4, 1, 3}}, // ties keep index order
		{6, []int{4, 1, 3, 6, 0, 5}},
		{7, []int{4, 1, 3, 6, 0, 5, 2}}, // NaN last
		{100, []int{4, 1, 3, 6, 0, 5, 2}},
		{-1, []int{}},
	} {
		if got := runtime.TopK(scores, tc.k); !slices.Equal(got, tc.want) {
			t.Errorf("TopK(k=%d) = %v, want %v", tc.k, got, tc.want)
		}
	}
	// Agrees with a full sort on random scores.
	rng := rand.New(rand.NewPCG(15, 16))
	big := randSlice(rng, 1000)
	idx := make([]int, len(big))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case big[a] > big[b]:
			return -1
		case big[a] < big[b]:
			return 1
		}
		return 0
	})
	if got := runtime.TopK(big, 5); !slices.Equal(got, idx[:5]) {
		t.Errorf("TopK(5) = %v, want %v", got, idx[:5])
	}
}
