// Package plan lowers a checked model into a flat program for the code
// emitters.
//
// It takes an *ir.Model and gives a *Program: the forward pass as a list of
// steps (convolution, scale-shift, pooling, gate update, ...) over numbered
// values, after a table of named passes has folded BatchNorms into
// convolution epilogues, fused ReLUs and assigned every value to one of a few
// reusable buffers. The Go and CUDA emitters translate the steps one by one.
package plan

import (
	"fmt"
	"strings"

	"github.com/grcc/grcc/ir"
)

// Kind says what a step computes.
type Kind int

// The step kinds.
const (
	Conv          Kind = iota // Out = epilogue(conv(prologue(In[0])))
	ScaleShift                // Out = In[0]*scale + shift per channel (inference BatchNorm), then ReLU if Relu
	ReLU                      // Out = max(In[0], 0)
	MaxPool                   // Out = maxpool(In[0])
	AvgPool                   // Out = avgpool(In[0])
	GlobalAvgPool             // Out = mean over H×W of In[0]
	Linear                    // Out = In[0] (flattened) Wᵀ + b
	SKAttention               // Out = Σ_m softmax_m(fc2(relu(bn(fc1(mean(Σ_m In[m])))))) · In[m]
	Gate                      // In[0] (x_s) += In[1] (r) · sigmoid(In[2] (g) + In[3] (x_g)), in place: Out == In[0]
	Residual                  // In[0] += In[1], in place: Out == In[0] (an ungated cell's x_s += r, or a downsampling's a += b: see fuseAdd)
	Add                       // Out = In[0] + In[1]
)

var kindNames = [...]string{"conv", "scaleshift", "relu", "maxpool", "avgpool", "globalavgpool", "linear", "skattention", "gate", "residual", "add"}

func (k Kind) String() string { return kindNames[k] }

// Value is one activation tensor of the program (per image; every value
// has the batch as its outer dimension).
type Value struct {
	ID     int
	Shape  ir.Shape
	Buffer int // the buffer that holds it, set by the plan-buffers pass; -1 before
}

func (v *Value) String() string { return fmt.Sprintf("%%%d", v.ID) }

// Step is one operation of the forward pass.
type Step struct {
	Kind Kind
	// Name is the checkpoint name of the layer the step comes from
	// ("layer1.iter_2.5"), or a description for steps without parameters.
	Name string
	In   []*Value
	Out  *Value

	Conv   *ir.Conv
	Pool   *ir.Pool
	Linear *ir.Linear
	SK     *ir.SKConv
	// BN is the BatchNorm a ScaleShift applies, or the one folded into a
	// convolution's epilogue.
	BN *ir.BatchNorm
	// Pre is a BatchNorm (followed by ReLU) applied to a convolution's or an
	// average pooling's input while loading it; set only by the
	// fuse-input-activation pass.
	Pre *ir.BatchNorm
	// Relu applies max(·, 0) to the result (after the epilogue).
	Relu bool
	// Algo is the CPU algorithm of a convolution (one of the Algo
	// constants) and AlgoWhy the reason it was chosen; set by the
	// choose-algorithm pass.
	Algo, AlgoWhy string
	// Tuned is the class of convolutions (ConvClass) whose algorithm
	// Options.Algorithms chose, as grcc build -tune measured it; "" where
	// the cost model chose.
	Tuned string
	// GateOut fuses a following Gate or Residual step into a convolution's
	// epilogue: the convolution's result is r, and it updates GateOut.In[0]
	// in place. Set only by the fuse-gate pass.
	GateOut *Step
	// GateConv is the convolution that computes the g of a fused Gate from
	// x_s (GRCL's recurrent gate convolution), which the CPU kernel then
	// runs itself, per tile of the update where it can, so that g is never
	// stored; GateOut.In[2] is then nil. Set only by the fuse-gate-conv
	// pass.
	GateConv *Step
	// Beside is the GateConv of a later update that reads this
	// convolution's input x_s, which the CPU runtime computes in this
	// convolution's own parallel loop where it can (at batch 1 on two
	// cores, runtime.Conv2D.ForwardBeside), into Beside.Out; that update,
	// whose GateBeside this step is, then reads it, and computes g itself
	// elsewhere. Set only by the gate-beside pass.
	Beside, GateBeside *Step
}

// Writes lists the values the step writes: its output and its Beside's.
func (s *Step) Writes() []*Value {
	if s.Beside != nil {
		return []*Value{s.Out, s.Beside.Out}
	}
	return []*Value{s.Out}
}

// Reads lists the values the step reads: its inputs and, when a gate update
// is fused into it, the gate's operands.
func (s *Step) Reads() []*Value {
	var out []*Value
	for _, v := range s.In {
		if v != nil {
			out = append(out, v)
		}
	}
	if s.GateOut != nil {
		for _, v := range s.GateOut.In {
			if v != nil {
				out = append(out, v)
			}
		}
	}
	if s.GateBeside != nil {
		out = append(out, s.GateConv.Out)
	}
	return out
}

// Program is a lowered model.
type Program struct {
	Model         *ir.Model
	Input, Output *Value
	Steps         []*Step
	Values        []*Value
	// Buffers holds the size (elements per image) of each buffer.
	Buffers []int
	// FuseAll is set when the program was built for a target that fuses
	// into every convolution (plan.Options.Fusions).
	FuseAll bool

	noGateConv bool              // Options.NoGateConv
	choices    map[string]Choice // Options.Algorithms
}

func (p *Program) newValue(s ir.Shape) *Value {
	v := &Value{ID: len(p.Values), Shape: s, Buffer: -1}
	p.Values = append(p.Values, v)
	return v
}

func (p *Program) add(s *Step) *Value {
	p.Steps = append(p.Steps, s)
	return s.Out
}

// String prints the program, one step a line, for grcc plan and for tests.
func (p *Program) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "program %s: input %s %s\n", p.Model.Name, p.Input, p.Input.Shape)
	for _, s := range p.Steps {
		b.WriteString("  " + s.String() + "\n")
	}
	fmt.Fprintf(&b, "output %s\n", p.Output)
	if len(p.Buffers) > 0 {
		total := 0
		for _, n := range p.Buffers {
			total += n
		}
		fmt.Fprintf(&b, "buffers: %d, %d floats per image\n", len(p.Buffers), total)
	}
	return b.String()
}

func (s *Step) String() string {
	var args []string
	for _, v := range s.In {
		args = append(args, v.String())
	}
	line := fmt.Sprintf("%s = %s", s.Out, s.Kind)
	if s.Name != "" {
		line += " " + s.Name
	}
	line += "(" + strings.Join(args, ", ") + ")"
	var attrs []string
	if s.Pre != nil {
		attrs = append(attrs, "pre="+s.Pre.Name+"+relu")
	}
	if s.Kind == Conv && s.BN != nil {
		attrs = append(attrs, "bn="+s.BN.Name)
	}
	if s.Relu {
		attrs = append(attrs, "relu")
	}
	if s.Algo != "" {
		attrs = append(attrs, s.Algo)
	}
	if s.Beside != nil {
		attrs = append(attrs, fmt.Sprintf("beside %s=%s(x_s)", s.Beside.Out, s.Beside.Name))
	}
	if s.GateConv != nil {
		attrs = append(attrs, "g="+s.GateConv.Name+"(x_s)")
	}
	if s.GateOut != nil {
		attrs = append(attrs, fmt.Sprintf("%s→%s", s.GateOut.Kind, s.GateOut.Out))
	}
	if len(attrs) > 0 {
		line += " [" + strings.Join(attrs, " ") + "]"
	}
	line += " " + s.Out.Shape.String()
	if s.Out.Buffer >= 0 {
		line += fmt.Sprintf(" @b%d", s.Out.Buffer)
	}
	return line
}
