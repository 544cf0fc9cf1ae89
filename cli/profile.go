package cli

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

// profileSteps runs rounds forwards of n images with a timer around every
// step and prints the share of the time each kind of step takes and the top
// slowest steps, so that a reader sees where the time goes. Timing each step
// alone adds a little overhead, so the total can exceed the benchmark's
// median slightly.
func profileSteps(w io.Writer, em *engine.Model, m *ir.Model, n, rounds, top int) error {
	steps := em.Steps()
	total := make([]time.Duration, len(steps))
	em.Trace = func(i int, d time.Duration) { total[i] += d }
	defer func() { em.Trace = nil }()
	in := make([]float32, n*m.Input.Len())
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range in {
		in[i] = float32(rng.NormFloat64())
	}
	out := make([]float32, n*m.Classes)
	for range rounds {
		if err := em.Forward(in, out); err != nil {
			return err
		}
	}
	var sum time.Duration
	byKind := map[string]time.Duration{}
	macs := map[string]int64{} // per image, convolutions only
	for i, s := range steps {
		sum += total[i]
		byKind[stepClass(s)] += total[i]
		if s.Kind == plan.Conv {
			macs[stepClass(s)] += s.Conv.MACs()
		}
	}
	if sum == 0 {
		return nil
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(rounds) }
	fmt.Fprintf(w, "\ntime per kind of step (%d profiled forwards, %.2f ms each):\n", rounds, per(sum))
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if byKind[kinds[i]] != byKind[kinds[j]] {
			return byKind[kinds[i]] > byKind[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	for _, k := range kinds {
		rate := "" // direct-convolution GFLOP/s, so that kinds compare by efficiency
		if macs[k] > 0 && byKind[k] > 0 {
			rate = fmt.Sprintf("  %6.1f GFLOP/s", 2*float64(macs[k])*float64(n*rounds)/byKind[k].Seconds()/1e9)
		}
		fmt.Fprintf(w, "  %5.1f%%  %8.2f ms  %-26s%s\n", 100*byKind[k].Seconds()/sum.Seconds(), per(byKind[k]), k, rate)
	}
	order := make([]int, len(steps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return total[order[a]] > total[order[b]] })
	fmt.Fprintf(w, "\nslowest steps:\n")
	for _, i := range order[:min(top, len(order))] {
		s := steps[i]
		rate := ""
		if s.Kind == plan.Conv && total[i] > 0 {
			rate = fmt.Sprintf("  %6.1f GFLOP/s", 2*float64(s.Conv.MACs())*float64(n*rounds)/total[i].Seconds()/1e9)
		}
		fmt.Fprintf(w, "  %5.1f%%  %8.3f ms  %-24s %-44s%s\n", 100*total[i].Seconds()/sum.Seconds(), per(total[i]), s.Name, stepClass(s)+" "+s.Out.Shape.String(), rate)
	}
	return nil
}

// stepClass names what kind of work a step is, for the profile: the step
// kind, and for convolutions the kernel, stride, groups and algorithm.
func stepClass(s *plan.Step) string {
	if s.Kind != plan.Conv {
		return s.Kind.String()
	}
	c := s.Conv
	desc := fmt.Sprintf("conv %dx%d", c.KH, c.KW)
	if c.StrideH != 1 || c.StrideW != 1 {
		desc += fmt.Sprintf("/%d", c.StrideH)
	}
	if c.DilH != 1 {
		desc += fmt.Sprintf(" dil %d", c.DilH)
	}
	if c.Groups > 1 {
		desc += " grouped"
	}
	if s.Algo != "" {
		desc += " " + s.Algo
	}
	return desc
}
