package runtime_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// winogradCases covers the shapes the GRCNNs give Winograd (56×56, 28×28,
// 32×32, 14×14 with 64–256 channels) and edges: sizes that are not
// multiples of the 4×4 tile, tile rows longer than the 16 lanes of the
// vectorised transforms, padding 0 and 2, channel counts past the GEMM's
// k blocking and not multiples of its row panels, batches of several
// images (whose tiles blocks mix), every epilogue.
func winogradCases() []convCase {
	var cases []convCase
	for i, sz := range [][2]int{{4, 4}, {5, 7}, {8, 8}, {13, 11}, {14, 14}, {17, 70}, {3, 3}, {1, 6}} {
		for _, ch := range [][2]int{{1, 1}, {3, 10}, {16, 16}, {40, 70}} {
			cases = append(cases, convCase{inC: ch[0], outC: ch[1], inH: sz[0], inW: sz[1], k: 3, s: 1, p: 1, d: 1,
				groups: 1, batch: 1 + i%3, epilogue: (i + ch[0]) % 4})
		}
	}
	return append(cases,
		convCase{inC: 16, outC: 8, inH: 9, inW: 10, k: 3, s: 1, p: 0, d: 1, groups: 1, batch: 2, epilogue: 3},
		convCase{inC: 16, outC: 8, inH: 9, inW: 10, k: 3, s: 1, p: 2, d: 1, groups: 1, batch: 1, epilogue: 1},
		convCase{inC: 64, outC: 64, inH: 56, inW: 56, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 1, epilogue: 3},
		convCase{inC: 128, outC: 128, inH: 28, inW: 28, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 2, epilogue: 3},
		convCase{inC: 300, outC: 37, inH: 14, inW: 14, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 1, epilogue: 2}, // k > kc
		// Blocks of tiles that span images: two (7×7 at batch 8), many
		// (one tile an image), and ones that start within a tile row.
		convCase{inC: 24, outC: 40, inH: 7, inW: 7, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 8, epilogue: 3},
		convCase{inC: 8, outC: 13, inH: 3, inW: 4, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 37, epilogue: 1},
		convCase{inC: 20, outC: 20, inH: 14, inW: 14, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 5, epilogue: 2},
	)
}

// TestWinograd compares Winograd with the float64 direct convolution on
// every kernel family. Winograd's transforms add and scale the inputs
// and weights before the products and the products after them, so its
// rounding error is that of the direct sum times the growth of the
// transforms: up to about 10× for the 6×6 input transform (row sums of
// |Bᵀ| up to 10), 1 for the weight transform and 18 for the output
// transform (row sums of |Aᵀ| up to 18). The tolerance is the direct
// convolution's (4√K ulps of Σ|w·x|) times 64, still 2⁻²⁴·64·4·√K ≈ 1e-4
// of Σ|w·x| at K = 300·9 in the worst case tested, and about 1e-6 relative
// in practice (the test logs the largest error seen).
func TestWinograd(t *testing.T) {
	t.Run("default", testWinograd)
	for _, name := range []string{"avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			t.Run(name, testWinograd)
		}
		restore()
	}
}

func testWinograd(t *testing.T) {
	for _, tile := range winogradTilings {
		t.Run(fmt.Sprintf("F%dx%d", tile[0], tile[1]), func(t *testing.T) { testWinogradTile(t, tile) })
	}
}

// winogradTilings are the output tiles' rows and columns of Winograd's
// tilings.
var winogradTilings = [][2]int{{4, 4}, {2, 2}, {4, 2}}

func testWinogradTile(t *testing.T, tile [2]int) {
	rng := rand.New(rand.NewPCG(5, 6))
	worst := 0.0
	turned := 0 // cases whose products run turned around (14×14 F(4×2))
	for _, tc := range winogradCases() {
		ref := tc.conv(rng)
		c := &runtime.Winograd{InC: ref.InC, InH: ref.InH, InW: ref.InW, OutC: ref.OutC, OutH: ref.OutH, OutW: ref.OutW,
			PH: ref.PH, PW: ref.PW, Weight: ref.Weight, Scale: ref.Scale, Shift: ref.Shift, Relu: ref.Relu, TileH: tile[0], TileW: tile[1]}
		if err := c.Prepare(); err != nil {
			t.Fatalf("%v: Prepare: %v", tc, err)
		}
		if c.TileRows() {
			turned++
		}
		in := randSlice(rng, tc.batch*c.InC*c.InH*c.InW)
		n := tc.batch * c.OutC * c.OutH * c.OutW
		out := make([]float32, n+8)
		for i := range out {
			out[i] = guard
		}
		scratch := make([]float32, c.ScratchLen(tc.batch))
		for i := range scratch {
			scratch[i] = float32(math.NaN()) // nothing may read scratch it did not write
		}
		runtime.PoisonWinogradScratch()
		c.Forward(tc.batch, in, out, scratch)
		want, mag := refConv(ref, tc.batch, in)
		k := c.InC * 9
		const ulp = 1.0 / (1 << 24)
		bad := 0
		for i := range want {
			tol := 64*4*math.Sqrt(float64(k))*ulp*mag[i] + ulp*math.Abs(want[i]) + 1e-30
			d := math.Abs(float64(out[i]) - want[i])
			if mag[i] > 0 {
				worst = max(worst, d/mag[i])
			}
			if !(d <= tol) {
				if bad < 5 {
					t.Errorf("%v: out[%d] = %v, want %v (|diff| %.3g > tol %.3g)", tc, i, out[i], want[i], d, tol)
				}
				bad++
			}
		}
		if bad > 5 {
			t.Errorf("%v: %d of %d outputs differ", tc, bad, n)
		}
		for i, v := range out[n:] {
			if v != guard {
				t.Errorf("%v: wrote out[%d] past the end", tc, n+i)
			}
		}
		got := append([]float32(nil), out[:n]...)
		c.Forward(tc.batch, in, out, scratch)
		for i := range got {
			if out[i] != got[i] {
				t.Fatalf("%v: second Forward differs at %d: %v vs %v", tc, i, out[i], got[i])
			}
		}
	}
	t.Logf("largest error: %.3g of Σ|w·x|", worst)
	if want := tile == [2]int{4, 2}; (turned > 0) != want {
		t.Errorf("%d cases ran the turned-around products; want them for 14×14 F(4×2) only", turned)
	}
}

func TestWinogradPrepareErrors(t *testing.T) {
	c := runtime.Winograd{InC: 4, InH: 8, InW: 8, OutC: 6, OutH: 7, OutW: 8, PH: 1, PW: 1, Weight: make([]float32, 6*4*9)}
	if err := c.Prepare(); err == nil {
		t.Error("Prepare accepted a wrong output size")
	}
	c.OutH = 8
	c.TileH, c.TileW = 3, 3
	if err := c.Prepare(); err == nil {
		t.Error("Prepare accepted tiles of 3×3")
	}
	c.TileH, c.TileW = 2, 4
	if err := c.Prepare(); err == nil {
		t.Error("Prepare accepted tiles of 2×4")
	}
	c.TileH, c.TileW = 2, 2
	c.Weight = c.Weight[1:]
	if err := c.Prepare(); err == nil {
		t.Error("Prepare accepted a wrong weight length")
	}
}

// BenchmarkWinograd times the dense 3×3 layers of the GRCNNs with both
// Winograd tilings and with im2row, at batch 1 and 8, and reports the
// direct convolution's flops per second for all, so that they compare.
func BenchmarkWinograd(b *testing.B) {
	for _, bc := range []struct {
		c, size int
	}{{64, 56}, {128, 28}, {256, 14}, {512, 7}, {128, 32}, {160, 16}, {192, 8}} {
		for _, batch := range []int{1, 8} {
			rng := rand.New(rand.NewPCG(21, 22))
			ref := &runtime.Conv2D{InC: bc.c, InH: bc.size, InW: bc.size, OutC: bc.c, OutH: bc.size, OutW: bc.size,
				KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 1, Relu: true}
			ref.Weight = randSlice(rng, bc.c*bc.c*9)
			ref.Scale, ref.Shift = randSlice(rng, bc.c), randSlice(rng, bc.c)
			w := &runtime.Winograd{InC: bc.c, InH: bc.size, InW: bc.size, OutC: bc.c, OutH: bc.size, OutW: bc.size,
				PH: 1, PW: 1, Weight: ref.Weight, Scale: ref.Scale, Shift: ref.Shift, Relu: true}
			w2 := *w
			w2.TileH, w2.TileW = 2, 2
			w42 := *w
			w42.TileH, w42.TileW = 4, 2
			ref.Im2Row = true
			if err := ref.Prepare(); err != nil {
				b.Fatal(err)
			}
			if err := w.Prepare(); err != nil {
				b.Fatal(err)
			}
			if err := w2.Prepare(); err != nil {
				b.Fatal(err)
			}
			if err := w42.Prepare(); err != nil {
				b.Fatal(err)
			}
			in := randSlice(rng, batch*bc.c*bc.size*bc.size)
			y := make([]float32, batch*bc.c*bc.size*bc.size)
			flops := 2 * float64(batch*bc.c*bc.size*bc.size) * float64(bc.c*9)
			for _, alg := range []struct {
				name string
				fwd  func([]float32)
				len  int
			}{
				{"im2row", func(s []float32) { ref.Forward(batch, in, y, s) }, ref.ScratchLen(batch)},
				{"winograd", func(s []float32) { w.Forward(batch, in, y, s) }, w.ScratchLen(batch)},
				{"winograd2", func(s []float32) { w2.Forward(batch, in, y, s) }, w2.ScratchLen(batch)},
				{"winograd42", func(s []float32) { w42.Forward(batch, in, y, s) }, w42.ScratchLen(batch)},
			} {
				b.Run(fmt.Sprintf("%dx%d_c%d_b%d_%s", bc.size, bc.size, bc.c, batch, alg.name), func(b *testing.B) {
					scratch := make([]float32, alg.len)
					for b.Loop() {
						alg.fwd(scratch)
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkWinogradCold times 3×3 256→256 at 14×14 as in GRCNN-109's
// third stage, where each of 22 layers has weights of its own, too many
// for the cache: it cycles through 24 layers with both Winograd tilings
// and with im2row.
func BenchmarkWinogradCold(b *testing.B) {
	const layers = 24
	for _, algo := range []string{"winograd", "winograd2", "winograd42", "im2row"} {
		for _, batch := range []int{1, 8} {
			rng := rand.New(rand.NewPCG(21, 22))
			var fwd []func(in, out, scratch []float32)
			most := 0
			for range layers {
				w := randSlice(rng, 256*256*9)
				scale, shift := randSlice(rng, 256), randSlice(rng, 256)
				switch algo {
				case "im2row":
					c := &runtime.Conv2D{InC: 256, InH: 14, InW: 14, OutC: 256, OutH: 14, OutW: 14,
						KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 1, Relu: true, Im2Row: true,
						Weight: w, Scale: scale, Shift: shift}
					if err := c.Prepare(); err != nil {
						b.Fatal(err)
					}
					most = max(most, c.ScratchLen(batch))
					fwd = append(fwd, func(in, out, s []float32) { c.Forward(batch, in, out, s) })
				default:
					c := &runtime.Winograd{InC: 256, InH: 14, InW: 14, OutC: 256, OutH: 14, OutW: 14,
						PH: 1, PW: 1, Weight: w, Scale: scale, Shift: shift, Relu: true}
					switch algo {
					case "winograd2":
						c.TileH, c.TileW = 2, 2
					case "winograd42":
						c.TileH, c.TileW = 4, 2
					}
					if err := c.Prepare(); err != nil {
						b.Fatal(err)
					}
					most = max(most, c.ScratchLen(batch))
					fwd = append(fwd, func(in, out, s []float32) { c.Forward(batch, in, out, s) })
				}
			}
			in := randSlice(rng, batch*256*196)
			out := make([]float32, batch*256*196)
			scratch := make([]float32, most)
			flops := 2 * float64(batch*256*196) * float64(256*9)
			b.Run(fmt.Sprintf("14x14_c256_b%d_%s", batch, algo), func(b *testing.B) {
				i := 0
				for b.Loop() {
					fwd[i%layers](in, out, scratch)
					i++
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
