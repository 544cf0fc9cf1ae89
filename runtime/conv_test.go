package runtime_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// randSlice returns n uniform values in [-1, 1).
func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}

// refConv is a direct seven-loop convolution in float64. It also returns,
// per output, the sum of |w·x| over the products, which bounds the rounding
// error of any float32 evaluation order.
func refConv(c *runtime.Conv2D, batch int, in []float32) (want, mag []float64) {
	icg, ocg := c.InC/c.Groups, c.OutC/c.Groups
	want = make([]float64, batch*c.OutC*c.OutH*c.OutW)
	mag = make([]float64, len(want))
	for b := range batch {
		for oc := range c.OutC {
			g := oc / ocg
			for oh := range c.OutH {
				for ow := range c.OutW {
					var s, a float64
					for ic := range icg {
						for kh := range c.KH {
							for kw := range c.KW {
								ih := oh*c.SH - c.PH + kh*c.DH
								iw := ow*c.SW - c.PW + kw*c.DW
								if ih < 0 || ih >= c.InH || iw < 0 || iw >= c.InW {
									continue
								}
								w := float64(c.Weight[((oc*icg+ic)*c.KH+kh)*c.KW+kw])
								x := float64(in[((b*c.InC+g*icg+ic)*c.InH+ih)*c.InW+iw])
								s += w * x
								a += math.Abs(w * x)
							}
						}
					}
					scale, shift := 1.0, 0.0
					if c.Scale != nil {
						scale = float64(c.Scale[oc])
					}
					if c.Shift != nil {
						shift = float64(c.Shift[oc])
					}
					y := s*scale + shift
					if c.Relu {
						y = max(y, 0)
					}
					i := ((b*c.OutC+oc)*c.OutH+oh)*c.OutW + ow
					want[i] = y
					mag[i] = a*math.Abs(scale) + math.Abs(shift)
				}
			}
		}
	}
	return want, mag
}

// convOut returns the PyTorch output size along one axis, or 0 where the
// dilated kernel does not fit the padded input.
func convOut(in, k, s, p, d int) int {
	if in+2*p < d*(k-1)+1 {
		return 0
	}
	return (in+2*p-d*(k-1)-1)/s + 1
}

type convCase struct {
	inC, outC, inH, inW, k, s, p, d, groups int
	batch                                   int
	epilogue                                int // 0 none, 1 scale, 2 shift, 3 scale+shift+relu
}

func (tc convCase) String() string {
	return fmt.Sprintf("%dx%d_%d->%d_k%d_s%d_p%d_d%d_g%d_b%d_e%d",
		tc.inH, tc.inW, tc.inC, tc.outC, tc.k, tc.s, tc.p, tc.d, tc.groups, tc.batch, tc.epilogue)
}

func (tc convCase) conv(rng *rand.Rand) *runtime.Conv2D {
	c := &runtime.Conv2D{
		InC: tc.inC, InH: tc.inH, InW: tc.inW,
		OutC: tc.outC,
		OutH: convOut(tc.inH, tc.k, tc.s, tc.p, tc.d),
		OutW: convOut(tc.inW, tc.k, tc.s, tc.p, tc.d),
		KH:   tc.k, KW: tc.k, SH: tc.s, SW: tc.s, PH: tc.p, PW: tc.p, DH: tc.d, DW: tc.d,
		Groups: tc.groups,
		Relu:   tc.epilogue == 3,
	}
	c.Weight = randSlice(rng, tc.outC*tc.inC/tc.groups*tc.k*tc.k)
	if tc.epilogue == 1 || tc.epilogue == 3 {
		c.Scale = randSlice(rng, tc.outC)
	}
	if tc.epilogue >= 2 {
		c.Shift = randSlice(rng, tc.outC)
	}
	return c
}

// convCases covers kernel 1/3/7, stride 1/2, padding 0..3, dilation 1/2 and
// groups 1/2/4/32 (two channels per group and depthwise) on a non-square
// input, cycling batch 1..3 and the epilogue variants, plus larger layers
// that exercise the GEMM's k blocking, several column blocks, the split of
// output channels and the 1×1 path.
func convCases() []convCase {
	var cases []convCase
	type chans struct{ inC, outC, groups int }
	groupings := []chans{
		{3, 10, 1}, {4, 6, 2}, {8, 12, 4},
		{64, 64, 32}, // 2 in, 2 out per group
		{32, 32, 32}, // depthwise
		{32, 64, 32}, // depthwise, channel multiplier 2
	}
	i := 0
	for _, k := range []int{1, 3, 7} {
		for _, s := range []int{1, 2} {
			for p := range 4 {
				for _, d := range []int{1, 2} {
					for _, ch := range groupings {
						tc := convCase{
							inC: ch.inC, outC: ch.outC, groups: ch.groups,
							inH: 11, inW: 8, k: k, s: s, p: p, d: d,
							batch: 1 + i%3, epilogue: i % 4,
						}
						i++
						if k == 1 && d == 2 && (i%2 == 0) {
							continue // dilation does not change a 1×1 kernel
						}
						if convOut(tc.inH, k, s, p, d) <= 0 || convOut(tc.inW, k, s, p, d) <= 0 {
							continue
						}
						cases = append(cases, tc)
					}
				}
			}
		}
	}
	return append(cases,
		convCase{inC: 64, outC: 40, inH: 20, inW: 21, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 2, epilogue: 3},   // k = 576 > kc, 2 column blocks
		convCase{inC: 300, outC: 17, inH: 17, inW: 17, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 1},  // 1×1 with k > kc
		convCase{inC: 64, outC: 70, inH: 7, inW: 7, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 3},     // late layer: split output channels
		convCase{inC: 40, outC: 200, inH: 14, inW: 14, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 1},  // guided blocks of output channels
		convCase{inC: 1024, outC: 64, inH: 14, inW: 14, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 3}, // B packed once for all workers (not copiesB)
		convCase{inC: 24, outC: 140, inH: 9, inW: 9, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 2},    // guided, shares of 6 and 6 panels
		convCase{inC: 48, outC: 96, inH: 7, inW: 7, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 1, epilogue: 2},     // split with im2col
		convCase{inC: 32, outC: 64, inH: 15, inW: 14, k: 1, s: 2, p: 0, d: 1, groups: 1, batch: 2, epilogue: 3},   // 1×1 stride 2 goes through im2col
		convCase{inC: 3, outC: 16, inH: 30, inW: 26, k: 7, s: 2, p: 3, d: 1, groups: 1, batch: 3, epilogue: 3},    // stem
		convCase{inC: 128, outC: 128, inH: 12, inW: 12, k: 3, s: 2, p: 1, d: 1, groups: 16, batch: 2, epilogue: 3},
		convCase{inC: 1024, outC: 1024, inH: 3, inW: 3, k: 3, s: 1, p: 1, d: 1, groups: 32, batch: 1, epilogue: 3}, // 32 per group, k = 288
		convCase{inC: 256, outC: 64, inH: 23, inW: 23, k: 1, s: 1, p: 0, d: 1, groups: 2, batch: 1, epilogue: 0},   // grouped 1×1, 3 column blocks
		// Stride 1 with padding (padded input rows as B): several column
		// blocks with edges, output channels not a multiple of the tile.
		convCase{inC: 40, outC: 70, inH: 30, inW: 33, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 2, epilogue: 3},
		convCase{inC: 64, outC: 128, inH: 19, inW: 17, k: 3, s: 1, p: 2, d: 2, groups: 32, batch: 1, epilogue: 3}, // dilated, as in SK branches
		convCase{inC: 16, outC: 25, inH: 14, inW: 14, k: 3, s: 1, p: 0, d: 1, groups: 1, batch: 3, epilogue: 1},   // stride 1, no padding
		convCase{inC: 512, outC: 100, inH: 7, inW: 7, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 1, epilogue: 2},   // k = 4608, split output channels
		// 1×1 at 28×28: four column blocks of 196 (six panels and a tail
		// of 4), B shared by two blocks of output channels at batch 1,
		// packed per unit at batch 2, and k across two blocks of kc.
		convCase{inC: 128, outC: 96, inH: 28, inW: 28, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 3},
		convCase{inC: 128, outC: 40, inH: 28, inW: 28, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 2, epilogue: 1},
		convCase{inC: 300, outC: 30, inH: 28, inW: 28, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 2},
	)
}

// checkClose compares got with want. The reference sums in float64; a
// float32 sum of K products has an error of at most about K·2⁻²⁴·Σ|w·x| in
// the worst case and about √K·2⁻²⁴·Σ|w·x| for random rounding. The bound
// allows 4√K ulps of the magnitude sum, plus one ulp of the value itself.
func checkClose(t *testing.T, name string, got []float32, want, mag []float64, k int) {
	t.Helper()
	const ulp = 1.0 / (1 << 24)
	bad := 0
	for i := range want {
		tol := 4*math.Sqrt(float64(k))*ulp*mag[i] + ulp*math.Abs(want[i]) + 1e-30
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol) {
			if bad < 5 {
				t.Errorf("%s: out[%d] = %v, want %v (|diff| %.3g > tol %.3g)", name, i, got[i], want[i], d, tol)
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d outputs differ", name, bad, len(want))
	}
}

// guard is a sentinel written past the end of outputs to catch overruns.
const guard = float32(-12345.5)

func TestConv2D(t *testing.T) {
	t.Run("default", testConv2D)
	for _, name := range []string{"avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			t.Run(name, testConv2D)
		}
		restore()
	}
}

func testConv2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := convCases()
	if len(cases) < 200 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		c := tc.conv(rng)
		if err := c.Prepare(); err != nil {
			t.Fatalf("%v: Prepare: %v", tc, err)
		}
		in := randSlice(rng, tc.batch*c.InC*c.InH*c.InW)
		n := tc.batch * c.OutC * c.OutH * c.OutW
		out := make([]float32, n+8)
		for i := range out {
			out[i] = guard
		}
		scratch := make([]float32, c.ScratchLen(tc.batch))
		c.Forward(tc.batch, in, out, scratch)
		want, mag := refConv(c, tc.batch, in)
		checkClose(t, tc.String(), out[:n], want, mag, c.InC/c.Groups*c.KH*c.KW)
		for i, v := range out[n:] {
			if v != guard {
				t.Errorf("%v: wrote out[%d] past the end", tc, n+i)
			}
		}
		// A second call with the same scratch must give the same result:
		// nothing may depend on scratch or out being zero.
		got := append([]float32(nil), out[:n]...)
		c.Forward(tc.batch, in, out, scratch)
		for i := range got {
			if out[i] != got[i] {
				t.Fatalf("%v: second Forward differs at %d: %v vs %v", tc, i, out[i], got[i])
			}
		}
	}
}

func TestConv2DPrepareErrors(t *testing.T) {
	good := func() runtime.Conv2D {
		return runtime.Conv2D{
			InC: 4, InH: 8, InW: 8, OutC: 6, OutH: 8, OutW: 8,
			KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 2,
			Weight: make([]float32, 6*2*9),
		}
	}
	c := good()
	if err := c.Prepare(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		modify func(*runtime.Conv2D)
		want   string
	}{
		{"weight length", func(c *runtime.Conv2D) { c.Weight = c.Weight[1:] }, "len(Weight)"},
		{"groups divide InC", func(c *runtime.Conv2D) { c.Groups = 3 }, "Groups"},
		{"zero stride", func(c *runtime.Conv2D) { c.SH = 0 }, "SH"},
		{"zero dilation", func(c *runtime.Conv2D) { c.DW = 0 }, "DW"},
		{"negative padding", func(c *runtime.Conv2D) { c.PW = -1 }, "padding"},
		{"output size", func(c *runtime.Conv2D) { c.OutH = 7 }, "output"},
		{"scale length", func(c *runtime.Conv2D) { c.Scale = make([]float32, 5) }, "len(Scale)"},
		{"shift length", func(c *runtime.Conv2D) { c.Shift = make([]float32, 7) }, "len(Shift)"},
		{"kernel too large", func(c *runtime.Conv2D) { c.KH, c.PH, c.OutH = 11, 0, 1 }, "larger"},
	} {
		c := good()
		tc.modify(&c)
		err := c.Prepare()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Prepare() = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestConv2DForwardBeforePreparePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Forward before Prepare did not panic")
		}
	}()
	var c runtime.Conv2D
	c.Forward(1, nil, nil, nil)
}

// TestEvenColumnBlocks checks that a 1×1 layer at 28×28 splits its 784
// outputs into four blocks of 196, not three of 224 and one of 112, where
// the tail kernel can take each block's last 4 columns (k of at least
// tailMinK, AVX-512), and keeps whole panels where it cannot.
func TestEvenColumnBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		inC    int
		nt, nb int
	}{
		{128, 196, 4}, // the tail kernel takes 4 of 196
		{64, 224, 4},  // k = 64: whole panels, a short last block
	} {
		c := convCase{inC: tc.inC, outC: 32, inH: 28, inW: 28, k: 1, s: 1, d: 1, groups: 1, batch: 1}.conv(rng)
		if err := c.Prepare(); err != nil {
			t.Fatal(err)
		}
		if 4%runtime.Workers() != 0 {
			t.Skipf("%d workers: blocks rounded to a multiple of them", runtime.Workers())
		}
		want := [2]int{tc.nt, tc.nb}
		if !runtime.HasAVX512() {
			want = [2]int{224, 4} // whole panels without the tail kernel
		}
		if nt, nb := runtime.ColumnBlocks(c); [2]int{nt, nb} != want {
			t.Errorf("k = %d: column blocks of %d, %d an image; want %d, %d", tc.inC, nt, nb, want[0], want[1])
		}
	}
}

// TestCopiesB checks which 1×1 layers at batch 1 have each worker pack its
// own copy of the B that their units share, and that a Forward that finds
// the workers' own copies taken by another call, which then packs into
// its scratch, gives the same bits.
func TestCopiesB(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		inC    int
		copies bool
	}{
		{256, true},   // 256×224 floats of B: a copy per worker
		{1024, false}, // 1024×224: packed once for both
	} {
		c := convCase{inC: tc.inC, outC: 64, inH: 14, inW: 14, k: 1, s: 1, d: 1, groups: 1, batch: 1, epilogue: 3}.conv(rng)
		if err := c.Prepare(); err != nil {
			t.Fatal(err)
		}
		if got := runtime.CopiesB(c); got != tc.copies {
			t.Errorf("k = %d: copiesB = %v, want %v", tc.inC, got, tc.copies)
		}
		in := randSlice(rng, c.InC*196)
		scratch := make([]float32, c.ScratchLen(1))
		want := make([]float32, c.OutC*196)
		c.Forward(1, in, want, scratch)
		release := runtime.HoldGEMMCopies()
		got := make([]float32, c.OutC*196)
		c.Forward(1, in, got, scratch)
		release()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("k = %d: with the workers' copies taken, out[%d] = %v, want %v", tc.inC, i, got[i], want[i])
			}
		}
	}
}

// TestHandsOffK checks which 1×1 layers split k between two workers, the
// first handing its sums to the second, and that they give the same bits
// as the output channels split between workers over B packed for both.
func TestHandsOffK(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		inC, outC, batch int
		update           bool
		want             bool
	}{
		{1024, 256, 1, false, true},  // GRCNN-109's reduce at 14×14
		{512, 128, 1, false, true},   // two blocks of k
		{1024, 512, 1, false, false}, // 4m > k
		{1024, 256, 2, false, false}, // an image a worker
		{1024, 256, 1, true, false},  // an update
		{256, 64, 1, false, false},   // a copy of B per worker
	} {
		cs := convCase{inC: tc.inC, outC: tc.outC, inH: 14, inW: 14, k: 1, s: 1, d: 1, groups: 1, batch: tc.batch, epilogue: 3}
		c := cs.conv(rng)
		c.InScale, c.InShift, c.InRelu = randSlice(rng, c.InC), randSlice(rng, c.InC), true
		c.Update = tc.update
		if err := c.Prepare(); err != nil {
			t.Fatal(err)
		}
		want := tc.want && runtime.Workers() > 1
		if got := runtime.HandsOffK(c, tc.batch); got != want {
			t.Errorf("%v: handsOffK = %v, want %v", cs, got, want)
		}
		if !want {
			continue
		}
		in := randSlice(rng, tc.batch*c.InC*196)
		n := tc.batch * c.OutC * 196
		got := run(t, c, tc.batch, in, n)
		restore := runtime.SetHandOff(false)
		plain := run(t, c, tc.batch, in, n)
		restore()
		same(t, cs.String()+" handed off", got, plain)

		// A depthwise convolution after it, whose call state may be the
		// one the hand-off used, runs its own units.
		dw := convCase{inC: 64, outC: 64, inH: 14, inW: 14, k: 3, s: 1, p: 1, d: 1, groups: 64, batch: 1, epilogue: 1}.conv(rng)
		dwIn := randSlice(rng, 64*196)
		dwWant := run(t, dw, 1, dwIn, 64*196)
		for range 4 {
			run(t, c, tc.batch, in, n)
			same(t, cs.String()+", then depthwise", run(t, dw, 1, dwIn, 64*196), dwWant)
		}
	}
}
