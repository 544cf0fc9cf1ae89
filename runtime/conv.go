package runtime

import (
	"errors"
	"fmt"
)

// Conv2D is a 2-D convolution (PyTorch Conv2d semantics: zero padding,
// dilation, groups) with a fused per-output-channel epilogue.
//
// Each group is a matrix multiply: its OutC/Groups × (InC/Groups·KH·KW)
// weights times the im2col matrix of its input channels. 1×1 stride-1
// convolutions read the input itself as that matrix; convolutions with one
// input channel per group (depthwise) are computed directly.
type Conv2D struct {
	InC, InH, InW                  int
	OutC, OutH, OutW               int
	KH, KW, SH, SW, PH, PW, DH, DW int // kernel, stride, padding, dilation
	Groups                         int
	Weight                         []float32 // OutC × InC/Groups × KH × KW, PyTorch layout

	// Epilogue per output channel c: y = acc*Scale[c] + Shift[c], then
	// max(y, 0) if Relu. Scale nil means 1, Shift nil means 0. A conv bias
	// and a folded BatchNorm go here.
	Scale, Shift []float32
	Relu         bool

	plan convPlan
	call *convCall
	wp   []float32 // Weight packed by packA, group by group
	offs []int32   // pathPointwise, pathShift: where row k of B starts in a group's input
}

// convPath is the algorithm Prepare chose.
type convPath int

const (
	pathIm2col    convPath = iota // im2col rows packed into a tile, then sgemmPacked
	pathPointwise                 // 1×1 stride 1 without padding: input rows packed, then sgemmPacked
	pathDepthwise                 // one input channel per group: direct loops
	pathShift                     // stride 1: zero-padded input rows packed, then sgemmPacked
)

// convPlan is what Prepare derives from the public fields.
type convPlan struct {
	path convPath
	m    int // output channels per group: rows of the group's GEMM
	k    int // InC/Groups·KH·KW: the GEMM's inner dimension
	n    int // OutH·OutW, or OutH·pw for pathShift: the GEMM's columns
	pw   int // pathShift: width of the zero-padded input, InW+2·PW
	ph   int // pathShift: height of the zero-padded input, InH+2·PH
	kt   int // rows of a worker's B tile: min(k, kc)
	nt   int // columns per column block, a multiple of nr
	nb   int // column blocks per image
}

// convCall holds the arguments of the Forward in progress, so that the
// parallel loop can reach them without a per-call closure.
type convCall struct {
	loop
	c                *Conv2D
	in, out, scratch []float32
	mb               int // row panels of the weights per unit of work
	mBlocks          int // blocks of mb row panels per group
	batch            int
	pad              bool // phase 1 of pathShift: pad the input planes
}

// Prepare validates the fields and plans the computation. It must be called
// once after the weights are loaded and before Forward.
//
// Prepare packs each group's weights for the micro-kernel (see packA), so
// Weight must not change afterwards without another Prepare.
func (c *Conv2D) Prepare() error {
	if err := c.validate(); err != nil {
		c.call = nil // Forward refuses to run on a stale plan
		return fmt.Errorf("runtime: Conv2D: %w", err)
	}
	p := convPlan{
		m: c.OutC / c.Groups,
		k: c.InC / c.Groups * c.KH * c.KW,
		n: c.OutH * c.OutW,
	}
	switch {
	case c.InC == c.Groups:
		p.path = pathDepthwise
	case c.KH == 1 && c.KW == 1 && c.SH == 1 && c.SW == 1 && c.PH == 0 && c.PW == 0:
		p.path = pathPointwise
	case c.SH == 1 && c.SW == 1:
		// With stride 1, row (ic, kh, kw) of the im2col matrix is the
		// zero-padded input plane ic shifted by kh·DH rows and kw·DW
		// columns, if the GEMM computes all pw columns of each output
		// row, the last pw-OutW of them discarded: packing B is then a
		// copy of contiguous runs, as for 1×1.
		p.path = pathShift
		p.pw, p.ph = c.InW+2*c.PW, c.InH+2*c.PH
		p.n = c.OutH * p.pw
	default:
		p.path = pathIm2col
	}
	// Column blocks of at most 256 outputs give each worker a B tile of at
	// most kc×256 floats (256 KiB, within L2) and a batch-1 image of 56×56
	// over a dozen units to balance over the workers. Rounding the block
	// count up to a multiple of the workers lets such an image, the
	// common case at inference, divide evenly.
	p.kt = min(p.k, kc)
	p.nb = (p.n + 255) / 256
	if p.nb > 1 {
		w := workers()
		p.nb = (p.nb + w - 1) / w * w
	}
	p.nt = (p.n + p.nb - 1) / p.nb
	p.nt = (p.nt + nr - 1) / nr * nr
	p.nb = (p.n + p.nt - 1) / p.nt
	c.plan = p
	if c.call == nil {
		c.call = new(convCall)
	}
	if p.path != pathDepthwise {
		if cap(c.wp) < len(c.Weight) {
			c.wp = make([]float32, len(c.Weight))
		}
		c.wp = c.wp[:len(c.Weight)]
		for g := range c.Groups {
			packA(c.wp[g*p.m*p.k:(g+1)*p.m*p.k], c.Weight[g*p.m*p.k:], p.m, p.k, p.k)
		}
	}
	c.offs = c.offs[:0]
	for k := range p.k {
		switch p.path {
		case pathPointwise:
			c.offs = append(c.offs, int32(k*p.n))
		case pathShift:
			c.offs = append(c.offs, int32(c.tapOffset(k)))
		}
	}
	return nil
}

func (c *Conv2D) validate() error {
	type dim struct {
		name string
		v    int
	}
	for _, d := range []dim{
		{"InC", c.InC}, {"InH", c.InH}, {"InW", c.InW},
		{"OutC", c.OutC}, {"OutH", c.OutH}, {"OutW", c.OutW},
		{"KH", c.KH}, {"KW", c.KW}, {"SH", c.SH}, {"SW", c.SW},
		{"DH", c.DH}, {"DW", c.DW}, {"Groups", c.Groups},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s = %d, want > 0", d.name, d.v)
		}
	}
	if c.PH < 0 || c.PW < 0 {
		return fmt.Errorf("padding %d×%d is negative", c.PH, c.PW)
	}
	if c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 {
		return fmt.Errorf("InC %d and OutC %d must both be multiples of Groups %d", c.InC, c.OutC, c.Groups)
	}
	wantH := (c.InH+2*c.PH-c.DH*(c.KH-1)-1)/c.SH + 1
	wantW := (c.InW+2*c.PW-c.DW*(c.KW-1)-1)/c.SW + 1
	if c.InH+2*c.PH < c.DH*(c.KH-1)+1 || c.InW+2*c.PW < c.DW*(c.KW-1)+1 {
		return errors.New("dilated kernel is larger than the padded input")
	}
	if c.OutH != wantH || c.OutW != wantW {
		return fmt.Errorf("output %d×%d, want %d×%d for input %d×%d", c.OutH, c.OutW, wantH, wantW, c.InH, c.InW)
	}
	if want := c.OutC * (c.InC / c.Groups) * c.KH * c.KW; len(c.Weight) != want {
		return fmt.Errorf("len(Weight) = %d, want OutC·InC/Groups·KH·KW = %d", len(c.Weight), want)
	}
	if c.Scale != nil && len(c.Scale) != c.OutC {
		return fmt.Errorf("len(Scale) = %d, want OutC = %d", len(c.Scale), c.OutC)
	}
	if c.Shift != nil && len(c.Shift) != c.OutC {
		return fmt.Errorf("len(Shift) = %d, want OutC = %d", len(c.Shift), c.OutC)
	}
	return nil
}

// ScratchLen is the number of float32s of scratch Forward needs for a batch:
// per worker, a packed B tile and, for im2col, rows of it before packing;
// for stride 1 with padding, the zero-padded input and per worker a tile
// of output.
func (c *Conv2D) ScratchLen(batch int) int {
	return c.padLen(batch) + workers()*c.workerScratch()
}

// padLen is the length of the zero-padded input of pathShift: the planes,
// then the (KW-1)·DW floats that the last row's rightmost tap reads past
// the last plane for discarded columns.
func (c *Conv2D) padLen(batch int) int {
	if c.plan.path != pathShift {
		return 0
	}
	return batch*c.InC*c.plan.ph*c.plan.pw + (c.KW-1)*c.DW
}

// workerScratch is the length of one worker's part of the scratch.
func (c *Conv2D) workerScratch() int {
	switch c.plan.path {
	case pathDepthwise:
		return 0
	case pathPointwise:
		return 0 // the micro-kernel reads the input rows
	case pathShift:
		return c.plan.m * c.plan.nt // a tile of output
	}
	return packedLen(c.plan.kt, c.plan.nt) + packBatch*c.plan.nt
}

// packBatch is the number of im2col rows built before packing them.
const packBatch = 8

// Forward computes out = epilogue(conv(in)). in has batch·InC·InH·InW
// elements, out batch·OutC·OutH·OutW, and scratch at least ScratchLen(batch).
func (c *Conv2D) Forward(batch int, in, out, scratch []float32) {
	if c.call == nil {
		panic("runtime: Conv2D.Forward called without a successful Prepare")
	}
	if len(in) < batch*c.InC*c.InH*c.InW || len(out) < batch*c.OutC*c.OutH*c.OutW || len(scratch) < c.ScratchLen(batch) {
		panic(fmt.Sprintf("runtime: Conv2D.Forward: batch %d needs in %d, out %d, scratch %d floats; got %d, %d, %d",
			batch, batch*c.InC*c.InH*c.InW, batch*c.OutC*c.OutH*c.OutW, c.ScratchLen(batch), len(in), len(out), len(scratch)))
	}
	cl := c.call
	cl.c, cl.in, cl.out, cl.scratch = c, in, out, scratch // c, too, in case c was copied
	p := &c.plan
	if p.path == pathDepthwise {
		cl.parallelFor(batch*c.OutC, 1, cl)
	} else {
		// Split the output channels too when images, groups and column
		// blocks alone give fewer than four units per worker, as for late
		// layers with 7×7 outputs at batch 1.
		base := batch * c.Groups * p.nb
		np := rowPanels(p.m)
		split := 1
		if want := 4 * workers(); base < want {
			split = min((want+base-1)/base, np)
		}
		cl.mb = (np + split - 1) / split
		cl.mBlocks = (np + cl.mb - 1) / cl.mb
		if p.path == pathShift {
			cl.batch, cl.pad = batch, true
			cl.parallelFor(batch*c.InC, 4, cl)
			cl.pad = false
		}
		cl.parallelFor(base*cl.mBlocks, 1, cl)
	}
	cl.in, cl.out, cl.scratch = nil, nil, nil
}

func (cl *convCall) run(lo, hi, w int) {
	c := cl.c
	for u := lo; u < hi; u++ {
		if cl.pad {
			c.padPlane(cl.in, cl.scratch, u, cl.batch)
		} else if c.plan.path == pathDepthwise {
			c.depthwisePlane(cl.in, cl.out, u)
		} else {
			cl.gemmUnit(u, w)
		}
	}
}

// gemmUnit computes unit u: one block of output channels of one group and
// one block of output columns of one image.
func (cl *convCall) gemmUnit(u, w int) {
	c, p := cl.c, &cl.c.plan
	mi := u % cl.mBlocks
	u /= cl.mBlocks
	jb := u % p.nb
	u /= p.nb
	g := u % c.Groups
	b := u / c.Groups

	np := rowPanels(p.m)
	p0 := mi * cl.mb
	p1 := min(p0+cl.mb, np)
	j0 := jb * p.nt
	nt := min(p.nt, p.n-j0)

	inPlane := c.InH * c.InW
	icg := c.InC / c.Groups
	x := cl.in[(b*c.InC+g*icg)*inPlane : (b*c.InC+(g+1)*icg)*inPlane]
	outPlane := c.OutH * c.OutW
	y := cl.out[(b*c.OutC+g*p.m)*outPlane : (b*c.OutC+(g+1)*p.m)*outPlane]
	wp := c.wp[g*p.m*p.k : (g+1)*p.m*p.k]
	ws := c.workerScratch()
	pl := c.padLen(cl.batch)
	var tile, rowBuf []float32 // im2col: packed B and rows before packing; pathShift: rowBuf is a tile of output
	var src []float32          // pathPointwise, pathShift: the rows of B at offs
	switch p.path {
	case pathIm2col:
		tile = cl.scratch[pl+w*ws : pl+w*ws+packedLen(p.kt, p.nt)]
		rowBuf = cl.scratch[pl+w*ws+len(tile) : pl+(w+1)*ws]
	case pathShift:
		rowBuf = cl.scratch[pl+w*ws : pl+(w+1)*ws]
		src = cl.scratch[(b*c.InC+g*icg)*p.ph*p.pw : pl]
	case pathPointwise:
		src = x
	}
	r0 := panelStart(p.m, np, p0)
	cOut, ldc := rowBuf, nt // where the GEMM writes
	if p.path != pathShift {
		cOut, ldc = y[r0*p.n+j0:], p.n
	}

	// The epilogue runs in the micro-kernel after the last block of k.
	ep := gemmEpilogue{relu: c.Relu}
	if c.Scale != nil {
		ep.scale = c.Scale[g*p.m : (g+1)*p.m]
	}
	if c.Shift != nil {
		ep.shift = c.Shift[g*p.m : (g+1)*p.m]
	}

	for k0 := 0; k0 < p.k; k0 += kc {
		kl := min(kc, p.k-k0)
		var e gemmEpilogue
		if k0+kl == p.k {
			e = ep
		}
		if p.path != pathIm2col {
			// The micro-kernel reads B from the input (pathPointwise) or
			// the padded input (pathShift) at the rows' offsets.
			sgemmPacked(p.m, p0, p1, nt, kl, wp[k0*p.m:(k0+kl)*p.m], src[j0:], c.offs[k0:k0+kl], cOut, ldc, k0 > 0, e)
			continue
		}
		for r := 0; r < kl; r += packBatch {
			rows := min(packBatch, kl-r)
			for i := range rows {
				c.im2colRow(rowBuf[i*nt:(i+1)*nt], x, k0+r+i, j0)
			}
			packRows(tile, kl, r, rows, rowBuf, nt, nt)
		}
		sgemmPacked(p.m, p0, p1, nt, kl, wp[k0*p.m:(k0+kl)*p.m], tile, nil, cOut, ldc, k0 > 0, e)
	}
	if p.path == pathShift {
		// Keep the columns of the output tile that are output positions.
		r1 := panelStart(p.m, np, p1)
		for j := j0; j < j0+nt; {
			oh, ow := j/p.pw, j%p.pw
			seg := min(p.pw-ow, j0+nt-j)
			if ow < c.OutW {
				w := min(seg, c.OutW-ow)
				for r := r0; r < r1; r++ {
					copy(y[r*outPlane+oh*c.OutW+ow:r*outPlane+oh*c.OutW+ow+w], rowBuf[(r-r0)*nt+j-j0:])
				}
			}
			j += seg
		}
	}
}

// tapOffset is where row k of the im2col matrix of pathShift starts in the
// zero-padded planes of a group: input channel k/(KH·KW) shifted by kernel
// tap k%(KH·KW).
func (c *Conv2D) tapOffset(k int) int {
	p := &c.plan
	taps := c.KH * c.KW
	ic, t := k/taps, k%taps
	return ic*p.ph*p.pw + t/c.KW*c.DH*p.pw + t%c.KW*c.DW
}

// padPlane copies input plane u (of batch·InC) into its zero-padded
// place at the start of scratch.
func (c *Conv2D) padPlane(in, scratch []float32, u, batch int) {
	p := &c.plan
	pp := p.ph * p.pw
	dst := scratch[u*pp : (u+1)*pp]
	src := in[u*c.InH*c.InW : (u+1)*c.InH*c.InW]
	clear(dst[:c.PH*p.pw])
	for ih := range c.InH {
		d := dst[(c.PH+ih)*p.pw : (c.PH+ih+1)*p.pw]
		clear(d[:c.PW])
		copy(d[c.PW:c.PW+c.InW], src[ih*c.InW:])
		clear(d[c.PW+c.InW:])
	}
	clear(dst[(c.PH+c.InH)*p.pw:])
	if u == batch*c.InC-1 {
		// The last plane: also the floats read past it.
		clear(scratch[(u+1)*pp : (u+1)*pp+(c.KW-1)*c.DW])
	}
}

// im2colRow sets dst to row k, from column j0 on, of the im2col matrix of x,
// the input channels of one group of one image. Row k is input channel
// k/(KH·KW) shifted by kernel tap k%(KH·KW); column j is output position j.
func (c *Conv2D) im2colRow(dst, x []float32, k, j0 int) {
	taps := c.KH * c.KW
	ic, kh, kw := k/taps, k%taps/c.KW, k%c.KW
	plane := x[ic*c.InH*c.InW : (ic+1)*c.InH*c.InW]
	oh, ow := j0/c.OutW, j0%c.OutW
	for len(dst) > 0 {
		seg := dst[:min(len(dst), c.OutW-ow)]
		ih := oh*c.SH - c.PH + kh*c.DH
		if ih < 0 || ih >= c.InH {
			clear(seg)
		} else {
			gatherRow(seg, plane[ih*c.InW:(ih+1)*c.InW], ow*c.SW-c.PW+kw*c.DW, c.SW)
		}
		dst = dst[len(seg):]
		oh, ow = oh+1, 0
	}
}

// gatherRow sets dst[t] = src[x0+t*stride], or 0 where that index is outside
// src (the zero padding).
func gatherRow(dst, src []float32, x0, stride int) {
	lo, hi := inside(len(dst), x0, stride, len(src))
	clear(dst[:lo])
	clear(dst[hi:])
	if lo == hi {
		return // x0+lo may lie outside src
	}
	if stride == 1 {
		copy(dst[lo:hi], src[x0+lo:])
		return
	}
	for t := lo; t < hi; t++ {
		dst[t] = src[x0+t*stride]
	}
}

// inside returns the range [lo, hi) of t in [0, n) for which x0+t*stride
// lies in [0, size). stride is positive.
func inside(n, x0, stride, size int) (lo, hi int) {
	if stride == 1 {
		// The common case, without the divisions, which are slow next to
		// copying a short row.
		lo, hi = max(-x0, 0), size-x0
	} else {
		if x0 < 0 {
			lo = (-x0 + stride - 1) / stride
		}
		if rest := size - x0; rest > 0 {
			hi = (rest + stride - 1) / stride
		}
	}
	lo = min(lo, n)
	hi = max(min(hi, n), lo)
	return lo, hi
}

// depthwisePlane computes output plane u (image u/OutC, channel u%OutC) of
// a convolution with one input channel per group. Its GEMM would have a
// single row of KH·KW, so direct loops beat im2col.
func (c *Conv2D) depthwisePlane(in, out []float32, u int) {
	b, oc := u/c.OutC, u%c.OutC
	ic := oc / (c.OutC / c.Groups)
	inPlane := c.InH * c.InW
	outPlane := c.OutH * c.OutW
	src := in[(b*c.InC+ic)*inPlane : (b*c.InC+ic+1)*inPlane]
	dst := out[u*outPlane : (u+1)*outPlane]
	w := c.Weight[oc*c.KH*c.KW : (oc+1)*c.KH*c.KW]
	clear(dst)
	for oh := range c.OutH {
		row := dst[oh*c.OutW : (oh+1)*c.OutW]
		for kh := range c.KH {
			ih := oh*c.SH - c.PH + kh*c.DH
			if ih < 0 || ih >= c.InH {
				continue
			}
			srcRow := src[ih*c.InW : (ih+1)*c.InW]
			if c.KW == 3 && c.SW == 1 {
				c.taps3(row, srcRow, w[kh*3:kh*3+3])
				continue
			}
			for kw := range c.KW {
				x0 := kw*c.DW - c.PW
				lo, hi := inside(c.OutW, x0, c.SW, c.InW)
				if lo == hi {
					continue // x0+lo may lie outside srcRow
				}
				wv := w[kh*c.KW+kw]
				if c.SW == 1 {
					axpy(row[lo:hi], srcRow[x0+lo:], wv)
				} else {
					for t := lo; t < hi; t++ {
						row[t] += wv * srcRow[x0+t*c.SW]
					}
				}
			}
		}
	}
	c.epilogue(dst, oc)
}

// taps3 adds one input row's contribution through three kernel taps w, at
// stride 1, to an output row. It is the common depthwise 3×3 case: one pass
// over the output row instead of three halves its loads and stores.
func (c *Conv2D) taps3(row, src []float32, w []float32) {
	x0 := -c.PW // input column of tap 0 for output column 0
	// Columns [lo, hi) see all three taps inside the input; the few
	// columns at the edges check each tap.
	lo, hi := inside(len(row), x0, 1, c.InW-2*c.DW)
	if lo < hi {
		axpy3(row[lo:hi], src[x0+lo:], c.DW, w[0], w[1], w[2])
	}
	for _, edge := range [2][2]int{{0, lo}, {hi, len(row)}} {
		for t := edge[0]; t < edge[1]; t++ {
			for kw, wv := range w {
				if iw := x0 + t + kw*c.DW; iw >= 0 && iw < len(src) {
					row[t] += wv * src[iw]
				}
			}
		}
	}
}

// axpy3 computes y[i] += w0·x[i] + w1·x[i+d] + w2·x[i+2d].
func axpy3(y, x []float32, d int, w0, w1, w2 float32) {
	n := len(y)
	x0, x1, x2 := x[:n], x[d:d+n], x[2*d:2*d+n]
	for i := range y {
		y[i] += w0*x0[i] + w1*x1[i] + w2*x2[i]
	}
}

// axpy computes y += a·x over len(y) elements.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// epilogue applies output channel oc's scale, shift and ReLU to row.
func (c *Conv2D) epilogue(row []float32, oc int) {
	if c.Scale == nil && c.Shift == nil && !c.Relu {
		return
	}
	s, t := float32(1), float32(0)
	if c.Scale != nil {
		s = c.Scale[oc]
	}
	if c.Shift != nil {
		t = c.Shift[oc]
	}
	scaleShift(row, row, s, t, c.Relu)
}

// scaleShift sets dst[i] = src[i]*s + t, clamped at 0 if relu; dst and src
// may be the same slice.
func scaleShift(dst, src []float32, s, t float32, relu bool) {
	src = src[:len(dst)]
	if useAVX512 && len(dst) >= 16 && !(s == 1 && t == 0 && !relu) {
		n := len(dst) &^ 15
		scaleShiftAVX512(&dst[0], &src[0], n, s, t, relu)
		dst, src = dst[n:], src[n:]
	}
	switch {
	case relu:
		for i, v := range src {
			dst[i] = max(v*s+t, 0)
		}
	case s == 1 && t == 0:
		copy(dst, src) // leaves dst as is when in place
	default:
		for i, v := range src {
			dst[i] = v*s + t
		}
	}
}
