// Package engine runs a lowered model directly, without generating code.
//
// It takes a *plan.Program and a checkpoint and gives a Model whose Forward
// calls the same runtime kernels, in the same order, as the Go package grcc
// build would emit for the spec. grcc run and grcc bench use it, so that any
// spec can be tried on a machine with no compiler but grcc.
package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime"
	"github.com/grcc/grcc/runtime/checkpoint"
)

// Model is a program bound to its weights.
type Model struct {
	prog    *plan.Program
	params  []checkpoint.Param
	index   map[*ir.Param]int
	tensors [][]float32
	kernels []kernel      // one per step
	users   []scratchUser // kernels that need scratch space

	batch   int
	buf     [][]float32
	scratch []float32
	reads   [][]*plan.Value // per step, the values it reads (plan.Step.Reads)
	args    [][][]float32   // per step, its reads resolved for the current batch
	outs    [][]float32     // per step, its output

	// Trace, when set, is called after each step of Forward with the
	// step's index in Steps and how long it took: grcc bench --layers uses
	// it to show where the time goes.
	Trace func(step int, d time.Duration)
}

// kernel runs one step for n images with the values resolved to slices.
type kernel func(n int, args [][]float32, out, scratch []float32)

// Params lists the state_dict entries the model's checkpoint must hold, in the
// form checkpoint.Validate takes.
func Params(m *ir.Model) []checkpoint.Param {
	out := make([]checkpoint.Param, len(m.Params))
	for i, p := range m.Params {
		out[i] = checkpoint.Param{Key: p.Key, DType: p.DType, Shape: p.Shape}
		if p.SharedWith != nil {
			out[i].SharedWith = p.SharedWith.Key
		}
	}
	return out
}

// New binds the program to a state dict; name is used in errors.
func New(p *plan.Program, sd *checkpoint.StateDict, name string) (*Model, error) {
	m := &Model{prog: p, params: Params(p.Model), index: map[*ir.Param]int{}}
	var unused []string
	for _, u := range p.Model.Unused {
		unused = append(unused, u.Key)
	}
	if err := checkpoint.Validate(name, sd, m.params, unused); err != nil {
		return nil, err
	}
	m.tensors = make([][]float32, len(m.params))
	byKey := map[string]int{}
	for i, prm := range p.Model.Params {
		m.index[prm] = i
		byKey[prm.Key] = i
		switch {
		case prm.DType != "float32":
		case prm.SharedWith != nil:
			m.tensors[i] = m.tensors[byKey[prm.SharedWith.Key]]
		default:
			m.tensors[i] = sd.Get(prm.Key).F32
		}
	}
	for _, s := range p.Steps {
		m.reads = append(m.reads, s.Reads())
		k, err := m.kernel(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, s.Name, err)
		}
		m.kernels = append(m.kernels, k)
	}
	return m, nil
}

func (m *Model) t(p *ir.Param) []float32 {
	if p == nil {
		return nil
	}
	return m.tensors[m.index[p]]
}

func (m *Model) scaleShift(bn *ir.BatchNorm) (scale, shift []float32) {
	return runtime.BatchNormScaleShift(m.t(bn.Weight), m.t(bn.Bias), m.t(bn.Mean), m.t(bn.Var), bn.Eps)
}

// convScaleShift is a convolution step's epilogue: its folded BatchNorm
// and bias.
func (m *Model) convScaleShift(s *plan.Step) (scale, shift []float32) {
	if s.BN != nil {
		scale, shift = m.scaleShift(s.BN)
		if s.Conv.Bias != nil {
			runtime.FoldBias(scale, shift, m.t(s.Conv.Bias))
		}
		return scale, shift
	}
	return nil, m.t(s.Conv.Bias)
}

// scratchUser is a kernel that needs scratch space; the model sizes it to the largest.
type scratchUser interface{ ScratchLen(batch int) int }

// kernel builds the function that runs one step, with the same kernels and
// the same folding as the generated Go code.
func (m *Model) kernel(s *plan.Step) (kernel, error) {
	in, out := s.In[0].Shape, s.Out.Shape
	switch s.Kind {
	case plan.Conv:
		c := s.Conv
		var inScale, inShift []float32
		if s.Pre != nil {
			inScale, inShift = m.scaleShift(s.Pre)
		}
		if s.Algo == plan.AlgoWinograd {
			if s.GateOut != nil {
				return nil, errors.New("a Winograd convolution cannot fuse a gate update")
			}
			k := &runtime.Winograd{InC: in.C, InH: in.H, InW: in.W, OutC: out.C, OutH: out.H, OutW: out.W,
				PH: c.PadH, PW: c.PadW, Relu: s.Relu, Weight: m.t(c.Weight),
				InScale: inScale, InShift: inShift, InRelu: s.Pre != nil}
			k.Scale, k.Shift = m.convScaleShift(s)
			if err := k.Prepare(); err != nil {
				return nil, err
			}
			m.needScratch(k)
			return func(n int, a [][]float32, o, scratch []float32) { k.Forward(n, a[0], o, scratch) }, nil
		}
		k := &runtime.Conv2D{InC: in.C, InH: in.H, InW: in.W, OutC: out.C, OutH: out.H, OutW: out.W,
			KH: c.KH, KW: c.KW, SH: c.StrideH, SW: c.StrideW, PH: c.PadH, PW: c.PadW, DH: c.DilH, DW: c.DilW,
			Groups: c.Groups, Relu: s.Relu, Weight: m.t(c.Weight),
			InScale: inScale, InShift: inShift, InRelu: s.Pre != nil, Update: s.GateOut != nil}
		k.Scale, k.Shift = m.convScaleShift(s)
		if err := k.Prepare(); err != nil {
			return nil, err
		}
		m.needScratch(k)
		switch {
		case s.GateOut == nil:
			return func(n int, a [][]float32, o, scratch []float32) { k.Forward(n, a[0], o, scratch) }, nil
		case s.GateOut.Kind == plan.Gate:
			// a holds the step's reads: the input, then x_s, g and x_g.
			return func(n int, a [][]float32, _, scratch []float32) { k.ForwardUpdate(n, a[0], a[1], a[2], a[3], scratch) }, nil
		default:
			return func(n int, a [][]float32, _, scratch []float32) { k.ForwardUpdate(n, a[0], a[1], nil, nil, scratch) }, nil
		}
	case plan.ScaleShift, plan.ReLU:
		k := &runtime.ScaleShift{C: out.C, HW: out.H * out.W, Relu: s.Relu || s.Kind == plan.ReLU}
		if s.BN != nil {
			k.Scale, k.Shift = m.scaleShift(s.BN)
		}
		return func(n int, a [][]float32, o, _ []float32) { k.Forward(n, a[0], o) }, nil
	case plan.MaxPool, plan.AvgPool:
		p := s.Pool
		k := &runtime.Pool2D{C: in.C, InH: in.H, InW: in.W, OutH: out.H, OutW: out.W,
			KH: p.KH, KW: p.KW, SH: p.StrideH, SW: p.StrideW, PH: p.PadH, PW: p.PadW, Max: p.Max}
		return func(n int, a [][]float32, o, _ []float32) { k.Forward(n, a[0], o) }, nil
	case plan.GlobalAvgPool:
		return func(n int, a [][]float32, o, _ []float32) { runtime.GlobalAvgPool(n, in.C, in.H*in.W, a[0], o) }, nil
	case plan.Linear:
		k := &runtime.Linear{In: s.Linear.InFeatures, Out: s.Linear.OutFeatures, Weight: m.t(s.Linear.Weight), Bias: m.t(s.Linear.Bias)}
		return func(n int, a [][]float32, o, _ []float32) { k.Forward(n, a[0], o) }, nil
	case plan.SKAttention:
		k := &runtime.SKAttention{M: len(s.In), C: out.C, HW: out.H * out.W, D: s.SK.Width,
			FC1: m.t(s.SK.FC1.Weight), FC2: m.t(s.SK.FC2.Weight)}
		k.Scale1, k.Shift1 = m.scaleShift(s.SK.FC1BN)
		m.needScratch(k)
		return func(n int, a [][]float32, o, scratch []float32) { k.Forward(n, a, o, scratch) }, nil
	case plan.Gate:
		return func(n int, a [][]float32, _, _ []float32) { runtime.GateUpdate(a[0], a[1], a[2], a[3]) }, nil
	case plan.Residual:
		return func(n int, a [][]float32, _, _ []float32) { runtime.AddInto(a[0], a[0], a[1]) }, nil
	case plan.Add:
		return func(n int, a [][]float32, o, _ []float32) { runtime.AddInto(o, a[0], a[1]) }, nil
	}
	return nil, fmt.Errorf("cannot run a %s step", s.Kind)
}

func (m *Model) needScratch(k scratchUser) { m.users = append(m.users, k) }

// InputLen is the number of floats of one input image.
func (m *Model) InputLen() int { return m.prog.Model.Input.Len() }

// NumClasses is the number of logits per image.
func (m *Model) NumClasses() int { return m.prog.Model.Classes }

// resize sizes the buffers for n images and resolves every step's operands.
func (m *Model) resize(n int) {
	m.batch = n
	m.buf = make([][]float32, len(m.prog.Buffers))
	for i, size := range m.prog.Buffers {
		m.buf[i] = make([]float32, n*size)
	}
	need := 0
	for _, u := range m.users {
		need = max(need, u.ScratchLen(n))
	}
	m.scratch = make([]float32, need)
	m.args = make([][][]float32, len(m.prog.Steps))
	m.outs = make([][]float32, len(m.prog.Steps))
	for i, s := range m.prog.Steps {
		m.args[i] = make([][]float32, len(m.reads[i]))
		for k, v := range m.reads[i] {
			m.args[i][k] = m.slice(v, n, nil, nil)
		}
		m.outs[i] = m.slice(s.Out, n, nil, nil)
	}
}

// slice is the memory of value v for n images.
func (m *Model) slice(v *plan.Value, n int, in, out []float32) []float32 {
	switch v.Buffer {
	case plan.InputBuffer:
		return in
	case plan.OutputBuffer:
		return out
	}
	return m.buf[v.Buffer][:n*v.Shape.Len()]
}

// Forward computes the logits of n images: in holds n×InputLen floats
// (NCHW), out n×NumClasses.
func (m *Model) Forward(in, out []float32) error {
	il, nc := m.InputLen(), m.NumClasses()
	if len(in) == 0 || len(in)%il != 0 {
		s := m.prog.Model.Input
		return fmt.Errorf("input has %d floats, want N×%d×%d×%d", len(in), s.C, s.H, s.W)
	}
	n := len(in) / il
	if len(out) != n*nc {
		return fmt.Errorf("output has %d floats, want %d×%d", len(out), n, nc)
	}
	if n != m.batch {
		m.resize(n)
	}
	for i, s := range m.prog.Steps {
		args := m.args[i]
		for k, v := range m.reads[i] {
			if v.Buffer < 0 {
				args[k] = m.slice(v, n, in, out)
			}
		}
		o := m.outs[i]
		if s.Out.Buffer < 0 {
			o = m.slice(s.Out, n, in, out)
		}
		if m.Trace == nil {
			m.kernels[i](n, args, o, m.scratch)
			continue
		}
		t0 := time.Now()
		m.kernels[i](n, args, o, m.scratch)
		m.Trace(i, time.Since(t0))
	}
	return nil
}

// Steps is the program the model runs, one step per kernel call.
func (m *Model) Steps() []*plan.Step { return m.prog.Steps }
