package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Choice is an algorithm for a class of convolutions (see ConvClass) in
// place of the cost model's, and why it was chosen: grcc build -tune times
// the candidates on the machine it runs on and passes what it measured
// through Options.Algorithms.
type Choice struct {
	Algo string `json:"algo"`
	Why  string `json:"why,omitempty"`
}

// ConvClass names the convolution steps that the cost model cannot tell
// apart: the same kernel, strides, dilation, groups, channels and sizes, and
// the same fused update or not. A tuned choice applies to every step of its
// class, so that one measurement covers the 22 iterations of a stage.
// Example: "conv 3x3 256→256 14x14 g1" or "conv 1x1 64→256 56x56 g1
// +update".
func ConvClass(s *Step) string {
	c, in, out := s.Conv, s.In[0].Shape, s.Out.Shape
	k := fmt.Sprintf("conv %dx%d", c.KH, c.KW)
	if c.StrideH > 1 || c.StrideW > 1 {
		k += fmt.Sprintf("/%d", c.StrideH)
	}
	if c.DilH > 1 || c.DilW > 1 {
		k += fmt.Sprintf(" dil %d", c.DilH)
	}
	k += fmt.Sprintf(" %d→%d %dx%d g%d", in.C, out.C, in.H, in.W, c.Groups)
	if s.GateOut != nil {
		k += " +update"
	}
	return k
}

// Candidates lists the CPU algorithms that the runtime can run a
// convolution step with and that can be the fastest for its shape, the
// cost model's choice among them: the GEMM and im2row for every
// convolution, the direct kernels for grouped ones with few channels a group
// or few input channels (not with a fused update, which the direct kernels
// do not apply), and each Winograd tiling for dense 3×3 stride-1 ones.
// A depthwise convolution has only the direct one. The step's own
// algorithm, once chosen, is always among them. The classes and
// candidates are those of the program as choose-algorithm leaves it
// (Options.StopAfter), before later passes fuse more into a step.
func Candidates(s *Step) []string {
	c, in, out := s.Conv, s.In[0].Shape, s.Out.Shape
	if in.C == c.Groups {
		return []string{AlgoDirect}
	}
	algos := []string{AlgoGEMM, AlgoIm2Row}
	icg, ocg := in.C/c.Groups, out.C/c.Groups
	if s.GateOut == nil && (c.Groups > 1 && ocg <= 2*direct1x1MaxGroupWidth || icg <= directMaxInputs) {
		algos = append(algos, AlgoDirect)
	}
	dense3 := c.KH == 3 && c.KW == 3 && c.StrideH == 1 && c.StrideW == 1 && c.DilH == 1 && c.DilW == 1 && c.Groups == 1
	if dense3 && s.GateOut == nil {
		algos = append(algos, AlgoWinograd, AlgoWinograd4x2, AlgoWinograd2x2)
	}
	if s.Algo != "" && !slices.Contains(algos, s.Algo) {
		algos = append([]string{s.Algo}, algos...)
	}
	return algos
}

// applyChoices replaces the cost model's choice for the steps of each class
// in choices. A choice that is not among a class's candidates, or a class
// that no step has, is an error: a tuned build must not silently build
// something else than it measured.
func applyChoices(p *Program, choices map[string]Choice) error {
	if len(choices) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, s := range p.Steps {
		if s.Kind != Conv {
			continue
		}
		class := ConvClass(s)
		ch, ok := choices[class]
		if !ok {
			continue
		}
		if !slices.Contains(Candidates(s), ch.Algo) {
			return fmt.Errorf("algorithm %q for %s (%s): want one of %s", ch.Algo, class, s.Name, strings.Join(Candidates(s), ", "))
		}
		s.Algo, s.AlgoWhy, s.Tuned = ch.Algo, ch.Why, class
		used[class] = true
	}
	var unknown []string
	for class := range choices {
		if !used[class] {
			unknown = append(unknown, class)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("no convolution of class %s in %s", strings.Join(unknown, "; "), p.Model.Name)
	}
	return nil
}
