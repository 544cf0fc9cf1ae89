package runtime_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// BenchmarkConv times representative layers at batch 1 and reports the
// multiply-adds as GFLOP/s (two flops each).
func BenchmarkConv(b *testing.B) {
	for _, bc := range []struct {
		name                           string
		inC, outC, size, k, s, p, grps int
		im2row                         bool
	}{
		{"1x1_256to64_56", 256, 64, 56, 1, 1, 0, 1, false},
		{"3x3_64to64_56", 64, 64, 56, 3, 1, 1, 1, false},
		{"3x3_256to256_g32_56", 256, 256, 56, 3, 1, 1, 32, false},
		{"3x3_512to512_g32_14", 512, 512, 14, 3, 1, 1, 32, false},
		{"direct_3x3_512to512_g32_14", 512, 512, 14, 3, 1, 1, 32, false},
		{"direct_3x3_128to128_g32_56", 128, 128, 56, 3, 1, 1, 32, false},
		{"3x3_dw256_56", 256, 256, 56, 3, 1, 1, 256, false},
		{"7x7s2_3to64_224", 3, 64, 224, 7, 2, 3, 1, false},
		{"1x1_2048to512_7", 2048, 512, 7, 1, 1, 0, 1, false},
		{"3x3_512to512_7", 512, 512, 7, 3, 1, 1, 1, false},
		{"3x3_256to256_14", 256, 256, 14, 3, 1, 1, 1, false},
		{"1x1_256to1024_14", 256, 1024, 14, 1, 1, 0, 1, false},
		{"1x1_1024to256_14", 1024, 256, 14, 1, 1, 0, 1, false},
		{"im2row_3x3_512to512_7", 512, 512, 7, 3, 1, 1, 1, true},
		{"im2row_3x3_256to256_14", 256, 256, 14, 3, 1, 1, 1, true},
		{"im2row_1x1_256to1024_14", 256, 1024, 14, 1, 1, 0, 1, true},
		{"im2row_1x1_2048to512_7", 2048, 512, 7, 1, 1, 0, 1, true},
		{"1x1_512to2048_7", 512, 2048, 7, 1, 1, 0, 1, false},
		{"im2row_1x1_512to2048_7", 512, 2048, 7, 1, 1, 0, 1, true},
		{"3x3_128to128_28", 128, 128, 28, 3, 1, 1, 1, false},
		{"im2row_3x3_128to128_28", 128, 128, 28, 3, 1, 1, 1, true},
		{"1x1_512to128_28", 512, 128, 28, 1, 1, 0, 1, false},
		{"im2row_1x1_512to128_28", 512, 128, 28, 1, 1, 0, 1, true},
		{"3x3s2_64to64_56", 64, 64, 56, 3, 2, 1, 1, false},
		{"im2row_3x3s2_64to64_56", 64, 64, 56, 3, 2, 1, 1, true},
		{"3x3s2_256to256_14", 256, 256, 14, 3, 2, 1, 1, false},
		{"im2row_3x3s2_256to256_14", 256, 256, 14, 3, 2, 1, 1, true},
		{"im2row_7x7s2_3to64_224", 3, 64, 224, 7, 2, 3, 1, true},
		{"im2row_1x1_256to64_56", 256, 64, 56, 1, 1, 0, 1, true},
		{"1x1_64to256_56", 64, 256, 56, 1, 1, 0, 1, false},
		{"im2row_1x1_64to256_56", 64, 256, 56, 1, 1, 0, 1, true},
		{"im2row_3x3_64to64_56", 64, 64, 56, 3, 1, 1, 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(21, 22))
			out := convOut(bc.size, bc.k, bc.s, bc.p, 1)
			c := &runtime.Conv2D{
				InC: bc.inC, InH: bc.size, InW: bc.size, OutC: bc.outC, OutH: out, OutW: out,
				KH: bc.k, KW: bc.k, SH: bc.s, SW: bc.s, PH: bc.p, PW: bc.p, DH: 1, DW: 1,
				Groups: bc.grps, Relu: true, Im2Row: bc.im2row, Direct: strings.HasPrefix(bc.name, "direct_"),
			}
			c.Weight = randSlice(rng, c.OutC*c.InC/c.Groups*c.KH*c.KW)
			c.Scale, c.Shift = randSlice(rng, c.OutC), randSlice(rng, c.OutC)
			if err := c.Prepare(); err != nil {
				b.Fatal(err)
			}
			in := randSlice(rng, c.InC*c.InH*c.InW)
			y := make([]float32, c.OutC*c.OutH*c.OutW)
			scratch := make([]float32, c.ScratchLen(1))
			flops := 2 * float64(c.OutC*c.OutH*c.OutW) * float64(c.InC/c.Groups*c.KH*c.KW)
			for b.Loop() {
				c.Forward(1, in, y, scratch)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvKernels times a few layers of BenchmarkConv with each
// kernel set this machine can run (B packing included).
func BenchmarkConvKernels(b *testing.B) {
	for _, name := range []string{"avx512", "avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			b.Run(name, func(b *testing.B) {
				for _, bc := range []struct {
					name                  string
					inC, outC, size, k, p int
				}{
					{"1x1_256to64_56", 256, 64, 56, 1, 0},
					{"3x3_64to64_56", 64, 64, 56, 3, 1},
					{"3x3_256to256_14", 256, 256, 14, 3, 1},
				} {
					b.Run(bc.name, func(b *testing.B) {
						rng := rand.New(rand.NewPCG(21, 22))
						c := &runtime.Conv2D{
							InC: bc.inC, InH: bc.size, InW: bc.size, OutC: bc.outC, OutH: bc.size, OutW: bc.size,
							KH: bc.k, KW: bc.k, SH: 1, SW: 1, PH: bc.p, PW: bc.p, DH: 1, DW: 1,
							Groups: 1, Relu: true,
						}
						c.Weight = randSlice(rng, c.OutC*c.InC*c.KH*c.KW)
						c.Scale, c.Shift = randSlice(rng, c.OutC), randSlice(rng, c.OutC)
						if err := c.Prepare(); err != nil {
							b.Fatal(err)
						}
						in := randSlice(rng, c.InC*c.InH*c.InW)
						y := make([]float32, c.OutC*c.OutH*c.OutW)
						scratch := make([]float32, c.ScratchLen(1))
						flops := 2 * float64(c.OutC*c.OutH*c.OutW) * float64(c.InC*c.KH*c.KW)
						for b.Loop() {
							c.Forward(1, in, y, scratch)
						}
						b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					})
				}
			})
		}
		restore()
	}
}

func BenchmarkLinear2048x1000(b *testing.B) {
	rng := rand.New(rand.NewPCG(23, 24))
	l := &runtime.Linear{In: 2048, Out: 1000, Weight: randSlice(rng, 2048*1000), Bias: randSlice(rng, 1000)}
	x, y := randSlice(rng, 2048), make([]float32, 1000)
	for b.Loop() {
		l.Forward(1, x, y)
	}
	b.ReportMetric(2*2048*1000*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGateUpdate(b *testing.B) {
	rng := rand.New(rand.NewPCG(25, 26))
	const n = 64 * 56 * 56
	xs, r, g, xg := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
	for b.Loop() {
		runtime.GateUpdate(xs, r, g, xg)
	}
	b.SetBytes(4 * 5 * n)
}
