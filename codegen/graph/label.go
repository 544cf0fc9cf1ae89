package graph

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/grcc/grcc/ir"
)

// shape writes a per-image shape as C×H×W.
func shape(s ir.Shape) string { return fmt.Sprintf("%d×%d×%d", s.C, s.H, s.W) }

// pair writes a kernel, stride or padding as k or kh×kw.
func pair(h, w int) string {
	if h == w {
		return strconv.Itoa(h)
	}
	return fmt.Sprintf("%d×%d", h, w)
}

// describe says in a few words what a layer computes; the shapes are on
// the edges, so only what they do not show is said here.
func describe(l ir.Layer) string {
	switch l := l.(type) {
	case *ir.Conv:
		s := fmt.Sprintf("conv %d×%d", l.KH, l.KW)
		if l.StrideH > 1 || l.StrideW > 1 {
			s += " /" + pair(l.StrideH, l.StrideW)
		}
		if l.DilH > 1 || l.DilW > 1 {
			s += " dilation " + pair(l.DilH, l.DilW)
		}
		// Padding that keeps the size is what a reader expects; other
		// padding is worth saying.
		if l.PadH != l.DilH*(l.KH-1)/2 || l.PadW != l.DilW*(l.KW-1)/2 {
			s += " pad " + pair(l.PadH, l.PadW)
		}
		s += fmt.Sprintf(", %d→%d", l.In.C, l.Out.C)
		if l.Groups > 1 {
			s += fmt.Sprintf(", groups %d", l.Groups)
		}
		if l.Bias != nil {
			s += ", bias"
		}
		return s
	case *ir.BatchNorm:
		return "BN"
	case *ir.ReLU:
		return "ReLU"
	case *ir.Pool:
		s := "avg pool"
		if l.Max {
			s = "max pool"
		}
		s += fmt.Sprintf(" %d×%d", l.KH, l.KW)
		if l.StrideH > 1 || l.StrideW > 1 {
			s += " /" + pair(l.StrideH, l.StrideW)
		}
		if l.PadH > 0 || l.PadW > 0 {
			s += " pad " + pair(l.PadH, l.PadW)
		}
		return s
	case *ir.GlobalAvgPool:
		return "global avg pool"
	case *ir.Linear:
		s := fmt.Sprintf("linear %d→%d", l.InFeatures, l.OutFeatures)
		if l.Bias == nil {
			s += ", no bias"
		}
		return s
	case *ir.SKConv:
		return fmt.Sprintf("selective kernel, %d branches", len(l.Branches))
	}
	return fmt.Sprintf("%T", l)
}

// totals are the learnable parameters (each shared tensor once) and the
// multiply-accumulates per image of a part of the model.
type totals struct{ Params, MACs int64 }

func (t *totals) add(l ir.Layer, seen map[*ir.Param]bool) {
	for _, p := range ir.LayerParams(l) {
		if p.Learnable && p.SharedWith == nil && !seen[p] {
			seen[p] = true
			t.Params += int64(p.Len())
		}
	}
	t.MACs += ir.LayerMACs(l)
}

// layerTotals counts a stem or a head.
func layerTotals(list []ir.Layer) totals {
	var t totals
	seen := map[*ir.Param]bool{}
	for _, l := range list {
		t.add(l, seen)
	}
	return t
}

// stageTotals counts a stage, the recurrent gate convolution's parameters
// once and its MACs once per iteration, as grcc info does.
func stageTotals(st *ir.Stage) totals {
	var t totals
	seen := map[*ir.Param]bool{}
	st.Walk(func(l ir.Layer) { t.add(l, seen) })
	if st.Down != nil && st.Down.Unused != nil {
		t.add(st.Down.Unused, seen)
	}
	return t
}

func (t totals) String() string {
	return fmt.Sprintf("%s parameters · %s MACs", count(t.Params), count(t.MACs))
}

// count writes a large number to three significant digits: 70.9K, 225M, 3.70G.
func count(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10)
	}
	v := float64(n)
	for _, unit := range []string{"K", "M", "G", "T"} {
		v /= 1000
		if v >= 999.5 && unit != "T" {
			continue
		}
		dec := 0
		switch {
		case v < 9.995:
			dec = 2
		case v < 99.95:
			dec = 1
		}
		return strconv.FormatFloat(v, 'f', dec, 64) + unit
	}
	panic("unreachable")
}

// stageLabel is the title of a stage's cluster: its name and shapes, its
// settings, and its size.
func stageLabel(st *ir.Stage) string {
	gate := "sigmoid gate"
	if st.Gate == ir.NoGate {
		gate = "no gate"
	}
	cell := "bottleneck"
	if st.Cell == ir.SelectiveKernel {
		cell = "SK"
	}
	iters := "iterations"
	if st.Iterations == 1 {
		iters = "iteration"
	}
	lines := []string{
		fmt.Sprintf("%s · %s → %s", st.Name, shape(st.In), shape(st.Out)),
		fmt.Sprintf("%s cell, %s, %d %s", cell, gate, st.Iterations, iters),
		fmt.Sprintf("planes %d × expansion %d = %d, groups %d", st.Planes, st.Expansion, st.Width, st.Groups),
		stageTotals(st).String(),
	}
	return strings.Join(lines, "\n")
}
