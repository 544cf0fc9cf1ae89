package runtime

import (
	"fmt"
)

// Winograd is a dense 3×3 convolution with stride 1 and dilation 1
// (groups 1, any zero padding) computed with Winograd's minimal filtering
// F(4×4, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016), with the same fused epilogue as Conv2D.
//
// Each 4×4 tile of output comes from a 6×6 tile of input. In the transformed
// domain the convolution is 36 independent matrix multiplies, one per
// point ξ of the 6×6 tile: U[ξ] (OutC×InC, the transformed weights) times
// V[ξ] (InC×tiles, the transformed input). That is 36 multiplies per 16
// outputs instead of 144, 4× fewer; the transforms are additions, vectorised
// across 16 tiles. Rounding grows by about an order of magnitude over the
// direct convolution and stays far below 1e-5 relative in float32.
//
// The work is split into blocks of at most nr (32) tiles, the width of one
// packed B panel: a block's transformed input is packed B as it is written,
// and its 36 products fit in cache before the output transform reads them.
type Winograd struct {
	InC, InH, InW    int
	OutC, OutH, OutW int
	PH, PW           int       // zero padding
	Weight           []float32 // OutC × InC × 3 × 3, PyTorch layout

	// The epilogue, as in Conv2D: y = acc*Scale[c] + Shift[c], then ReLU.
	Scale, Shift []float32
	Relu         bool

	// The input prologue, as in Conv2D (a pre-activation BatchNorm and
	// ReLU, applied as the input is padded).
	InScale, InShift []float32
	InRelu           bool

	u      []float32 // per ξ, the transformed weights packed by packA
	th, tw int       // tiles per column and per row of an image
	pw     int       // length of one phase of a padded row (tw+1)
	segs   []winoSeg // the row segments of one image, in order
	blocks []int     // block i holds segments [blocks[i], blocks[i+1])
	rows   int       // the most padded rows a block's tiles read
	ready  bool      // Prepare succeeded
}

// winoSeg is a run of at most 16 tiles of one tile row: the unit of the
// vectorised transforms.
type winoSeg struct {
	ty, tx, n int // tile row, first tile column, tiles
	lane      int // column of the block's packed panel its first tile takes
}

// winoCall holds the arguments of the Forward in progress (see convCall).
// Each Forward takes its own from winoCalls, so goroutines may share a
// Winograd.
type winoCall struct {
	loop
	c                *Winograd
	in, out, scratch []float32
	batch            int
}

var winoCalls calls[winoCall]

// winoPoints is the number of points of a transformed tile, 6×6.
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
	c.th, c.tw = (c.OutH+3)/4, (c.OutW+3)/4
	c.pw = c.tw + 1

	// Transform the weights: U = G g Gᵀ for every (oc, ic), then pack each
	// point's OutC×InC matrix for the micro-kernel.
	k := c.InC
	ut := make([]float32, winoPoints*c.OutC*k)
	for oc := range c.OutC {
		for ic := range k {
			var u [winoPoints]float32
			weightTransform(&u, c.Weight[(oc*k+ic)*9:])
			for xi, v := range u {
				ut[(xi*c.OutC+oc)*k+ic] = v
			}
		}
	}
	if cap(c.u) < len(ut) {
		c.u = make([]float32, len(ut))
	}
	c.u = c.u[:len(ut)]
	for xi := range winoPoints {
		m := c.OutC * k
		packA(c.u[xi*m:(xi+1)*m], ut[xi*m:], c.OutC, k, k)
	}

	// Segments of at most 16 tiles along each tile row, gathered into
	// blocks of at most nr tiles.
	c.segs, c.blocks = c.segs[:0], c.blocks[:0]
	lanes := nr
	for ty := range c.th {
		for tx := 0; tx < c.tw; tx += 16 {
			n := min(16, c.tw-tx)
			if lanes+n > nr {
				c.blocks = append(c.blocks, len(c.segs))
				lanes = 0
			}
			c.segs = append(c.segs, winoSeg{ty: ty, tx: tx, n: n, lane: lanes})
			lanes += n
		}
	}
	c.blocks = append(c.blocks, len(c.segs))
	c.rows = 0
	for i := range len(c.blocks) - 1 {
		first, last := c.segs[c.blocks[i]], c.segs[c.blocks[i+1]-1]
		c.rows = max(c.rows, 4*(last.ty-first.ty)+6)
	}
	c.ready = true
	return nil
}

// chanLen is the length of one input channel's padded rows that a block
// reads, split into phases: each of the rows padded rows holds its columns
// 4i+p at [p·pw + i], for the four phases p, so that column j of the tiles
// of a row is a contiguous run: phase j%4 from tile j/4 on.
func (c *Winograd) chanLen() int { return c.rows * 4 * c.pw }

// workerScratch is one worker's part of the scratch: its block's padded
// input rows (chanLen floats a channel, and 16 floats that the transform's
// vectors may read past them), the block's transformed input (packed B for
// each ξ) and its 36 products.
func (c *Winograd) workerScratch() int {
	return c.InC*c.chanLen() + 16 + winoPoints*c.vStride() + winoPoints*c.prodStride()
}

// vStride and prodStride are the distances between the matrices of two
// points ξ in a block's transformed input and products. The 16 floats past
// the matrix keep the 36 rows that a transform reads or writes at once
// from falling into the same cache set, as they would at a power-of-two
// distance.
func (c *Winograd) vStride() int    { return c.InC*nr + 16 }
func (c *Winograd) prodStride() int { return c.OutC*nr + 16 }

// ScratchLen is the number of float32s of scratch Forward needs for a batch.
func (c *Winograd) ScratchLen(batch int) int {
	return workers() * c.workerScratch()
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
	cl.parallelFor(batch*(len(c.blocks)-1), 1, cl)
	cl.c, cl.in, cl.out, cl.scratch = nil, nil, nil, nil
}

func (cl *winoCall) run(lo, hi, w int) {
	for u := lo; u < hi; u++ {
		cl.block(u, w)
	}
}

// padRows writes padded rows [r0, r0+n) of input channel ic of image b,
// src, zero-padded, through the prologue and split into phases (see
// chanLen), to dst. With AVX-512 each row is padded whole in a buffer,
// then split into its four phases 16 columns at a time: a gather and a
// prologue call for each phase of each row, 15 floats at 56×56, took a
// third of the layer's time (64→64 at 56×56, batch 1: 546 → 470–490 µs).
func (c *Winograd) padRows(dst, src []float32, ic, r0, n int) {
	rowLen := 4 * c.pw
	var buf [padRowMax + 64]float32
	whole := useAVX512 && 64*((c.pw+15)/16) <= len(buf)
	for r := r0; r < r0+n; r++ {
		row := dst[(r-r0)*rowLen : (r-r0+1)*rowLen]
		ih := r - c.PH
		if ih < 0 || ih >= c.InH {
			clear(row)
			continue
		}
		in := src[ih*c.InW : (ih+1)*c.InW]
		if whole {
			// The padded row: PW zeros, the input, zeros.
			t := buf[:64*((c.pw+15)/16)]
			m := min(c.InW, len(t)-c.PW)
			clear(t[:c.PW])
			if c.InScale != nil {
				scaleShift(t[c.PW:c.PW+m], in, c.InScale[ic], c.InShift[ic], c.InRelu)
			} else {
				copy(t[c.PW:c.PW+m], in)
			}
			clear(t[c.PW+m:])
			deinterleave4AVX512(&row[0], c.pw, &t[0], c.pw)
			continue
		}
		for p := range 4 {
			ph := row[p*c.pw : (p+1)*c.pw]
			gatherRow(ph, in, p-c.PW, 4)
			if c.InScale != nil {
				lo, hi := inside(len(ph), p-c.PW, 4, c.InW)
				scaleShift(ph[lo:hi], ph[lo:hi], c.InScale[ic], c.InShift[ic], c.InRelu)
			}
		}
	}
}

// block computes unit u as worker w: block u%blocks of image u/blocks.
// It pads the input rows its tiles read itself, into its worker's scratch,
// where they stay in cache; padding the whole input first for all blocks
// wrote it out to memory and read it back, half of it from the other
// core, while the rows shared by neighbouring blocks are few (64→64 at
// 56×56, batch 1: 470–490 → 340–370 µs; 128→128 at 32×32, batch 8: 3.9 →
// 3.0 ms; GRCNN-55 4% faster at batch 1 and 8).
func (cl *winoCall) block(u, w int) {
	c := cl.c
	nb := len(c.blocks) - 1
	b, bi := u/nb, u%nb
	segs := c.segs[c.blocks[bi]:c.blocks[bi+1]]
	last := segs[len(segs)-1]
	tiles := last.lane + last.n

	ws := cl.scratch[w*c.workerScratch() : (w+1)*c.workerScratch()]
	planes := ws[:c.InC*c.chanLen()+16] // the padded rows of each channel
	ws = ws[len(planes):]
	v := ws[:winoPoints*c.vStride()]    // per ξ, InC rows of nr tiles: packed B
	prod := ws[winoPoints*c.vStride():] // per ξ, OutC rows of nr tiles

	r0 := 4 * segs[0].ty // the first padded row the tiles read
	rows := 4*(last.ty-segs[0].ty) + 6
	inPlane := c.InH * c.InW
	for ic := range c.InC {
		src := cl.in[(b*c.InC+ic)*inPlane : (b*c.InC+ic+1)*inPlane]
		c.padRows(planes[ic*c.chanLen():], src, ic, r0, rows)
	}
	clear(planes[c.InC*c.chanLen():])

	for _, s := range segs {
		src := planes[(4*(s.ty-segs[0].ty))*4*c.pw+s.tx:]
		c.inputTransform(v[s.lane:], src, s.n)
	}

	m, k := c.OutC, c.InC
	np := rowPanels(m)
	for xi := range winoPoints {
		uxi := c.u[xi*m*k : (xi+1)*m*k]
		vxi := v[xi*c.vStride() : xi*c.vStride()+k*nr]
		pxi := prod[xi*c.prodStride() : xi*c.prodStride()+m*nr]
		for k0 := 0; k0 < k; k0 += kc {
			kl := min(kc, k-k0)
			sgemmPacked(m, 0, np, tiles, kl, uxi[k0*m:(k0+kl)*m], vxi[k0*nr:(k0+kl)*nr], pxi, nr, k0 > 0, gemmEpilogue{})
		}
	}

	outPlane := c.OutH * c.OutW
	for _, s := range segs {
		rows := min(4, c.OutH-4*s.ty)
		cols := min(4*s.n, c.OutW-4*s.tx)
		dst := cl.out[b*c.OutC*outPlane+4*s.ty*c.OutW+4*s.tx:]
		c.outputTransform(dst, prod[s.lane:], s.n, rows, cols)
	}
}

// inputTransform writes V = Bᵀ d B of n tiles (n ≤ 16) of every input
// channel: src is the channel-0 phases at the tiles' top padded row and
// first tile; v[ξ·vStride + ic·nr + t] receives point ξ of tile t.
func (c *Winograd) inputTransform(v, src []float32, n int) {
	if useAVX512 {
		_ = src[(c.InC-1)*c.chanLen()+5*4*c.pw+3*c.pw+n-1]
		_ = v[(winoPoints-1)*c.vStride()+(c.InC-1)*nr+n-1]
		winoInputAVX512(&src[0], c.chanLen()*4, 4*c.pw*4, c.pw*4, &v[0], c.vStride()*4, c.InC, uint32(1)<<uint(n)-1)
		return
	}
	rowLen := 4 * c.pw
	for ic := range c.InC {
		ch := src[ic*c.chanLen():]
		for t := range n {
			var d [winoPoints]float32
			for r := range 6 {
				row := ch[r*rowLen:]
				for j := range 6 {
					d[r*6+j] = row[j%4*c.pw+t+j/4]
				}
			}
			inputTile(&d)
			for xi, x := range d {
				v[xi*c.vStride()+ic*nr+t] = x
			}
		}
	}
}

// outputTransform writes Y = Aᵀ M A, with the epilogue, of n tiles of
// every output channel: prod[ξ·prodStride + oc·nr + t] is point ξ of tile t,
// and dst is output channel 0 at the tiles' top-left; only the first rows
// rows and cols columns of the 4×4n outputs are stored.
func (c *Winograd) outputTransform(dst, prod []float32, n, rows, cols int) {
	outPlane := c.OutH * c.OutW
	flags := gemmEpilogue{scale: c.Scale, shift: c.Shift, relu: c.Relu}.flags()
	var scale, shift *float32
	if c.Scale != nil {
		scale = &c.Scale[0]
	}
	if c.Shift != nil {
		shift = &c.Shift[0]
	}
	if useAVX512 {
		_ = prod[(winoPoints-1)*c.prodStride()+(c.OutC-1)*nr+n-1]
		_ = dst[(c.OutC-1)*outPlane+(rows-1)*c.OutW+cols-1]
		colMask := uint64(1)<<uint(cols) - 1
		if cols == 64 {
			colMask = ^uint64(0)
		}
		winoOutputAVX512(&prod[0], c.prodStride()*4, c.OutC, &dst[0], outPlane*4, c.OutW*4, rows, colMask, flags, scale, shift)
		return
	}
	for oc := range c.OutC {
		s, t := float32(1), float32(0)
		if c.Scale != nil {
			s = c.Scale[oc]
		}
		if c.Shift != nil {
			t = c.Shift[oc]
		}
		for ti := range n {
			var m [winoPoints]float32
			for xi := range m {
				m[xi] = prod[xi*c.prodStride()+oc*nr+ti]
			}
			var y [16]float32
			outputTile(&y, &m)
			for i := range rows {
				for j := range 4 {
					col := 4*ti + j
					if col >= cols {
						break
					}
					v := y[i*4+j]*s + t
					if c.Relu {
						v = max(v, 0)
					}
					dst[oc*outPlane+i*c.OutW+col] = v
				}
			}
		}
	}
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

// PackedLen is the number of floats Prepare derived from the weights: the
// transformed weights, 36/9 = 4 times the size of Weight.
func (c *Winograd) PackedLen() int { return len(c.u) }
