package runtime_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/grcc/grcc/runtime"
)

// BenchmarkGRCLIteration runs the ops of one of GRCNN-109's 22 GRCL
// iterations at 14×14, batch 1, one after the other as in the model, with
// 22 sets of weights and one shared scratch: g = conv_g_r(x) (grouped 1×1),
// a = 1×1 1024→256 of BN-ReLU(x), b = Winograd F(4×2) 3×3 of a, then
// x += (1×1 256→1024 of b)·σ(g + x_g). Each op's time is reported besides
// the iteration's: ops in a chain run slower than alone, their inputs and
// scratch last written by other ops, and this shows by how much.
func BenchmarkGRCLIteration(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const iters = 22
	conv1x1 := func(in, out, groups int, pre, update bool) *runtime.Conv2D {
		c := &runtime.Conv2D{InC: in, InH: 14, InW: 14, OutC: out, OutH: 14, OutW: 14,
			KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: groups, Relu: !update, Update: update}
		c.Weight = randSlice(rng, in*out/groups)
		c.Scale, c.Shift = randSlice(rng, out), randSlice(rng, out)
		if pre {
			c.InScale, c.InShift, c.InRelu = randSlice(rng, in), randSlice(rng, in), true
		}
		if err := c.Prepare(); err != nil {
			b.Fatal(err)
		}
		return c
	}
	type iteration struct {
		reduce, expand *runtime.Conv2D
		conv3          *runtime.Winograd
	}
	gate := conv1x1(1024, 1024, 32, true, false)
	gate.Direct = true // as the plan runs it (grouped 1×1 of 32 channels a group)
	if err := gate.Prepare(); err != nil {
		b.Fatal(err)
	}
	most := gate.ScratchLen(1)
	var its []iteration
	for range iters {
		w := &runtime.Winograd{InC: 256, InH: 14, InW: 14, OutC: 256, OutH: 14, OutW: 14, PH: 1, PW: 1, TileH: 4, TileW: 2,
			Weight: randSlice(rng, 256*256*9), Scale: randSlice(rng, 256), Shift: randSlice(rng, 256), Relu: true}
		if err := w.Prepare(); err != nil {
			b.Fatal(err)
		}
		it := iteration{reduce: conv1x1(1024, 256, 1, true, false), expand: conv1x1(256, 1024, 1, false, true), conv3: w}
		most = max(most, it.reduce.ScratchLen(1), it.expand.ScratchLen(1), w.ScratchLen(1))
		its = append(its, it)
	}
	scratch := make([]float32, most)
	x, xg := randSlice(rng, 1024*196), randSlice(rng, 1024*196)
	for i := range x {
		x[i] *= 0.01
	}
	g := make([]float32, 1024*196)
	a, c := make([]float32, 256*196), make([]float32, 256*196)
	var d [4]time.Duration
	n := 0
	for b.Loop() {
		it := its[n%iters]
		t0 := time.Now()
		gate.Forward(1, x, g, scratch)
		t1 := time.Now()
		it.reduce.Forward(1, x, a, scratch)
		t2 := time.Now()
		it.conv3.Forward(1, a, c, scratch)
		t3 := time.Now()
		it.expand.ForwardUpdate(1, c, x, g, xg, scratch)
		t4 := time.Now()
		d[0] += t1.Sub(t0)
		d[1] += t2.Sub(t1)
		d[2] += t3.Sub(t2)
		d[3] += t4.Sub(t3)
		n++
	}
	for i, name := range []string{"gate-µs", "reduce-µs", "winograd-µs", "expand-µs"} {
		b.ReportMetric(float64(d[i].Microseconds())/float64(n), name)
	}
}
