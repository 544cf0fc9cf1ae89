package runtime

import (
	"fmt"
	"sync"
)

// Winograd is a dense 3×3 convolution with stride 1 and dilation 1
// (groups 1, any zero padding) computed with Winograd's minimal filtering
// F(4×4, 3×3), F(2×2, 3×3) or F(4×2, 3×3) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016), with the same fused epilogue as
// Conv2D.
//
// With F(4×4, 3×3) each 4×4 tile of output comes from a 6×6 tile of input.
// In the transformed domain the convolution is 36 independent matrix
// multiplies, one per point ξ of the 6×6 tile: U[ξ] (OutC×InC, the
// transformed weights) times V[ξ] (InC×tiles, the transformed input). That
// is 36 multiplies per 16 outputs instead of 144, 4× fewer; the transforms
// are additions, vectorised across 16 tiles. Rounding grows by about an
// order of magnitude over the direct convolution and stays far below 1e-5
// relative in float32.
//
// F(2×2, 3×3) takes 2×2 tiles of output from 4×4 tiles of input: 16
// multiplies per 4 outputs instead of 36, 2.25× fewer, with transformed
// weights 16/9 the size of the kernel's instead of 4×. Small outputs such
// as 14×14 make 49 full tiles an image where F(4×4) would make 16 tiles
// with a quarter of their outputs padding, too few for two cores, and at
// batch 1, where each weight serves one image's tiles, the smaller U comes
// from memory faster.
//
// F(4×2, 3×3) is the two along different axes: 4 rows and 2 columns of
// output from 6×4 of input, 24 multiplies per 8 outputs instead of 72 (see
// inputTile42). Its 14×14 image is 28 tiles, one packed panel, whose
// products run turned around (see tileRowsFor).
//
// The work is split into blocks of at most nr (32) tiles, the width of one
// packed B panel: a block's transformed input is packed B as it is written,
// and its 36 products fit in cache before the output transform reads them.
type Winograd struct {
	InC, InH, InW    int
	OutC, OutH, OutW int
	PH, PW           int       // zero padding
	Weight           []float32 // OutC × InC × 3 × 3, PyTorch layout
	// TileH and TileW are the output tiles' rows and columns: 4×4 for
	// F(4×4, 3×3) (also when both are 0), 2×2 for F(2×2, 3×3) or 4×2 for
	// F(4×2, 3×3).
	TileH, TileW int

	// The epilogue, as in Conv2D: y = acc*Scale[c] + Shift[c], then ReLU.
	Scale, Shift []float32
	Relu         bool

	// The input prologue, as in Conv2D (a pre-activation BatchNorm and
	// ReLU, applied as the input is padded).
	InScale, InShift []float32
	InRelu           bool

	u []float32 // per ξ, the transformed weights packed by packA, or with tileRows by packRows, transposed
	// tileRows turns the products around: the tiles are the GEMM's rows
	// and the output channels its vector columns (see tileRowsFor).
	tileRows bool
	tiling   *winoTiling
	mh, mw   int // the output tile's rows and columns
	ah, aw   int // the input tile's, mh+2 and mw+2
	points   int // the points ξ of a transformed tile, ah·aw
	th, tw   int // tiles per column and per row of an image
	pw       int // length of one phase of a padded row (tw+1)
	// imageBlocks[i] is the first tile of block i of an image, in the
	// blocks of whole segments within one image (see blockCount), and
	// its last element the image's tile count.
	imageBlocks []int
	// ownRows and runRows are the most padded rows of one image that a
	// block's tiles read, for blocks within an image and for runs.
	ownRows, runRows int
	// onePart and guided are ocParts' answers, made once so that Forward
	// allocates nothing.
	onePart, guided []int
	ready           bool // Prepare succeeded
}

// winoSeg is a run of at most 16 tiles of one tile row of one image: the
// unit of the vectorised transforms.
type winoSeg struct {
	ty, tx, n int // tile row, first tile column, tiles
	lane      int // column of the block's packed panel its first tile takes
	part      int // the block's image part it lies in (see winoPart)
	// n2 is the tiles of tile row ty+1, from its first, that follow in
	// lanes n on: whole rows of at most 8 tiles are paired, so that one
	// pass of the transforms takes both (see pairs).
	n2 int
}

// winoPart is the run of a block's tiles that lie in one image, and the
// padded input rows they read.
type winoPart struct {
	b      int // image
	ty0    int // first tile row
	r0, nr int // padded rows [r0, r0+nr)
}

// winoBlockMax bounds the segments and image parts of one block: it has at
// most nr tiles, and each segment or part at least one.
const winoBlockMax = nr

// winoCall holds the arguments of the Forward in progress (see convCall).
// Each Forward takes its own from winoCalls, so goroutines may share a
// Winograd.
type winoCall struct {
	loop
	c                *Winograd
	in, out, scratch []float32
	batch            int
	parts            []int       // the output channels' row panels that start each part (see ocParts), and the panels' count
	private          [][]float32 // per worker, its scratch, when winoScratch was free
	// transformed[w] is the block whose transformed input worker w's
	// scratch holds in this call, or -1: its later units of other parts
	// of that block reuse it.
	transformed []int
}

// winoScratch holds the workers' scratch of Winograd calls, which stays in
// each core's cache from one call to the next (see privateScratch).
var winoScratch privateScratch

var winoCalls calls[winoCall]

// winoTransformed is the transformed weights before packing, one layer's
// at a time: reused from one Prepare to the next, since a temporary for
// each of a model's Winograd layers, megabytes each, raised the peak
// memory of loading GRCNN-110 by about 30 MB (garbage the collector lets
// pile up to the size of the live heap).
var winoTransformed struct {
	sync.Mutex
	buf []float32
}

// winoPoints is the most points of a transformed tile, 6×6.
const winoPoints = 36

// WinogradApplies reports whether a convolution can use Winograd: 3×3,
// stride 1, dilation 1, one group.
func WinogradApplies(kh, kw, sh, sw, dh, dw, groups int) bool {
	return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1
}

// Prepare validates the fields, transforms and packs the weights and plans
// the tiles. It must be called once after the weights are loaded and before
// Forward.
func (c *Winograd) Prepare() error {
	conv := Conv2D{InC: c.InC, InH: c.InH, InW: c.InW, OutC: c.OutC, OutH: c.OutH, OutW: c.OutW,
		KH: 3, KW: 3, SH: 1, SW: 1, PH: c.PH, PW: c.PW, DH: 1, DW: 1, Groups: 1,
		Weight: c.Weight, Scale: c.Scale, Shift: c.Shift, InScale: c.InScale, InShift: c.InShift}
	if err := conv.validate(); err != nil {
		c.ready = false
		return fmt.Errorf("runtime: Winograd: %w", err)
	}
	c.tiling = nil
	mh, mw := c.TileH, c.TileW
	if mh == 0 && mw == 0 {
		mh, mw = 4, 4
	}
	for i := range winoTilings {
		if t := &winoTilings[i]; t.mh == mh && t.mw == mw {
			c.tiling = t
		}
	}
	if c.tiling == nil {
		c.ready = false
		return fmt.Errorf("runtime: Winograd: tiles of %d×%d outputs, want 4×4, 2×2 or 4×2", c.TileH, c.TileW)
	}
	c.mh, c.mw = mh, mw
	c.ah, c.aw = mh+2, mw+2
	c.points = c.ah * c.aw
	c.th, c.tw = (c.OutH+mh-1)/mh, (c.OutW+mw-1)/mw
	c.pw = c.tw + 1

	// Transform the weights: U = G g Gᵀ for every (oc, ic), then pack each
	// point's OutC×InC matrix for the micro-kernel.
	k := c.InC
	winoTransformed.Lock()
	defer winoTransformed.Unlock()
	if n := c.points * c.OutC * k; cap(winoTransformed.buf) < n {
		winoTransformed.buf = make([]float32, n)
	}
	ut := winoTransformed.buf[:c.points*c.OutC*k]
	for oc := range c.OutC {
		for ic := range k {
			var u [winoPoints]float32
			c.weightTile(&u, c.Weight[(oc*k+ic)*9:])
			for xi, v := range u[:c.points] {
				ut[(xi*c.OutC+oc)*k+ic] = v
			}
		}
	}
	c.tileRows = tileRowsFor(c.th * c.tw)
	n := len(ut)
	if c.tileRows {
		n = c.points * packedLen(k, c.OutC)
	}
	if cap(c.u) < n {
		c.u = weightBuffer(n)
	}
	c.u = c.u[:n]
	for xi := range c.points {
		m := c.OutC * k
		if c.tileRows {
			// Uᵀ[ξ], InC×OutC, in panels of nr output channels: the B
			// operand of the turned-around products.
			pl := packedLen(k, c.OutC)
			packTransposed(c.u[xi*pl:(xi+1)*pl], ut[xi*m:(xi+1)*m], c.OutC, k)
			continue
		}
		packA(c.u[xi*m:(xi+1)*m], ut[xi*m:], c.OutC, k, k)
	}

	// Blocks within an image gather its segments of at most 16 tiles of a
	// tile row, whole, up to nr tiles.
	c.imageBlocks = c.imageBlocks[:0]
	lanes := nr
	for ty := range c.th {
		for tx := 0; tx < c.tw; tx += 16 {
			n := min(16, c.tw-tx)
			if lanes+n > c.blockMax() {
				c.imageBlocks = append(c.imageBlocks, ty*c.tw+tx)
				lanes = 0
			}
			lanes += n
		}
	}
	c.imageBlocks = append(c.imageBlocks, c.th*c.tw)
	c.ownRows = 0
	for i := range len(c.imageBlocks) - 1 {
		first, last := c.imageBlocks[i]/c.tw, (c.imageBlocks[i+1]-1)/c.tw
		c.ownRows = max(c.ownRows, c.mh*(last-first)+c.ah)
	}
	// A run's at most nr consecutive tiles of an image span at most this
	// many tile rows of it.
	spanned := min(c.th, (nr-1)/c.tw+2)
	c.runRows = max(c.ownRows, c.mh*(spanned-1)+c.ah)
	np := c.ocPanels()
	c.onePart, c.guided = []int{0, np}, nil
	if w := workers(); np >= w {
		c.guided = guidedBlocks(np, w)
	}
	c.ready = true
	return nil
}

// blockCount is the number of blocks of tiles of a batch, and whether
// they are runs of the batch's tiles (image after image, row after row)
// rather than blocks within each image (imageBlocks). A block's tiles are
// the columns of one packed B panel, nr wide. Blocks within an image keep
// their tile rows whole, which pads fewest rows, but leave panels part
// empty: 14×14's 49 tiles (F(2×2)) fill two 77%, 7×7's 16 one half. Runs
// across the batch fill them: at batch 8 F(2×2) at 7×7 512→512 took 3.8
// ms instead of 5.1, F(4×4) at 14×14 256→256 2.9 instead of 3.5. Their
// count is a multiple of the workers' when it is small, so that each gets
// as many, unless that would leave blocks under half full.
func (c *Winograd) blockCount(batch int) (n int, runs bool) {
	own := batch * (len(c.imageBlocks) - 1)
	if c.tileRows {
		// An image's tiles fill the rows of whole tile panels already.
		return own, false
	}
	total := batch * c.th * c.tw
	n = (total + nr - 1) / nr
	if w := workers(); n < 4*w && n%w != 0 {
		if r := (n + w - 1) / w * w; total >= r*nr/2 {
			n = r
		}
	}
	// Runs pad more rows, those of tile rows that two blocks share: they
	// pay when they save a fifth of the blocks, or an eighth where 256
	// output channels or more make each block's GEMM weigh more (batch
	// 8: 14×14 256→256 F(2×2), 16 → 14 blocks, 4% faster, GRCNN-109 2.7%;
	// 28×28 128→128 F(4×4), 16 → 14, 3% slower).
	if save := own - n; save*5 < own && (save*8 < own || c.OutC < 256) {
		return own, false
	}
	return n, true
}

// blockTiles returns the tiles [t0, t1) of block bi of the batch's nb.
func (c *Winograd) blockTiles(batch, nb, bi int, runs bool) (t0, t1 int) {
	per := c.th * c.tw
	if runs {
		return bi * batch * per / nb, (bi + 1) * batch * per / nb
	}
	b, i := bi/(len(c.imageBlocks)-1), bi%(len(c.imageBlocks)-1)
	return b*per + c.imageBlocks[i], b*per + c.imageBlocks[i+1]
}

// blockLayout splits tiles [t0, t1) of the batch into segments and image
// parts, and returns how many of each it wrote.
func (c *Winograd) blockLayout(t0, t1 int, segs *[winoBlockMax]winoSeg, parts *[winoBlockMax]winoPart) (ns, np int) {
	per := c.th * c.tw
	for t := t0; t < t1; {
		b, i := t/per, t%per
		ty, tx := i/c.tw, i%c.tw
		n := min(16, c.tw-tx, t1-t)
		if np == 0 || parts[np-1].b != b {
			parts[np] = winoPart{b: b, ty0: ty, r0: c.mh * ty}
			np++
		}
		// Segments come in order: the last one of a part sets its rows.
		parts[np-1].nr = c.mh*(ty-parts[np-1].ty0) + c.ah
		if ns > 0 && c.pairs(&segs[ns-1], np-1, ty, tx, n) {
			segs[ns-1].n2 = n
			t += n
			continue
		}
		segs[ns] = winoSeg{ty: ty, tx: tx, n: n, lane: t - t0, part: np - 1}
		ns++
		t += n
	}
	return ns, np
}

// pairs reports whether the n tiles of tile row ty from column tx join
// seg, in image part part, as its second row (winoSeg.n2): when both are
// whole rows of at most 8 tiles, one after the other in one image, so
// that each pass of the transforms, 16 tiles wide, takes both. F(2×2) at
// 14×14 (7 tiles a row): the 3×3 layers 5% faster alone, GRCNN-109 1.5%
// and GRCNN-55 1.1% at batch 1; F(4×4) at 28×28, 32×32 and 16×16 (7, 8
// and 4 tiles): GRCNN-109 3–3.8% and GRCNN-56 2.5% faster at batch 8,
// GRCNN-56 1% at batch 1.
func (c *Winograd) pairs(seg *winoSeg, part, ty, tx, n int) bool {
	return 2*c.tw <= 16 && seg.n2 == 0 && seg.part == part && seg.ty == ty-1 &&
		seg.tx == 0 && seg.n == c.tw && tx == 0 && n == c.tw
}

// blockImages is the most images whose tiles one block holds.
func (c *Winograd) blockImages(batch int) int {
	return min(batch, (nr-1)/(c.th*c.tw)+2)
}

// chanLen is the length of one input channel's padded rows that a block
// reads of one image (runs or not: see blockCount), split into phases:
// each padded row holds its columns m·i+p at [p·pw + i], for the m phases
// p, so that column j of the tiles of a row is a contiguous run: phase j%m
// from tile j/m on. Blocks within an image keep the shorter stride of
// their fewer rows: the longer one for runs made GRCNN-55 2% slower at
// batch 1.
func (c *Winograd) chanLen(runs bool) int {
	if runs {
		return c.runRows * c.mw * c.pw
	}
	return c.ownRows * c.mw * c.pw
}

// workerScratch is one worker's part of the scratch: its block's padded
// input rows (chanLen floats a channel, for each image of the block, and 16
// floats that the transform's vectors may read past them), the block's
// transformed input (packed B for each ξ) and its products, one matrix per
// ξ.
func (c *Winograd) workerScratch(batch int) int {
	n := c.planesLen(batch) + c.points*c.vStride() + c.points*c.prodStride()
	if c.tileRows {
		n += tileRowsTmp
	}
	return n
}

// planesLen is the length of a block's padded input rows, for any batch up
// to batch, runs or not (chanLen(true) is the longer).
func (c *Winograd) planesLen(batch int) int {
	return c.blockImages(batch)*c.InC*c.chanLen(true) + 16
}

// vStride and prodStride are the distances between the matrices of two
// points ξ in a block's transformed input and products. The 16 floats past
// the matrix keep the 16 or 36 rows that a transform reads or writes at once
// from falling into the same cache set, as they would at a power-of-two
// distance.
func (c *Winograd) vStride() int    { return c.InC*nr + 16 }
func (c *Winograd) prodStride() int { return c.OutC*nr + 16 }

// ScratchLen is the number of float32s of scratch Forward needs for a batch.
func (c *Winograd) ScratchLen(batch int) int {
	return workers() * c.workerScratch(batch)
}

// Forward computes out = epilogue(conv(in)) like Conv2D.Forward.
func (c *Winograd) Forward(batch int, in, out, scratch []float32) {
	if !c.ready {
		panic("runtime: Winograd.Forward called without a successful Prepare")
	}
	if len(in) < batch*c.InC*c.InH*c.InW || len(out) < batch*c.OutC*c.OutH*c.OutW || len(scratch) < c.ScratchLen(batch) {
		panic(fmt.Sprintf("runtime: Winograd.Forward: batch %d needs in %d, out %d, scratch %d floats; got %d, %d, %d",
			batch, batch*c.InC*c.InH*c.InW, batch*c.OutC*c.OutH*c.OutW, c.ScratchLen(batch), len(in), len(out), len(scratch)))
	}
	cl := winoCalls.get()
	defer winoCalls.put(cl)
	cl.c, cl.in, cl.out, cl.scratch, cl.batch = c, in, out, scratch, batch
	cl.parts = c.ocParts(batch)
	cl.private = winoScratch.acquire(c.workerScratch(batch))
	if w := workers(); len(cl.transformed) < w {
		cl.transformed = make([]int, w)
	}
	for i := range cl.transformed {
		cl.transformed[i] = -1
	}
	nb, _ := c.blockCount(batch)
	cl.parallelFor((len(cl.parts)-1)*nb, 1, cl)
	if cl.private != nil {
		winoScratch.release()
	}
	cl.c, cl.in, cl.out, cl.scratch, cl.private = nil, nil, nil, nil, nil
}

func (cl *winoCall) run(lo, hi, w int) {
	for u := lo; u < hi; u++ {
		cl.block(u, w)
	}
}

// padRows writes padded rows [r0, r0+n) of input channel ic of image b,
// src, zero-padded, through the prologue and split into phases (see
// chanLen), to dst. With AVX-512 one call pads and splits all the rows
// that hold input: padding each row into a buffer and splitting it took
// four calls a row, a tenth of F(2×2)'s time at 14×14, where rows are 16
// floats (256→256, batch 1: BenchmarkWinograd, padRows 12% of the
// profile). Before that, a gather and a prologue call for each phase of
// each row took a third of the layer's time at 56×56.
func (c *Winograd) padRows(dst, src []float32, ic, r0, n int) {
	rowLen := c.mw * c.pw
	if useAVX512 {
		lo := min(max(r0, c.PH), r0+n)       // the first row that holds input
		hi := max(min(r0+n, c.PH+c.InH), lo) // and the end of those rows
		clear(dst[:(lo-r0)*rowLen])
		clear(dst[(hi-r0)*rowLen : n*rowLen])
		if hi == lo {
			return
		}
		var s, t float32
		if c.InScale != nil {
			s, t = c.InScale[ic], c.InShift[ic]
		}
		padPhases(dst[(lo-r0)*rowLen:(hi-r0)*rowLen], rowLen, c.pw, c.pw, src[(lo-c.PH)*c.InW:(hi-c.PH)*c.InW], c.InW, c.InW, c.PW,
			hi-lo, c.mw, s, t, c.InScale != nil, c.InRelu)
		return
	}
	for r := r0; r < r0+n; r++ {
		row := dst[(r-r0)*rowLen : (r-r0+1)*rowLen]
		ih := r - c.PH
		if ih < 0 || ih >= c.InH {
			clear(row)
			continue
		}
		in := src[ih*c.InW : (ih+1)*c.InW]
		for p := range c.mw {
			ph := row[p*c.pw : (p+1)*c.pw]
			gatherRow(ph, in, p-c.PW, c.mw)
			if c.InScale != nil {
				lo, hi := inside(len(ph), p-c.PW, c.mw, c.InW)
				scaleShift(ph[lo:hi], ph[lo:hi], c.InScale[ic], c.InShift[ic], c.InRelu)
			}
		}
	}
}

// padAhead is how many channels ahead of the one it pads a worker asks
// for the input rows of, when each channel's rows are n floats: those
// about padAheadBytes on, at least the next channel's. The input was just
// written, at batch 1 much of it by the other core (the 14×14 reduce's
// second worker writes all of it), and the hardware's prefetchers,
// following rows of a few hundred bytes, left the padding waiting on each
// line: with the rows 2 KiB ahead asked for, F(4×2) at 14×14 in a chain of
// the GRCL iteration's convolutions took 409 µs instead of 429–432
// (BenchmarkGRCLIteration, alternate iterations), and GRCNN-109 and
// GRCNN-55 at batch 1 ran 1–2% faster (forwards alternated in one process,
// four rounds each: 0.983–0.988 and 0.986–0.996, 0.972–0.998), batch 8
// level (0.983–1.010). Each block's rows of a channel are short streams
// that the prefetchers do not follow from one channel to the next.
func padAhead(n int) int {
	if n <= 0 {
		return 1
	}
	return min(max(padAheadBytes/(4*n), 1), 64)
}

// padAheadBytes is how far ahead padAhead asks for input.
const padAheadBytes = 2 << 10

// ocParts returns the first row panel of each part into which the units of
// a batch split the output channels, and the panel count. A batch with at
// least a block of tiles for each worker has one part.
// With fewer blocks (a 14×14 image is one block of F(4×2) tiles at batch 1)
// the parts are guidedBlocks', so that no core waits: halving shares, a
// worker's first unit of a block transforming its input and its later
// ones, its own or taken from the other's share, reusing that. Splitting
// the channels in one part a worker left the cores finishing 15–50 µs
// apart (F(4×2) at 14×14, 256→256, in a chain of the GRCL iteration's
// convolutions; guided parts: GRCNN-109 and GRCNN-55 0.7–1.9% faster at
// batch 1 in three of four runs of forwards alternated in one process),
// and transforming the input once per part would repeat it for every
// part (F(2×2) at 14×14, batch 1, weights out of cache: 551 µs with the
// two blocks on the two cores, 564 µs with all channels split in two
// parts).
func (c *Winograd) ocParts(batch int) []int {
	if nb, _ := c.blockCount(batch); nb >= workers() || c.guided == nil {
		return c.onePart
	}
	return c.guided
}

// block computes unit u as worker w: for part u/blocks of the output
// channels, block u%blocks of the batch's tiles (see blockCount), which
// may hold tiles of several images. A
// worker's units are those of one part, one block after the other.
// It pads the input rows its tiles read itself, into its worker's scratch,
// where they stay in cache; padding the whole input first for all blocks
// wrote it out to memory and read it back, half of it from the other
// core, while the rows shared by neighbouring blocks are few (64→64 at
// 56×56, batch 1: 470–490 → 340–370 µs; 128→128 at 32×32, batch 8: 3.9 →
// 3.0 ms; GRCNN-55 4% faster at batch 1 and 8).
func (cl *winoCall) block(u, w int) {
	c := cl.c
	nb, runs := c.blockCount(cl.batch)
	part, bi := u/nb, u%nb
	m, k := c.OutC, c.InC
	np := rowPanels(m)
	p0, p1 := cl.parts[part], cl.parts[part+1]
	if p0 == p1 {
		return
	}
	oc0, oc1 := panelStart(m, np, p0), panelStart(m, np, p1)
	if c.tileRows {
		oc0, oc1 = p0*nr, min(p1*nr, m)
	}
	t0, t1 := c.blockTiles(cl.batch, nb, bi, runs)
	tiles := t1 - t0
	var segs [winoBlockMax]winoSeg
	var images [winoBlockMax]winoPart
	ns, ni := c.blockLayout(t0, t1, &segs, &images)

	size := c.workerScratch(cl.batch)
	ws := cl.scratch[w*size : (w+1)*size]
	if cl.private != nil {
		ws = cl.private[w][:size]
	}
	planes := ws[:c.planesLen(cl.batch)] // the padded rows of each image's channels
	ws = ws[len(planes):]
	v := ws[:c.points*c.vStride()]                                           // per ξ, InC rows of nr tiles: packed B
	prod := ws[c.points*c.vStride() : c.points*(c.vStride()+c.prodStride())] // per ξ, OutC rows of nr tiles

	if cl.transformed[w] != bi {
		inPlane := c.InH * c.InW
		chanLen := c.chanLen(runs)
		imageLen := c.InC * chanLen
		for j, im := range images[:ni] {
			// The input rows that hold data, and how many channels
			// ahead of the one being padded to ask for.
			lo, hi := max(im.r0-c.PH, 0)*c.InW, min(im.r0+im.nr-c.PH, c.InH)*c.InW
			ahead := padAhead(hi - lo)
			for ic := range c.InC {
				src := cl.in[(im.b*c.InC+ic)*inPlane : (im.b*c.InC+ic+1)*inPlane]
				if ic+ahead < c.InC && hi > lo {
					prefetchSpan(&cl.in[(im.b*c.InC+ic+ahead)*inPlane+lo], hi-lo)
				}
				c.padRows(planes[j*imageLen+ic*chanLen:], src, ic, im.r0, im.nr)
			}
		}
		clear(planes[ni*imageLen : ni*imageLen+16])

		for _, s := range segs[:ns] {
			im := images[s.part]
			src := planes[s.part*imageLen+(c.mh*(s.ty-im.ty0))*c.mw*c.pw+s.tx:]
			c.inputTransform(v[s.lane:], src, s.n, s.n2, chanLen)
		}
		cl.transformed[w] = bi
	}

	for xi := range c.points {
		if c.tileRows {
			tmp := ws[c.points*(c.vStride()+c.prodStride()):][:tileRowsTmp]
			c.tileRowsProduct(xi, v[xi*c.vStride():], prod[xi*c.prodStride():], tmp, p0, p1, tiles)
			continue
		}
		uxi := c.u[xi*m*k : (xi+1)*m*k]
		vxi := v[xi*c.vStride() : xi*c.vStride()+k*nr]
		pxi := prod[xi*c.prodStride()+oc0*nr : xi*c.prodStride()+m*nr]
		for k0 := 0; k0 < k; k0 += kc {
			kl := min(kc, k-k0)
			sgemmPacked(m, p0, p1, tiles, kl, uxi[k0*m:(k0+kl)*m], vxi[k0*nr:(k0+kl)*nr], pxi, nr, k0 > 0, gemmEpilogue{})
		}
	}

	outPlane := c.OutH * c.OutW
	for _, s := range segs[:ns] {
		b := images[s.part].b
		if s.n2 > 0 && useAVX512 {
			dst := cl.out[(b*c.OutC+oc0)*outPlane+c.mh*s.ty*c.OutW:]
			c.outputTransformPair(dst, prod[oc0*nr+s.lane:], oc0, oc1, s)
			continue
		}
		for _, r := range [2]winoSeg{s, {ty: s.ty + 1, n: s.n2, lane: s.lane + s.n}} {
			if r.n == 0 {
				continue
			}
			rows := min(c.mh, c.OutH-c.mh*r.ty)
			cols := min(c.mw*r.n, c.OutW-c.mw*r.tx)
			dst := cl.out[(b*c.OutC+oc0)*outPlane+c.mh*r.ty*c.OutW+c.mw*r.tx:]
			c.outputTransform(dst, prod[oc0*nr+r.lane:], oc0, oc1, r.n, rows, cols)
		}
	}
}

// inputTransform writes V = Bᵀ d B of n tiles (n ≤ 16), and of n2
// tiles of the next tile row after them (n + n2 ≤ 16), of every input
// channel: src is the channel-0 phases at the tiles' top padded row and
// first tile, channels chanLen floats apart; v[ξ·vStride + ic·nr + t]
// receives point ξ of tile t.
func (c *Winograd) inputTransform(v, src []float32, n, n2, chanLen int) {
	rowLen := c.mw * c.pw
	if n2 > 0 {
		// The next tile row's tiles, c.mh padded rows further on.
		next := c.mh * rowLen
		if !useAVX512 {
			c.inputTransform(v, src, n, 0, chanLen)
			c.inputTransform(v[n:], src[next:], n2, 0, chanLen)
			return
		}
		_ = src[(c.InC-1)*chanLen+next+(c.ah-1)*rowLen+(c.mw-1)*c.pw+n2-1]
		_ = v[(c.points-1)*c.vStride()+(c.InC-1)*nr+n+n2-1]
		c.tiling.inputPairAVX512(&src[0], chanLen*4, rowLen*4, c.pw*4, &v[0], c.vStride()*4, c.InC,
			uint32(1)<<uint(n)-1, (uint32(1)<<uint(n2)-1)<<uint(n), (next-n)*4)
		return
	}
	if useAVX512 {
		_ = src[(c.InC-1)*chanLen+(c.ah-1)*rowLen+(c.mw-1)*c.pw+n-1]
		_ = v[(c.points-1)*c.vStride()+(c.InC-1)*nr+n-1]
		c.tiling.inputAVX512(&src[0], chanLen*4, rowLen*4, c.pw*4, &v[0], c.vStride()*4, c.InC, uint32(1)<<uint(n)-1)
		return
	}
	for ic := range c.InC {
		ch := src[ic*chanLen:]
		for t := range n {
			var d [winoPoints]float32
			for r := range c.ah {
				row := ch[r*rowLen:]
				for j := range c.aw {
					d[r*c.aw+j] = row[j%c.mw*c.pw+t+j/c.mw]
				}
			}
			c.inputTile(&d)
			for xi, x := range d[:c.points] {
				v[xi*c.vStride()+ic*nr+t] = x
			}
		}
	}
}

// outputTransform writes Y = Aᵀ M A, with the epilogue, of n tiles of
// output channels [oc0, oc1): prod[ξ·prodStride + (oc-oc0)·nr + t] is point
// ξ of tile t of channel oc, and dst is output channel oc0 at the tiles'
// top-left; only the first rows rows and cols columns of the m×m·n outputs
// are stored.
func (c *Winograd) outputTransform(dst, prod []float32, oc0, oc1, n, rows, cols int) {
	outPlane := c.OutH * c.OutW
	flags := gemmEpilogue{scale: c.Scale, shift: c.Shift, relu: c.Relu}.flags()
	var scale, shift *float32
	if c.Scale != nil {
		scale = &c.Scale[oc0]
	}
	if c.Shift != nil {
		shift = &c.Shift[oc0]
	}
	channels := oc1 - oc0
	if useAVX512 {
		_ = prod[(c.points-1)*c.prodStride()+(channels-1)*nr+n-1]
		_ = dst[(channels-1)*outPlane+(rows-1)*c.OutW+cols-1]
		colMask := uint64(1)<<uint(cols) - 1
		if cols == 64 {
			colMask = ^uint64(0)
		}
		c.tiling.outputAVX512(&prod[0], c.prodStride()*4, channels, &dst[0], outPlane*4, c.OutW*4, rows, colMask, flags, scale, shift)
		return
	}
	for oc := range channels {
		s, t := float32(1), float32(0)
		if c.Scale != nil {
			s = c.Scale[oc0+oc]
		}
		if c.Shift != nil {
			t = c.Shift[oc0+oc]
		}
		for ti := range n {
			var m [winoPoints]float32
			for xi := range c.points {
				m[xi] = prod[xi*c.prodStride()+oc*nr+ti]
			}
			var y [16]float32
			c.outputTile(&y, &m)
			for i := range rows {
				for j := range c.mw {
					col := c.mw*ti + j
					if col >= cols {
						break
					}
					v := y[i*c.mw+j]*s + t
					if c.Relu {
						v = max(v, 0)
					}
					dst[oc*outPlane+i*c.OutW+col] = v
				}
			}
		}
	}
}

// outputTransformPair is outputTransform, with AVX-512, of a segment
// that pairs two whole tile rows (see winoSeg): one pass of the transform
// for both, each row's outputs stored at its place.
func (c *Winograd) outputTransformPair(dst, prod []float32, oc0, oc1 int, s winoSeg) {
	outPlane := c.OutH * c.OutW
	channels := oc1 - oc0
	mh, mw := c.mh, c.mw
	rows, rows2 := min(mh, c.OutH-mh*s.ty), min(mh, c.OutH-mh*s.ty-mh)
	cols, cols2 := min(mw*s.n, c.OutW), min(mw*s.n2, c.OutW)
	_ = prod[(c.points-1)*c.prodStride()+(channels-1)*nr+s.n+s.n2-1]
	_ = dst[(channels-1)*outPlane+(mh+rows2-1)*c.OutW+cols2-1]
	var scale, shift *float32
	if c.Scale != nil {
		scale = &c.Scale[oc0]
	}
	if c.Shift != nil {
		shift = &c.Shift[oc0]
	}
	flags := gemmEpilogue{scale: c.Scale, shift: c.Shift, relu: c.Relu}.flags()
	// The second row's outputs follow the first's in the interleaved
	// vectors, from position mw·n on; they go mh output rows down.
	colMask := uint64(1)<<uint(cols) - 1
	colMask2 := (uint64(1)<<uint(cols2) - 1) << uint(mw*s.n)
	delta := (mh*c.OutW - mw*s.n) * 4
	c.tiling.outputPairAVX512(&prod[0], c.prodStride()*4, channels, &dst[0], outPlane*4, c.OutW*4, rows, colMask, flags,
		scale, shift, colMask2, delta, rows2)
}

// inputRows applies Bᵀ to the six values x[0], x[s], …, x[5s] in place.
func inputRows(x []float32, s int) {
	d0, d1, d2, d3, d4, d5 := x[0], x[s], x[2*s], x[3*s], x[4*s], x[5*s]
	x[0] = 4*d0 - 5*d2 + d4
	x[s] = (d3 + d4) - 4*(d1+d2)
	x[2*s] = 4*(d1-d2) + (d4 - d3)
	x[3*s] = 2*(d3-d1) + (d4 - d2)
	x[4*s] = 2*(d1-d3) + (d4 - d2)
	x[5*s] = 4*d1 - 5*d3 + d5
}

// inputTile computes Bᵀ d B of a 6×6 tile in place.
func inputTile(d *[winoPoints]float32) {
	for j := range 6 {
		inputRows(d[j:], 6)
	}
	for i := range 6 {
		inputRows(d[6*i:], 1)
	}
}

// outputRows applies Aᵀ to the six values m[0], m[s], …, m[5s] and
// writes the four results to y[0], y[t], y[2t], y[3t].
func outputRows(y []float32, t int, m []float32, s int) {
	a, b := m[s]+m[2*s], m[s]-m[2*s]
	cc, d := m[3*s]+m[4*s], m[3*s]-m[4*s]
	y[0] = m[0] + a + cc
	y[t] = b + 2*d
	y[2*t] = a + 4*cc
	y[3*t] = b + 8*d + m[5*s]
}

// outputTile computes the 4×4 tile Aᵀ m A of a 6×6 tile of products.
func outputTile(y *[16]float32, m *[winoPoints]float32) {
	var tmp [24]float32 // 4×6: Aᵀ applied down the columns
	for j := range 6 {
		outputRows(tmp[j:], 6, m[j:], 6)
	}
	for i := range 4 {
		outputRows(y[4*i:], 1, tmp[6*i:], 1)
	}
}

// weightTransform writes U = G g Gᵀ of the 3×3 kernel g (row-major).
func weightTransform(u *[winoPoints]float32, g []float32) {
	// G in float64 so that the transformed weights are rounded once.
	apply := func(g0, g1, g2 float64) [6]float64 {
		return [6]float64{
			g0 / 4,
			-(g0 + g1 + g2) / 6,
			-(g0 - g1 + g2) / 6,
			g0/24 + g1/12 + g2/6,
			g0/24 - g1/12 + g2/6,
			g2,
		}
	}
	var cols [3][6]float64 // G applied down each column of g
	for j := range 3 {
		cols[j] = apply(float64(g[j]), float64(g[3+j]), float64(g[6+j]))
	}
	for i := range 6 {
		row := apply(cols[0][i], cols[1][i], cols[2][i])
		for j, x := range row {
			u[i*6+j] = float32(x)
		}
	}
}

// F(2×2, 3×3)'s transforms, as above for 4×4 input tiles and 2×2 output
// tiles:
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 -1 -1]

// inputRows2 applies F(2×2)'s Bᵀ to x[0], x[s], x[2s], x[3s] in place.
func inputRows2(x []float32, s int) {
	d0, d1, d2, d3 := x[0], x[s], x[2*s], x[3*s]
	x[0] = d0 - d2
	x[s] = d1 + d2
	x[2*s] = d2 - d1
	x[3*s] = d1 - d3
}

// inputTile2 computes Bᵀ d B of a 4×4 tile (d[:16]) in place.
func inputTile2(d *[winoPoints]float32) {
	for j := range 4 {
		inputRows2(d[j:], 4)
	}
	for i := range 4 {
		inputRows2(d[4*i:], 1)
	}
}

// outputRows2 applies F(2×2)'s Aᵀ to m[0], m[s], m[2s], m[3s] and writes
// the two results to y[0], y[t].
func outputRows2(y []float32, t int, m []float32, s int) {
	d := m[s] - m[2*s]
	y[0] = (m[0] + m[s]) + m[2*s]
	y[t] = d - m[3*s]
}

// outputTile2 computes the 2×2 tile Aᵀ m A (y[:4]) of a 4×4 tile of
// products (m[:16]).
func outputTile2(y *[16]float32, m *[winoPoints]float32) {
	var tmp [8]float32 // 2×4: Aᵀ applied along the rows
	for i := range 4 {
		outputRows2(tmp[i:], 4, m[4*i:], 1)
	}
	for j := range 2 {
		outputRows2(y[j:], 2, tmp[4*j:], 1)
	}
}

// weightTransform2 writes U = G g Gᵀ (u[:16]) of the 3×3 kernel g.
func weightTransform2(u *[winoPoints]float32, g []float32) {
	apply := func(g0, g1, g2 float64) [4]float64 {
		return [4]float64{g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2}
	}
	var cols [3][4]float64 // G applied down each column of g
	for j := range 3 {
		cols[j] = apply(float64(g[j]), float64(g[3+j]), float64(g[6+j]))
	}
	for i := range 4 {
		row := apply(cols[0][i], cols[1][i], cols[2][i])
		for j, x := range row {
			u[i*4+j] = float32(x)
		}
	}
}

// F(4×2, 3×3) takes 4×2 tiles of output from 6×4 tiles of input (24
// multiplies per 8 outputs instead of 72, 3× fewer): F(2×2)'s transforms
// along the rows, F(4×4)'s down the columns. At 14×14 its 4×7 tiles
// (87.5% real) fill one packed panel of 28 lanes an image, where F(2×2)'s
// 49 tiles take two panels, 64 lanes, for the same outputs.

// inputTile42 computes Bᵀ d B of a 6×4 tile (d[:24], row-major) in place.
func inputTile42(d *[winoPoints]float32) {
	for i := range 6 {
		inputRows2(d[4*i:], 1)
	}
	for j := range 4 {
		inputRows(d[j:], 4)
	}
}

// outputTile42 computes the 4×2 tile Aᵀ m A (y[:8], row-major) of a 6×4
// tile of products (m[:24]).
func outputTile42(y *[16]float32, m *[winoPoints]float32) {
	var tmp [12]float32 // 6×2: Aᵀ applied along the rows
	for i := range 6 {
		outputRows2(tmp[2*i:], 1, m[4*i:], 1)
	}
	for j := range 2 {
		outputRows(y[j:], 2, tmp[j:], 2)
	}
}

// weightTransform42 writes U = G₄ g G₂ᵀ (u[:24], 6×4) of the 3×3 kernel
// g, rounded once from float64 as in weightTransform.
func weightTransform42(u *[winoPoints]float32, g []float32) {
	var rows [3][4]float64 // G₂ applied along each row of g
	for i := range 3 {
		g0, g1, g2 := float64(g[3*i]), float64(g[3*i+1]), float64(g[3*i+2])
		rows[i] = [4]float64{g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2}
	}
	for j := range 4 {
		g0, g1, g2 := rows[0][j], rows[1][j], rows[2][j]
		col := [6]float64{
			g0 / 4,
			-(g0 + g1 + g2) / 6,
			-(g0 - g1 + g2) / 6,
			g0/24 + g1/12 + g2/6,
			g0/24 - g1/12 + g2/6,
			g2,
		}
		for i, x := range col {
			u[4*i+j] = float32(x)
		}
	}
}

// winoTiling is one of the tilings: the output tile's rows and columns,
// and its transforms with AVX-512. (Those in Go are called directly, see
// weightTile: through a func value a tile on the stack would escape to
// the heap, allocated for every tile.)
type winoTiling struct {
	mh, mw           int
	inputAVX512      func(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask uint32)
	inputPairAVX512  func(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask, mask2 uint32, delta int)
	outputAVX512     func(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32)
	outputPairAVX512 func(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32, colMask2 uint64, delta, rows2 int)
}

var winoTilings = []winoTiling{
	{4, 4, winoInputAVX512, winoInputPairAVX512, winoOutputAVX512, winoOutputPairAVX512},
	{2, 2, winoInput2AVX512, winoInput2PairAVX512, winoOutput2AVX512, winoOutput2PairAVX512},
	{4, 2, winoInput42AVX512, winoInput42PairAVX512, winoOutput42AVX512, winoOutput42PairAVX512},
}

// weightTile, inputTile and outputTile are the tiling's transforms of one
// tile in Go.
func (c *Winograd) weightTile(u *[winoPoints]float32, g []float32) {
	switch {
	case c.mh == 2:
		weightTransform2(u, g)
	case c.mw == 2:
		weightTransform42(u, g)
	default:
		weightTransform(u, g)
	}
}

func (c *Winograd) inputTile(d *[winoPoints]float32) {
	switch {
	case c.mh == 2:
		inputTile2(d)
	case c.mw == 2:
		inputTile42(d)
	default:
		inputTile(d)
	}
}

func (c *Winograd) outputTile(y *[16]float32, m *[winoPoints]float32) {
	switch {
	case c.mh == 2:
		outputTile2(y, m)
	case c.mw == 2:
		outputTile42(y, m)
	default:
		outputTile(y, m)
	}
}

// PackedLen is the number of floats Prepare derived from the weights: the
// transformed weights, 36/9 = 4 times the size of Weight with 4×4 tiles,
// 16/9 with 2×2 and 24/9 with 4×2.
func (c *Winograd) PackedLen() int { return len(c.u) }

// ReleaseWeight drops the layer's reference to Weight once Prepare has
// transformed it (see Conv2D.ReleaseWeight) and reports whether it did.
func (c *Winograd) ReleaseWeight() bool {
	if !c.ready {
		return false
	}
	c.Weight = nil
	return true
}

// tileRowsFor reports whether the products of an image of tiles tiles
// run turned around (Winograd.tileRows): the tiles as the GEMM's rows, in
// two panels of 14 read where the input transform wrote them, and 32
// output channels of Uᵀ as its vector columns, when they fill those
// panels exactly, as F(4×2)'s 28 tiles of a 14×14 image do. With the tiles
// as the vector columns instead, 4 of the 32 lanes of every multiply-add
// are empty. GRCNN-109 at batch 1 ran 3–4% faster (24 rounds of forwards
// alternated in one process, two models built in either order; median
// 0.959 over eight alternated grcc bench processes), batch 8 level
// (0.95–1.01), with the same bits: each output sums over the input
// channels in the same order.
func tileRowsFor(tiles int) bool {
	return tiles == 2*tileRowsH
}

// tileRowsH is the rows of a panel of tiles on the turned-around
// products: 14 rows of 32 columns are 28 of the 32 vector registers.
const tileRowsH = 14

// tileRowsTmp is the length of a worker's tile of turned-around products:
// up to 2·tileRowsH rows of nr output channels, and the rows past them
// that transposeAVX512 reads (16 at a time) and does not store.
const tileRowsTmp = 32 * nr

// blockMax is the most tiles of a block within an image.
func (c *Winograd) blockMax() int {
	if c.tileRows {
		return 2 * tileRowsH
	}
	return nr
}

// ocPanels is the number of panels of output channels that the units
// split: packA's row panels, or with tileRows panels of nr channels.
func (c *Winograd) ocPanels() int {
	if c.tileRows {
		return (c.OutC + nr - 1) / nr
	}
	return rowPanels(c.OutC)
}

// packTransposed packs the transpose of the m×k row-major matrix a as
// packRows packs a k×m matrix: panels of nr of a's rows, each holding its
// k columns as rows of nr floats, zero past m.
func packTransposed(dst, a []float32, m, k int) {
	for q := range (m + nr - 1) / nr {
		panel := dst[q*k*nr : (q+1)*k*nr]
		for j := range nr {
			oc := q*nr + j
			if oc >= m {
				for p := range k {
					panel[p*nr+j] = 0
				}
				continue
			}
			for p, x := range a[oc*k : (oc+1)*k] {
				panel[p*nr+j] = x
			}
		}
	}
}

// tileRowsProduct computes, for point xi, the products of output channel
// panels [q0, q1) with the block's tiles tiles of v (InC rows of nr
// tiles) into prod (OutC rows of nr tiles), turned around: each panel of
// up to 14 tiles is the rows of one micro-kernel call, which reads its
// tiles' values where the input transform wrote them and multiplies them
// by a panel of Uᵀ, and the tile of tiles × channels that results is
// transposed into prod, where the output transform reads it.
//
// The calls of a channel panel read its weights from memory in the first
// call and from cache in the second. Each call asks for half of the next
// panel the unit reads (this point's next, or the next point's first),
// one line a step: asked for in the first call alone, as the other
// kernels ask for their next panel, they came in bursts that left the
// turned-around products 1–2% slower in GRCNN-109 than the pixel-lane
// ones, where alone on one core they were 9–13% faster.
func (c *Winograd) tileRowsProduct(xi int, v, prod, tmp []float32, q0, q1, tiles int) {
	k := c.InC
	pl := packedLen(k, c.OutC)
	u := c.u[xi*pl : (xi+1)*pl]
	_ = v[(k-1)*nr+tiles-1]
	for q := q0; q < q1; q++ {
		next := xi*pl + (q+1)*k*nr // in c.u
		if q+1 == q1 {
			next = (xi+1)*pl + q0*k*nr
		}
		asked := 0 // steps of k whose line of the next panel is asked for
		for k0 := 0; k0 < k; k0 += kc {
			kl := min(kc, k-k0)
			flags := 0
			if k0 > 0 {
				flags = kAccumulate
			}
			b := u[(q*k+k0)*nr : (q*k+k0+kl)*nr]
			for t0 := 0; t0 < tiles; t0 += tileRowsH {
				h := min(tileRowsH, tiles-t0)
				if !useAVX512 {
					rowsVGo(h, kl, v[k0*nr+t0:], b, tmp[t0*nr:], flags)
					continue
				}
				// A prefetch never faults: past the weights it asks
				// for nothing useful, and only the last point's last
				// panel reaches there.
				pf := &c.u[min(next+asked*16, len(c.u)-1)]
				rowsVKernel(h, kl, &v[k0*nr+t0], &b[0], &tmp[t0*nr], nr, flags, pf)
				asked += kl
			}
		}
		cols := min(nr, c.OutC-q*nr)
		dst := prod[q*nr*nr:]
		if useAVX512 {
			for r0 := 0; r0 < tiles; r0 += 16 {
				for c0 := 0; c0 < cols; c0 += 16 {
					transposeAVX512(&tmp[r0*nr+c0], 4*nr, &dst[c0*nr+r0], 4*nr, min(16, tiles-r0), min(16, cols-c0), 0, nil, nil)
				}
			}
			continue
		}
		for j := range cols {
			for t := range tiles {
				dst[j*nr+t] = tmp[t*nr+j]
			}
		}
	}
}

// rowsVGo is the portable micro-kernel of tileRowsProduct: the h×nr tile
// of c (row stride nr) is A·B, or c += A·B with kAccumulate, where step p
// of k reads A's h floats at a[p·nr:] and B's row at b[p·nr:].
func rowsVGo(h, k int, a, b, c []float32, flags int) {
	for i := range h {
		var acc [nr]float32
		for p := range k {
			av := a[p*nr+i]
			for j, x := range (*[nr]float32)(b[p*nr:]) {
				acc[j] += av * x
			}
		}
		out := (*[nr]float32)(c[i*nr:])
		for j := range out {
			if flags&kAccumulate != 0 {
				acc[j] += out[j]
			}
			out[j] = acc[j]
		}
	}
}
