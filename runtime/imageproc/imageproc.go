// Package imageproc turns image files into the float32 tensors a grcc model
// takes, giving what the reference PyTorch evaluation gives: Pillow opens the
// file and converts it to RGB (or L), torchvision's Resize scales the shorter
// side with Pillow's bilinear filter, CenterCrop cuts the middle, ToTensor
// divides by 255 and Normalize subtracts the mean and divides by the std.
//
// Decoding uses the standard library for JPEG, PNG and GIF and
// golang.org/x/image for BMP, TIFF and WebP. Conversion (Convert) and
// resizing (Resize) reproduce Pillow 9's arithmetic exactly, so on losslessly
// stored images (PNG, BMP, TIFF, GIF) the tensor equals torchvision's. JPEG
// decoders differ slightly in their inverse DCT and chroma upsampling (Go's
// image/jpeg against libjpeg-turbo), so JPEG input gives pixels a few levels
// apart at worst. No EXIF orientation is applied, as torchvision applies
// none.
//
// The package depends on nothing of the compiler: generated packages and
// grcc's own commands use it alike.
package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"

	// Formats image.Decode recognises.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// Config is a model's preprocessing: what to do to an image before the
// first layer sees it.
type Config struct {
	// Channels is 3 (the image converted to RGB) or 1 (to gray, Pillow's L).
	Channels int
	// Resize is the length the shorter side is scaled to (bilinear), keeping
	// the aspect ratio as torchvision computes it; 0 leaves the size alone.
	Resize int
	// CropHeight and CropWidth cut the centre (torchvision's CenterCrop,
	// padding with zeros when the image is smaller); 0 crops nothing.
	CropHeight, CropWidth int
	// Mean and Std, one per channel, normalise the [0, 1] values.
	Mean, Std []float32
	// Height and Width are the model's input size: the result must have it.
	Height, Width int
}

// Len is the number of floats one preprocessed image has.
func (c *Config) Len() int { return c.Channels * c.Height * c.Width }

// DecodeFile opens and decodes an image file. Errors name the file.
func DecodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is added below
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	defer f.Close()
	img, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return img, nil
}

// ErrFormat is returned (wrapped) for files in no format the package reads.
var ErrFormat = errors.New("not a JPEG, PNG, GIF, BMP, TIFF or WebP image")

// MaxPixels bounds the size an image file may claim, so that a damaged or
// hostile header cannot make Decode allocate without limit.
const MaxPixels = 1 << 28

// Decode decodes an image in any of the formats the package reads. The first
// frame of an animated GIF is taken, as Pillow opens it.
func Decode(r io.Reader) (img image.Image, err error) {
	defer func() {
		// Decoders of the x/image formats have panicked on hostile input
		// before; a bad file must be an error, never a crash.
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("corrupt image: %v", p)
		}
	}()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return nil, ErrFormat
	}
	if err != nil {
		return nil, fmt.Errorf("corrupt or unsupported image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || float64(cfg.Width)*float64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("image claims %dx%d pixels; at most %d are read", cfg.Width, cfg.Height, MaxPixels)
	}
	img, _, err = image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("corrupt or unsupported image: %v", err)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("image has no pixels (%dx%d)", b.Dx(), b.Dy())
	}
	return img, nil
}

// Preprocess converts, resizes, crops and normalises img into dst, which
// must hold c.Len() floats (CHW order).
func (c *Config) Preprocess(img image.Image, dst []float32) error {
	if c.Channels != 1 && c.Channels != 3 {
		return fmt.Errorf("preprocess: the model takes %d channels; images give 1 (gray) or 3 (RGB)", c.Channels)
	}
	if len(dst) != c.Len() {
		return fmt.Errorf("preprocess: destination holds %d floats, want %d", len(dst), c.Len())
	}
	p := Convert(img, c.Channels)
	if c.Resize > 0 {
		w, h := ResizedSize(p.W, p.H, c.Resize)
		p = Resize(p, w, h)
	}
	if c.CropHeight > 0 && c.CropWidth > 0 {
		p = CenterCrop(p, c.CropWidth, c.CropHeight)
	}
	if p.W != c.Width || p.H != c.Height {
		b := img.Bounds()
		switch {
		case c.Resize == 0 && c.CropHeight == 0:
			return fmt.Errorf("image is %dx%d, the model takes %dx%d (width×height) and its preprocess neither resizes nor crops",
				b.Dx(), b.Dy(), c.Width, c.Height)
		default:
			return fmt.Errorf("image is %dx%d, preprocessed %dx%d, but the model takes %dx%d (width×height)",
				b.Dx(), b.Dy(), p.W, p.H, c.Width, c.Height)
		}
	}
	Normalize(p, c.Mean, c.Std, dst)
	return nil
}

// ResizedSize is torchvision's size for Resize(short) of a w×h image: the
// shorter side becomes short, the longer int(short · long / short_side).
func ResizedSize(w, h, short int) (int, int) {
	if w <= h {
		return short, int(float64(short) * float64(h) / float64(w))
	}
	return int(float64(short) * float64(w) / float64(h)), short
}

// CenterCrop cuts a w×h window from the middle of p as torchvision's
// CenterCrop does: offsets round((size − crop) / 2) with Python's
// round-half-to-even, and an image smaller than the window is first padded
// with zeros, (crop − size) / 2 before and the rest after.
func CenterCrop(p *Pixels, w, h int) *Pixels {
	padL, padT := 0, 0
	iw, ih := p.W, p.H
	if w > iw {
		padL, iw = (w-p.W)/2, w
	}
	if h > ih {
		padT, ih = (h-p.H)/2, h
	}
	left := int(math.RoundToEven(float64(iw-w) / 2))
	top := int(math.RoundToEven(float64(ih-h) / 2))
	out := &Pixels{W: w, H: h, C: p.C, Pix: make([]uint8, w*h*p.C)}
	for y := range h {
		sy := y + top - padT
		if sy < 0 || sy >= p.H {
			continue
		}
		for x := range w {
			sx := x + left - padL
			if sx < 0 || sx >= p.W {
				continue
			}
			copy(out.Pix[(y*w+x)*p.C:(y*w+x+1)*p.C], p.Pix[(sy*p.W+sx)*p.C:])
		}
	}
	return out
}

// Normalize writes p as CHW float32 into dst: each byte v becomes
// (v/255 − mean) / std, computed in float32 step by step as torchvision's
// ToTensor and Normalize compute it.
func Normalize(p *Pixels, mean, std []float32, dst []float32) {
	n := p.W * p.H
	for ch := range p.C {
		m, s := mean[ch], std[ch]
		plane := dst[ch*n : (ch+1)*n]
		for i := range n {
			v := float32(p.Pix[i*p.C+ch]) / 255
			plane[i] = (v - m) / s
		}
	}
}
