package imageproc

import "math"

// Resize scales p to w×h with Pillow's bilinear filter, as
// Image.resize((w, h), Image.BILINEAR) computes it on an 8-bit image (Pillow
// 9, libImaging/Resample.c), which is what torchvision's Resize does to a
// PIL image: an antialiased, separable filter whose support widens with the
// downscaling factor, coefficients in 22-bit fixed point, the horizontal
// pass first, and each pass rounded to 8 bits. A pass whose size does not
// change is skipped, as Pillow skips it.
func Resize(p *Pixels, w, h int) *Pixels {
	if w == p.W && h == p.H {
		return &Pixels{W: w, H: h, C: p.C, Pix: append([]uint8(nil), p.Pix...)}
	}
	out := p
	if w != p.W {
		out = resampleHorizontal(out, w)
	}
	if h != p.H {
		out = resampleVertical(out, h)
	}
	return out
}

// precisionBits is Pillow's PRECISION_BITS for 8-bit images: 32 − 8 − 2.
const precisionBits = 32 - 8 - 2

// coefficients is Pillow's precompute_coeffs for the bilinear filter
// followed by normalize_coeffs_8bpc: for each output position, the first
// input index, the number of taps, and the fixed-point weights (ksize per
// output, zero beyond the taps).
func coefficients(inSize, outSize int) (ksize int, bounds []int, kk []int32) {
	const support0 = 1.0 // the bilinear filter's support
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := support0 * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, outSize*2)
	kk = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	for xx := range outSize {
		center := float64(float64(xx)+0.5) * scale
		ww := 0.0
		ss := 1.0 / filterscale
		xmin := int(center - support + 0.5) // C's (int) truncates toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		for x := range xmax {
			wt := bilinear(float64(float64(x+xmin)-center+0.5) * ss)
			k[x] = wt
			ww += wt
		}
		for x := range xmax {
			v := k[x]
			if ww != 0 {
				v /= ww
			}
			// normalize_coeffs_8bpc: round half away from zero, then truncate.
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				kk[xx*ksize+x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return ksize, bounds, kk
}

func bilinear(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// clip8 is Pillow's clip8: the accumulator shifted down to 8 bits, clamped.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

func resampleHorizontal(p *Pixels, w int) *Pixels {
	ksize, bounds, kk := coefficients(p.W, w)
	out := &Pixels{W: w, H: p.H, C: p.C, Pix: make([]uint8, w*p.H*p.C)}
	c := p.C
	for y := range p.H {
		row := p.Pix[y*p.W*c : (y+1)*p.W*c]
		orow := out.Pix[y*w*c : (y+1)*w*c]
		for xx := range w {
			xmin, xmax := bounds[2*xx], bounds[2*xx+1]
			k := kk[xx*ksize : xx*ksize+xmax]
			for ch := range c {
				ss := int32(1 << (precisionBits - 1))
				for x, kv := range k {
					ss += int32(row[(x+xmin)*c+ch]) * kv
				}
				orow[xx*c+ch] = clip8(ss)
			}
		}
	}
	return out
}

func resampleVertical(p *Pixels, h int) *Pixels {
	ksize, bounds, kk := coefficients(p.H, h)
	out := &Pixels{W: p.W, H: h, C: p.C, Pix: make([]uint8, p.W*h*p.C)}
	stride := p.W * p.C
	for yy := range h {
		ymin, ymax := bounds[2*yy], bounds[2*yy+1]
		k := kk[yy*ksize : yy*ksize+ymax]
		orow := out.Pix[yy*stride : (yy+1)*stride]
		for i := range stride {
			ss := int32(1 << (precisionBits - 1))
			for y, kv := range k {
				ss += int32(p.Pix[(y+ymin)*stride+i]) * kv
			}
			orow[i] = clip8(ss)
		}
	}
	return out
}
