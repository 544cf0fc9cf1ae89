package runtime_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// activate applies the input prologue as a separate step, with the
// ScaleShift op an unfused program runs.
func activate(in []float32, batch, c, hw int, scale, shift []float32) []float32 {
	out := make([]float32, len(in))
	op := runtime.ScaleShift{C: c, HW: hw, Scale: scale, Shift: shift, Relu: true}
	op.Forward(batch, in, out)
	return out
}

// TestConvFused checks the fused prologue (pre-activation BatchNorm and
// ReLU) of Conv2D and Winograd on every case that takes one, and the fused
// state update of 1×1 convolutions, against the unfused kernels followed by
// the separate steps, on every kernel family. The prologue and the update
// change only where the arithmetic happens, not its order, so the results
// must be identical to the bit.
func TestConvFused(t *testing.T) {
	t.Run("default", testConvFused)
	for _, name := range []string{"avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			t.Run(name, testConvFused)
		}
		restore()
	}
}

func testConvFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cases := append(convCases(), winogradCases()...)
	checked := map[string]int{}
	for i, tc := range cases {
		if tc.inC == tc.groups {
			continue // depthwise: no prologue
		}
		base := tc.conv(rng)
		in := randSlice(rng, tc.batch*base.InC*base.InH*base.InW)
		inScale, inShift := randSlice(rng, base.InC), randSlice(rng, base.InC)
		act := activate(in, tc.batch, base.InC, base.InH*base.InW, inScale, inShift)
		n := tc.batch * base.OutC * base.OutH * base.OutW

		// The prologue, on the convolution's own algorithm and, where it
		// applies, on Winograd.
		plain, fused := *base, *base
		fused.InScale, fused.InShift, fused.InRelu = inScale, inShift, true
		want := run(t, &plain, tc.batch, act, n)
		got := run(t, &fused, tc.batch, in, n)
		same(t, tc.String()+" prologue", got, want)
		checked["prologue"]++
		if runtime.WinogradApplies(tc.k, tc.k, tc.s, tc.s, tc.d, tc.d, tc.groups) {
			for _, tile := range winogradTilings {
				w := &runtime.Winograd{InC: base.InC, InH: base.InH, InW: base.InW, OutC: base.OutC, OutH: base.OutH, OutW: base.OutW,
					PH: base.PH, PW: base.PW, Weight: base.Weight, Scale: base.Scale, Shift: base.Shift, Relu: base.Relu, TileH: tile[0], TileW: tile[1]}
				want := run(t, w, tc.batch, act, n)
				w.InScale, w.InShift, w.InRelu = inScale, inShift, true
				same(t, fmt.Sprintf("%v winograd F(%d×%d) prologue", tc, tile[0], tile[1]), run(t, w, tc.batch, in, n), want)
				checked["winograd prologue"]++
			}
		}

		// The state update, gated and not, with and without the prologue.
		if tc.k != 1 || tc.s != 1 || tc.p != 0 {
			continue
		}
		xs, g, xg := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
		r := run(t, &plain, tc.batch, in, n)
		for _, gated := range []bool{false, true} {
			want := append([]float32(nil), xs...)
			got := append([]float32(nil), xs...)
			if gated {
				runtime.GateUpdate(want, r, g, xg)
			} else {
				runtime.AddInto(want, want, r)
			}
			u := *base
			u.Update = true
			if i%2 == 0 {
				u.InScale, u.InShift, u.InRelu = inScale, inShift, true
				r2 := run(t, &plain, tc.batch, act, n)
				want = append([]float32(nil), xs...)
				if gated {
					runtime.GateUpdate(want, r2, g, xg)
				} else {
					runtime.AddInto(want, want, r2)
				}
			}
			if err := u.Prepare(); err != nil {
				t.Fatalf("%v: Prepare: %v", tc, err)
			}
			gg, gxg := g, xg
			if !gated {
				gg, gxg = nil, nil
			}
			u.ForwardUpdate(tc.batch, in, got, gg, gxg, make([]float32, u.ScratchLen(tc.batch)))
			same(t, tc.String()+" update", got, want)
			checked["update"]++
		}
	}
	t.Logf("cases checked: %v", checked)
	if checked["update"] < 10 || checked["winograd prologue"] < 10 {
		t.Errorf("too few cases: %v", checked)
	}
}

type forwarder interface {
	Prepare() error
	ScratchLen(batch int) int
	Forward(batch int, in, out, scratch []float32)
}

func run(t *testing.T, c forwarder, batch int, in []float32, n int) []float32 {
	t.Helper()
	if err := c.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	out := make([]float32, n)
	c.Forward(batch, in, out, make([]float32, c.ScratchLen(batch)))
	return out
}

func same(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
			t.Errorf("%s: out[%d] = %v, want %v", name, i, got[i], want[i])
			return
		}
	}
}

// BenchmarkFused times GRCNN-55's layer1 cell end (1×1 64→256 at 56×56,
// then the gate update) unfused and fused, and the cell start (BatchNorm
// and ReLU of x_s, then 1×1 256→64) unfused and with the prologue.
func BenchmarkFused(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	const hw = 56 * 56
	end := runtime.Conv2D{InC: 64, InH: 56, InW: 56, OutC: 256, OutH: 56, OutW: 56, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}
	end.Weight = randSlice(rng, 256*64)
	in64, r := randSlice(rng, 64*hw), randSlice(rng, 256*hw)
	xs, g, xg := randSlice(rng, 256*hw), randSlice(rng, 256*hw), randSlice(rng, 256*hw)
	fusedEnd := end
	fusedEnd.Update = true
	start := runtime.Conv2D{InC: 256, InH: 56, InW: 56, OutC: 64, OutH: 56, OutW: 56, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}
	start.Weight = randSlice(rng, 256*64)
	sc, sh := randSlice(rng, 256), randSlice(rng, 256)
	bn := runtime.ScaleShift{C: 256, HW: hw, Scale: sc, Shift: sh, Relu: true}
	fusedStart := start
	fusedStart.InScale, fusedStart.InShift, fusedStart.InRelu = sc, sh, true
	for _, c := range []*runtime.Conv2D{&end, &fusedEnd, &start, &fusedStart} {
		if err := c.Prepare(); err != nil {
			b.Fatal(err)
		}
	}
	scratch := make([]float32, 1<<22)
	out64 := make([]float32, 64*hw)
	b.Run("end_unfused", func(b *testing.B) {
		for b.Loop() {
			end.Forward(1, in64, r, scratch)
			runtime.GateUpdate(xs, r, g, xg)
		}
	})
	b.Run("end_fused", func(b *testing.B) {
		for b.Loop() {
			fusedEnd.ForwardUpdate(1, in64, xs, g, xg, scratch)
		}
	})
	b.Run("start_unfused", func(b *testing.B) {
		for b.Loop() {
			bn.Forward(1, xs, r)
			start.Forward(1, r, out64, scratch)
		}
	})
	b.Run("start_fused", func(b *testing.B) {
		for b.Loop() {
			fusedStart.Forward(1, xs, out64, scratch)
		}
	})
}

// TestConvGate checks ForwardUpdate with a Gate, which computes g = Gate(xs)
// itself, against the Gate's own Forward followed by ForwardUpdate with
// that g, on every kernel family: per tile of the update where each unit
// covers all channels of its pixels, otherwise into scratch first, alone
// or beside the pack of the expand's input (gateBeside), with the gate on
// the GEMM and direct paths, with and without prologues. All run the same
// kernels in the same order, so the results must be identical.
func TestConvGate(t *testing.T) {
	t.Run("default", testConvGate)
	for _, name := range []string{"avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			t.Run(name, testConvGate)
		}
		restore()
	}
}

func testConvGate(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	type gateCase struct {
		mid, c, groups, hw, batch int
		direct, pre               bool
	}
	var cases []gateCase
	for _, hw := range []int{7, 14, 28, 30, 32, 56} { // 32: column blocks of 128 at batch 1 (Prepare)
		for _, batch := range []int{1, 3} {
			cases = append(cases,
				gateCase{16, 64, 8, hw, batch, true, true},   // 8 channels a group, direct
				gateCase{24, 64, 2, hw, batch, false, false}, // 32 a group, GEMM
				gateCase{8, 48, 6, hw, batch, false, true})
		}
	}
	// k of 128: 28×28 in four column blocks of 196 (see evenBlocks).
	cases = append(cases, gateCase{128, 64, 8, 28, 1, true, true}, gateCase{128, 64, 2, 28, 3, false, true})
	fused, beside := 0, 0
	for _, tc := range cases {
		n := tc.batch * tc.c * tc.hw * tc.hw
		gate := &runtime.Conv2D{InC: tc.c, InH: tc.hw, InW: tc.hw, OutC: tc.c, OutH: tc.hw, OutW: tc.hw,
			KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: tc.groups, Direct: tc.direct,
			Weight: randSlice(rng, tc.c*tc.c/tc.groups), Scale: randSlice(rng, tc.c), Shift: randSlice(rng, tc.c)}
		if tc.pre {
			gate.InScale, gate.InShift, gate.InRelu = randSlice(rng, tc.c), randSlice(rng, tc.c), true
		}
		expand := runtime.Conv2D{InC: tc.mid, InH: tc.hw, InW: tc.hw, OutC: tc.c, OutH: tc.hw, OutW: tc.hw,
			KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1, Update: true,
			Weight: randSlice(rng, tc.c*tc.mid), Scale: randSlice(rng, tc.c), Shift: randSlice(rng, tc.c)}
		if err := gate.Prepare(); err != nil {
			t.Fatal(err)
		}
		if err := expand.Prepare(); err != nil {
			t.Fatal(err)
		}
		in, xs, xg := randSlice(rng, tc.batch*tc.mid*tc.hw*tc.hw), randSlice(rng, n), randSlice(rng, n)

		g := run(t, gate, tc.batch, xs, n)
		want := append([]float32(nil), xs...)
		expand.ForwardUpdate(tc.batch, in, want, g, xg, make([]float32, expand.ScratchLen(tc.batch)))

		withGate := expand
		withGate.Gate = gate
		if err := withGate.Prepare(); err != nil {
			t.Fatal(err)
		}
		got := append([]float32(nil), xs...)
		withGate.ForwardUpdate(tc.batch, in, got, nil, xg, make([]float32, withGate.ScratchLen(tc.batch)))
		same(t, fmt.Sprintf("%+v", tc), got, want)
		if runtime.FusedGate(&withGate, tc.batch) {
			fused++
		}
		if runtime.GateBeside(&withGate, tc.batch) {
			beside++
		}
	}
	if fused == 0 || fused == len(cases) {
		t.Errorf("%d of %d cases fused the gate; want some of both kinds", fused, len(cases))
	}
	// The direct gate runs beside a pack of one unit at batch 1 (7×7 and
	// 14×14) when there is another worker to take it.
	if beside == 0 && runtime.Workers() > 1 && runtime.HasAVX512() && t.Name() == "TestConvGate/default" {
		t.Errorf("no case ran the gate beside the pack")
	}
}

// TestPoolFused checks the input prologue of average pooling against the
// separate BatchNorm+ReLU followed by the pooling, to the bit, on the 2×2/2
// downsampling window and on windows with padding, on every kernel family.
func TestPoolFused(t *testing.T) {
	t.Run("default", testPoolFused)
	for _, name := range []string{"avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			t.Run(name, testPoolFused)
		}
		restore()
	}
}

func testPoolFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct{ c, h, w, k, s, p, batch int }{
		{64, 56, 56, 2, 2, 0, 1}, {16, 28, 28, 2, 2, 0, 2}, {8, 14, 14, 2, 2, 0, 3}, {5, 7, 9, 2, 2, 0, 1},
		{4, 9, 11, 3, 2, 1, 2}, {3, 8, 8, 3, 1, 1, 1},
	} {
		outH, outW := (tc.h+2*tc.p-tc.k)/tc.s+1, (tc.w+2*tc.p-tc.k)/tc.s+1
		p := runtime.Pool2D{C: tc.c, InH: tc.h, InW: tc.w, OutH: outH, OutW: outW, KH: tc.k, KW: tc.k, SH: tc.s, SW: tc.s, PH: tc.p, PW: tc.p}
		in := randSlice(rng, tc.batch*tc.c*tc.h*tc.w)
		scale, shift := randSlice(rng, tc.c), randSlice(rng, tc.c)
		want := make([]float32, tc.batch*tc.c*outH*outW)
		p.Forward(tc.batch, activate(in, tc.batch, tc.c, tc.h*tc.w, scale, shift), want)
		fused := p
		fused.InScale, fused.InShift, fused.InRelu = scale, shift, true
		got := make([]float32, len(want))
		fused.Forward(tc.batch, in, got)
		same(t, fmt.Sprintf("avg pool %+v", tc), got, want)
	}
}

// TestForwardBeside checks a GRCL cell whose first 1×1 layer computes the
// gate beside it (Beside, GateBeside) against the same layers unlinked,
// where the update computes its gate itself: the same bits for the layer's
// output and the updated state, at batch 1, where the gate runs in the
// layer's loop when there are two workers, and at batch 2, where the
// update computes it.
func TestForwardBeside(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const c, mid, hw, groups = 1024, 256, 14, 32
	gate := &runtime.Conv2D{InC: c, InH: hw, InW: hw, OutC: c, OutH: hw, OutW: hw,
		KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: groups, Direct: true,
		Weight: randSlice(rng, c*c/groups), Scale: randSlice(rng, c), Shift: randSlice(rng, c),
		InScale: randSlice(rng, c), InShift: randSlice(rng, c), InRelu: true}
	reduce := runtime.Conv2D{InC: c, InH: hw, InW: hw, OutC: mid, OutH: hw, OutW: hw,
		KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1, Relu: true,
		Weight: randSlice(rng, mid*c), Scale: randSlice(rng, mid), Shift: randSlice(rng, mid),
		InScale: randSlice(rng, c), InShift: randSlice(rng, c), InRelu: true}
	expand := runtime.Conv2D{InC: mid, InH: hw, InW: hw, OutC: c, OutH: hw, OutW: hw,
		KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1, Update: true, Gate: gate,
		Weight: randSlice(rng, c*mid), Scale: randSlice(rng, c), Shift: randSlice(rng, c)}
	linkedReduce, linkedExpand := reduce, expand
	linkedReduce.Beside, linkedExpand.GateBeside = gate, &linkedReduce
	for _, k := range []*runtime.Conv2D{gate, &reduce, &expand, &linkedReduce, &linkedExpand} {
		if err := k.Prepare(); err != nil {
			t.Fatal(err)
		}
	}
	for _, batch := range []int{1, 2} {
		n := batch * c * hw * hw
		xs, xg, r := randSlice(rng, n), randSlice(rng, n), randSlice(rng, batch*mid*hw*hw)
		scratch := make([]float32, max(reduce.ScratchLen(batch), expand.ScratchLen(batch), linkedExpand.ScratchLen(batch)))

		wantA, wantXs := make([]float32, batch*mid*hw*hw), append([]float32(nil), xs...)
		reduce.Forward(batch, xs, wantA, scratch)
		expand.ForwardUpdate(batch, r, wantXs, nil, xg, scratch)

		gotA, gotXs, g := make([]float32, batch*mid*hw*hw), append([]float32(nil), xs...), make([]float32, n)
		linkedReduce.ForwardBeside(batch, xs, gotA, g, scratch)
		linkedExpand.ForwardUpdate(batch, r, gotXs, g, xg, scratch)
		same(t, fmt.Sprintf("batch %d: the first layer's output", batch), gotA, wantA)
		same(t, fmt.Sprintf("batch %d: the updated state", batch), gotXs, wantXs)

		want := batch == 1 && runtime.Workers() > 1 && runtime.HasAVX512()
		if got := runtime.BesideRuns(&linkedReduce, batch); got != want {
			t.Errorf("batch %d: the gate runs beside the first layer: %v, want %v", batch, got, want)
		}
	}
}
