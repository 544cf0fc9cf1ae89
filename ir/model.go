// Package ir is grcc's checked, shaped model of a GRCNN.
//
// It takes the syntax tree of a .grc file (package parser), resolves stage
// defaults, infers every tensor's shape, rejects specs that would not make a
// valid network, and gives a *Model: the stem, the GRCL stages and the head as
// typed layers, each carrying its checkpoint name, shapes, parameters and MACs,
// plus the state_dict entries in the reference implementation's order.
// Emitters (package codegen and below) read only this package, never the
// syntax tree.
package ir

import "fmt"

// Shape is the per-image shape of an activation: channels, height, width.
// The batch size is not part of it; models run at any batch.
type Shape struct{ C, H, W int }

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.C, s.H, s.W) }

// Len is the number of elements of one image's activation.
func (s Shape) Len() int { return s.C * s.H * s.W }

// Model is a checked GRCNN.
type Model struct {
	Name    string // the model's name, e.g. "grcnn55"
	Source  string // the spec's path as given to the compiler
	Batch   int    // the default batch size (N of the input)
	Input   Shape
	Classes int
	// Preprocess turns an image into the input; nil when the input has
	// neither 1 nor 3 channels.
	Preprocess *Preprocess

	Stem   []Layer
	Stages []*Stage
	Head   []Layer

	// Params lists every state_dict entry in the reference's order.
	Params []*Param
	// Unused lists the entries a checkpoint carries but the forward pass
	// ignores (they are also in Params).
	Unused []*Param
}

// Output is the shape of the logits of one image.
func (m *Model) Output() Shape { return Shape{C: m.Classes, H: 1, W: 1} }

// Layer is one step of a layer sequence: *Conv, *BatchNorm, *ReLU, *Pool,
// *GlobalAvgPool, *Linear or *SKConv.
type Layer interface {
	// Info gives the fields every layer has.
	Info() *Node
}

// Node is what every layer has: its checkpoint name (empty for layers without
// parameters), and its input and output shapes.
type Node struct {
	Name    string
	In, Out Shape
}

// Info implements Layer.
func (n *Node) Info() *Node { return n }

// Conv is a 2-D convolution.
type Conv struct {
	Node
	KH, KW, StrideH, StrideW, PadH, PadW, DilH, DilW int
	Groups                                           int
	Weight                                           *Param // Out.C × In.C/Groups × KH × KW
	Bias                                             *Param // nil without bias
}

// MACs is the number of multiply-accumulates for one image.
func (c *Conv) MACs() int64 {
	return int64(c.Out.Len()) * int64(c.In.C/c.Groups) * int64(c.KH*c.KW)
}

// Is1x1 reports whether the convolution is a plain 1×1, stride 1, no padding.
func (c *Conv) Is1x1() bool {
	return c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 && c.PadH == 0 && c.PadW == 0
}

// BatchNorm is an inference-mode batch normalisation.
type BatchNorm struct {
	Node
	Eps                               float64
	Weight, Bias, Mean, Var, NumBatch *Param
}

// ReLU is max(x, 0).
type ReLU struct{ Node }

// Pool is max or average pooling (PyTorch defaults: floor mode, average
// pooling counts padding).
type Pool struct {
	Node
	Max                                  bool
	KH, KW, StrideH, StrideW, PadH, PadW int
}

// GlobalAvgPool averages each channel to 1×1.
type GlobalAvgPool struct{ Node }

// Linear is a fully connected layer over the flattened input.
type Linear struct {
	Node
	InFeatures, OutFeatures int
	Weight, Bias            *Param // Bias nil without bias
}

// MACs is the number of multiply-accumulates for one image.
func (l *Linear) MACs() int64 { return int64(l.InFeatures) * int64(l.OutFeatures) }

// SKConv is a selective-kernel convolution: parallel branches (conv, BatchNorm,
// ReLU), summed, globally pooled, squeezed through FC1 (conv 1×1 + BatchNorm +
// ReLU) and FC2 (conv 1×1 to M×C), a softmax over branches per channel, and
// the branches weighted by it.
type SKConv struct {
	Node
	Branches []*SKBranch
	Width    int // d = max(in / reduction, min_width)
	FC1      *Conv
	FC1BN    *BatchNorm
	FC2      *Conv
}

// SKBranch is one branch of an SKConv.
type SKBranch struct {
	Conv *Conv
	BN   *BatchNorm
}

// CellKind says what computes r in a GRCL iteration.
type CellKind int

const (
	// Bottleneck is the plain cell: 1×1, 3×3, 1×1 convolutions, pre-activated.
	Bottleneck CellKind = iota
	// SelectiveKernel is the SK cell: 1×1, SKConv, 1×1.
	SelectiveKernel
)

func (k CellKind) String() string {
	if k == SelectiveKernel {
		return "sk"
	}
	return "bottleneck"
}

// GateKind says how the recurrent output is gated.
type GateKind int

const (
	// SigmoidGate is the paper's gate: x_s = r * sigmoid(conv_g_r(...) + x_g) + x_s.
	SigmoidGate GateKind = iota
	// NoGate is the ungated ablation: x_s = r + x_s.
	NoGate
)

func (k GateKind) String() string {
	if k == NoGate {
		return "none"
	}
	return "sigmoid"
}

// SKSettings are the selective-kernel parameters of a stage.
type SKSettings struct {
	Branches  []SKBranchSpec
	Reduction int
	MinWidth  int
}

// SKBranchSpec is one branch's kernel and dilation.
type SKBranchSpec struct{ Kernel, Dilation int }

// Stage is one GRCL block.
type Stage struct {
	Name                                         string
	Planes, Iterations, Expansion, Groups, Width int // Width = Planes × Expansion
	Cell                                         CellKind
	Gate                                         GateKind
	ShareWeights                                 bool
	SK                                           *SKSettings // nil for bottleneck cells
	In, Out                                      Shape

	// Feed-forward input: x_s = ConvF(relu(BNF(x))).
	BNF   *BatchNorm
	ConvF *Conv
	// Gate input x_g = ConvGF(relu(BNGF(x))) and the recurrent gate conv;
	// nil when Gate is NoGate.
	BNGF           *BatchNorm
	ConvGF, ConvGR *Conv

	Iters []*Iteration
	Down  *Downsample // nil when the stage keeps its size
}

// Iteration is one recurrent step of a GRCL block.
type Iteration struct {
	Index  int        // 1-based, as in the checkpoint names iter_1, iter_g_1
	GateBN *BatchNorm // iter_g_i.0; nil when ungated
	Cell   []Layer    // iter_i: BN, ReLU, conv 1×1, BN, ReLU, conv 3×3|SKConv, ...
}

// Downsample halves the spatial size at the end of a block:
// output = Pool path (d_bn, relu, avgpool, d_conv) + Conv path
// (d_bn_1, relu, d_conv_1, d_bn_3, relu, d_conv_3, d_conv_1e).
type Downsample struct {
	Pool []Layer
	Conv []Layer
	// Unused is the reference's CIFAR d_bn_1e: in checkpoints, not in the forward pass.
	Unused *BatchNorm
}

// Param is one state_dict entry.
type Param struct {
	Key   string
	DType string // "float32" or "int64"
	Shape []int  // empty for a scalar
	// SharedWith is the first entry holding the same tensor (weight sharing), or nil.
	SharedWith *Param
	// Learnable is false for BatchNorm running statistics and counters.
	Learnable bool
}

// Len is the number of elements of the entry.
func (p *Param) Len() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// ShapeString formats the shape as the keys files do: 64x3x7x7, or "scalar".
func (p *Param) ShapeString() string {
	if len(p.Shape) == 0 {
		return "scalar"
	}
	s := ""
	for i, d := range p.Shape {
		if i > 0 {
			s += "x"
		}
		s += fmt.Sprint(d)
	}
	return s
}
