package runtime

import "unsafe"

// The direct path (Conv2D.Direct) computes each output row of a group's
// channels straight from the zero-padded input, split into stride phases as
// for the GEMM path: the input rows a row of output reads, one per input
// channel and kernel tap, are runs of the padded input at fixed offsets, so
// the kernel reads them in place, with no packing and no copy of the
// output, and stores whole output rows. A grouped convolution with a few
// channels a group (4 to 16 in GRCNN's selective-kernel branches and first
// stages) makes GEMMs too small for the packed path's fixed costs: its
// units would multiply 12×32 tiles with k = 18 to 144.

// directPlan is what Prepare derives for the direct path.
type directPlan struct {
	v      int // vectors of 16 outputs a kernel call computes, at most
	rmax   int // the most output channels of a kernel call
	panels int // panels of output channels per group (at most rmax each)
	// inPlace is set for 1×1 stride-1 convolutions without padding: they
	// read their input as it lies, each output plane one long row, and
	// apply the input prologue as they load it.
	inPlace bool
	// rows is set when output rows are at most 16 pixels: a kernel call
	// then computes v whole rows, one vector each (directRowsKernels),
	// rather than v vectors of one row.
	rows bool
}

// directRowLen is how many outputs a row of the direct path has, and
// directRowCount how many rows an output plane: a 1×1 convolution's plane
// is one row.
func (c *Conv2D) directRowLen() int {
	if c.direct.inPlace {
		return c.OutH * c.OutW
	}
	return c.OutW
}

func (c *Conv2D) directRowCount() int {
	if c.direct.inPlace {
		return 1
	}
	return c.OutH
}

// directMaxVectors is the widest kernel: 4 vectors, 64 pixels of a row.
const directMaxVectors = 4

// directMaxRows is the most channels a kernel of v vectors computes (see
// gen_direct.go).
func directMaxRows(v int) int { return min(12, 24/v) }

// prepareDirect plans the direct path and packs the weights: group after
// group (m·k floats each), panel after panel of output channels, panel i
// of rows [r0, r1) from r0·k on, as k columns of r1-r0 floats.
func (c *Conv2D) prepareDirect() {
	p := &c.plan
	d := directPlan{inPlace: c.pointwise()}
	c.direct = d
	d.v = min(directMaxVectors, (c.directRowLen()+15)/16)
	if d.inPlace {
		// Two vectors leave room for 12 channels a call, so that the
		// prologue's three operations on each vector loaded are shared
		// by more multiply-adds.
		d.v = min(d.v, 2)
	}
	if !d.inPlace && c.OutW <= 16 && c.OutH > 1 {
		d.rows = true
		d.v = directRowVectors(p.m, c.OutH, p.k)
	}
	d.rmax = directMaxRows(d.v)
	d.panels = (p.m + d.rmax - 1) / d.rmax
	c.direct = d
	if cap(c.wp) < len(c.Weight) {
		c.wp = weightBuffer(len(c.Weight))
	}
	c.wp = c.wp[:len(c.Weight)]
	for g := range c.Groups {
		for i := range d.panels {
			r0, r1 := panelStart(p.m, d.panels, i), panelStart(p.m, d.panels, i+1)
			h := r1 - r0
			pan := c.wp[(g*p.m+r0)*p.k : (g*p.m+r1)*p.k]
			for r := range h {
				w := c.Weight[(g*p.m+r0+r)*p.k : (g*p.m+r0+r+1)*p.k]
				for k, x := range w {
					pan[k*h+r] = x
				}
			}
		}
	}
}

// forceRowVectors, when set, overrides directRowVectors (tests and
// benchmarks).
var forceRowVectors int

// directRowVectors is how many rows of at most 16 pixels a kernel call of
// the direct path computes for m output channels a group, h rows and k
// steps: the count with the fewest cycles by a model of the kernels, in
// which a step of k takes the longest of its multiply-adds on two ports,
// its loads (offset, input vectors, weight broadcasts) on two ports, and
// the multiply-add latency of 4 cycles that each accumulator waits for,
// and a call about 60 cycles more (its epilogue and stores), so that
// of two counts that tie the one with fewer calls wins: at 16 channels
// and 14 rows, 3 rows a call rather than 2 (512→512 in 32 groups at
// 14×14, the selective-kernel branches of SK-GRCNN-109).
func directRowVectors(m, h, k int) int {
	if forceRowVectors > 0 {
		return forceRowVectors
	}
	best, bestCost := 1, 0.0
	for v := 1; v <= directMaxVectors; v++ {
		panels := (m + directMaxRows(v) - 1) / directMaxRows(v)
		cost := 0.0
		for i := range panels {
			r := float64(panelStart(m, panels, i+1) - panelStart(m, panels, i))
			for oh := 0; oh < h; oh += v {
				n := float64(min(v, h-oh))
				cost += max(r*n/2, (1+n+r)/2, 4) + 60/float64(k)
			}
		}
		if v == 1 || cost < bestCost {
			best, bestCost = v, cost
		}
	}
	return best
}

// directUnits is the number of units of work of a batch on the direct
// path: blocks of directRows output rows of each group of each image.
func (c *Conv2D) directUnits(batch int) int {
	rows := c.directRows(batch)
	return batch * c.Groups * ((c.directRowCount() + rows - 1) / rows)
}

// directRows is how many output rows a unit of work of the direct path
// covers: all of them, unless images and groups give fewer than four units
// per worker.
func (c *Conv2D) directRows(batch int) int {
	base := batch * c.Groups
	n := c.directRowCount()
	blocks := min(n, (4*workers()+base-1)/base)
	return (n + blocks - 1) / blocks
}

// unitPad reports whether each unit of the direct path pads its group's
// input channels itself, into a buffer of its worker's, rather than all
// units reading the padded input written for them all before: when the
// input has to be padded and each unit covers a group's whole output
// planes, so that no two units pad the same channels. The buffer stays in
// cache, where the padded input of the whole layer, as large as the input,
// went out to memory and came back: SK-GRCNN-55's grouped direct layers at
// batch 1 2.42 → 1.88 ms a forward, its strided ones 0.88 → 0.45 ms (the
// model 6% faster in six alternating pairs, SK-GRCNN-109 2%, GRCNN-55 4%).
func (c *Conv2D) unitPad(batch int) bool {
	return !c.direct.inPlace && c.plan.path == pathDirect && c.directRows(batch) >= c.directRowCount()
}

// unitPadLen is the length of a worker's padded group with unitPad: the
// stride phases of its input channels, then the slack.
func (c *Conv2D) unitPadLen() int {
	return c.InC/c.Groups*c.chanLen() + c.slack()
}

// directUnit computes unit u of the direct path as worker w: a block of
// output rows of one group of one image, all of the group's channels.
func (cl *convCall) directUnit(u, w int) {
	c, p, d := cl.c, &cl.c.plan, &cl.c.direct
	rows := c.directRows(cl.batch)
	nrows, rowLen := c.directRowCount(), c.directRowLen()
	blocks := (nrows + rows - 1) / rows
	oh0 := u % blocks * rows
	u /= blocks
	g, b := u%c.Groups, u/c.Groups
	var src []float32 // the group's padded input, or its input
	if !c.unitPad(cl.batch) {
		src = cl.bSource(b, g)
	} else {
		n, cl1 := c.unitPadLen(), c.chanLen()
		src = cl.scratch[w*n : (w+1)*n]
		icg := c.InC / c.Groups
		inPlane := c.InH * c.InW
		for j := range icg {
			ic := g*icg + j
			c.padChannel(src[j*cl1:(j+1)*cl1], cl.in[(b*c.InC+ic)*inPlane:(b*c.InC+ic+1)*inPlane], ic)
		}
		clear(src[icg*cl1:])
	}
	outPlane := c.OutH * c.OutW
	// Where row oh starts in src: rows of the padded input are pw apart.
	rowStride := p.pw
	var ascale, ashift []float32 // the prologue, applied here in place
	if d.inPlace && c.InScale != nil {
		icg := c.InC / c.Groups
		ascale, ashift = c.InScale[g*icg:(g+1)*icg], c.InShift[g*icg:(g+1)*icg]
	}
	for i := range d.panels {
		r0, r1 := panelStart(p.m, d.panels, i), panelStart(p.m, d.panels, i+1)
		ch := g*p.m + r0 // the panel's first channel
		if d.rows {
			end := min(oh0+rows, nrows)
			for oh := oh0; oh < end; oh += d.v {
				n := min(d.v, end-oh)
				c.directRowsCall(r1-r0, ch, n, src[oh*rowStride:], cl.out[(b*c.OutC+ch)*outPlane+oh*rowLen:], outPlane, rowStride, rowLen)
			}
			continue
		}
		for oh := oh0; oh < min(oh0+rows, nrows); oh++ {
			for j0 := 0; j0 < rowLen; j0 += 16 * d.v {
				width := min(16*d.v, rowLen-j0)
				c.directCall(r1-r0, ch, src[oh*rowStride+j0:], cl.out[(b*c.OutC+ch)*outPlane+oh*rowLen+j0:], outPlane, width, ascale, ashift)
			}
		}
	}
}

// directCall computes width ≤ 16·v pixels of output channels [ch, ch+h)
// (of one panel) into dst, row stride ldc, from the input rows at the
// offsets from in, through the prologue ascale, ashift (nil: none).
func (c *Conv2D) directCall(h, ch int, in, dst []float32, ldc, width int, ascale, ashift []float32) {
	p := &c.plan
	flags := gemmEpilogue{scale: c.Scale, shift: c.Shift, relu: c.Relu}.flags()
	a := c.wp[ch*p.k : (ch+h)*p.k]
	if !useAVX512 {
		directGo(h, a, in, c.offs, dst, ldc, width, flags, c.Scale, c.Shift, ch, ascale, ashift, c.InRelu)
		return
	}
	var scale, shift *float32
	if c.Scale != nil {
		scale = &c.Scale[ch]
	}
	if c.Shift != nil {
		shift = &c.Shift[ch]
	}
	v := (width + 15) / 16
	mask := uint16(1)<<(width-16*(v-1)) - 1 // 1<<16 wraps to 0: all 16
	_ = dst[(h-1)*ldc+width-1]
	if ascale != nil {
		directActKernels[v-1][h-1](p.k, &a[0], (*float32)(unsafe.Pointer(&in[0])), &c.offs[0],
			&dst[0], ldc, flags, scale, shift, mask, &ascale[0], &ashift[0], c.InRelu)
		return
	}
	directKernels[v-1][h-1](p.k, &a[0], (*float32)(unsafe.Pointer(&in[0])), &c.offs[0],
		&dst[0], ldc, flags, scale, shift, mask)
}

// directRowsCall computes n rows of output channels [ch, ch+h) (of one
// panel) into dst, row stride ldc, rows outStride floats apart, from the
// input rows at the offsets from in, the input of output row j inStride
// floats after row 0's. The rows are at most 16 pixels.
func (c *Conv2D) directRowsCall(h, ch, n int, in, dst []float32, ldc, inStride, outStride int) {
	if n == 1 || !useAVX512 {
		for j := range n {
			c.directCall(h, ch, in[j*inStride:], dst[j*outStride:], ldc, c.OutW, nil, nil)
		}
		return
	}
	p := &c.plan
	flags := gemmEpilogue{scale: c.Scale, shift: c.Shift, relu: c.Relu}.flags()
	a := c.wp[ch*p.k : (ch+h)*p.k]
	var scale, shift *float32
	if c.Scale != nil {
		scale = &c.Scale[ch]
	}
	if c.Shift != nil {
		shift = &c.Shift[ch]
	}
	_ = dst[(h-1)*ldc+(n-1)*outStride+c.OutW-1]
	directRowsKernels[n-2][h-1](p.k, &a[0], (*float32)(unsafe.Pointer(&in[0])), &c.offs[0],
		&dst[0], ldc, flags, scale, shift, uint16(1)<<c.OutW-1, 4*inStride, 4*outStride)
}

// directColumns computes columns [0, nt) of group g's output on the direct
// path of a 1×1 convolution (inPlace) from src, the group's input from the
// first of those columns on, into dst, the group's channels in rows of nt
// floats.
func (c *Conv2D) directColumns(src []float32, g, nt int, dst []float32) {
	p, d := &c.plan, &c.direct
	var ascale, ashift []float32
	if c.InScale != nil {
		icg := c.InC / c.Groups
		ascale, ashift = c.InScale[g*icg:(g+1)*icg], c.InShift[g*icg:(g+1)*icg]
	}
	for i := range d.panels {
		r0, r1 := panelStart(p.m, d.panels, i), panelStart(p.m, d.panels, i+1)
		for j0 := 0; j0 < nt; j0 += 16 * d.v {
			c.directCall(r1-r0, g*p.m+r0, src[j0:], dst[r0*nt+j0:], nt, min(16*d.v, nt-j0), ascale, ashift)
		}
	}
}

// directGo is the portable direct kernel: h channels of one output row,
// width pixels, from the weights a (k columns of h floats) and the input
// rows src[offs[p]:] (read through the prologue ascale, ashift, arelu when
// ascale is not nil), through the epilogue of channels ch, ch+1, ...
func directGo(h int, a, src []float32, offs []int32, dst []float32, ldc, width, flags int, scale, shift []float32, ch int, ascale, ashift []float32, arelu bool) {
	var acc, xs [16 * directMaxVectors]float32
	for r := range h {
		row := acc[:width]
		clear(row)
		for p, o := range offs {
			w := a[p*h+r]
			x := src[o : int(o)+width]
			if ascale != nil {
				x = xs[:width]
				scaleShift(x, src[o:int(o)+width], ascale[p], ashift[p], arelu)
			}
			for j := range row {
				row[j] += w * x[j]
			}
		}
		s, t := float32(1), float32(0)
		if flags&kScale != 0 {
			s = scale[ch+r]
		}
		if flags&kShift != 0 {
			t = shift[ch+r]
		}
		out := dst[r*ldc : r*ldc+width]
		for j, v := range row {
			v = float32(v*s) + t
			if flags&kRelu != 0 {
				v = max(v, 0)
			}
			out[j] = v
		}
	}
}
