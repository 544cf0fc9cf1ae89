package runtime_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// TestForwardAllocatesNothing checks that, after a first call, Forward of
// every op starts its parallel work without allocating.
func TestForwardAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const batch = 2
	convs := map[string]*runtime.Conv2D{
		"im2col": {InC: 16, InH: 14, InW: 14, OutC: 16, OutH: 14, OutW: 14,
			KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 4, Relu: true},
		"pointwise": {InC: 16, InH: 14, InW: 14, OutC: 32, OutH: 14, OutW: 14,
			KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1},
		"depthwise": {InC: 16, InH: 14, InW: 14, OutC: 16, OutH: 7, OutW: 7,
			KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 16},
	}
	for name, c := range convs {
		c.Weight = randSlice(rng, c.OutC*c.InC/c.Groups*c.KH*c.KW)
		c.Scale, c.Shift = randSlice(rng, c.OutC), randSlice(rng, c.OutC)
		if err := c.Prepare(); err != nil {
			t.Fatal(err)
		}
		in := randSlice(rng, batch*c.InC*c.InH*c.InW)
		out := make([]float32, batch*c.OutC*c.OutH*c.OutW)
		scratch := make([]float32, c.ScratchLen(batch))
		checkNoAllocs(t, "Conv2D "+name, func() { c.Forward(batch, in, out, scratch) })
	}

	// Winograd with one block of tiles for both workers (its output
	// channels split in guided parts) and with several, its transforms in
	// assembly and in Go.
	for _, kernel := range []string{"default", "portable"} {
		restore, ok := func() {}, true
		if kernel != "default" {
			restore, ok = runtime.ForceKernel(kernel)
		}
		for _, wc := range []struct{ size, tileH, tileW, batch int }{{14, 4, 2, 1}, {14, 2, 2, 1}, {28, 4, 4, 2}} {
			if !ok {
				break
			}
			w := &runtime.Winograd{InC: 16, InH: wc.size, InW: wc.size, OutC: 64, OutH: wc.size, OutW: wc.size, PH: 1, PW: 1,
				TileH: wc.tileH, TileW: wc.tileW, Weight: randSlice(rng, 64*16*9), Relu: true}
			if err := w.Prepare(); err != nil {
				t.Fatal(err)
			}
			in := randSlice(rng, wc.batch*16*wc.size*wc.size)
			out := make([]float32, wc.batch*64*wc.size*wc.size)
			scratch := make([]float32, w.ScratchLen(wc.batch))
			checkNoAllocs(t, fmt.Sprintf("Winograd F(%d×%d) %d×%d, %s", wc.tileH, wc.tileW, wc.size, wc.size, kernel),
				func() { w.Forward(wc.batch, in, out, scratch) })
		}
		restore()
	}
	// Prepare transforms the weights tile by tile without allocating for
	// each: GRCNN-109's went from 300 MB of garbage to none.
	w := &runtime.Winograd{InC: 64, InH: 14, InW: 14, OutC: 64, OutH: 14, OutW: 14, PH: 1, PW: 1,
		TileH: 4, TileW: 2, Weight: randSlice(rng, 64*64*9)}
	if n := testing.AllocsPerRun(5, func() {
		if err := w.Prepare(); err != nil {
			t.Fatal(err)
		}
	}); n > 10 {
		t.Errorf("Winograd.Prepare: %v allocations per call, want a few", n)
	}

	sk := &runtime.SKAttention{M: 2, C: 16, HW: 49, D: 8}
	sk.FC1, sk.FC2 = randSlice(rng, sk.D*sk.C), randSlice(rng, sk.M*sk.C*sk.D)
	branches := [][]float32{randSlice(rng, batch*sk.C*sk.HW), randSlice(rng, batch*sk.C*sk.HW)}
	skOut := make([]float32, batch*sk.C*sk.HW)
	skScratch := make([]float32, sk.ScratchLen(batch))
	checkNoAllocs(t, "SKAttention", func() { sk.Forward(batch, branches, skOut, skScratch) })

	lin := &runtime.Linear{In: 512, Out: 100, Weight: randSlice(rng, 512*100), Bias: randSlice(rng, 100)}
	x, y := randSlice(rng, batch*512), make([]float32, batch*100)
	checkNoAllocs(t, "Linear", func() { lin.Forward(batch, x, y) })

	pool := &runtime.Pool2D{C: 16, InH: 14, InW: 14, OutH: 7, OutW: 7, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, Max: true}
	pin, pout := randSlice(rng, batch*16*14*14), make([]float32, batch*16*7*7)
	checkNoAllocs(t, "Pool2D", func() { pool.Forward(batch, pin, pout) })

	ss := &runtime.ScaleShift{C: 16, HW: 49, Scale: randSlice(rng, 16), Shift: randSlice(rng, 16), Relu: true}
	checkNoAllocs(t, "ScaleShift", func() { ss.Forward(batch, pout, pout) })

	xs, r, g, xg := randSlice(rng, 1000), randSlice(rng, 1000), randSlice(rng, 1000), randSlice(rng, 1000)
	checkNoAllocs(t, "GateUpdate", func() { runtime.GateUpdate(xs, r, g, xg) })
	checkNoAllocs(t, "GlobalAvgPool", func() { runtime.GlobalAvgPool(batch, 16, 49, pout, y) })
}

func checkNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	f() // the first call may allocate the op's reusable call state
	if n := testing.AllocsPerRun(50, f); n != 0 {
		t.Errorf("%s: %v allocations per call, want 0", name, n)
	}
}

// TestReleaseWeight checks that a layer computes the same after
// ReleaseWeight as before it, on every path that packs its weights (so
// that none reads Weight as it runs), and that a depthwise convolution,
// which does, keeps it.
func TestReleaseWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	const batch = 2
	convs := map[string]*runtime.Conv2D{
		"im2col": {InC: 16, InH: 14, InW: 14, OutC: 16, OutH: 14, OutW: 14,
			KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 4, Relu: true},
		"im2row": {InC: 16, InH: 7, InW: 7, OutC: 32, OutH: 7, OutW: 7,
			KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 1, Im2Row: true},
		"direct": {InC: 16, InH: 14, InW: 14, OutC: 32, OutH: 14, OutW: 14,
			KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 2, Direct: true},
		"pointwise": {InC: 16, InH: 14, InW: 14, OutC: 32, OutH: 14, OutW: 14,
			KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1},
		"depthwise": {InC: 16, InH: 14, InW: 14, OutC: 16, OutH: 7, OutW: 7,
			KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 16},
	}
	for name, c := range convs {
		c.Weight = randSlice(rng, c.OutC*c.InC/c.Groups*c.KH*c.KW)
		c.Scale, c.Shift = randSlice(rng, c.OutC), randSlice(rng, c.OutC)
		if c.ReleaseWeight() {
			t.Errorf("%s: released its weight before Prepare", name)
		}
		if err := c.Prepare(); err != nil {
			t.Fatal(err)
		}
		in := randSlice(rng, batch*c.InC*c.InH*c.InW)
		want := make([]float32, batch*c.OutC*c.OutH*c.OutW)
		scratch := make([]float32, c.ScratchLen(batch))
		c.Forward(batch, in, want, scratch)
		released := c.ReleaseWeight()
		if released != (name != "depthwise") || released != (c.Weight == nil) {
			t.Errorf("%s: ReleaseWeight = %v, Weight nil: %v", name, released, c.Weight == nil)
		}
		got := make([]float32, len(want))
		c.Forward(batch, in, got, scratch)
		if !slices.Equal(got, want) {
			t.Errorf("%s: Forward after ReleaseWeight differs", name)
		}
		if err := c.Prepare(); err == nil && released {
			t.Errorf("%s: Prepare after ReleaseWeight succeeded", name)
		}
	}
	w := &runtime.Winograd{InC: 16, InH: 14, InW: 14, OutC: 16, OutH: 14, OutW: 14, PH: 1, PW: 1, TileH: 4, TileW: 2}
	w.Weight = randSlice(rng, 16*16*9)
	w.Scale, w.Shift = randSlice(rng, 16), randSlice(rng, 16)
	if err := w.Prepare(); err != nil {
		t.Fatal(err)
	}
	in := randSlice(rng, batch*16*14*14)
	want := make([]float32, batch*16*14*14)
	scratch := make([]float32, w.ScratchLen(batch))
	w.Forward(batch, in, want, scratch)
	if !w.ReleaseWeight() || w.Weight != nil {
		t.Fatal("Winograd: ReleaseWeight kept the weight")
	}
	got := make([]float32, len(want))
	w.Forward(batch, in, got, scratch)
	if !slices.Equal(got, want) {
		t.Error("Winograd: Forward after ReleaseWeight differs")
	}
}
