package runtime_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/grcc/grcc/runtime"
)

func BenchmarkTmpGate(b *testing.B) {
	for _, bc := range []struct{ c, size int; direct bool }{{256, 56, true}, {256, 56, false}, {512, 28, true}, {512, 28, false}, {1024, 14, true}} {
		b.Run(fmt.Sprint(bc.c, "_", bc.size, "_", bc.direct), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(21, 22))
			c := &runtime.Conv2D{InC: bc.c, InH: bc.size, InW: bc.size, OutC: bc.c, OutH: bc.size, OutW: bc.size,
				KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 32, Direct: bc.direct, InRelu: true}
			c.Weight = randSlice(rng, c.OutC*c.InC/32)
			c.InScale, c.InShift = randSlice(rng, c.InC), randSlice(rng, c.InC)
			if err := c.Prepare(); err != nil {
				b.Fatal(err)
			}
			in := randSlice(rng, c.InC*c.InH*c.InW)
			y := make([]float32, c.OutC*c.OutH*c.OutW)
			scratch := make([]float32, c.ScratchLen(1))
			flops := 2 * float64(c.OutC*c.OutH*c.OutW) * float64(c.InC/32)
			for b.Loop() {
				c.Forward(1, in, y, scratch)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
