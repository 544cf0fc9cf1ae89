package runtime_test

import (
	"math/rand/v2"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// TestIm2Row checks the im2row path against the default GEMM path (or the
// direct one, for depthwise cases) on every case of convCases and on
// late-layer and grouped shapes, with and without the
// input prologue and, for 1×1 convolutions, the fused state update, on
// every kernel family, and with each way of splitting the work (see
// rowSplit, rowCopies and rowPlanes; even shares need two workers or more). The two paths sum the same products in the same
// order with the same micro-kernel, so they must agree to the bit.
func TestIm2Row(t *testing.T) {
	t.Run("default", testIm2Row)
	for _, name := range []string{"avx2", "portable"} {
		restore, ok := runtime.ForceKernel(name)
		if ok {
			t.Run(name, testIm2Row)
		}
		restore()
	}
}

func im2RowCases() []convCase {
	cases := convCases()
	return append(cases,
		convCase{inC: 512, outC: 512, inH: 7, inW: 7, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 1, epilogue: 3},   // GRCNN layer4
		convCase{inC: 256, outC: 256, inH: 14, inW: 14, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 2, epilogue: 3}, // layer3
		convCase{inC: 512, outC: 2048, inH: 7, inW: 7, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 3, epilogue: 1},  // channels past one tile
		convCase{inC: 300, outC: 45, inH: 5, inW: 6, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 5, epilogue: 3},    // units span images
		convCase{inC: 40, outC: 33, inH: 9, inW: 9, k: 3, s: 1, p: 2, d: 2, groups: 1, batch: 3, epilogue: 2},     // dilated, contiguous
		convCase{inC: 24, outC: 64, inH: 14, inW: 14, k: 3, s: 2, p: 1, d: 1, groups: 1, batch: 2, epilogue: 3},   // strided: gathered
		convCase{inC: 16, outC: 40, inH: 56, inW: 56, k: 3, s: 2, p: 1, d: 1, groups: 1, batch: 1, epilogue: 3},   // strided: panels in one row, permuted
		convCase{inC: 20, outC: 24, inH: 32, inW: 31, k: 3, s: 2, p: 1, d: 1, groups: 1, batch: 2, epilogue: 1},   // strided, odd width
		convCase{inC: 64, outC: 256, inH: 13, inW: 13, k: 3, s: 1, p: 1, d: 1, groups: 32, batch: 2, epilogue: 3}, // GRCNN conv_f: 8 per group
		convCase{inC: 512, outC: 512, inH: 7, inW: 7, k: 1, s: 1, p: 0, d: 1, groups: 16, batch: 3, epilogue: 1},  // 32 per group
		convCase{inC: 256, outC: 2048, inH: 5, inW: 5, k: 3, s: 1, p: 1, d: 1, groups: 32, batch: 1, epilogue: 2}, // 64 per group
		convCase{inC: 64, outC: 96, inH: 14, inW: 14, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 4, epilogue: 3},   // units of all channels
		convCase{inC: 48, outC: 80, inH: 11, inW: 12, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 6, epilogue: 1},   // the same, 1×1
		convCase{inC: 96, outC: 200, inH: 7, inW: 9, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 1, epilogue: 3},    // shifted planes
		convCase{inC: 64, outC: 160, inH: 10, inW: 10, k: 3, s: 1, p: 2, d: 2, groups: 1, batch: 1, epilogue: 2},  // planes, dilated
		convCase{inC: 32, outC: 192, inH: 8, inW: 8, k: 5, s: 1, p: 2, d: 1, groups: 1, batch: 2, epilogue: 3},    // planes, 5×5
		convCase{inC: 64, outC: 512, inH: 7, inW: 7, k: 3, s: 1, p: 1, d: 1, groups: 2, batch: 1, epilogue: 1},    // planes, grouped
		convCase{inC: 160, outC: 160, inH: 16, inW: 16, k: 3, s: 1, p: 1, d: 1, groups: 1, batch: 1, epilogue: 3}, // GRCNN-110 stage_2: even shares
		convCase{inC: 96, outC: 120, inH: 12, inW: 12, k: 1, s: 1, p: 0, d: 1, groups: 1, batch: 1, epilogue: 1},  // the same, 1×1
	)
}

func testIm2Row(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	checked := map[string]int{}
	for i, tc := range im2RowCases() {
		base := tc.conv(rng)
		in := randSlice(rng, tc.batch*base.InC*base.InH*base.InW)
		n := tc.batch * base.OutC * base.OutH * base.OutW
		plain, rows := *base, *base
		rows.Im2Row = true
		if i%2 == 1 && tc.inC != tc.groups {
			plain.InScale, plain.InShift = randSlice(rng, base.InC), randSlice(rng, base.InC)
			plain.InRelu = i%4 == 1
			rows.InScale, rows.InShift, rows.InRelu = plain.InScale, plain.InShift, plain.InRelu
			checked["prologue"]++
		}
		same(t, tc.String()+" im2row", run(t, &rows, tc.batch, in, n), run(t, &plain, tc.batch, in, n))
		split := runtime.Im2RowSplit(&rows, tc.batch)
		checked[split]++
		if runtime.Im2RowPlanes(&rows, tc.batch) {
			checked["planes"]++
			checked["planes, "+split]++
		}
		if tc.inC == tc.groups {
			checked["depthwise"]++
		} else if tc.s == 1 && base.OutW == base.InW {
			checked["contiguous"]++
		} else {
			checked["gathered"]++
		}

		if tc.k != 1 || tc.s != 1 || tc.p != 0 || tc.inC == tc.groups {
			continue
		}
		xs, g, xg := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
		for _, gated := range []bool{false, true} {
			gg, gxg := g, xg
			if !gated {
				gg, gxg = nil, nil
			}
			want := append([]float32(nil), xs...)
			got := append([]float32(nil), xs...)
			for _, u := range []struct {
				c   runtime.Conv2D
				dst []float32
			}{{plain, want}, {rows, got}} {
				u.c.Update = true
				if err := u.c.Prepare(); err != nil {
					t.Fatalf("%v: Prepare: %v", tc, err)
				}
				u.c.ForwardUpdate(tc.batch, in, u.dst, gg, gxg, make([]float32, u.c.ScratchLen(tc.batch)))
			}
			same(t, tc.String()+" im2row update", got, want)
			checked["update"]++
		}
	}
	t.Logf("cases checked: %v", checked)
	if runtime.Workers() > 1 && checked["even"] < 2 {
		t.Errorf("too few cases with even shares of pixels: %v", checked)
	}
	if checked["contiguous"] < 10 || checked["gathered"] < 10 || checked["update"] < 6 || checked["prologue"] < 10 ||
		checked["wide"] < 2 || checked["copies"] < 5 || checked["planes"] < 9 ||
		checked["planes, copies"] < 5 || checked["planes, unit"] < 2 || checked["unit"] < 2 {
		t.Errorf("too few cases: %v", checked)
	}
}
