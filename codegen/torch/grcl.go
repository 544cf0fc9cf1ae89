package torch

import (
	"fmt"

	"github.com/grcc/grcc/ir"
)

// features are the stage options some stage of the model uses; the GRCL
// class is written with only the code they need.
type features struct {
	sk, plain       bool // some stage has an SK cell; some a bottleneck cell
	gated, ungated  bool // some stage has the sigmoid gate; some none
	shared          bool // some stage shares its cell's weights
	unused, down    bool // some stage carries d_bn_1e; some downsamples
	skSettings      []*ir.SKSettings
	skSettingsNames []string
}

func stageFeatures(m *ir.Model) *features {
	f := &features{}
	for _, st := range m.Stages {
		if st.Cell == ir.SelectiveKernel {
			f.sk = true
			if f.skIndex(st.SK) < 0 {
				f.skSettings = append(f.skSettings, st.SK)
			}
		} else {
			f.plain = true
		}
		if st.Gate == ir.NoGate {
			f.ungated = true
		} else {
			f.gated = true
		}
		f.shared = f.shared || st.ShareWeights
		if st.Down != nil {
			f.down = true
			f.unused = f.unused || st.Down.Unused != nil
		}
	}
	for i := range f.skSettings {
		name := "SK_SETTINGS"
		if len(f.skSettings) > 1 {
			name = fmt.Sprintf("SK_SETTINGS_%d", i+1)
		}
		f.skSettingsNames = append(f.skSettingsNames, name)
	}
	return f
}

// skName is the module-level constant holding settings like sk.
func (f *features) skName(sk *ir.SKSettings) string {
	return f.skSettingsNames[f.skIndex(sk)]
}

// skIndex is the index of the settings like sk in f.skSettings, or -1.
func (f *features) skIndex(sk *ir.SKSettings) int {
	for i, s := range f.skSettings {
		if sameSK(s, sk) {
			return i
		}
	}
	return -1
}

func sameSK(a, b *ir.SKSettings) bool {
	if a.Reduction != b.Reduction || a.MinWidth != b.MinWidth || len(a.Branches) != len(b.Branches) {
		return false
	}
	for i := range a.Branches {
		if a.Branches[i] != b.Branches[i] {
			return false
		}
	}
	return true
}

// skSettingsExpr is the dict of SKConv's keyword arguments:
//
//	dict(branches=((3, 1), (3, 2)), reduction=16, min_width=32)
func skSettingsExpr(sk *ir.SKSettings) expr {
	branches := expr{open: "(", close: ")"}
	for _, b := range sk.Branches {
		branches.args = append(branches.args, arg{val: atom("(%d, %d)", b.Kernel, b.Dilation)})
	}
	return call("dict", kw("branches", branches), kw("reduction", sk.Reduction), kw("min_width", sk.MinWidth))
}

// writeSKConv writes the SKConv class. Its submodules are the reference's:
// conv (a ModuleList of Sequential(conv, BatchNorm, ReLU), one per branch),
// fc1 = Sequential(conv 1×1, BatchNorm, ReLU) and fc2 (conv 1×1).
func writeSKConv(w *writer) {
	w.block("class SKConv(nn.Module):", func() {
		w.line(`"""Selective-kernel convolution, channels to channels.`)
		w.line("")
		w.line("Branch m is conv (kernel k, dilation d, padding d * (k - 1) // 2, the given")
		w.line("stride and groups), BatchNorm and ReLU. The branches' sum is pooled to 1x1")
		w.line("and squeezed through fc1 (conv 1x1 to max(channels // reduction, min_width),")
		w.line("BatchNorm, ReLU) and fc2 (conv 1x1 to channels * branches); a softmax over")
		w.line("the branches, per channel, weights their outputs.")
		w.line(`"""`)
		w.line("")
		w.block("def __init__(self, channels, stride, groups, branches, reduction, min_width):", func() {
			w.line("super().__init__()")
			w.line("width = max(channels // reduction, min_width)")
			w.line("self.channels = channels")
			w.line("self.conv = nn.ModuleList()")
			w.block("for kernel, dilation in branches:", func() {
				w.line("padding = dilation * (kernel - 1) // 2")
				w.line("conv = nn.Conv2d(")
				w.line("    channels, channels, kernel, stride=stride, padding=padding,")
				w.line("    dilation=dilation, groups=groups, bias=False,")
				w.line(")")
				w.line("self.conv.append(")
				w.line("    nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))")
				w.line(")")
			})
			w.line("self.fc1 = nn.Sequential(")
			w.line("    nn.Conv2d(channels, width, 1, bias=False),")
			w.line("    nn.BatchNorm2d(width),")
			w.line("    nn.ReLU(inplace=True),")
			w.line(")")
			w.line("self.fc2 = nn.Conv2d(width, channels * len(branches), 1, bias=False)")
		})
		w.line("")
		w.block("def forward(self, x):", func() {
			w.line("branches = [conv(x) for conv in self.conv]")
			w.line("u = branches[0]")
			w.block("for b in branches[1:]:", func() { w.line("u = u + b") })
			w.line("a = self.fc2(self.fc1(F.adaptive_avg_pool2d(u, 1)))")
			w.line("a = a.reshape(x.size(0), len(branches), self.channels, 1, 1)")
			w.line("a = torch.softmax(a, dim=1)")
			w.line("out = branches[0] * a[:, 0]")
			w.block("for m in range(1, len(branches)):", func() { w.line("out = out + branches[m] * a[:, m]") })
			w.line("return out")
		})
	})
}

// writeSpatialConv writes spatial_conv, which picks a stage's 3×3
// convolution or SKConv; only models with both kinds of cell need it.
func writeSpatialConv(w *writer) {
	w.block("def spatial_conv(planes, stride, groups, sk):", func() {
		w.line(`"""The cell's spatial convolution: a 3x3 conv, or an SKConv given sk settings."""`)
		w.block("if sk is None:", func() {
			w.line("return nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)")
		})
		w.line("return SKConv(planes, stride, groups, **sk)")
	})
}

// spatial is the Python expression for a cell's spatial convolution with the given stride.
func (f *features) spatial(stride int) expr {
	switch {
	case f.sk && f.plain:
		return call("spatial_conv", "planes", stride, "groups", "sk")
	case f.sk:
		return call("SKConv", "planes", stride, "groups", "**sk")
	case stride == 1:
		return call("nn.Conv2d", "planes", "planes", 3, kw("padding", 1), kw("bias", false))
	}
	return call("nn.Conv2d", "planes", "planes", 3, kw("stride", stride), kw("padding", 1), kw("bias", false))
}

// writeGRCL writes the GRCL class: one stage, its submodules registered in
// the reference's order so that its state_dict keys follow the reference's.
func writeGRCL(w *writer, f *features) {
	w.block("class GRCL(nn.Module):", func() {
		w.line(`"""A gated recurrent convolutional layer: one stage of a GRCNN.`)
		w.line("")
		w.line("Submodules, in the reference implementation's order (its state_dict order):")
		w.line("bn_f, conv_f, bn_g_f, conv_g_f, conv_g_r, then iter_i and iter_g_i for")
		w.line("i = 1 ... iterations, then d_bn, d_conv, d_bn_1, d_conv_1, d_bn_3, d_conv_3,")
		w.line("d_bn_1e and d_conv_1e.")
		w.line(`"""`)
		w.line("")
		params := []any{"self", "in_channels", "planes", "iterations", "expansion", "groups"}
		if f.down {
			params = append(params, "downsample")
		}
		var opts []any
		switch {
		case f.sk && f.plain:
			opts = append(opts, kw("sk", "None"))
		case f.sk:
			opts = append(opts, "sk")
		}
		if f.gated && f.ungated {
			opts = append(opts, kw("gated", true))
		}
		if f.shared {
			opts = append(opts, kw("share_weights", false))
		}
		if f.unused {
			opts = append(opts, kw("unused_d_bn_1e", false))
		}
		if len(opts) > 0 {
			params = append(append(params, "*"), opts...)
		}
		sig := call("def __init__", params...)
		lines := sig.format(indentString(w.indent), w.indent)
		lines[len(lines)-1] += ":"
		for _, l := range lines {
			w.buf.WriteString(l + "\n")
		}
		w.indent++
		writeGRCLInit(w, f)
		w.indent--
		w.line("")
		w.block("def forward(self, x):", func() { writeGRCLForward(w, f) })
	})
}

func writeGRCLInit(w *writer, f *features) {
	w.line("super().__init__()")
	w.line("width = planes * expansion")
	w.line("self.iterations = iterations")
	if f.gated && f.ungated {
		w.line("self.gated = gated")
	}
	if f.down {
		w.line("self.downsample = downsample")
	}
	w.line("")
	w.line("# The feed-forward input x_s = conv_f(relu(bn_f(x))).")
	w.line("self.bn_f = nn.BatchNorm2d(in_channels)")
	w.line("self.conv_f = nn.Conv2d(")
	w.line("    in_channels, width, 3, padding=1, groups=groups, bias=False")
	w.line(")")
	ifGated := func(body func()) {
		switch {
		case f.gated && f.ungated:
			w.block("if gated:", body)
		case f.gated:
			body()
		}
	}
	ifGated(func() {
		w.comment("The gate input x_g = conv_g_f(relu(bn_g_f(x))) and the recurrent gate conv.")
		w.line("self.bn_g_f = nn.BatchNorm2d(in_channels)")
		w.line("self.conv_g_f = nn.Conv2d(in_channels, width, 1, groups=groups)")
		w.line("self.conv_g_r = nn.Conv2d(width, width, 1, groups=groups, bias=False)")
	})
	w.line("")
	cell := "conv 3x3 (5), BatchNorm, ReLU, conv 1x1 (8)"
	switch {
	case f.sk && f.plain:
		cell = "then conv 3x3 (5), BatchNorm, ReLU, conv 1x1 (8), or SKConv (5), conv 1x1 (6)"
	case f.sk:
		cell = "SKConv (5), conv 1x1 (6)"
	}
	gate := ""
	if f.gated {
		gate = "; and the gate's BatchNorm and ReLU, iter_g_i"
	}
	w.comment("Iteration i: the cell iter_i, with the reference's indices: BatchNorm (0), ReLU, conv 1x1, BatchNorm, ReLU, " + cell + gate + ".")
	w.block("for i in range(1, iterations + 1):", func() {
		fresh := func() {
			w.line("squeeze = nn.Conv2d(width, planes, 1, bias=False)")
			w.assign("spatial", f.spatial(1))
			w.line("expand = nn.Conv2d(planes, width, 1, bias=False)")
		}
		if f.shared {
			w.block("if share_weights and i > 1:", func() {
				what := "convolution modules themselves"
				if f.sk {
					what = "convolution modules themselves (a whole SKConv)"
				}
				w.comment("Weight sharing: iteration 1's " + what + ", so that every iteration's keys hold the same tensors.")
				w.line("first = self.iter_1")
				w.line("squeeze, spatial, expand = first[2], first[5], first[-1]")
			})
			w.block("else:", fresh)
		} else {
			fresh()
		}
		w.line("cell = [")
		w.line("    nn.BatchNorm2d(width),")
		w.line("    nn.ReLU(inplace=True),")
		w.line("    squeeze,")
		w.line("    nn.BatchNorm2d(planes),")
		w.line("    nn.ReLU(inplace=True),")
		w.line("    spatial,")
		if f.plain && !f.sk {
			w.line("    nn.BatchNorm2d(planes),")
			w.line("    nn.ReLU(inplace=True),")
		}
		if f.plain == f.sk {
			w.line("]")
			w.block("if sk is None:", func() { w.line("cell += [nn.BatchNorm2d(planes), nn.ReLU(inplace=True)]") })
			w.line("cell.append(expand)")
		} else {
			w.line("    expand,")
			w.line("]")
		}
		w.line(`self.add_module("iter_%%d" %% i, nn.Sequential(*cell))`)
		ifGated(func() {
			w.line("gate = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True))")
			w.line(`self.add_module("iter_g_%%d" %% i, gate)`)
		})
	})
	if !f.down {
		return
	}
	w.line("")
	w.block("if downsample:", func() {
		w.line("# Halve the size: d_conv(avgpool(relu(d_bn(x_s)))) plus")
		w.line("# d_conv_1e(d_conv_3(relu(d_bn_3(d_conv_1(relu(d_bn_1(x_s))))))).")
		w.line("self.d_bn = nn.BatchNorm2d(width)")
		w.line("self.d_conv = nn.Conv2d(width, width, 1, bias=False)")
		w.line("self.d_bn_1 = nn.BatchNorm2d(width)")
		w.line("self.d_conv_1 = nn.Conv2d(width, planes, 1, bias=False)")
		w.line("self.d_bn_3 = nn.BatchNorm2d(planes)")
		w.assign("self.d_conv_3", f.spatial(2))
		if f.unused {
			w.block("if unused_d_bn_1e:", func() {
				w.line("# In the reference's checkpoints; the forward pass never uses it.")
				w.line("self.d_bn_1e = nn.BatchNorm2d(planes)")
			})
		}
		w.line("self.d_conv_1e = nn.Conv2d(planes, width, 1, bias=False)")
	})
}

func writeGRCLForward(w *writer, f *features) {
	w.line("x_s = self.conv_f(F.relu(self.bn_f(x)))")
	if f.gated {
		if f.ungated {
			w.line("x_g = self.conv_g_f(F.relu(self.bn_g_f(x))) if self.gated else None")
		} else {
			w.line("x_g = self.conv_g_f(F.relu(self.bn_g_f(x)))")
		}
	}
	w.block("for i in range(1, self.iterations + 1):", func() {
		w.line(`r = getattr(self, "iter_%%d" %% i)(x_s)`)
		gated := func() {
			w.line(`g = getattr(self, "iter_g_%%d" %% i)(x_s)`)
			w.line("g = torch.sigmoid(self.conv_g_r(g) + x_g)")
			w.line("x_s = r * g + x_s")
		}
		switch {
		case f.gated && f.ungated:
			w.block("if self.gated:", gated)
			w.block("else:", func() { w.line("x_s = r + x_s") })
		case f.gated:
			gated()
		default:
			w.line("x_s = r + x_s")
		}
	})
	if !f.down {
		w.line("return x_s")
		return
	}
	w.block("if not self.downsample:", func() { w.line("return x_s") })
	w.line("a = self.d_conv(F.avg_pool2d(F.relu(self.d_bn(x_s)), 2))")
	w.line("b = self.d_conv_1(F.relu(self.d_bn_1(x_s)))")
	w.line("b = self.d_conv_1e(self.d_conv_3(F.relu(self.d_bn_3(b))))")
	w.line("return a + b")
}

func indentString(n int) string {
	s := ""
	for range n {
		s += "    "
	}
	return s
}
