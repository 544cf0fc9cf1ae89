package ir

import "fmt"

// buildStage creates the layers of a checked stage, named as in the
// reference's state_dict, and infers their shapes.
func (c *checker) buildStage(st *Stage, downsample, unusedDBN1e bool) {
	p := st.Name + "."
	in := st.In
	width := Shape{C: st.Width, H: in.H, W: in.W}
	// The checks before guarantee the shapes fit; only sizes may fail
	// (tooLarge). The first failure stops the build, so that one mistake is
	// reported once, not once per iteration; the caller drops the stage.
	errs := len(c.errs)
	conv := func(name string, in Shape, out, k, stride, pad, dil, groups int, bias bool) *Conv {
		if len(c.errs) > errs {
			return nil
		}
		spec := convSpec{out: out, kernel: [2]int{k, k}, stride: [2]int{stride, stride},
			padding: [2]int{pad, pad}, dilation: [2]int{dil, dil}, groups: groups, bias: bias}
		return c.conv(c.names[st.Name], p+name, in, spec)
	}
	st.BNF = newBatchNorm(p+"bn_f", in)
	st.ConvF = conv("conv_f", in, st.Width, 3, 1, 1, 1, st.Groups, false)
	if st.Gate == SigmoidGate {
		st.BNGF = newBatchNorm(p+"bn_g_f", in)
		st.ConvGF = conv("conv_g_f", in, st.Width, 1, 1, 0, 1, st.Groups, true)
		st.ConvGR = conv("conv_g_r", width, st.Width, 1, 1, 0, 1, st.Groups, false)
	}
	for i := 1; i <= st.Iterations; i++ {
		it := &Iteration{Index: i}
		q := fmt.Sprintf("iter_%d.", i)
		planes := Shape{C: st.Planes, H: in.H, W: in.W}
		it.Cell = []Layer{
			newBatchNorm(p+q+"0", width),
			relu(width),
			conv(q+"2", width, st.Planes, 1, 1, 0, 1, 1, false),
			newBatchNorm(p+q+"3", planes),
			relu(planes),
		}
		if st.Cell == SelectiveKernel {
			it.Cell = append(it.Cell,
				c.skConv(p+q+"5", planes, st.SK, st.Groups, 1),
				conv(q+"6", planes, st.Width, 1, 1, 0, 1, 1, false))
		} else {
			it.Cell = append(it.Cell,
				conv(q+"5", planes, st.Planes, 3, 1, 1, 1, 1, false),
				newBatchNorm(p+q+"6", planes),
				relu(planes),
				conv(q+"8", planes, st.Width, 1, 1, 0, 1, 1, false))
		}
		if st.Gate == SigmoidGate {
			it.GateBN = newBatchNorm(p+fmt.Sprintf("iter_g_%d.0", i), width)
		}
		if len(c.errs) > errs {
			return
		}
		if st.ShareWeights && i > 1 {
			shareCell(it.Cell, st.Iters[0].Cell)
		}
		st.Iters = append(st.Iters, it)
	}
	st.Out = width
	if !downsample {
		return
	}
	half := Shape{C: st.Width, H: in.H / 2, W: in.W / 2}
	planes := Shape{C: st.Planes, H: in.H, W: in.W}
	d := &Downsample{}
	d.Pool = []Layer{
		newBatchNorm(p+"d_bn", width),
		relu(width),
		&Pool{Node: Node{In: width, Out: half}, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		conv("d_conv", half, st.Width, 1, 1, 0, 1, 1, false),
	}
	d.Conv = []Layer{
		newBatchNorm(p+"d_bn_1", width),
		relu(width),
		conv("d_conv_1", width, st.Planes, 1, 1, 0, 1, 1, false),
		newBatchNorm(p+"d_bn_3", planes),
		relu(planes),
	}
	if st.Cell == SelectiveKernel {
		d.Conv = append(d.Conv, c.skConv(p+"d_conv_3", planes, st.SK, st.Groups, 2))
	} else {
		d.Conv = append(d.Conv, conv("d_conv_3", planes, st.Planes, 3, 2, 1, 1, 1, false))
	}
	d.Conv = append(d.Conv, conv("d_conv_1e", Shape{C: st.Planes, H: half.H, W: half.W}, st.Width, 1, 1, 0, 1, 1, false))
	if unusedDBN1e {
		d.Unused = newBatchNorm(p+"d_bn_1e", Shape{C: st.Planes, H: half.H, W: half.W})
	}
	st.Down = d
	st.Out = half
}

func relu(s Shape) *ReLU { return &ReLU{Node{In: s, Out: s}} }

// skConv builds an SKConv(in.C → in.C, stride) named name.
func (c *checker) skConv(name string, in Shape, sk *SKSettings, groups, stride int) *SKConv {
	pos := c.names[firstComponent(name)]
	s := &SKConv{Node: Node{Name: name, In: in}, Width: max(in.C/sk.Reduction, sk.MinWidth)}
	for m, b := range sk.Branches {
		pad := b.Dilation * (b.Kernel - 1) / 2
		spec := convSpec{out: in.C, kernel: [2]int{b.Kernel, b.Kernel}, stride: [2]int{stride, stride},
			padding: [2]int{pad, pad}, dilation: [2]int{b.Dilation, b.Dilation}, groups: groups}
		conv := c.conv(pos, fmt.Sprintf("%s.conv.%d.0", name, m), in, spec)
		if conv == nil {
			return s
		}
		s.Branches = append(s.Branches, &SKBranch{Conv: conv, BN: newBatchNorm(fmt.Sprintf("%s.conv.%d.1", name, m), conv.Out)})
		s.Out = conv.Out
	}
	pooled := Shape{C: in.C, H: 1, W: 1}
	one := convSpec{kernel: [2]int{1, 1}, stride: [2]int{1, 1}, dilation: [2]int{1, 1}, groups: 1}
	fc1 := one
	fc1.out = s.Width
	if s.FC1 = c.conv(pos, name+".fc1.0", pooled, fc1); s.FC1 == nil {
		return s
	}
	s.FC1BN = newBatchNorm(name+".fc1.1", Shape{C: s.Width, H: 1, W: 1})
	fc2 := one
	fc2.out = in.C * len(sk.Branches)
	s.FC2 = c.conv(pos, name+".fc2", Shape{C: s.Width, H: 1, W: 1}, fc2)
	return s
}

func firstComponent(name string) string {
	for i := range name {
		if name[i] == '.' {
			return name[:i]
		}
	}
	return name
}

// shareCell makes the convolutions of a later iteration's cell hold the same
// tensors as the first iteration's (weight sharing); the cell's BatchNorms
// stay separate.
func shareCell(cell, first []Layer) {
	for i, l := range cell {
		switch l := l.(type) {
		case *Conv:
			l.Weight.SharedWith = root(first[i].(*Conv).Weight)
		case *SKConv:
			// The reference shares the whole SKConv module, its BatchNorms included.
			firstParams := LayerParams(first[i])
			for k, p := range LayerParams(l) {
				p.SharedWith = root(firstParams[k])
			}
		}
	}
}

func root(p *Param) *Param {
	for p.SharedWith != nil {
		p = p.SharedWith
	}
	return p
}
