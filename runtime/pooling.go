package runtime

import (
	"fmt"
	"math"
)

// Pool2D is max or average pooling with PyTorch's MaxPool2d and AvgPool2d
// defaults: floor mode; average pooling counts the padding zeros
// (count_include_pad=true); max pooling ignores the padding.
type Pool2D struct {
	C, InH, InW, OutH, OutW int
	KH, KW, SH, SW, PH, PW  int
	Max                     bool

	// The input prologue of average pooling, as in Conv2D: each input
	// element x of channel c is read as x·InScale[c] + InShift[c], then
	// clamped at 0 if InRelu (a pre-activation BatchNorm and ReLU, which
	// then never goes through memory). Nil for none; max pooling takes
	// none.
	InScale, InShift []float32
	InRelu           bool
}

// poolCall holds the arguments of the Forward in progress.
type poolCall struct {
	loop
	p       *Pool2D
	in, out []float32
	bands   int // blocks of output rows a plane is split into
}

var poolCalls calls[poolCall]

// Forward pools batch images of C×InH×InW from in into out (C×OutH×OutW
// each), one plane per unit of parallel work. A window that holds no input
// element, possible only with padding PyTorch rejects, yields -Inf for max
// and 0 for average pooling.
func (p *Pool2D) Forward(batch int, in, out []float32) {
	nin, nout := batch*p.C*p.InH*p.InW, batch*p.C*p.OutH*p.OutW
	if len(in) < nin || len(out) < nout {
		panic(fmt.Sprintf("runtime: Pool2D.Forward: batch %d needs in %d, out %d floats; got %d, %d", batch, nin, nout, len(in), len(out)))
	}
	if p.InScale != nil && (p.Max || len(p.InScale) < p.C || len(p.InShift) < p.C) {
		panic(fmt.Sprintf("runtime: Pool2D.Forward: a prologue needs average pooling and %d scales and shifts; got max %v, %d, %d", p.C, p.Max, len(p.InScale), len(p.InShift)))
	}
	cl := poolCalls.get()
	defer poolCalls.put(cl)
	cl.p, cl.in, cl.out = p, in, out
	// Large planes are split into bands of output rows, image by image:
	// each worker then pools the rows the convolution before it wrote on
	// its own core, as that splits an image's rows too, rather than whole
	// planes, half of whose rows the other core wrote.
	cl.bands = 1
	if p.OutH*p.OutW >= poolBandMin {
		cl.bands = min(workers(), p.OutH)
	}
	units := batch * cl.bands * p.C
	cl.parallelFor(units, grainFor(units, p.InH*p.InW/cl.bands), cl)
	cl.in, cl.out = nil, nil
}

// poolBandMin is the fewest outputs of a plane that Forward splits into
// bands (the stem's 56×56 max pooling; not the 7×7 ones).
const poolBandMin = 1024

// run pools units [lo, hi): unit u is band u/C%bands of plane u%C of image
// u/(C·bands).
func (cl *poolCall) run(lo, hi, _ int) {
	p := cl.p
	inPlane, outPlane := p.InH*p.InW, p.OutH*p.OutW
	for u := lo; u < hi; u++ {
		b, band, ch := u/(p.C*cl.bands), u/p.C%cl.bands, u%p.C
		plane := b*p.C + ch
		src := cl.in[plane*inPlane : (plane+1)*inPlane]
		dst := cl.out[plane*outPlane : (plane+1)*outPlane]
		oh0, oh1 := band*p.OutH/cl.bands, (band+1)*p.OutH/cl.bands
		if p.Max {
			p.maxPlane(dst, src, oh0, oh1)
		} else {
			p.avgPlane(dst, src, ch, oh0, oh1)
		}
	}
}

// maxPlane writes output rows [oh0, oh1) of a plane.
func (p *Pool2D) maxPlane(dst, src []float32, oh0, oh1 int) {
	if p.KH == 3 && p.KW == 3 && p.SH == 2 && p.SW == 2 && p.PH == 1 && p.PW == 1 {
		if useAVX512 {
			p.maxRows3s2(dst, src, oh0, oh1)
			return
		}
		if p.InW <= maxPoolRow {
			p.maxPlane3s2(dst, src, oh0, oh1)
			return
		}
	}
	for oh := oh0; oh < oh1; oh++ {
		h0, h1 := poolWindow(oh, p.SH, p.PH, p.KH, p.InH)
		for ow := range p.OutW {
			w0, w1 := poolWindow(ow, p.SW, p.PW, p.KW, p.InW)
			m := float32(math.Inf(-1))
			for ih := h0; ih < h1; ih++ {
				for _, v := range src[ih*p.InW+w0 : ih*p.InW+w1] {
					m = max(m, v) // propagates a NaN, as PyTorch does
				}
			}
			dst[oh*p.OutW+ow] = m
		}
	}
}

// maxRows3s2 is maxPlane for the stem's 3×3 window at stride 2 with
// padding 1 with AVX-512: one call a row, which reduces the window's rows
// and its columns in registers. Copying the first row, folding in the
// others and reducing the columns took four calls a row and left the last
// outputs of each row to a scalar loop (64×112×112 at batch 1, GRCNN-55's
// stem, hot: 183–230 → 72–78 µs).
func (p *Pool2D) maxRows3s2(dst, src []float32, oh0, oh1 int) {
	if oh0 >= oh1 {
		return
	}
	_ = src[p.InH*p.InW-1]
	_ = dst[oh1*p.OutW-1]
	for oh := oh0; oh < oh1; oh++ {
		h0, h1 := poolWindow(oh, p.SH, p.PH, p.KH, p.InH)
		r0 := &src[h0*p.InW]
		r1 := &src[min(h0+1, h1-1)*p.InW]
		r2 := &src[(h1-1)*p.InW]
		maxPoolRow3s2AVX512(&dst[oh*p.OutW], r0, r1, r2, p.InW, p.OutW)
	}
}

// maxPoolRow is the widest input row maxPlane3s2 handles.
const maxPoolRow = 512

// maxPlane3s2 is maxPlane for the stem's 3×3 window at stride 2 with
// padding 1 without AVX-512: per output row, the maximum over the (up to)
// three input rows, then over three columns at stride 2, without the
// window bookkeeping of each output.
func (p *Pool2D) maxPlane3s2(dst, src []float32, oh0, oh1 int) {
	var buf [maxPoolRow]float32
	col := buf[:p.InW]
	for oh := oh0; oh < oh1; oh++ {
		h0, h1 := poolWindow(oh, p.SH, p.PH, p.KH, p.InH)
		copy(col, src[h0*p.InW:(h0+1)*p.InW])
		for ih := h0 + 1; ih < h1; ih++ {
			maxInto(col, src[ih*p.InW:(ih+1)*p.InW])
		}
		d := dst[oh*p.OutW : (oh+1)*p.OutW]
		for ow := range d {
			// Window columns 2·ow-1 .. 2·ow+1, within the input.
			c := 2 * ow
			m := col[c]
			if c > 0 {
				m = max(m, col[c-1])
			}
			if c+1 < len(col) {
				m = max(m, col[c+1])
			}
			d[ow] = m
		}
	}
}

// maxInto sets dst[i] = max(dst[i], src[i]); a NaN in either gives NaN, as
// PyTorch's max pooling propagates it.
func maxInto(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = max(dst[i], v)
	}
}

// avgPlane writes output rows [oh0, oh1) of plane ch.
func (p *Pool2D) avgPlane(dst, src []float32, ch, oh0, oh1 int) {
	// Padding counts, so every window divides by the full kernel area: in
	// floor mode no window reaches past the padded input.
	inv := 1 / float32(p.KH*p.KW)
	var s, t float32
	flags := 0
	if p.InScale != nil {
		s, t, flags = p.InScale[ch], p.InShift[ch], 1
		if p.InRelu {
			flags |= 2
		}
	}
	// f is the prologue, multiply then add, rounded twice as ScaleShift
	// rounds.
	f := func(v float32) float32 {
		if flags&1 != 0 {
			v = float32(v*s) + t
			if flags&2 != 0 {
				v = max(v, 0)
			}
		}
		return v
	}
	if p.KH == 2 && p.KW == 2 && p.SH == 2 && p.SW == 2 && p.PH == 0 && p.PW == 0 {
		// The downsampling 2×2 average, without the window bookkeeping.
		for oh := oh0; oh < oh1; oh++ {
			r0 := src[2*oh*p.InW : (2*oh+1)*p.InW]
			r1 := src[(2*oh+1)*p.InW : (2*oh+2)*p.InW]
			d := dst[oh*p.OutW : (oh+1)*p.OutW]
			r0, r1 = r0[:2*len(d)], r1[:2*len(d)]
			if useAVX512 {
				if len(d) > 0 {
					avgPool2s2AVX512(&d[0], &r0[0], &r1[0], len(d), inv, s, t, flags)
				}
				continue
			}
			for ow := range d {
				d[ow] = (f(r0[2*ow]) + f(r0[2*ow+1]) + f(r1[2*ow]) + f(r1[2*ow+1])) * inv
			}
		}
		return
	}
	for oh := oh0; oh < oh1; oh++ {
		h0, h1 := poolWindow(oh, p.SH, p.PH, p.KH, p.InH)
		for ow := range p.OutW {
			w0, w1 := poolWindow(ow, p.SW, p.PW, p.KW, p.InW)
			var sum float32
			for ih := h0; ih < h1; ih++ {
				row := src[ih*p.InW+w0 : ih*p.InW+w1]
				switch flags {
				case 0:
					for _, v := range row {
						sum += v
					}
				case 1:
					for _, v := range row {
						sum += float32(v*s) + t
					}
				default:
					for _, v := range row {
						sum += max(float32(v*s)+t, 0)
					}
				}
			}
			dst[oh*p.OutW+ow] = sum * inv
		}
	}
}

// poolWindow returns the input range [lo, hi) that output position o covers
// along one axis, clipped to the input.
func poolWindow(o, stride, pad, k, size int) (lo, hi int) {
	lo = o*stride - pad
	hi = min(lo+k, size)
	lo = max(lo, 0)
	return lo, max(hi, lo)
}

// GlobalAvgPool averages each of batch·c planes of hw elements of in into
// out[batch·c].
func GlobalAvgPool(batch, c, hw int, in, out []float32) {
	n := batch * c
	if len(in) < n*hw || len(out) < n {
		panic(fmt.Sprintf("runtime: GlobalAvgPool: %d planes of %d need in %d, out %d floats; got %d, %d", n, hw, n*hw, n, len(in), len(out)))
	}
	for p := range n {
		out[p] = mean(in[p*hw : (p+1)*hw])
	}
}

// mean returns the average of x, summed in float64 so that large planes do
// not lose precision.
func mean(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	// Partial sums hide the latency of the adds (32 of them with AVX-512,
	// else four); each is still exact to far below a float32 ulp.
	var s0, s1, s2, s3 float64
	i := 0
	if useAVX512 && len(x) >= 32 {
		i = len(x) &^ 7
		s0 = sumAVX512(&x[0], i)
	}
	for ; i+4 <= len(x); i += 4 {
		v := (*[4]float32)(x[i:])
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return float32((s0 + s1 + s2 + s3) / float64(len(x)))
}
