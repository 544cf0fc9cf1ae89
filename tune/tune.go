// Package tune chooses the CPU algorithm of each class of convolutions by
// timing the whole model on the machine it runs on, for grcc build -tune.
//
// The cost model (plan/algorithm.go) was measured on the machines grcc is
// developed on. Another CPU, another cache size or another batch may
// favour another algorithm; tune finds out there. It times whole forward
// passes rather than layers alone, since a layer alone sees its weights and
// input in cache where the model does not, and its choice changes what the
// layers around it find in cache: single-layer gains have often vanished
// in the model. It keeps a change only when the model is faster by
// Options.MinGain in every round, twice: against the program it has, and
// then with both programs built afresh (see Trial.Confirm), so that noise
// leaves the cost model's choice.
package tune

import (
	"fmt"
	"io"
	"maps"
	"math"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime/checkpoint"
)

// Options say how long and how strictly Tune measures.
type Options struct {
	// Rounds is how many rounds a comparison has (default 4), each of
	// forward passes of the two programs in turn.
	Rounds int
	// Time is the least time each program runs per round (default 300 ms).
	Time time.Duration
	// MinGain is the least share of a forward pass a candidate must save
	// in every round to replace the choice so far (default 0.015).
	MinGain float64
	// Log, when set, receives a line per comparison as it ends.
	Log io.Writer
}

func (o *Options) defaults() {
	if o.Rounds <= 0 {
		o.Rounds = 4
	}
	if o.Time <= 0 {
		o.Time = 300 * time.Millisecond
	}
	if o.MinGain <= 0 {
		o.MinGain = 0.015
	}
}

// Trial is one comparison: the class's algorithm so far against another.
type Trial struct {
	Class    string    // plan.ConvClass
	Steps    int       // convolutions of the class
	From, To string    // the algorithm so far and the candidate
	Ratios   []float64 // per round, the candidate's forward time over From's
	// Confirm holds the ratios of a second comparison, of both programs
	// built afresh, run where the first saved MinGain in every round. Two
	// builds of the same program can run several per cent apart for all
	// their life, presumably by where their memory lies (GRCNN-109 at
	// batch 1, eight pairs of identical builds: per-round ratios
	// 0.89–1.33, one pair 1.03–1.09 in all four rounds), so a candidate
	// must win against two builds of the choice so far.
	Confirm []float64
	Kept    bool  // the candidate replaced From
	Err     error // the candidate could not be built or gave other logits
}

// Ratio is the median of the trial's per-round ratios (0 when it failed).
func (t Trial) Ratio() float64 { return median(t.Ratios) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	r := append([]float64(nil), v...)
	sort.Float64s(r)
	return r[len(r)/2]
}

// String describes the trial in one line.
func (t Trial) String() string {
	switch {
	case t.Err != nil:
		return fmt.Sprintf("%s (%d): %s: %v", t.Class, t.Steps, t.To, t.Err)
	case t.Kept:
		return fmt.Sprintf("%s (%d): %s instead of %s, forward ×%.3f, again ×%.3f", t.Class, t.Steps, t.To, t.From, t.Ratio(), median(t.Confirm))
	case len(t.Confirm) > 0:
		return fmt.Sprintf("%s (%d): %s kept, %s ×%.3f but again ×%.3f", t.Class, t.Steps, t.From, t.To, t.Ratio(), median(t.Confirm))
	}
	return fmt.Sprintf("%s (%d): %s kept, %s ×%.3f", t.Class, t.Steps, t.From, t.To, t.Ratio())
}

// class is a class of convolutions with the candidates tune tries.
type class struct {
	name       string
	steps      int
	macs       int64
	algo       string // the cost model's
	candidates []string
}

// classes lists m's classes of convolutions that have more than one
// candidate, those with the most multiply-adds first, since they can move
// the forward pass the most.
func classes(m *ir.Model) ([]*class, error) {
	p, err := plan.Build(m, plan.Options{StopAfter: "choose-algorithm"})
	if err != nil {
		return nil, err
	}
	byName := map[string]*class{}
	var out []*class
	for _, s := range p.Steps {
		if s.Kind != plan.Conv {
			continue
		}
		name := plan.ConvClass(s)
		c := byName[name]
		if c == nil {
			c = &class{name: name, algo: s.Algo, candidates: plan.Candidates(s)}
			byName[name] = c
			out = append(out, c)
		}
		c.steps++
		c.macs += s.Conv.MACs()
	}
	kept := out[:0]
	for _, c := range out {
		if len(c.candidates) > 1 {
			kept = append(kept, c)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].macs > kept[j].macs })
	return kept, nil
}

// Tune times m's forward pass at its batch (m.Batch) with each candidate
// algorithm of each class of convolutions in turn, on random weights, and
// returns the choices that differ from the cost model's, for
// plan.Options.Algorithms, and every trial. Classes go in order of their
// multiply-adds; each trial builds on the choices kept before it.
func Tune(m *ir.Model, opt Options) (map[string]plan.Choice, []Trial, error) {
	opt.defaults()
	cls, err := classes(m)
	if err != nil {
		return nil, nil, err
	}
	choices := map[string]plan.Choice{}
	best, err := build(m, choices)
	if err != nil {
		return nil, nil, err
	}
	in := input(m)
	want := make([]float32, m.Batch*m.Classes)
	if err := best.Forward(in, want); err != nil {
		return nil, nil, err
	}
	var trials []Trial
	total := 0
	for _, c := range cls {
		total += len(c.candidates) - 1
	}
	for _, c := range cls {
		algo := c.algo
		for _, cand := range c.candidates {
			if cand == algo || cand == c.algo && algo != c.algo {
				continue
			}
			t := Trial{Class: c.name, Steps: c.steps, From: algo, To: cand}
			next := maps.Clone(choices)
			next[c.name] = plan.Choice{Algo: cand}
			em, err := build(m, next)
			if err == nil {
				err = sameLogits(em, in, want)
			}
			if err != nil {
				t.Err = err
			} else {
				if t.Ratios, err = compare(best, em, in, opt); err != nil {
					return nil, nil, err
				}
				if kept(t.Ratios, opt.MinGain) {
					// Confirm on a fresh pair of models: see Trial.Confirm.
					if t.Confirm, em, err = confirm(m, choices, next, in, opt); err != nil {
						return nil, nil, err
					}
					t.Kept = kept(t.Confirm, opt.MinGain)
				}
			}
			if t.Kept {
				choices, best, algo = next, em, cand
			}
			trials = append(trials, t)
			if opt.Log != nil {
				fmt.Fprintf(opt.Log, "[%d/%d] %v\n", len(trials), total, t)
			}
		}
		if algo != c.algo {
			choices[c.name] = plan.Choice{Algo: algo, Why: why(trials, c)}
		}
	}
	return choices, trials, nil
}

// confirm builds the programs of choices and next afresh and compares
// them again, returning the ratios and next's model.
func confirm(m *ir.Model, choices, next map[string]plan.Choice, in []float32, opt Options) ([]float64, *engine.Model, error) {
	a, err := build(m, choices)
	if err != nil {
		return nil, nil, err
	}
	b, err := build(m, next)
	if err != nil {
		return nil, nil, err
	}
	r, err := compare(a, b, in, opt)
	return r, b, err
}

// why says, for the generated code, what tune measured for class c: the
// forward-pass time ratio of each candidate kept against the one before.
func why(trials []Trial, c *class) string {
	var steps []string
	for _, t := range trials {
		if t.Class == c.name && t.Kept {
			steps = append(steps, fmt.Sprintf("%s ×%.3f and ×%.3f against %s", t.To, t.Ratio(), median(t.Confirm), t.From))
		}
	}
	return fmt.Sprintf("tuned on the build machine (grcc build -tune), in place of the cost model's %s: the forward pass with %s", c.algo, strings.Join(steps, ", then "))
}

// build lowers m with choices and binds it to random weights, the same
// ones for every build (engine.New takes the tensors it packs out of the
// state dict, so each build gets a state dict of its own).
func build(m *ir.Model, choices map[string]plan.Choice) (*engine.Model, error) {
	p, err := plan.Build(m, plan.Options{Algorithms: choices})
	if err != nil {
		return nil, err
	}
	return engine.New(p, checkpoint.Random(engine.Params(m), 1), "random weights (seed 1)")
}

// input is a fixed input batch in [-1, 1).
func input(m *ir.Model) []float32 {
	in := make([]float32, m.Batch*m.Input.Len())
	for i := range in {
		in[i] = float32(i%251)/125.5 - 1
	}
	return in
}

// sameLogits checks that em gives the logits of the cost model's program,
// within what another order of summation explains: a candidate that does
// not is a bug, and tune must not choose it.
func sameLogits(em *engine.Model, in, want []float32) error {
	got := make([]float32, len(want))
	if err := em.Forward(in, got); err != nil {
		return err
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-3*math.Max(scale, 1) || math.IsNaN(float64(got[i])) {
			return fmt.Errorf("logit %d is %g, want %g as with the cost model's choices", i, got[i], want[i])
		}
	}
	return nil
}

// compare runs a and b alternately, one forward pass each in turn, and
// returns per round the sum of b's forward times over a's. Each round has
// enough pairs for opt.Time a side. Alternating pass by pass, rather than
// in runs of seconds, puts both programs in the same phases of a shared
// machine, whose speed drifts by several per cent over seconds: runs of
// 300 ms a side measured single 3×3 layers of GRCNN-109 (1% of its time)
// as changing the pass by 3–5%.
func compare(a, b *engine.Model, in []float32, opt Options) ([]float64, error) {
	logits := make([]float32, a.NumClasses()*len(in)/a.InputLen())
	timed := func(m *engine.Model) (time.Duration, error) {
		t0 := time.Now()
		err := m.Forward(in, logits)
		return time.Since(t0), err
	}
	// Collect the garbage of building b (its random state dict, a few
	// hundred MB for the ImageNet models) now rather than while they run.
	// Then warm both up and find how many pairs fill opt.Time.
	goruntime.GC()
	var d time.Duration
	for _, m := range []*engine.Model{a, b, a, b, a, b} {
		t, err := timed(m)
		if err != nil {
			return nil, err
		}
		d = max(d, t)
	}
	pairs := int(opt.Time/max(d, time.Microsecond)) + 1
	ratios := make([]float64, opt.Rounds)
	for r := range ratios {
		var ta, tb time.Duration
		for i := range pairs {
			first, second := a, b
			if i%2 == 1 {
				first, second = b, a
			}
			t1, err := timed(first)
			if err != nil {
				return nil, err
			}
			t2, err := timed(second)
			if err != nil {
				return nil, err
			}
			if i%2 == 1 {
				t1, t2 = t2, t1
			}
			ta += t1
			tb += t2
		}
		ratios[r] = float64(tb) / float64(ta)
	}
	return ratios, nil
}

// kept reports whether every round saved at least minGain.
func kept(ratios []float64, minGain float64) bool {
	for _, r := range ratios {
		if r > 1-minGain {
			return false
		}
	}
	return len(ratios) > 0
}
