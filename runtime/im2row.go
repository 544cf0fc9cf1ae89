package runtime

import "slices"

// The im2row path (Conv2D.Im2Row) turns the GEMM around: output pixels are
// its rows, broadcast from packed panels of the input, and output channels
// its columns, 32 to a pair of vectors of the weights, packed once at
// Prepare. A layer with a small output, 7×7 or 14×14, fills the
// micro-kernel's 32 columns badly when they are pixels: 49 outputs take two
// panels of 32, and the zero-padded stride phases of the other path add two
// columns to every row. Its output channels, hundreds of them, fill whole
// panels, and its pixels split evenly into rows (49 as 9, 10, 10, 10, 10).
//
// A grouped convolution is one such GEMM per group, over the group's input
// and output channels. Each unit of work is, for one group, a block of pixel
// panels (of any images of the batch) times a block of output-channel
// panels (see rowSplit). For each block of kc columns of the im2row matrix
// it packs its pixel panels, or finds them in its worker's copy (see
// rowCopies), or reads them in place from shifted planes of the input (see
// packPlanes), the input read through the prologue, and multiplies them by
// the weights into a tile of pixels × channels; at the end it writes the
// tile transposed into the NCHW output,
// through the epilogue or the fused state update. The sums run over k in
// the same order and blocks as on the other path, with the same
// micro-kernel, so both give the same bits.

// rowPlan is what Prepare derives for the im2row path.
type rowPlan struct {
	npix   int // pixels of an output image: rows per image
	panels int // pixel panels per image, rowPanels(npix)
	q      int // panels of nr output channels per group
	// Row (input channel ic, tap t) of pixel panel i holds, for each of
	// its pixels j, the input at ic·InH·InW + shift[t] + origin, where
	// origin is the pixel's window origin (oh·SH-PH)·InW + ow·SW-PW, or 0
	// where masks[i·taps+t] does not select j (the padding). When
	// contiguous (stride 1, an output as wide as the input) the origins of
	// a panel are consecutive, p0-PH·InW-PW+j, and its rows are masked
	// runs of the input; otherwise origins[16·i+j] holds them and the rows
	// are gathered.
	contiguous bool
	shift      []int32
	masks      []uint16
	origins    []int32
	// Where a panel's origins lie within 32 floats of its first (near[i]:
	// a strided panel within one input row), win[i·taps+t] marks the
	// floats from that first origin that its lanes read through tap t, so
	// that its rows are loaded and permuted rather than gathered.
	near []bool
	win  []uint32
	// With contiguous and more than one tap, the copies of rowCopies are
	// the input's shifted planes (see packPlanes), prows rows of InW
	// floats each, and row p of a group's im2row matrix, input channel ic
	// through tap (ky, kx), is read in place at poffs[p] =
	// ((kx·InC + ic)·prows + ky·DH)·InW floats from the group's first
	// plane, plus the pixel.
	prows int
	poffs []int32
	pmax  int // the largest of poffs
	// With rowUnitPlanes, a unit's planes hold only its group's icg
	// channels: gplane floats an image, row p at goffs[p] =
	// ((kx·icg + ic)·prows + ky·DH)·InW.
	gplane int
	goffs  []int32
	gmax   int
}

// panel returns the pixels [p0, p1) of an image that pixel panel i holds.
func (r *rowPlan) panel(i int) (p0, p1 int) {
	return panelStart(r.npix, r.panels, i), panelStart(r.npix, r.panels, i+1)
}

// Limits of a unit of work on the im2row path: the tile of pixels ×
// channels it accumulates stays within rowTile floats (128 KiB, in L2 across
// the blocks of k), with up to rowMaxOB panels of channels.
const (
	offsAhead = 16 // steps the kernels prefetch A ahead (see gen_sgemm.go)
	rowTile   = 32 << 10
	rowMaxOB  = 4
)

// prepareIm2Row plans the im2row path and packs the weights transposed,
// group after group (k·q·nr floats each), panel after panel of nr output
// channels (k·nr floats each): row p of the group's im2row matrix holds its
// nr weights at (j·k + p)·nr in panel j, zero past the group's channels.
// A panel's blocks of kc rows follow each other, so a unit of work streams
// its panels' weights in a few long sequential runs.
func (c *Conv2D) prepareIm2Row() {
	k := c.plan.k
	taps := c.KH * c.KW
	m := c.plan.m
	r := rowPlan{npix: c.OutH * c.OutW, q: (m + nr - 1) / nr}
	r.panels = rowPanels(r.npix)
	r.contiguous = c.SH == 1 && c.SW == 1 && c.OutW == c.InW
	r.shift = make([]int32, taps)
	r.masks = make([]uint16, r.panels*taps)
	if !r.contiguous {
		r.origins = make([]int32, 16*r.panels)
	}
	for t := range taps {
		dy, dx := t/c.KW*c.DH, t%c.KW*c.DW
		r.shift[t] = int32(dy*c.InW + dx)
		for i := range r.panels {
			p0, p1 := r.panel(i)
			for p := p0; p < p1; p++ {
				y0, x0 := p/c.OutW*c.SH-c.PH, p%c.OutW*c.SW-c.PW
				if !r.contiguous {
					r.origins[16*i+p-p0] = int32(y0*c.InW + x0)
				}
				if ih, iw := y0+dy, x0+dx; ih >= 0 && ih < c.InH && iw >= 0 && iw < c.InW {
					r.masks[i*taps+t] |= 1 << (p - p0)
				}
			}
		}
	}
	if !r.contiguous {
		r.near = make([]bool, r.panels)
		r.win = make([]uint32, r.panels*taps)
		for i := range r.panels {
			p0, p1 := r.panel(i)
			o := r.origins[16*i : 16*i+p1-p0]
			if span := slices.Max(o) - o[0]; span < 0 || span >= 32 || slices.Min(o) != o[0] {
				continue
			}
			r.near[i] = true
			for t := range taps {
				for j := range o {
					if r.masks[i*taps+t]&(1<<j) != 0 {
						r.win[i*taps+t] |= 1 << (o[j] - o[0])
					}
				}
			}
		}
	}
	if r.contiguous && taps > 1 {
		r.prows = c.OutH + (c.KH-1)*c.DH
		r.poffs = make([]int32, k, k+offsAhead)
		for p := range r.poffs {
			ic, t := p/taps, p%taps
			r.poffs[p] = int32(((t%c.KW*c.InC+ic)*r.prows + t/c.KW*c.DH) * c.InW)
		}
		r.pmax = int(slices.Max(r.poffs))
		icg := c.InC / c.Groups
		r.gplane = c.KW * icg * r.prows * c.InW
		r.goffs = make([]int32, k, k+offsAhead)
		for p := range r.goffs {
			ic, t := p/taps, p%taps
			r.goffs[p] = int32(((t%c.KW*icg+ic)*r.prows + t/c.KW*c.DH) * c.InW)
		}
		r.gmax = int(slices.Max(r.goffs))
	}
	c.rows = r

	size := c.Groups * k * r.q * nr
	if cap(c.wp) < size {
		c.wp = weightBuffer(size)
	}
	c.wp = c.wp[:size]
	clear(c.wp)
	for g := range c.Groups {
		group := c.wp[g*k*r.q*nr:]
		for oc := range m {
			j, col := oc/nr, oc%nr
			for p, v := range c.Weight[(g*m+oc)*k : (g*m+oc+1)*k] {
				group[(j*k+p)*nr+col] = v
			}
		}
	}
}

// rowSplit returns the pixel panels (pb) and channel panels (ob) of a unit
// of work for a batch. When the pixel panels alone make four units or more
// per worker with at least rowWideMin panels each, as at batch 8, a unit
// takes all of a group's channels: it packs its own pixel panels, which no
// other unit reads, and multiplies them by every panel of weights, which
// stream from the shared cache (3×3 256→256 at 14×14, batch 8: 351
// GFLOP/s, against 281 with the pixel panels packed once and read by both
// cores). When they make at least rowWideMin panels per worker but not four
// units each, and the weights are small (rowEvenMax), as for 3×3 160→160
// at 16×16 at batch 1, each worker takes one such unit, an even share of
// the panels (see rowEvenMax). Otherwise, as at 7×7, units take whole
// channel blocks of rowMaxOB panels and as many pixel panels as the tile
// allows, then smaller blocks of channels, then of pixels, until every
// worker has four units or more to balance.
func (c *Conv2D) rowSplit(batch int) (pb, ob int) {
	r := &c.rows
	total := batch * r.panels
	want := 4 * workers()
	units := func() int { return c.Groups * ((total + pb - 1) / pb) * ((r.q + ob - 1) / ob) }
	ob = r.q
	if most := min(total, rowTile/(mr*ob*nr)); most >= rowWideMin {
		for pb = most; pb > rowWideMin && units() < want; pb-- {
		}
		if units() >= want {
			return pb, ob
		}
		w := workers()
		if c.Groups < w && total >= w*rowWideMin && len(c.wp) <= rowEvenMax {
			// Whole units per worker, each at most most panels.
			n := w * ((total + w*most - 1) / (w * most))
			return (total + n - 1) / n, ob
		}
	}
	ob = min(r.q, rowMaxOB)
	pb = min(total, max(1, rowTile/(mr*ob*nr)))
	for units() < want && ob > 1 {
		ob = (ob + 1) / 2
	}
	for units() < want && pb > 1 {
		pb = (pb + 1) / 2
	}
	return pb, ob
}

// rowEvenMax is the most floats of weights (1 MiB) for which rowSplit
// gives each worker an even share of the pixel panels with all channels
// rather than a share of the channels: every worker then streams all the
// weights, but packs only its own pixels, as one core alone does, where
// splitting the channels makes every worker pack the whole input and read
// it at offsets that no prefetcher follows (3×3 160→160 at 16×16: GRCNN-110
// at batch 1 3.6% faster). With larger weights, which come from memory in
// a model, reading them twice costs that again: 3×3 256→256 at 14×14 880 →
// 700 µs alone, level in GRCNN-109.
const rowEvenMax = 256 << 10

// rowWideMin is the fewest pixel panels (60 pixels) of a unit that takes
// all channels: each weight it streams serves that many pixels.
const rowWideMin = 5

// rowCopyMax is the most floats of packed pixel panels, for the whole
// batch, that each worker packs into a copy of its own (16 MiB).
const rowCopyMax = 4 << 20

// rowCopies reports whether each worker packs all of a batch's pixel
// panels once per Forward, into its own copy, the first time it needs them:
// when several units multiply the same panels by different blocks of
// channels and the panels are not too large. Packing them once for all
// workers instead makes each core read the panels the other packed, which
// costs more here than packing twice: lines written by one core come to
// the other 2–4× slower than from its own cache (3×3 256→256 at 14×14,
// batch 1: 263 → 342 GFLOP/s; 512→512 at 7×7: 252 → 342). Otherwise each
// unit packs its own panels, block by block of k, while they stay in cache.
func (c *Conv2D) rowCopies(batch int) bool {
	_, ob := c.rowSplit(batch)
	return c.rows.q > ob && c.rowCopyLen(batch) <= rowCopyMax
}

// rowPlanes reports whether the copies of rowCopies are the input's
// shifted planes rather than packed pixel panels: for stride-1
// convolutions as wide as their input, with more than one tap. A 1×1
// convolution's panels are no larger than its input, and read faster
// packed than in place (256→1024 at 14×14: 334 against 307 GFLOP/s).
func (c *Conv2D) rowPlanes(batch int) bool {
	return c.rows.poffs != nil && c.rowCopies(batch)
}

// rowUnitPlanes reports whether, without rowCopies, each unit writes the
// shifted planes of its group's channels, for the rows its pixels read,
// into a small buffer of its worker's, instead of packing pixel panels per
// block of k: when units split channels (not all of a group's in one
// unit), as for groups of a few channels: SK's 3×3 branches at 14×14,
// 8 channels a group, 7.5–7.9 → 6.7–6.8 ms a forward of SK-GRCNN-109 at
// batch 1 (the model 1.8% faster, GRCNN-55 3%). Units of all channels (wide, at batch 8) pack panels: there the kernels
// read them faster (3×3 256→256 at 14×14: 290–308 against 268–270 GFLOP/s
// from planes).
func (c *Conv2D) rowUnitPlanes(batch int) bool {
	if c.rows.poffs == nil || c.rowCopies(batch) || c.unitImages(batch)*c.rows.gplane > unitPlanesMax {
		return false
	}
	_, ob := c.rowSplit(batch)
	return ob < c.rows.q || c.rows.q == 1
}

// unitPlanesMax is the most floats of a unit's planes (1 MiB, within L2).
const unitPlanesMax = 256 << 10

// unitImages is the most images the pixel panels of one unit span.
func (c *Conv2D) unitImages(batch int) int {
	pb, _ := c.rowSplit(batch)
	return min(batch, (pb+c.rows.panels-1)/c.rows.panels+1)
}

// rowScratch is the scratch of the im2row path: with rowCopies, per
// worker its copy of the pixel panels (or planes), else per worker its own
// packed panels for a block of k (or a unit's planes); then per worker its tile of pixels × channels (with 16
// rows of slack for transposeOut) and 16 rows of the tile transposed, for
// the fused update.
func (c *Conv2D) rowScratch(batch int) (copies, worker int) {
	pb, ob := c.rowSplit(batch)
	rows := pb * mr
	switch {
	case c.rowPlanes(batch):
		// The planes, and a panel gathered from them for the kernels
		// without AVX-512.
		copies = workers() * c.rowCopyLen(batch)
		worker = mr * min(c.plan.k, kc)
	case c.rowCopies(batch):
		copies = workers() * c.rowCopyLen(batch)
	case c.rowUnitPlanes(batch):
		// A unit's planes, and a panel gathered from them for the
		// kernels without AVX-512.
		worker = c.unitImages(batch)*c.rows.gplane + mr*min(c.plan.k, kc)
	default:
		worker = rows * min(c.plan.k, kc)
	}
	return copies, worker + (rows+16)*ob*nr + 16*rows
}

// rowCopyLen is the length of one worker's copy of the pixel panels, or
// of the shifted planes: per image KW planes of prows·InW floats for each
// input channel.
func (c *Conv2D) rowCopyLen(batch int) int {
	if c.rows.poffs != nil {
		return batch * c.KW * c.InC * c.rows.prows * c.InW
	}
	return batch * c.Groups * c.rows.npix * c.plan.k
}

// copyPanel is pixel panel i of image b, rows [k0, k0+kl) of group g's
// im2row matrix, in worker w's copy of the packed panels: per image and
// group npix·k floats, per block of kc rows of k npix·kl floats, in which
// the panel of pixels [p0, p1) holds kl rows of p1-p0 floats from p0·kl on.
func (cl *convCall) copyPanel(w, b, g, i, k0, kl int) []float32 {
	c, r := cl.c, &cl.c.rows
	p0, p1 := r.panel(i)
	at := w*c.rowCopyLen(cl.batch) + (b*c.Groups+g)*r.npix*c.plan.k + k0*r.npix + p0*kl
	return cl.scratch[at : at+(p1-p0)*kl]
}

// groupInput is the input channels of group g of image b.
func (cl *convCall) groupInput(b, g int) []float32 {
	c := cl.c
	icg := c.InC / c.Groups
	inPlane := c.InH * c.InW
	return cl.in[(b*c.InC+g*icg)*inPlane : (b*c.InC+(g+1)*icg)*inPlane]
}

// planeImage is image b in worker w's copy of the shifted planes.
func (cl *convCall) planeImage(w, b int) []float32 {
	c := cl.c
	n := c.KW * c.InC * c.rows.prows * c.InW
	at := w*c.rowCopyLen(cl.batch) + b*n
	return cl.scratch[at : at+n]
}

// packPlanes writes into img rows [r0, r1) of the shifted planes of input
// channels [c0, c1) of image b: for each input channel
// and column tap kx, the channel read through the prologue with its rows
// padded to prows (PH zero rows above) and shifted by dx = kx·DW-PW
// columns, zero where a column leaves the row. Pixel p's input under tap
// (ky, kx) is then the plane's float p + ky·DH·InW, so that consecutive
// pixels, across rows too, read consecutive floats: an im2row matrix read
// in place, a third of the size of the pixel panels of a 3×3 convolution,
// and written in long runs instead of panel rows of 12 floats
// (GRCNN-109's 3×3 layers at 14×14, batch 1: 21.3 → 20.0 ms a forward).
func (cl *convCall) packPlanes(img []float32, b, r0, r1, c0, c1 int) {
	c := cl.c
	width, plane := c.InW, c.rows.prows*c.InW
	d0, d1 := max(r0, c.PH), min(r1, c.PH+c.InH) // the rows that hold input rows
	for ic := c0; ic < c1; ic++ {
		for kx := range c.KW {
			dst := img[(kx*(c1-c0)+ic-c0)*plane:][:plane]
			if d0 >= d1 {
				clear(dst[r0*width : r1*width])
				continue
			}
			clear(dst[r0*width : d0*width])
			clear(dst[d1*width : r1*width])
			d := dst[d0*width : d1*width]
			data := len(d)
			src := cl.in[(b*c.InC+ic)*c.InH*width+(d0-c.PH)*width:][:data]
			dx := kx*c.DW - c.PW
			if dx >= width || -dx >= width {
				clear(d)
				continue
			}
			if useAVX512 {
				// One call for all rows, the shift's zeros included
				// (see padPhases; d and src hold data floats).
				var s, t float32
				if c.InScale != nil {
					s, t = c.InScale[ic], c.InShift[ic]
				}
				padPhasesAVX512(&d[0], width, width, width, &src[0], width, width, -dx, d1-d0, s, t, padFlags(1, c.InScale != nil, c.InRelu))
				continue
			}
			// d[q] is the input at q+dx where that stays in q's row.
			// The columns to zero are few (one for a 3×3 kernel):
			// plain stores, not a call per row.
			if dx >= 0 {
				c.prologue(d[:data-dx], src[dx:], ic)
				clear(d[data-dx:])
				for row := width; row <= data; row += width {
					for x := row - dx; x < row; x++ {
						d[x] = 0
					}
				}
			} else {
				c.prologue(d[-dx:], src[:data+dx], ic)
				for row := 0; row < data; row += width {
					for x := row; x < row-dx; x++ {
						d[x] = 0
					}
				}
			}
		}
	}
}

// packUnitPlanes writes into buf the rows of group grp's planes that the
// pixel panels [g0, g1) of the batch read, gplane floats for each image
// they span.
func (cl *convCall) packUnitPlanes(buf []float32, g0, g1, grp int) {
	c, r := cl.c, &cl.c.rows
	icg := c.InC / c.Groups
	for gp := g0; gp < g1; {
		b := gp / r.panels
		end := min(g1, (b+1)*r.panels)
		p0 := panelStart(r.npix, r.panels, gp%r.panels)
		p1 := panelStart(r.npix, r.panels, (end-1)%r.panels+1)
		// Output rows [y0, y1] read plane rows [y0, y1+(KH-1)·DH].
		y0, y1 := p0/c.OutW, (p1-1)/c.OutW
		img := buf[(b-g0/r.panels)*r.gplane:][:r.gplane]
		cl.packPlanes(img, b, y0, y1+(c.KH-1)*c.DH+1, grp*icg, (grp+1)*icg)
		gp = end
	}
}

// prologue writes src read through the input prologue of channel ic, if
// any, into dst.
func (c *Conv2D) prologue(dst, src []float32, ic int) {
	if c.InScale == nil {
		copy(dst, src)
		return
	}
	scaleShift(dst, src, c.InScale[ic], c.InShift[ic], c.InRelu)
}

// packCopy packs all pixel panels of the batch into worker w's copy.
func (cl *convCall) packCopy(w int) {
	c, r := cl.c, &cl.c.rows
	for b := range cl.batch {
		for g := range c.Groups {
			for i := range r.panels {
				p0, p1 := r.panel(i)
				for k0 := 0; k0 < c.plan.k; k0 += kc {
					kl := min(kc, c.plan.k-k0)
					c.packRowPanel(cl.copyPanel(w, b, g, i, k0, kl), cl.groupInput(b, g), g, i, p0, p1-p0, k0, kl, c.KH*c.KW)
				}
			}
		}
	}
}

// rowUnit computes unit u of the im2row path as worker w.
func (cl *convCall) rowUnit(u, w int) {
	c, r := cl.c, &cl.c.rows
	k := c.plan.k
	taps := c.KH * c.KW
	ocBlocks := (r.q + cl.ob - 1) / cl.ob
	pixBlocks := (cl.batch*r.panels + cl.pb - 1) / cl.pb
	j0 := u % ocBlocks * cl.ob
	j1 := min(j0+cl.ob, r.q)
	u /= ocBlocks
	g0 := u % pixBlocks * cl.pb
	g1 := min(g0+cl.pb, cl.batch*r.panels)
	grp := u / pixBlocks
	m := c.plan.m
	// The unit's output channels, within the group and in the output.
	oc0, oc1 := j0*nr, min(j1*nr, m)
	ldc := cl.ob * nr

	copies, ws := c.rowScratch(cl.batch)
	wsc := cl.scratch[copies+w*ws : copies+(w+1)*ws]
	rows := cl.pb * mr
	planes, unitPlanes := cl.planes, cl.unitPlanes
	var aBuf, ubuf []float32
	if copies == 0 || planes {
		aBuf = wsc[:ws-(rows+16)*ldc-16*rows]
	}
	if copies > 0 && !cl.packed[w] {
		if planes {
			for b := range cl.batch {
				cl.packPlanes(cl.planeImage(w, b), b, 0, r.prows, 0, c.InC)
			}
		} else {
			cl.packCopy(w)
		}
		cl.packed[w] = true
	}
	tile := wsc[len(aBuf) : len(aBuf)+(rows+16)*ldc]
	tmp := wsc[len(aBuf)+len(tile):]
	if unitPlanes {
		// The unit's planes, then the panel the kernels without
		// AVX-512 gather.
		n := c.unitImages(cl.batch) * r.gplane
		ubuf, aBuf = aBuf[:n], aBuf[n:]
		cl.packUnitPlanes(ubuf, g0, g1, grp)
	}

	for k0 := 0; k0 < k; k0 += kc {
		kl := min(kc, k-k0)
		if copies == 0 && !unitPlanes {
			// Pack the unit's pixel panels for rows [k0, k0+kl) of the
			// im2row matrix, panel after panel, each kl rows of h pixels.
			at := 0
			for gp := g0; gp < g1; gp++ {
				b, i := gp/r.panels, gp%r.panels
				p0, p1 := r.panel(i)
				c.packRowPanel(aBuf[at*kl:(at+p1-p0)*kl], cl.groupInput(b, grp), grp, i, p0, p1-p0, k0, kl, taps)
				at += p1 - p0
			}
		}
		flags := 0
		if k0 > 0 {
			flags = kAccumulate
		}
		wg := c.wp[grp*k*r.q*nr:] // the group's weights
		at := 0
		for gp := g0; gp < g1; gp++ {
			i := gp % r.panels
			p0, p1 := r.panel(i)
			h := p1 - p0
			var a []float32
			switch {
			case planes || unitPlanes:
				// Pixels [p0, p1) of the group's planes, read in
				// place at the offsets of rows [k0, k0+kl).
				var base []float32
				var offs []int32
				var most int
				if planes {
					img := cl.planeImage(w, gp/r.panels)
					base, offs, most = img[grp*(c.InC/c.Groups)*r.prows*c.InW+p0:], r.poffs[k0:k0+kl], r.pmax
				} else {
					img := ubuf[(gp/r.panels-g0/r.panels)*r.gplane:]
					base, offs, most = img[p0:], r.goffs[k0:k0+kl], r.gmax
				}
				if useAVX512 {
					_ = base[most+h-1]
					for j := j0; j < j1; j++ {
						offsKernel(h, kl, &base[0], &offs[0], &wg[(j*k+k0)*nr], &tile[at*ldc+(j-j0)*nr], ldc, flags, min(nr, m-j*nr))
					}
					at += h
					continue
				}
				a = aBuf[:kl*h]
				for p, o := range offs {
					copy(a[p*h:(p+1)*h], base[o:])
				}
			case copies == 0:
				a = aBuf[at*kl : (at+h)*kl]
			default:
				a = cl.copyPanel(w, gp/r.panels, grp, i, k0, kl)
			}
			for j := j0; j < j1; j++ {
				microKernel(h, kl, &a[0], &wg[(j*k+k0)*nr], &tile[at*ldc+(j-j0)*nr], ldc, flags, nil, nil, min(nr, m-j*nr))
			}
			at += h
		}
	}

	// Write the tile transposed, one run of an image's pixels at a time,
	// 16 channels at a time.
	at := 0
	for gp := g0; gp < g1; {
		b := gp / r.panels
		end := min(g1, (b+1)*r.panels) // the unit's panels of image b
		p0 := panelStart(r.npix, r.panels, gp%r.panels)
		p1 := panelStart(r.npix, r.panels, (end-1)%r.panels+1)
		n := p1 - p0
		for c0 := oc0; c0 < oc1; c0 += 16 {
			cols := min(16, oc1-c0)
			ch := grp*m + c0 // the first of these channels in the output
			ep := gemmEpilogue{relu: c.Relu}
			if c.Scale != nil {
				ep.scale = c.Scale[ch : ch+cols]
			}
			if c.Shift != nil {
				ep.shift = c.Shift[ch : ch+cols]
			}
			src := tile[at*ldc+c0-oc0:]
			base := (b*c.OutC+ch)*r.npix + p0
			if !c.Update {
				transposeOut(cl.out[base:], r.npix, src, ldc, n, cols, ep)
				continue
			}
			// The state update, on each channel's row of r while it is
			// in cache; in one call when the rows cover whole images, as
			// the channels of xs, g and xg then follow each other.
			transposeOut(tmp, n, src, ldc, n, cols, ep)
			if n == r.npix {
				xs := cl.out[base : base+cols*n]
				if cl.g == nil {
					addInto(xs, xs, tmp[:cols*n])
				} else {
					gateUpdate(xs, tmp[:cols*n], cl.g[base:base+cols*n], cl.xg[base:base+cols*n])
				}
				continue
			}
			for j := range cols {
				xs := cl.out[base+j*r.npix : base+j*r.npix+n]
				rr := tmp[j*n : (j+1)*n]
				if cl.g == nil {
					addInto(xs, xs, rr)
				} else {
					o := base + j*r.npix
					gateUpdate(xs, rr, cl.g[o:o+n], cl.xg[o:o+n])
				}
			}
		}
		at += n
		gp = end
	}
}

// transposeOut writes columns [0, cols) of rows [0, n) of a tile (row
// stride ldc, a multiple of 16, readable for 16 columns and for rows up to
// the next multiple of 16) as rows of dst (row stride ldd), through the
// epilogue of at most 16 channels ep.
func transposeOut(dst []float32, ldd int, tile []float32, ldc, n, cols int, ep gemmEpilogue) {
	_ = dst[(cols-1)*ldd+n-1]
	if useAVX512 {
		_ = tile[((n+15)&^15-1)*ldc+15]
		var sp, tp *float32
		if ep.scale != nil {
			sp = &ep.scale[:cols][0]
		}
		if ep.shift != nil {
			tp = &ep.shift[:cols][0]
		}
		flags := ep.flags()
		for r0 := 0; r0 < n; r0 += 16 {
			transposeAVX512(&tile[r0*ldc], 4*ldc, &dst[r0], 4*ldd, min(16, n-r0), cols, flags, sp, tp)
		}
		return
	}
	for j := range cols {
		s, t := float32(1), float32(0)
		if ep.scale != nil {
			s = ep.scale[j]
		}
		if ep.shift != nil {
			t = ep.shift[j]
		}
		row := dst[j*ldd : j*ldd+n]
		for p := range row {
			v := tile[p*ldc+j]
			v = float32(v*s) + t
			if ep.relu {
				v = max(v, 0)
			}
			row[p] = v
		}
	}
}

// packRowPanel packs pixel panel i of one image (its h pixels from p0) for
// rows [k0, k0+kl) of group g's im2row matrix into dst: row p of the block,
// the group's input channel (k0+p)/taps (of in, the group's input) through
// tap (k0+p)%taps, as h consecutive floats, read through the prologue, zero
// in the padding.
func (c *Conv2D) packRowPanel(dst, in []float32, g, i, p0, h, k0, kl, taps int) {
	r := &c.rows
	ic0, t0 := k0/taps, k0%taps
	var scale, shift []float32
	if c.InScale != nil {
		first, last := g*(c.InC/c.Groups)+ic0, g*(c.InC/c.Groups)+(k0+kl-1)/taps
		scale, shift = c.InScale[first:last+1], c.InShift[first:last+1]
	}
	offs, masks := c.offs[k0:k0+kl], r.masks[i*taps:(i+1)*taps]
	if r.contiguous {
		// Pixel p0+j's origin is p0+j-PH·InW-PW: the -PH·InW-PW is in
		// offs (see Prepare).
		im2rowPack(dst[:kl*h], in, p0, nil, offs, masks, t0, h, scale, shift, c.InRelu, nil, 0)
	} else {
		var win []uint32
		if r.near[i] {
			win = r.win[i*taps : (i+1)*taps]
		}
		origins := r.origins[16*i : 16*i+16]
		im2rowPack(dst[:kl*h], in, 0, origins, offs, masks, t0, h, scale, shift, c.InRelu, win, int(origins[0]))
	}
}

// im2rowPackGo is the portable im2rowPack.
func im2rowPackGo(dst, src []float32, base int, origins, offs []int32, masks []uint16, t0, h int, scale, shift []float32, relu bool) {
	taps := len(masks)
	t, ic := t0, 0
	for p, o := range offs {
		row := dst[p*h : (p+1)*h]
		m := masks[t]
		for j := range row {
			if m&(1<<j) == 0 {
				row[j] = 0
				continue
			}
			at := base + int(o) + j
			if origins != nil {
				at = base + int(o) + int(origins[j])
			}
			v := src[at]
			if scale != nil {
				v = v*scale[ic] + shift[ic]
				if relu {
					v = max(v, 0)
				}
			}
			row[j] = v
		}
		if t++; t == taps {
			t, ic = 0, ic+1
		}
	}
}
