package torch

import (
	"github.com/grcc/grcc/ir"
)

// itemEmitter is how one kind of forward step appears in Python.
type itemEmitter struct {
	// module is the step's nn.Module constructor: for a layer with
	// parameters, or for a step that an nn.Sequential holds.
	module func(e *emitter, it *item) expr
	// step is the right-hand side of the forward statement "x = ..." for a
	// step without parameters outside an nn.Sequential; nil for named layers,
	// which the forward pass calls as modules.
	step func(it *item) string
}

// itemEmitters has one entry per kind of step.
var itemEmitters = map[string]itemEmitter{
	"conv":          {module: convModule},
	"batchnorm":     {module: batchNormModule},
	"linear":        {module: linearModule},
	"stage":         {module: stageModule},
	"relu":          {module: reluModule, step: reluStep},
	"maxpool":       {module: poolModule, step: poolStep},
	"avgpool":       {module: poolModule, step: poolStep},
	"globalavgpool": {module: globalAvgPoolModule, step: globalAvgPoolStep},
	"flatten":       {module: flattenModule, step: flattenStep},
}

// channels is a layer's output channel count, or num_classes for the layers
// that markClasses marked.
func channels(it *item, n int) any {
	if it.classes {
		return "num_classes"
	}
	return n
}

// convModule:
//
//	nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
func convModule(e *emitter, it *item) expr {
	c := it.layer.(*ir.Conv)
	args := []any{c.In.C, channels(it, c.Out.C), kw("kernel_size", pyPair(c.KH, c.KW))}
	if c.StrideH != 1 || c.StrideW != 1 {
		args = append(args, kw("stride", pyPair(c.StrideH, c.StrideW)))
	}
	if c.PadH != 0 || c.PadW != 0 {
		args = append(args, kw("padding", pyPair(c.PadH, c.PadW)))
	}
	if c.DilH != 1 || c.DilW != 1 {
		args = append(args, kw("dilation", pyPair(c.DilH, c.DilW)))
	}
	if c.Groups != 1 {
		args = append(args, kw("groups", c.Groups))
	}
	if c.Bias == nil {
		args = append(args, kw("bias", false))
	}
	return call("nn.Conv2d", args...)
}

// batchNormModule:
//
//	nn.BatchNorm2d(64)
//	nn.BatchNorm2d(64, eps=0.001)
func batchNormModule(e *emitter, it *item) expr {
	bn := it.layer.(*ir.BatchNorm)
	args := []any{channels(it, bn.Out.C)}
	if bn.Eps != 1e-5 {
		args = append(args, kw("eps", pyFloat(bn.Eps)))
	}
	return call("nn.BatchNorm2d", args...)
}

// linearModule:
//
//	nn.Linear(2048, num_classes)
func linearModule(e *emitter, it *item) expr {
	l := it.layer.(*ir.Linear)
	args := []any{l.InFeatures, channels(it, l.OutFeatures)}
	if l.Bias == nil {
		args = append(args, kw("bias", false))
	}
	return call("nn.Linear", args...)
}

// stageModule:
//
//	GRCL(64, planes=64, iterations=3, expansion=4, groups=32, downsample=True)
//	GRCL(256, planes=256, ..., sk=SK_SETTINGS, share_weights=True)
func stageModule(e *emitter, it *item) expr {
	st := it.stage
	args := []any{st.In.C, kw("planes", st.Planes), kw("iterations", st.Iterations),
		kw("expansion", st.Expansion), kw("groups", st.Groups)}
	if e.f.down {
		args = append(args, kw("downsample", st.Down != nil))
	}
	if st.Cell == ir.SelectiveKernel {
		args = append(args, kw("sk", e.f.skName(st.SK)))
	}
	if e.f.gated && e.f.ungated {
		args = append(args, kw("gated", st.Gate == ir.SigmoidGate))
	}
	if st.ShareWeights {
		args = append(args, kw("share_weights", true))
	}
	if st.Down != nil && st.Down.Unused != nil {
		args = append(args, kw("unused_d_bn_1e", true))
	}
	return call("GRCL", args...)
}

// reluModule and reluStep:
//
//	nn.ReLU(inplace=True)
//	F.relu(x)
//
// Inside an nn.Sequential a ReLU always follows another element, so it may
// overwrite that element's fresh output, as the reference's do; outside, it
// may be the first step and must leave the caller's input alone.
func reluModule(e *emitter, it *item) expr { return call("nn.ReLU", kw("inplace", true)) }

func reluStep(it *item) string { return "F.relu(x)" }

// poolArgs are a pooling layer's arguments, PyTorch's defaults (stride =
// kernel, no padding) left out.
func poolArgs(p *ir.Pool) []any {
	args := []any{kw("kernel_size", pyPair(p.KH, p.KW))}
	if p.StrideH != p.KH || p.StrideW != p.KW {
		args = append(args, kw("stride", pyPair(p.StrideH, p.StrideW)))
	}
	if p.PadH != 0 || p.PadW != 0 {
		args = append(args, kw("padding", pyPair(p.PadH, p.PadW)))
	}
	return args
}

// poolModule and poolStep:
//
//	nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
//	F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
//	F.avg_pool2d(x, kernel_size=7)
//
// PyTorch's defaults (floor mode; average pooling counts padding) are the
// IR's semantics.
func poolModule(e *emitter, it *item) expr {
	p := it.layer.(*ir.Pool)
	if p.Max {
		return call("nn.MaxPool2d", poolArgs(p)...)
	}
	return call("nn.AvgPool2d", poolArgs(p)...)
}

func poolStep(it *item) string {
	p := it.layer.(*ir.Pool)
	fn := "F.avg_pool2d"
	if p.Max {
		fn = "F.max_pool2d"
	}
	return call(fn, append([]any{"x"}, poolArgs(p)...)...).flat()
}

// globalAvgPoolModule and globalAvgPoolStep:
//
//	nn.AdaptiveAvgPool2d(1)
//	F.adaptive_avg_pool2d(x, 1)
func globalAvgPoolModule(e *emitter, it *item) expr { return call("nn.AdaptiveAvgPool2d", 1) }

func globalAvgPoolStep(it *item) string { return "F.adaptive_avg_pool2d(x, 1)" }

// flattenModule and flattenStep, before a linear layer:
//
//	nn.Flatten()
//	torch.flatten(x, 1)
func flattenModule(e *emitter, it *item) expr { return call("nn.Flatten") }

func flattenStep(it *item) string { return "torch.flatten(x, 1)" }
