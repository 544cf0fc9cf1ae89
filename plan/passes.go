package plan

import (
	"fmt"

	"github.com/grcc/grcc/ir"
)

// Pass is one named transformation of a program.
type Pass struct {
	Name string
	Why  string
	Run  func(*Program) error
}

// Passes is the pipeline, in order. Every pass keeps the program valid;
// tests run Verify after each.
var Passes = []Pass{
	{Name: "lower", Why: "turn layers into steps over values", Run: lower},
	{Name: "fold-batchnorm", Why: "a BatchNorm after a convolution is a per-channel scale and shift of its output", Run: foldBatchNorm},
	{Name: "fuse-relu", Why: "a ReLU after a convolution or scale-shift costs nothing in its epilogue", Run: fuseReLU},
	{Name: "fuse-input-activation", Why: "the pre-activation BatchNorm+ReLU of a convolution's or average pooling's input can be applied while loading it (CPU: not for depthwise convolutions; CUDA: convolutions only)", Run: fuseInputActivation},
	{Name: "fuse-gate", Why: "the gate update x_s += r·sigmoid(g+x_g) can be the epilogue of the convolution producing r (CPU: of a 1×1 convolution)", Run: fuseGate},
	{Name: "choose-algorithm", Why: "every convolution's shape is known, so the compiler picks the CPU kernel family that suits it (cost model in algorithm.go)", Run: chooseAlgorithm},
	{Name: "fuse-add", Why: "a downsampling block's a + b can be the epilogue of the 1×1 convolution producing b, adding onto a in place (CPU)", Run: fuseAdd},
	{Name: "fuse-gate-conv", Why: "the gate's recurrent convolution g = conv(x_s) can run inside the update that reads g, from the state's pixels while they are in cache (CPU: 1×1 GEMM convolutions with a GEMM or direct gate)", Run: fuseGateConv},
	{Name: "gate-beside", Why: "a fused gate's g = conv(x_s) can run in the parallel loop of the cell's first 1×1 convolution of the same x_s, which at batch 1 on two cores splits its input channels between the cores and leaves each waiting for the other (CPU: a direct gate beside a GEMM convolution of one column block an image)", Run: gateBeside},
	{Name: "plan-buffers", Why: "values whose lifetimes do not overlap share a buffer", Run: planBuffers},
}

// Options choose what Build does.
type Options struct {
	// Fusions lets the fusing passes fuse into every convolution, as the
	// CUDA target's kernels allow; without it they fuse only where the
	// CPU kernels can (see fuseInputActivation and fuseGate).
	Fusions bool
	// NoGateConv keeps gate convolutions as steps of their own (no
	// fuse-gate-conv), and the BatchNorm+ReLU before an average pooling,
	// for lowering a program without Fusions to the CUDA kernels, which
	// run neither inside the step that reads it.
	NoGateConv bool
	// StopAfter ends the pipeline after the named pass ("" runs all).
	StopAfter string
	// Verify checks the program after every pass.
	Verify bool
	// Algorithms replaces the cost model's choice of CPU algorithm for the
	// convolutions of each class (see ConvClass) by the one given; each
	// must be among the class's Candidates. grcc build -tune sets it.
	Algorithms map[string]Choice
}

// Build lowers m into a program by running the passes.
func Build(m *ir.Model, opt Options) (*Program, error) {
	if opt.StopAfter != "" && PassByName(opt.StopAfter) == nil {
		return nil, fmt.Errorf("no pass %q", opt.StopAfter)
	}
	p := &Program{Model: m, FuseAll: opt.Fusions, noGateConv: opt.NoGateConv, choices: opt.Algorithms}
	for _, pass := range Passes {
		if err := pass.Run(p); err != nil {
			return nil, fmt.Errorf("pass %s: %w", pass.Name, err)
		}
		if opt.Verify {
			if err := p.Verify(); err != nil {
				return nil, fmt.Errorf("after pass %s: %w", pass.Name, err)
			}
		}
		if pass.Name == opt.StopAfter {
			break
		}
	}
	return p, nil
}

// PassByName finds a pass.
func PassByName(name string) *Pass {
	for i := range Passes {
		if Passes[i].Name == name {
			return &Passes[i]
		}
	}
	return nil
}

// uses counts how many steps read each value.
func (p *Program) uses() map[*Value]int {
	n := map[*Value]int{}
	for _, s := range p.Steps {
		for _, v := range s.Reads() {
			n[v]++
		}
	}
	n[p.Output]++
	return n
}

// producer maps each value to the step that last defines it.
func (p *Program) producers() map[*Value]*Step {
	prod := map[*Value]*Step{}
	for _, s := range p.Steps {
		prod[s.Out] = s
	}
	return prod
}

// positions maps each step to its index in the program.
func (p *Program) positions() map[*Step]int {
	at := make(map[*Step]int, len(p.Steps))
	for i, s := range p.Steps {
		at[s] = i
	}
	return at
}

// rewrite removes the steps for which drop is true.
func (p *Program) removeSteps(drop map[*Step]bool) {
	out := p.Steps[:0]
	for _, s := range p.Steps {
		if !drop[s] {
			out = append(out, s)
		}
	}
	p.Steps = out
}

// fuseInto merges step next into its producer prev when prev's output is
// read only by next: prev then writes next's output.
func (p *Program) fuseChain(match func(prev, next *Step) bool, merge func(prev, next *Step)) {
	uses := p.uses()
	prod := p.producers()
	drop := map[*Step]bool{}
	for _, next := range p.Steps {
		if len(next.In) == 0 || next.In[0] == nil {
			continue
		}
		prev := prod[next.In[0]]
		if prev == nil || drop[prev] || uses[next.In[0]] != 1 || prev.Out != next.In[0] || !match(prev, next) {
			continue
		}
		merge(prev, next)
		prev.Out = next.Out
		drop[next] = true
	}
	p.removeSteps(drop)
}

func foldBatchNorm(p *Program) error {
	p.fuseChain(func(prev, next *Step) bool {
		return prev.Kind == Conv && next.Kind == ScaleShift && prev.BN == nil && !prev.Relu && prev.GateOut == nil
	}, func(prev, next *Step) { prev.BN = next.BN })
	return nil
}

func fuseReLU(p *Program) error {
	p.fuseChain(func(prev, next *Step) bool {
		return next.Kind == ReLU && (prev.Kind == Conv || prev.Kind == ScaleShift) && !prev.Relu && prev.GateOut == nil
	}, func(prev, next *Step) { prev.Relu = true })
	return nil
}

// fuseInputActivation folds a ScaleShift+ReLU whose only reader is a
// convolution into that convolution's input loading.
func fuseInputActivation(p *Program) error {
	uses := p.uses()
	prod := p.producers()
	drop := map[*Step]bool{}
	for _, s := range p.Steps {
		switch {
		case s.Kind == AvgPool && !p.FuseAll && !p.noGateConv && s.Out.Shape.H*s.Out.Shape.W > 1:
			// The CPU's average pooling takes the prologue too: the
			// downsampling branch's BatchNorm+ReLU then never goes
			// through memory (the CUDA kernels do not). Not into a
			// global pooling, whose sums are a scalar chain either way
			// and the separate vectorised step costs less (GRCNN-55's
			// last: 0.068 → 0.075 ms fused).
		case s.Kind != Conv || s.Pre != nil || (!p.FuseAll && s.In[0].Shape.C == s.Conv.Groups):
			continue // the CPU's depthwise kernel takes no prologue
		}
		if s.Pre != nil {
			continue
		}
		pre := prod[s.In[0]]
		if pre == nil || pre.Kind != ScaleShift || !pre.Relu || uses[s.In[0]] != 1 || drop[pre] {
			continue
		}
		s.Pre = pre.BN
		s.In[0] = pre.In[0]
		drop[pre] = true
	}
	p.removeSteps(drop)
	return nil
}

// fuseAdd folds a downsampling block's Add, out = a + b, into the 1×1
// convolution producing b (d_conv_1e) as an update in place, a += b (a
// Residual step as its GateOut), where nothing else reads a or b: the
// convolution adds each tile onto a while it is in cache, instead of
// writing b out for a pass of its own that reads a and b back. GRCNN-55 at
// batch 1, convolution and add: 7×7 (im2row) 0.146 → 0.119 ms, 14×14 0.099
// → 0.081, 28×28 level (0.101 → 0.096); at batch 8 7×7 1.03 → 0.96 ms, 14×14
// 0.82 → 0.73, 28×28 level. The sums are the same, a + b. CPU only: the CUDA
// kernels fuse the add their own way.
func fuseAdd(p *Program) error {
	if p.FuseAll || p.noGateConv {
		return nil
	}
	uses := p.uses()
	prod := p.producers()
	at := p.positions()
	drop := map[*Step]bool{}
	for _, s := range p.Steps {
		if s.Kind != Add {
			continue
		}
		a, b := s.In[0], s.In[1]
		conv := prod[b]
		if uses[a] != 1 || uses[b] != 1 || prod[a] == nil || conv == nil || conv.Kind != Conv || conv.Relu ||
			conv.GateOut != nil || !pointwise(conv) || at[prod[a]] > at[conv] {
			continue // a must be written before the convolution adds onto it
		}
		sum := s.Out
		s.Kind, s.Out, s.In[1] = Residual, a, nil // b is never materialised
		conv.GateOut, conv.Out = s, a
		p.replaceReads(sum, a)
		drop[s] = true
	}
	p.removeSteps(drop)
	return nil
}

// replaceReads makes every step, and the program's output, that reads old
// read v instead.
func (p *Program) replaceReads(old, v *Value) {
	for _, s := range p.Steps {
		for i, in := range s.In {
			if in == old {
				s.In[i] = v
			}
		}
	}
	if p.Output == old {
		p.Output = v
	}
}

// fuseGate folds a Gate or Residual step into the convolution producing r.
func fuseGate(p *Program) error {
	uses := p.uses()
	prod := p.producers()
	drop := map[*Step]bool{}
	for _, s := range p.Steps {
		if s.Kind != Gate && s.Kind != Residual {
			continue
		}
		r := s.In[1]
		conv := prod[r]
		if conv == nil || conv.Kind != Conv || conv.Relu || uses[r] != 1 || conv.GateOut != nil {
			continue
		}
		if !p.FuseAll && !pointwise(conv) {
			continue // the CPU fuses the update into 1×1 convolutions only
		}
		conv.GateOut = s
		conv.Out = s.Out
		s.In[1] = nil // r is never materialised
		drop[s] = true
	}
	p.removeSteps(drop)
	return nil
}

// pointwise reports whether a convolution step is 1×1 with stride 1 and no
// padding (and not depthwise): the CPU GEMM reads its input in place.
func pointwise(s *Step) bool {
	c := s.Conv
	return c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 && c.PadH == 0 && c.PadW == 0 && s.In[0].Shape.C != c.Groups
}

// fuseGateConv moves the convolution producing a fused Gate's g into the
// convolution that updates x_s, when g = conv(x_s) is read by that update
// alone and x_s does not change in between (CPU only: the CUDA kernels fuse
// differently).
func fuseGateConv(p *Program) error {
	if p.FuseAll || p.noGateConv {
		return nil
	}
	uses := p.uses()
	prod := p.producers()
	at := p.positions()
	drop := map[*Step]bool{}
	for i, s := range p.Steps {
		u := s.GateOut
		if s.Kind != Conv || u == nil || u.Kind != Gate || s.Algo != AlgoGEMM || u.In[2] == nil {
			continue
		}
		xs, g := u.In[0], u.In[2]
		gc := prod[g]
		if gc == nil || gc.Kind != Conv || gc.GateOut != nil || gc.In[0] != xs || uses[g] != 1 || !pointwise(gc) ||
			(gc.Algo != AlgoGEMM && gc.Algo != AlgoDirect) || gc.Out.Shape.String() != xs.Shape.String() {
			continue
		}
		if p.writesBetween(xs, at[gc], i) {
			continue
		}
		s.GateConv = gc
		u.In[2] = nil
		drop[gc] = true
	}
	p.removeSteps(drop)
	return nil
}

// gateBeside sets Beside on the convolution that first reads x_s after
// its last write, for the GateConv of the update that next writes it: the
// cell's 1×1 reduce (C → planes) and its gate. The runtime then computes g
// in the reduce's loop where it splits the reduce's input channels between
// two cores (runtime.Conv2D.handsOffK: one group, one column block of at
// most 256 pixels an image, 4·OutC ≤ InC), which the shapes here mirror, so
// that g has a buffer only where it may be used. g then lives from the
// reduce to the update.
func gateBeside(p *Program) error {
	if p.FuseAll || p.noGateConv {
		return nil
	}
	for i, s := range p.Steps {
		gc := s.GateConv
		if gc == nil || gc.Algo != AlgoDirect {
			continue
		}
		xs := s.GateOut.In[0]
		for j := i - 1; j >= 0; j-- {
			r := p.Steps[j]
			if r.Out == xs || r.GateOut != nil && r.GateOut.In[0] == xs {
				break
			}
			if r.Kind == Conv && r.In[0] == xs && r.Beside == nil && r.GateOut == nil && r.Algo == AlgoGEMM &&
				pointwise(r) && r.Conv.Groups == 1 && 4*r.Conv.Out.C <= r.Conv.In.C && r.Out.Shape.H*r.Out.Shape.W <= 256 {
				r.Beside, s.GateBeside = gc, r
				break
			}
		}
	}
	return nil
}

// writesBetween reports whether a step after step i and before step j
// writes v (in place).
func (p *Program) writesBetween(v *Value, i, j int) bool {
	for _, s := range p.Steps[i+1 : j] {
		if s.Out == v || s.GateOut != nil && s.GateOut.In[0] == v {
			return true
		}
	}
	return false
}
