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

// Model is a program bound to its weights. It is safe for concurrent use:
// the weights and kernels are read-only after New, and each Forward takes a
// workspace of its own from a pool bounded by SetMaxWorkspaces.
type Model struct {
	prog    *plan.Program
	params  []checkpoint.Param
	index   map[*ir.Param]int
	tensors [][]float32
	kernels []kernel        // one per step
	users   []scratchUser   // kernels that need scratch space
	reads   [][]*plan.Value // per step, the values it reads (plan.Step.Reads)
	derived int             // floats computed from the weights at load: packed weights, folded BatchNorms

	// While New runs: the state dict, and per tensor (by the index of
	// the parameter that owns it) how many convolutions have yet to pack
	// it; see packed.
	sd       *checkpoint.StateDict
	unpacked map[int]int
	// convs holds the Conv2D of each gate convolution and of each step
	// that computes one beside it, which the update that reads g links to.
	convs map[*plan.Step]*runtime.Conv2D

	// Trace, when set, is called after each step of Forward with the
	// step's index in Steps and how long it took: grcc bench --layers uses
	// it to show where the time goes. Set it only while no Forward runs.
	Trace func(step int, d time.Duration)

	workspaces runtime.Workspaces[workspace]
}

// workspace is the memory of one Forward in progress.
type workspace struct {
	batch   int // the batch the slices below were resolved for
	buf     [][]float32
	scratch []float32
	args    [][][]float32 // per step, its reads resolved for the batch
	outs    [][]float32   // per step, its output
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
//
// New moves the convolution weights out of sd as it packs them: once every
// convolution that reads a tensor holds its packed copy, the tensor's F32
// becomes nil in sd too, so that its memory serves the next layers' packed
// weights and loading a model takes little more memory than the model
// (GRCNN-109: 180 MB of checkpoint, 280 MB packed). A state dict serves
// one New.
func New(p *plan.Program, sd *checkpoint.StateDict, name string) (*Model, error) {
	m := &Model{prog: p, params: Params(p.Model), index: map[*ir.Param]int{}, sd: sd, unpacked: map[int]int{}}
	m.convs = map[*plan.Step]*runtime.Conv2D{}
	defer func() { m.sd, m.unpacked, m.convs = nil, nil, nil }()
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
		if s.Kind == plan.Conv {
			m.unpacked[m.owner(s.Conv.Weight)]++
			if s.GateConv != nil {
				m.unpacked[m.owner(s.GateConv.Conv.Weight)]++
			}
		}
	}
	for _, s := range p.Steps {
		reads := s.Reads()
		if s.Beside != nil {
			// The kernel's last argument is where it writes g.
			reads = append(reads, s.Beside.Out)
		}
		m.reads = append(m.reads, reads)
		k, err := m.kernel(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, s.Name, err)
		}
		m.kernels = append(m.kernels, k)
	}
	return m, nil
}

// owner is the index of the parameter whose tensor p is: p's own, or that
// of the parameter it shares its tensor with.
func (m *Model) owner(p *ir.Param) int {
	if p.SharedWith != nil {
		p = p.SharedWith
	}
	return m.index[p]
}

// packed records that a convolution has packed its weight p and no longer
// reads it (runtime's ReleaseWeight). When no convolution is left to pack
// it, the model and sd let the tensor go (runtime.Reclaim), so that the
// packed weights still to come reuse its memory.
func (m *Model) packed(p *ir.Param) {
	i := m.owner(p)
	if m.unpacked[i]--; m.unpacked[i] > 0 {
		return
	}
	n := len(m.tensors[i])
	for j, prm := range m.prog.Model.Params {
		if j == i || prm.SharedWith != nil && m.index[prm.SharedWith] == i {
			m.tensors[j] = nil
			m.sd.Release(prm.Key)
		}
	}
	runtime.Reclaim(n)
}

func (m *Model) t(p *ir.Param) []float32 {
	if p == nil {
		return nil
	}
	return m.tensors[m.index[p]]
}

func (m *Model) scaleShift(bn *ir.BatchNorm) (scale, shift []float32) {
	scale, shift = runtime.BatchNormScaleShift(m.t(bn.Weight), m.t(bn.Bias), m.t(bn.Mean), m.t(bn.Var), bn.Eps)
	m.derived += len(scale) + len(shift)
	return scale, shift
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

// gateConv is the Conv2D of a gate convolution, built once for the
// update that runs it and the step that may compute it beside.
func (m *Model) gateConv(s *plan.Step) (*runtime.Conv2D, error) {
	if k := m.convs[s]; k != nil {
		return k, nil
	}
	k, err := m.conv2D(s, nil)
	if err != nil {
		return nil, err
	}
	m.convs[s] = k
	return k, nil
}

// conv2D builds and prepares the Conv2D of a convolution step (not a
// Winograd one), with gate as its Gate.
func (m *Model) conv2D(s *plan.Step, gate *runtime.Conv2D) (*runtime.Conv2D, error) {
	in, out, c := s.In[0].Shape, s.Out.Shape, s.Conv
	var inScale, inShift []float32
	if s.Pre != nil {
		inScale, inShift = m.scaleShift(s.Pre)
	}
	k := &runtime.Conv2D{InC: in.C, InH: in.H, InW: in.W, OutC: out.C, OutH: out.H, OutW: out.W,
		KH: c.KH, KW: c.KW, SH: c.StrideH, SW: c.StrideW, PH: c.PadH, PW: c.PadW, DH: c.DilH, DW: c.DilW,
		Groups: c.Groups, Relu: s.Relu, Weight: m.t(c.Weight),
		InScale: inScale, InShift: inShift, InRelu: s.Pre != nil, Update: s.GateOut != nil, Gate: gate,
		Im2Row: s.Algo == plan.AlgoIm2Row, Direct: s.Algo == plan.AlgoDirect}
	k.Scale, k.Shift = m.convScaleShift(s)
	if err := k.Prepare(); err != nil {
		return nil, err
	}
	if k.ReleaseWeight() {
		m.packed(c.Weight)
	}
	m.derived += k.PackedLen()
	m.needScratch(k)
	return k, nil
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
		if th, tw := plan.WinogradTile(s.Algo); th != 0 {
			if s.GateOut != nil {
				return nil, errors.New("a Winograd convolution cannot fuse a gate update")
			}
			k := &runtime.Winograd{InC: in.C, InH: in.H, InW: in.W, OutC: out.C, OutH: out.H, OutW: out.W,
				PH: c.PadH, PW: c.PadW, TileH: th, TileW: tw, Relu: s.Relu, Weight: m.t(c.Weight),
				InScale: inScale, InShift: inShift, InRelu: s.Pre != nil}
			k.Scale, k.Shift = m.convScaleShift(s)
			if err := k.Prepare(); err != nil {
				return nil, err
			}
			if k.ReleaseWeight() {
				m.packed(c.Weight)
			}
			m.derived += k.PackedLen()
			m.needScratch(k)
			return func(n int, a [][]float32, o, scratch []float32) { k.Forward(n, a[0], o, scratch) }, nil
		}
		var gate, beside *runtime.Conv2D
		var err error
		if s.GateConv != nil {
			if gate, err = m.gateConv(s.GateConv); err != nil {
				return nil, err
			}
		}
		if s.Beside != nil {
			if beside, err = m.gateConv(s.Beside); err != nil {
				return nil, err
			}
		}
		k, err := m.conv2D(s, gate)
		if err != nil {
			return nil, err
		}
		if beside != nil {
			k.Beside = beside
			m.convs[s] = k // for the update's GateBeside
		}
		switch {
		case s.GateOut == nil && beside != nil:
			// a holds the input, then g (see New).
			return func(n int, a [][]float32, o, scratch []float32) { k.ForwardBeside(n, a[0], o, a[1], scratch) }, nil
		case s.GateOut == nil:
			return func(n int, a [][]float32, o, scratch []float32) { k.Forward(n, a[0], o, scratch) }, nil
		case gate != nil && s.GateBeside != nil:
			// a holds the step's reads: the input, then x_s, x_g and g.
			k.GateBeside = m.convs[s.GateBeside]
			return func(n int, a [][]float32, _, scratch []float32) { k.ForwardUpdate(n, a[0], a[1], a[3], a[2], scratch) }, nil
		case gate != nil:
			// a holds the step's reads: the input, then x_s and x_g.
			return func(n int, a [][]float32, _, scratch []float32) { k.ForwardUpdate(n, a[0], a[1], nil, a[2], scratch) }, nil
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
			KH: p.KH, KW: p.KW, SH: p.StrideH, SW: p.StrideW, PH: p.PadH, PW: p.PadW, Max: p.Max, InRelu: s.Pre != nil}
		if s.Pre != nil {
			k.InScale, k.InShift = m.scaleShift(s.Pre)
		}
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

// Name is the model's name in its spec.
func (m *Model) Name() string { return m.prog.Model.Name }

// InputShape is the shape of one input image: channels, height, width.
func (m *Model) InputShape() (c, h, w int) {
	in := m.prog.Model.Input
	return in.C, in.H, in.W
}

// InputLen is the number of floats of one input image.
func (m *Model) InputLen() int { return m.prog.Model.Input.Len() }

// NumClasses is the number of logits per image.
func (m *Model) NumClasses() int { return m.prog.Model.Classes }

// SetMaxWorkspaces bounds the workspaces (activations and scratch, each
// sized for the largest batch it has run) that exist at once, and so the
// Forwards that run at once: others wait. n <= 0 means GOMAXPROCS, the default.
func (m *Model) SetMaxWorkspaces(n int) { m.workspaces.SetLimit(n) }

// fit sizes w's buffers and scratch for n images (they only grow) and
// resolves every step's operands.
func (m *Model) fit(w *workspace, n int) {
	w.batch = n
	if w.buf == nil {
		w.buf = make([][]float32, len(m.prog.Buffers))
		w.args = make([][][]float32, len(m.prog.Steps))
		w.outs = make([][]float32, len(m.prog.Steps))
		for i := range m.prog.Steps {
			w.args[i] = make([][]float32, len(m.reads[i]))
		}
	}
	for i, size := range m.prog.Buffers {
		if len(w.buf[i]) < n*size {
			w.buf[i] = runtime.WorkspaceBuffer(n * size)
		}
	}
	if need := m.scratchLen(n); len(w.scratch) < need {
		w.scratch = runtime.WorkspaceBuffer(need)
	}
	for i, s := range m.prog.Steps {
		for k, v := range m.reads[i] {
			w.args[i][k] = m.slice(w, v, n, nil, nil)
		}
		w.outs[i] = m.slice(w, s.Out, n, nil, nil)
	}
}

func (m *Model) scratchLen(n int) int {
	need := 0
	for _, u := range m.users {
		need = max(need, u.ScratchLen(n))
	}
	return need
}

// Memory is the memory of the model in bytes: its weights (the
// checkpoint's tensors, shared ones once, and what loading derives from
// them: packed convolution weights, BatchNorms folded into scales and
// shifts), and the workspace of one Forward of batch images (activations
// and scratch). A model in use holds the weights once and one workspace per
// concurrent Forward.
func (m *Model) Memory(batch int) (weights, workspace int64) {
	floats := int64(m.derived)
	for i, p := range m.params {
		if t := m.tensors[i]; t != nil && p.SharedWith == "" {
			floats += int64(len(t))
		}
	}
	ws := int64(m.scratchLen(batch))
	for _, size := range m.prog.Buffers {
		ws += int64(batch * size)
	}
	return 4 * floats, 4 * ws
}

// slice is the memory of value v for n images.
func (m *Model) slice(w *workspace, v *plan.Value, n int, in, out []float32) []float32 {
	switch v.Buffer {
	case plan.InputBuffer:
		return in
	case plan.OutputBuffer:
		return out
	}
	return w.buf[v.Buffer][:n*v.Shape.Len()]
}

// Forward computes the logits of n images: in holds n×InputLen floats
// (NCHW), out n×NumClasses. Any number of goroutines may call it at once.
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
	w := m.workspaces.Get()
	defer m.workspaces.Put(w)
	if n != w.batch {
		m.fit(w, n)
	}
	for i, s := range m.prog.Steps {
		args := w.args[i]
		for k, v := range m.reads[i] {
			if v.Buffer < 0 {
				args[k] = m.slice(w, v, n, in, out)
			}
		}
		o := w.outs[i]
		if s.Out.Buffer < 0 {
			o = m.slice(w, s.Out, n, in, out)
		}
		if m.Trace == nil {
			m.kernels[i](n, args, o, w.scratch)
			continue
		}
		t0 := time.Now()
		m.kernels[i](n, args, o, w.scratch)
		m.Trace(i, time.Since(t0))
	}
	return nil
}

// Steps is the program the model runs, one step per kernel call.
func (m *Model) Steps() []*plan.Step { return m.prog.Steps }
