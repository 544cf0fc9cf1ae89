package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/grcc/grcc/plan"
)

// TestCandidates checks, on every shipped spec, that each convolution's
// candidates hold the cost model's choice and only algorithms its shape
// allows.
func TestCandidates(t *testing.T) {
	for name, m := range loadSpecs(t) {
		p, err := plan.Build(m, plan.Options{StopAfter: "choose-algorithm"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Steps {
			if s.Kind != plan.Conv {
				continue
			}
			cands := plan.Candidates(s)
			if !slices.Contains(cands, s.Algo) {
				t.Errorf("%s %s: candidates %v lack the cost model's %s", name, s.Name, cands, s.Algo)
			}
			c := s.Conv
			for _, a := range cands {
				wino, _ := plan.WinogradTile(a)
				if wino != 0 && (c.KH != 3 || c.KW != 3 || c.StrideH != 1 || c.DilH != 1 || c.Groups != 1 || s.GateOut != nil) {
					t.Errorf("%s %s (%s): Winograd candidate %s", name, s.Name, plan.ConvClass(s), a)
				}
				if a == plan.AlgoDirect && s.GateOut != nil && s.Algo != plan.AlgoDirect {
					t.Errorf("%s %s: direct candidate with a fused update", name, s.Name)
				}
			}
		}
	}
}

// TestAlgorithmsOverride builds GRCNN-56 with im2row for its 16×16 3×3
// class, whose cost-model choice is Winograd, and checks that every step of
// the class takes it, says why, and that a choice a class cannot take, or
// one for a class the model lacks, is an error naming it.
func TestAlgorithmsOverride(t *testing.T) {
	m := loadSpecs(t)["grcnn56"]
	const class = "conv 3x3 160→160 16x16 g1"
	base, err := plan.Build(m, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(m, plan.Options{Verify: true, Algorithms: map[string]plan.Choice{class: {Algo: plan.AlgoIm2Row, Why: "measured"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, s := range p.Steps {
		if s.Kind != plan.Conv {
			continue
		}
		if plan.ConvClass(s) == class {
			n++
			if s.Algo != plan.AlgoIm2Row || s.AlgoWhy != "measured" || s.Tuned != class {
				t.Errorf("%s: algo %s (%q, tuned %q), want im2row as chosen", s.Name, s.Algo, s.AlgoWhy, s.Tuned)
			}
			if base.Steps[i].Algo == plan.AlgoIm2Row {
				t.Errorf("%s: the cost model chose im2row already; the test needs another class", s.Name)
			}
		} else if s.Tuned != "" || s.Algo != base.Steps[i].Algo {
			t.Errorf("%s (%s): algo %s tuned %q, want the cost model's %s", s.Name, plan.ConvClass(s), s.Algo, s.Tuned, base.Steps[i].Algo)
		}
	}
	if n != 5 {
		t.Errorf("%d steps of class %s, want 5", n, class)
	}
	for choice, want := range map[string]string{
		class + "|" + plan.AlgoDirect:   "want one of",
		"conv 3x3 7→7 7x7 g1|" + "gemm": "no convolution of class conv 3x3 7→7 7x7 g1",
	} {
		c, algo, _ := strings.Cut(choice, "|")
		_, err := plan.Build(m, plan.Options{Algorithms: map[string]plan.Choice{c: {Algo: algo}}})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), c) {
			t.Errorf("%s = %s: error %v, want one naming the class and %q", c, algo, err, want)
		}
	}
}
