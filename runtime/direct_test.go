package runtime_test

import (
	"math/rand/v2"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// TestDirect checks the direct path on every case of convCases and on the
// grouped shapes of GRCNN's selective-kernel branches, with and without
// the input prologue, against the float64 reference and, where k fits one
// block of the GEMM (whose sums then run in the same order with the same
// fused multiply-adds), against the GEMM path to the bit, with the input
// padded once for all units or by each unit for its group (see unitPad). Without AVX-512
// Prepare falls back to the GEMM path, which the portable run checks; the
// forced run switches kernels after Prepare to run the portable direct
// kernel.
func TestDirect(t *testing.T) {
	t.Run("default", func(t *testing.T) { testDirect(t, "") })
	for _, name := range []string{"avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			t.Run(name, func(t *testing.T) { testDirect(t, "") })
		}
		restore()
		if ok {
			t.Run(name+"_after_prepare", func(t *testing.T) { testDirect(t, name) })
		}
	}
}

func directCases() []convCase {
	return append(convCases(),
		convCase{inC: 128, outC: 128, inH: 20, inW: 20, k: 3, s: 1, p: 1, d: 1, groups: 32, batch: 2, epilogue: 3}, // SK branch: 4 a group
		convCase{inC: 128, outC: 128, inH: 20, inW: 20, k: 3, s: 1, p: 2, d: 2, groups: 32, batch: 1, epilogue: 3}, // dilated branch
		convCase{inC: 256, outC: 256, inH: 15, inW: 15, k: 3, s: 2, p: 1, d: 1, groups: 32, batch: 2, epilogue: 3}, // strided branch
		convCase{inC: 512, outC: 512, inH: 14, inW: 14, k: 3, s: 2, p: 2, d: 2, groups: 32, batch: 2, epilogue: 3}, // strided dilated branch, rows of 7
		convCase{inC: 192, outC: 192, inH: 16, inW: 16, k: 1, s: 2, p: 0, d: 1, groups: 16, batch: 2, epilogue: 3}, // CIFAR's strided 1×1 branch
		convCase{inC: 64, outC: 256, inH: 9, inW: 70, k: 3, s: 1, p: 1, d: 1, groups: 32, batch: 1, epilogue: 2},   // rows wider than a kernel
		convCase{inC: 256, outC: 256, inH: 6, inW: 6, k: 1, s: 1, p: 0, d: 1, groups: 32, batch: 3, epilogue: 1},   // grouped 1×1
		convCase{inC: 512, outC: 512, inH: 5, inW: 33, k: 3, s: 1, p: 1, d: 1, groups: 16, batch: 1, epilogue: 3},  // k = 288 > kc
		convCase{inC: 3, outC: 24, inH: 30, inW: 30, k: 7, s: 2, p: 3, d: 1, groups: 1, batch: 2, epilogue: 3},     // stem
	)
}

// testDirect runs the cases; with after set it prepares them with AVX-512
// and runs them with the kernels named.
func testDirect(t *testing.T, after string) {
	rng := rand.New(rand.NewPCG(27, 28))
	exact := 0
	padding := map[string]int{}
	for i, tc := range directCases() {
		base := tc.conv(rng)
		in := randSlice(rng, tc.batch*base.InC*base.InH*base.InW)
		n := tc.batch * base.OutC * base.OutH * base.OutW
		plain, direct := *base, *base
		direct.Direct = true
		if i%2 == 1 && tc.inC != tc.groups {
			plain.InScale, plain.InShift, plain.InRelu = randSlice(rng, base.InC), randSlice(rng, base.InC), true
			direct.InScale, direct.InShift, direct.InRelu = plain.InScale, plain.InShift, true
		}
		var got []float32
		if after != "" {
			restore, _ := runtime.ForceKernel("avx512")
			err := direct.Prepare()
			restore()
			if err != nil {
				t.Fatal(err)
			}
			got = make([]float32, n)
			direct.Forward(tc.batch, in, got, make([]float32, direct.ScratchLen(tc.batch)))
		} else {
			got = run(t, &direct, tc.batch, in, n)
			padding[runtime.DirectPadding(&direct, tc.batch)]++
		}
		// The reference convolves the activated input when there is a
		// prologue.
		act := in
		if plain.InScale != nil {
			act = activate(in, tc.batch, base.InC, base.InH*base.InW, plain.InScale, plain.InShift)
		}
		want, mag := refConv(base, tc.batch, act)
		checkClose(t, tc.String()+" direct", got, want, mag, base.InC/base.Groups*base.KH*base.KW)
		if after == "" && base.InC/base.Groups*base.KH*base.KW <= 256 {
			same(t, tc.String()+" direct vs gemm", got, run(t, &plain, tc.batch, in, n))
			exact++
		}
	}
	if after == "" && exact < 100 {
		t.Errorf("only %d cases compared to the bit", exact)
	}
	// Without AVX-512 every case falls back to the GEMM path.
	onDirect := padding["unit"] + padding["shared"] + padding["none"]
	if onDirect > 0 && (padding["unit"] < 10 || padding["shared"] < 10 || padding["none"] < 5) {
		t.Errorf("too few cases of each way of padding: %v", padding)
	}
	t.Logf("padding: %v", padding)
}

// TestDirectRows checks the direct path's kernels that compute several
// output rows of at most 16 pixels a call, for each count of rows, on the
// shapes of the selective-kernel branches (16 channels a group at 14×14,
// plain and dilated; 20 at CIFAR's 16×16; 13 rows, which no count but 1
// divides): to the bit against the GEMM path, whose sums run in the same
// order, and against the float64 reference. It also checks that the cost
// model gives SK-GRCNN-109's branches 3 rows a call.
func TestDirectRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	cases := []convCase{
		{inC: 64, outC: 64, inH: 14, inW: 14, k: 3, s: 1, p: 1, d: 1, groups: 4, batch: 1, epilogue: 3},
		{inC: 64, outC: 64, inH: 14, inW: 14, k: 3, s: 1, p: 2, d: 2, groups: 4, batch: 2, epilogue: 3},
		{inC: 40, outC: 40, inH: 16, inW: 16, k: 3, s: 1, p: 1, d: 1, groups: 2, batch: 1, epilogue: 2},
		{inC: 48, outC: 24, inH: 13, inW: 11, k: 3, s: 1, p: 1, d: 1, groups: 2, batch: 1, epilogue: 1},
		{inC: 64, outC: 64, inH: 26, inW: 26, k: 3, s: 2, p: 1, d: 1, groups: 4, batch: 1, epilogue: 3},
	}
	for v := 0; v <= 4; v++ {
		restore := runtime.ForceRowVectors(v)
		for _, tc := range cases {
			base := tc.conv(rng)
			in := randSlice(rng, tc.batch*base.InC*base.InH*base.InW)
			n := tc.batch * base.OutC * base.OutH * base.OutW
			plain, direct := *base, *base
			direct.Direct = true
			got := run(t, &direct, tc.batch, in, n)
			if runtime.UseAVX512() {
				want := v
				if v == 0 {
					want = runtime.DirectRowVectors(&direct) // the model's
				}
				if got := runtime.DirectRowVectors(&direct); got != want || got == 0 {
					t.Errorf("%v: %d rows a call, want %d", tc, got, want)
				}
			}
			ref, mag := refConv(base, tc.batch, in)
			checkClose(t, tc.String()+" rows", got, ref, mag, base.InC/base.Groups*9)
			same(t, tc.String()+" rows vs gemm", got, run(t, &plain, tc.batch, in, n))
		}
		restore()
	}
	sk := &runtime.Conv2D{InC: 512, InH: 14, InW: 14, OutC: 512, OutH: 14, OutW: 14, KH: 3, KW: 3,
		SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 32, Direct: true, Weight: make([]float32, 512*16*9)}
	if err := sk.Prepare(); err != nil {
		t.Fatal(err)
	}
	if v := runtime.DirectRowVectors(sk); runtime.UseAVX512() && v != 3 {
		t.Errorf("SK-GRCNN-109's branch: %d rows a call, want 3", v)
	}
}
