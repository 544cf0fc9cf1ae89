package runtime_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// TestConcurrentOps runs each kind of op from several goroutines at once,
// each with its own input, output and scratch, and checks that every result
// equals the op's serial result bit for bit: ops hold no per-call state, so
// one model's kernels can serve concurrent Forwards. Run it with -race.
func TestConcurrentOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	conv := &runtime.Conv2D{InC: 8, InH: 12, InW: 12, OutC: 16, OutH: 6, OutW: 6, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1,
		DH: 1, DW: 1, Groups: 2, Relu: true}
	conv.Weight = randSlice(rng, 16*4*9)
	conv.Shift = randSlice(rng, 16)
	if err := conv.Prepare(); err != nil {
		t.Fatal(err)
	}
	point := &runtime.Conv2D{InC: 16, InH: 6, InW: 6, OutC: 8, OutH: 6, OutW: 6, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}
	point.Weight = randSlice(rng, 8*16)
	if err := point.Prepare(); err != nil {
		t.Fatal(err)
	}
	wino := &runtime.Winograd{InC: 8, InH: 6, InW: 6, OutC: 8, OutH: 6, OutW: 6, PH: 1, PW: 1, Relu: true,
		InScale: randSlice(rng, 8), InShift: randSlice(rng, 8), InRelu: true}
	wino.Weight = randSlice(rng, 8*8*9)
	if err := wino.Prepare(); err != nil {
		t.Fatal(err)
	}
	upd := &runtime.Conv2D{InC: 8, InH: 6, InW: 6, OutC: 8, OutH: 6, OutW: 6, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1,
		InScale: randSlice(rng, 8), InShift: randSlice(rng, 8), InRelu: true, Update: true}
	upd.Weight = randSlice(rng, 8*8)
	if err := upd.Prepare(); err != nil {
		t.Fatal(err)
	}
	bn := &runtime.ScaleShift{C: 8, HW: 36, Scale: randSlice(rng, 8), Shift: randSlice(rng, 8), Relu: true}
	pool := &runtime.Pool2D{C: 8, InH: 6, InW: 6, OutH: 3, OutW: 3, KH: 2, KW: 2, SH: 2, SW: 2}
	sk := &runtime.SKAttention{M: 2, C: 8, HW: 9, D: 4, FC1: randSlice(rng, 4*8), FC2: randSlice(rng, 2*8*4)}
	lin := &runtime.Linear{In: 72, Out: 10, Weight: randSlice(rng, 720), Bias: randSlice(rng, 10)}

	// forward runs the chain for batch images.
	forward := func(batch int, in []float32) []float32 {
		scratch := make([]float32, max(conv.ScratchLen(batch), point.ScratchLen(batch), sk.ScratchLen(batch),
			wino.ScratchLen(batch), upd.ScratchLen(batch)))
		a := make([]float32, batch*16*36)
		b := make([]float32, batch*8*36)
		conv.Forward(batch, in, a, scratch)
		point.Forward(batch, a, b, scratch)
		w := make([]float32, batch*8*36)
		wino.Forward(batch, b, w, scratch)
		upd.ForwardUpdate(batch, w, b, w, w, scratch) // b += r·sigmoid(2w)
		bn.Forward(batch, b, b)
		c := make([]float32, batch*8*9)
		pool.Forward(batch, b, c)
		d := make([]float32, batch*8*9)
		sk.Forward(batch, [][]float32{c, c}, d, scratch)
		runtime.GateUpdate(d, c, c, d)
		out := make([]float32, batch*10)
		lin.Forward(batch, d, out)
		return out
	}
	const goroutines, rounds = 8, 20
	inputs := make([][]float32, goroutines)
	want := make([][]float32, goroutines)
	for g := range inputs {
		inputs[g] = randSlice(rng, (g%3+1)*8*12*12)
		want[g] = forward(g%3+1, inputs[g])
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range rounds {
				if got := forward(g%3+1, inputs[g]); !slices.Equal(got, want[g]) {
					t.Errorf("goroutine %d: concurrent result differs from the serial one", g)
					return
				}
			}
		})
	}
	wg.Wait()
}
