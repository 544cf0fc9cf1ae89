package imageproc

import (
	"image"
	"image/color"
)

// Pixels is an 8-bit image with interleaved channels: C = 3 (RGB) or 1 (gray).
// Pixel (x, y) channel c is Pix[(y*W+x)*C+c].
type Pixels struct {
	W, H, C int
	Pix     []uint8
}

// Convert returns img as 8-bit RGB (channels 3) or gray (channels 1), as
// Pillow's Image.convert("RGB") or convert("L") gives it for the image
// Pillow decodes from the same file:
//
//   - alpha is dropped, not composited (RGBA→RGB keeps the colour values);
//   - gray becomes R = G = B; colour becomes gray as ITU-R 601-2 luma in
//     Pillow's fixed point, (19595 R + 38470 G + 7471 B + 0x8000) >> 16;
//   - a palette maps each index to its colour;
//   - 16-bit colour keeps the high byte of each sample (Pillow unpacks
//     "RGB;16B" so); 16-bit gray is clipped to 255 (Pillow opens it as
//     mode "I", whose conversion to L or RGB clips);
//   - CMYK becomes RGB as Pillow's cmyk2rgb computes it.
func Convert(img image.Image, channels int) *Pixels {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	p := &Pixels{W: w, H: h, C: channels, Pix: make([]uint8, w*h*channels)}
	put := func(i int, r, g, bl uint8) {
		if channels == 1 {
			p.Pix[i] = luma(r, g, bl)
			return
		}
		p.Pix[3*i], p.Pix[3*i+1], p.Pix[3*i+2] = r, g, bl
	}
	putGray := func(i int, v uint8) {
		if channels == 1 {
			p.Pix[i] = v
			return
		}
		p.Pix[3*i], p.Pix[3*i+1], p.Pix[3*i+2] = v, v, v
	}
	i := 0
	switch m := img.(type) {
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				putGray(i, m.Pix[m.PixOffset(x, y)])
				i++
			}
		}
	case *image.Gray16:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := m.PixOffset(x, y)
				v := uint16(m.Pix[o])<<8 | uint16(m.Pix[o+1])
				putGray(i, uint8(min(v, 255)))
				i++
			}
		}
	case *image.RGBA:
		// Go's decoders give RGBA only for opaque images, so premultiplication
		// changes nothing here.
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := m.PixOffset(x, y)
				put(i, m.Pix[o], m.Pix[o+1], m.Pix[o+2])
				i++
			}
		}
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := m.PixOffset(x, y)
				put(i, m.Pix[o], m.Pix[o+1], m.Pix[o+2])
				i++
			}
		}
	case *image.RGBA64:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := m.PixOffset(x, y)
				put(i, m.Pix[o], m.Pix[o+2], m.Pix[o+4])
				i++
			}
		}
	case *image.NRGBA64:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := m.PixOffset(x, y)
				put(i, m.Pix[o], m.Pix[o+2], m.Pix[o+4])
				i++
			}
		}
	case *image.Paletted:
		type rgb struct{ r, g, b uint8 }
		pal := make([]rgb, 256)
		for k, c := range m.Palette {
			pal[k] = plainRGB(c)
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := pal[m.Pix[m.PixOffset(x, y)]]
				put(i, c.r, c.g, c.b)
				i++
			}
		}
	case *image.CMYK:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := m.PixOffset(x, y)
				r, g, bl := cmykToRGB(m.Pix[o], m.Pix[o+1], m.Pix[o+2], m.Pix[o+3])
				put(i, r, g, bl)
				i++
			}
		}
	default:
		// YCbCr (JPEG), and anything else: Go's colour conversion, alpha undone.
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := plainRGB(img.At(x, y))
				put(i, c.r, c.g, c.b)
				i++
			}
		}
	}
	return p
}

// plainRGB gives c's 8-bit colour without alpha: the stored values for
// colours kept unpremultiplied, the premultiplication undone otherwise.
func plainRGB(c color.Color) struct{ r, g, b uint8 } {
	switch c := c.(type) {
	case color.NRGBA:
		return struct{ r, g, b uint8 }{c.R, c.G, c.B}
	case color.RGBA:
		if c.A == 0xff {
			return struct{ r, g, b uint8 }{c.R, c.G, c.B}
		}
	case color.Gray:
		return struct{ r, g, b uint8 }{c.Y, c.Y, c.Y}
	case color.YCbCr:
		r, g, b := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
		return struct{ r, g, b uint8 }{r, g, b}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return struct{ r, g, b uint8 }{n.R, n.G, n.B}
}

// luma is Pillow's L24 conversion of RGB to L.
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// cmykToRGB is Pillow's cmyk2rgb: each channel nk − c·nk/255, nk = 255 − k,
// with Pillow's rounded division by 255.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int(k)
	ch := func(v uint8) uint8 {
		t := int(v)*nk + 128
		return uint8(max(0, min(255, nk-((t>>8)+t)>>8)))
	}
	return ch(c), ch(m), ch(y)
}
