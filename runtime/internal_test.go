package runtime

import (
	"math"
	"math/rand/v2"
	"testing"
)

// kernels runs f once with each micro-kernel this machine has: the portable
// one and, where supported, the AVX2 and AVX-512 ones.
func kernels(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer saveKernel()()
	for _, name := range []string{"portable", "avx2", "avx512"} {
		if setKernel(name) {
			t.Run(name, f)
		}
	}
}

// TestSgemmPacked checks sgemmPacked against a float64 triple loop for
// shapes around the blocking sizes (nr, mr, kc), with and without
// accumulation and epilogue, over all row panels and over a part of them,
// and that it leaves C outside its window alone.
func TestSgemmPacked(t *testing.T) {
	kernels(t, testSgemmPacked)
}

func testSgemmPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, m := range []int{1, 3, mr - 1, mr, mr + 1, 64, 70} {
		for _, n := range []int{1, 7, nr - 1, nr, 2*nr + 3, 100} {
			for _, k := range []int{0, 1, 2, 7, kc} {
				for variant := range 4 {
					accumulate := variant&1 != 0
					var ep gemmEpilogue
					if variant&2 != 0 {
						ep = gemmEpilogue{scale: randVec(rng, m), shift: randVec(rng, m), relu: true}
					}
					np := rowPanels(m)
					p0, p1 := 0, np
					if variant&3 == 3 && np > 2 {
						p0, p1 = 1, np-1
					}
					lda, ldc := k+3, n+2
					a := randVec(rng, m*lda)
					ap := randVec(rng, m*k)
					packA(ap, a, m, k, lda)
					b := randVec(rng, k*n)
					bp := randVec(rng, packedLen(k, n)) // packRows must overwrite it all
					for r := 0; r < k; r += 3 {
						packRows(bp, k, r, min(3, k-r), b[r*n:], n, n)
					}
					c := randVec(rng, m*ldc)
					c0 := append([]float32(nil), c...)
					r0, r1 := panelStart(m, np, p0), panelStart(m, np, p1)
					sgemmPacked(m, p0, p1, n, k, ap, bp, c[r0*ldc:], ldc, accumulate, ep)
					for i := range m {
						for j := range ldc {
							if j >= n || i < r0 || i >= r1 {
								if c[i*ldc+j] != c0[i*ldc+j] {
									t.Fatalf("m%d n%d k%d: wrote C[%d,%d] outside the window", m, n, k, i, j)
								}
								continue
							}
							var want, mag float64
							if accumulate {
								want = float64(c0[i*ldc+j])
								mag = math.Abs(want)
							}
							for p := range k {
								v := float64(a[i*lda+p]) * float64(b[p*n+j])
								want += v
								mag += math.Abs(v)
							}
							if ep.scale != nil {
								s := float64(ep.scale[i])
								want = want*s + float64(ep.shift[i])
								mag = mag*math.Abs(s) + math.Abs(float64(ep.shift[i]))
								want = max(want, 0)
							}
							// 4√K ulps of Σ|a·b|, as for the convolution.
							tol := 4*math.Sqrt(float64(k+1))*mag/(1<<24) + 1e-30
							if d := math.Abs(float64(c[i*ldc+j]) - want); d > tol {
								t.Fatalf("m%d n%d k%d variant %d: C[%d,%d] = %v, want %v", m, n, k, variant, i, j, c[i*ldc+j], want)
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmTail checks that the tail kernel, which computes a last panel of
// B of up to maxTailCols columns with rows as vector lanes, gives every
// element of C the same bits as the half and full kernels, with and without
// accumulation and epilogue, over all row panels and a part of them.
func TestSgemmTail(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512")
	}
	defer func(v bool) { useTail = v }(useTail)
	rng := rand.New(rand.NewPCG(21, 22))
	tested := 0
	for _, m := range []int{1, 11, 12, 13, 25, 64} {
		for _, n := range []int{1, 5, 12, 13, 2*nr + 4, 6*nr + 4, 3*nr + 12} {
			for _, k := range []int{tailMinK, kc} {
				for variant := range 4 {
					np := rowPanels(m)
					p0, p1 := 0, np
					if variant == 3 && np > 2 {
						p0, p1 = 1, np-1
					}
					var ep gemmEpilogue
					if variant&2 != 0 {
						ep = gemmEpilogue{scale: randVec(rng, m), shift: randVec(rng, m), relu: true}
					}
					ap, bp, c0 := randVec(rng, m*k), randVec(rng, packedLen(k, n)), randVec(rng, m*n)
					r0 := panelStart(m, np, p0)
					var got [2][]float32
					for i, on := range []bool{false, true} {
						useTail = on
						got[i] = append([]float32(nil), c0...)
						sgemmPacked(m, p0, p1, n, k, ap, bp, got[i][r0*n:], n, variant&1 != 0, ep)
					}
					for i := range got[0] {
						if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
							t.Fatalf("m%d n%d k%d variant %d: C[%d] = %v with the tail kernel, %v without", m, n, k, variant, i, got[1][i], got[0][i])
						}
					}
					if n%nr != 0 && n%nr <= maxTailCols {
						tested++
					}
				}
			}
		}
	}
	if tested == 0 {
		t.Error("no case reached the tail kernel")
	}
}

func randVec(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}

func TestExp32(t *testing.T) {
	for x := float32(-87.3); x <= 88.3; x += 0.0013 {
		got, want := float64(exp32(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 2e-7*want {
			t.Fatalf("exp32(%v) = %v, want %v (rel err %.3g)", x, got, want, math.Abs(got-want)/want)
		}
	}
	if got := exp32(float32(math.NaN())); got == got {
		t.Errorf("exp32(NaN) = %v", got)
	}
}

func TestInside(t *testing.T) {
	for n := range 6 {
		for x0 := -7; x0 < 9; x0++ {
			for stride := 1; stride <= 3; stride++ {
				for size := range 6 {
					lo, hi := inside(n, x0, stride, size)
					for tt := range n {
						in := x0+tt*stride >= 0 && x0+tt*stride < size
						if in != (tt >= lo && tt < hi) {
							t.Fatalf("inside(%d, %d, %d, %d) = [%d, %d), wrong at t=%d", n, x0, stride, size, lo, hi, tt)
						}
					}
					if lo > hi || hi > n {
						t.Fatalf("inside(%d, %d, %d, %d) = [%d, %d)", n, x0, stride, size, lo, hi)
					}
				}
			}
		}
	}
}

// TestParallelForCoversEachUnitOnce runs loops of many sizes and grains and
// checks every unit ran exactly once with a valid worker index.
func TestParallelForCoversEachUnitOnce(t *testing.T) {
	var l loop
	for _, n := range []int{0, 1, 2, 5, 100, 1001} {
		for _, grain := range []int{0, 1, 3, 64, 5000} {
			c := &countBody{hits: make([]int, n), workers: workers()}
			l.parallelFor(n, grain, c)
			for i, h := range c.hits {
				if h != 1 {
					t.Fatalf("n %d grain %d: unit %d ran %d times", n, grain, i, h)
				}
			}
			if c.badWorker {
				t.Fatalf("n %d grain %d: worker index out of range", n, grain)
			}
		}
	}
}

type countBody struct {
	hits      []int // each unit is written by one goroutine only
	workers   int
	badWorker bool
}

func (c *countBody) run(lo, hi, w int) {
	if w < 0 || w >= c.workers {
		c.badWorker = true
	}
	for i := lo; i < hi; i++ {
		c.hits[i]++
	}
}

// TestPackOffs checks packOffs against packRows, row by row.
func TestPackOffs(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, n := range []int{1, 17, nr - 1, nr, nr + 1, 100} {
		for _, k := range []int{1, 5, 40} {
			src := randVec(rng, 200*k+n)
			offs := make([]int32, k)
			for p := range offs {
				offs[p] = int32(rng.IntN(200 * k))
			}
			want := randVec(rng, packedLen(k, n))
			for p, o := range offs {
				packRows(want, k, p, 1, src[o:], 0, n)
			}
			kernels(t, func(t *testing.T) {
				got := randVec(rng, packedLen(k, n))
				packOffs(got, src, offs, n)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("n%d k%d: packed[%d] = %v, want %v", n, k, i, got[i], want[i])
					}
				}
			})
		}
	}
}

// TestMaxPool3s2 checks the stem's 3×3/2 max pooling with the AVX-512
// kernels against the portable loops on rows of many widths, NaNs, zeros
// of both signs and infinities among the values: the results must be the
// same to the bit.
func TestMaxPool3s2(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512")
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	rng := rand.New(rand.NewPCG(43, 44))
	for w := 3; w <= 200; w += 1 + w/16 {
		for _, h := range []int{3, 8, 9} {
			p := &Pool2D{C: 1, InH: h, InW: w, OutH: (h-1)/2 + 1, OutW: (w-1)/2 + 1, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, Max: true}
			in := make([]float32, h*w)
			for i := range in {
				in[i] = float32(rng.NormFloat64())
				if rng.IntN(20) == 0 {
					in[i] = special[rng.IntN(len(special))]
				}
			}
			got := make([]float32, p.OutH*p.OutW)
			want := make([]float32, len(got))
			// In two bands of rows, as Forward splits large planes.
			p.maxPlane(got, in, 0, p.OutH/2)
			p.maxPlane(got, in, p.OutH/2, p.OutH)
			restore := saveKernel()
			useAVX512 = false
			p.maxPlane(want, in, 0, p.OutH)
			restore()
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%d×%d: out[%d] = %v, want %v", h, w, i, got[i], want[i])
				}
			}
		}
	}
}

// TestAvgPool2s2 checks the 2×2/2 average pooling with the AVX-512 kernel
// against the portable loop, to the bit, on rows of many widths, without
// and with the input prologue (with and without its ReLU).
func TestAvgPool2s2(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(45, 46))
	for w := 2; w <= 150; w += 1 + w/10 {
		for pro := range 3 {
			p := &Pool2D{C: 2, InH: 6, InW: w, OutH: 3, OutW: w / 2, KH: 2, KW: 2, SH: 2, SW: 2}
			if pro > 0 {
				p.InScale, p.InShift, p.InRelu = randVec(rng, 2), randVec(rng, 2), pro == 2
			}
			in := make([]float32, 6*w)
			for i := range in {
				in[i] = float32(rng.NormFloat64())
			}
			got, want := make([]float32, 3*(w/2)), make([]float32, 3*(w/2))
			p.avgPlane(got, in, 1, 0, 1)
			p.avgPlane(got, in, 1, 1, 3)
			restore := saveKernel()
			useAVX512 = false
			p.avgPlane(want, in, 1, 0, 3)
			restore()
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("width %d, prologue %d: out[%d] = %v, want %v", w, pro, i, got[i], want[i])
				}
			}
		}
	}
}

// TestMix2 checks the selective-kernel fusion of two branches against the
// scalar formula, to the bit, for lengths with and without a tail.
func TestMix2(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	kernels(t, func(t *testing.T) {
		for _, n := range []int{1, 15, 16, 17, 49, 196, 3136} {
			u0, u1 := randVec(rng, n), randVec(rng, n)
			a0, a1 := rng.Float32(), rng.Float32()
			got := make([]float32, n)
			mix2(got, u0, u1, a0, a1)
			for i := range got {
				if want := float32(a0*u0[i]) + float32(a1*u1[i]); math.Float32bits(got[i]) != math.Float32bits(want) {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, got[i], want)
				}
			}
		}
	})
}

// TestMean checks the plane average against an exact float64 sum: the
// float64 partial sums must round to the same float32 or its neighbour.
func TestMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	kernels(t, func(t *testing.T) {
		for _, n := range []int{1, 7, 8, 31, 32, 33, 49, 196, 1000, 3136, 50176} {
			x := randVec(rng, n)
			var s float64
			for _, v := range x {
				s += float64(v)
			}
			want := float32(s / float64(n))
			got := mean(x)
			if d := math.Abs(float64(got - want)); d > math.Abs(float64(math.Nextafter32(want, 2*want+1)-want)) {
				t.Errorf("n=%d: mean = %v, want %v", n, got, want)
			}
		}
	})
}

// TestPadPhases checks padPhasesAVX512 against its definition, to the bit,
// for 1, 2 and 4 phases, rows of many widths and paddings (negative: a
// shift to the left, as im2row's planes take), with and without
// the prologue: every output inside the n columns of each phase, and
// nothing past them.
func TestPadPhases(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(45, 46))
	const guard = float32(-7777)
	for _, m := range []int{1, 2, 4} {
		for inW := 1; inW <= 70; inW += 1 + inW/8 {
			for pad := -3; pad <= 3; pad++ { // a negative pad shifts the row left
				for _, pro := range []int{0, 1, 3} {
					n := (inW+2*pad+m-1)/m + rng.IntN(3) // columns of each phase
					phase := n + rng.IntN(4)             // the distance between phases
					rowLen := m*phase + rng.IntN(5)
					rows, stride := 1+rng.IntN(4), inW+rng.IntN(3)
					src := make([]float32, (rows-1)*stride+inW)
					for i := range src {
						src[i] = float32(rng.NormFloat64())
					}
					s, sh := float32(rng.NormFloat64()), float32(rng.NormFloat64())
					got := make([]float32, rows*rowLen+16)
					for i := range got {
						got[i] = guard
					}
					want := append([]float32(nil), got...)
					for r := range rows {
						for p := range m {
							for j := range n {
								v := float32(0)
								if x := m*j + p - pad; x >= 0 && x < inW {
									v = src[r*stride+x]
									if pro&1 != 0 {
										v = float32(v*s) + sh // rounded before the add, as the kernel does
										if pro&2 != 0 {
											v = max(v, 0)
										}
									}
								}
								want[r*rowLen+p*phase+j] = v
							}
						}
					}
					padPhases(got, rowLen, phase, n, src, stride, inW, pad, rows, m, s, sh, pro&1 != 0, pro&2 != 0)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("m %d, inW %d, pad %d, prologue %d, n %d: dst[%d] = %v, want %v", m, inW, pad, pro, n, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestGuidedBlocks checks guidedBlocks' blocks: they cover the panels in
// order, each worker's share [np·i/w, np·(i+1)/w) in as many blocks, no
// block larger than the one before it in its share and the last one a
// single panel.
func TestGuidedBlocks(t *testing.T) {
	for _, w := range []int{1, 2, 3, 4} {
		for np := 4 * w; np <= 100; np++ {
			b := guidedBlocks(np, w)
			blocks := (len(b) - 1) / w
			if (len(b)-1)%w != 0 || b[0] != 0 || b[len(b)-1] != np {
				t.Fatalf("guidedBlocks(%d, %d) = %v", np, w, b)
			}
			for i := range w {
				share := b[i*blocks : (i+1)*blocks+1]
				if share[0] != np*i/w || share[blocks] != np*(i+1)/w {
					t.Fatalf("guidedBlocks(%d, %d) = %v: share %d is %v", np, w, b, i, share)
				}
				for j := 1; j <= blocks; j++ {
					size := share[j] - share[j-1]
					if size < 1 || j > 1 && size > share[j-1]-share[j-2] {
						t.Fatalf("guidedBlocks(%d, %d) = %v: share %d is %v", np, w, b, i, share)
					}
				}
				if share[blocks]-share[blocks-1] != 1 {
					t.Fatalf("guidedBlocks(%d, %d) = %v: share %d ends in a block of more than one panel", np, w, b, i)
				}
			}
		}
	}
}

// TestPeakPanelSlack checks that KernelPeak's panels leave room for the
// micro-kernel's farthest prefetches: B's rows 32 KiB on from anywhere in
// a panel of kc×nr floats, and the next panel of A, mr·kc floats on.
func TestPeakPanelSlack(t *testing.T) {
	b := peakPanel(kc * nr)
	if slack := 4 * (cap(b) - len(b)); slack < 32<<10+4*kc*nr-4*nr || slack < 4*mr*kc {
		t.Errorf("peakPanel leaves %d bytes past a panel; the micro-kernel prefetches up to %d past B and %d past A",
			slack, 32<<10+4*kc*nr-4*nr, 4*mr*kc)
	}
}
