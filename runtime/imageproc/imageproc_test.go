package imageproc

import (
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/grcc/grcc/runtime/npy"
)

var (
	imagenetMean = []float32{0.485, 0.456, 0.406}
	imagenetStd  = []float32{0.229, 0.224, 0.225}
)

// refCase is one image and the preprocessing reference.py applies to it.
type refCase struct {
	File     string    `json:"file"`
	Out      string    `json:"out"`
	Channels int       `json:"channels"`
	Resize   int       `json:"resize"`
	Crop     []int     `json:"crop"`
	Mean     []float32 `json:"mean"`
	Std      []float32 `json:"std"`
	Decoded  string    `json:"decoded,omitempty"`
}

func (c refCase) config(h, w int) *Config {
	cfg := &Config{Channels: c.Channels, Resize: c.Resize, Mean: c.Mean, Std: c.Std, Height: h, Width: w}
	if len(c.Crop) == 2 {
		cfg.CropHeight, cfg.CropWidth = c.Crop[0], c.Crop[1]
	}
	return cfg
}

// python finds Debian's Python with torchvision and Pillow, or skips.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import torchvision, PIL, numpy").Run() == nil {
			return p
		}
	}
	t.Skip("no python3 with torchvision and Pillow; ./test.sh installs Debian's python3-torchvision and python3-pil")
	return ""
}

// reference runs reference.py on the cases and returns each case's tensor.
func reference(t *testing.T, dir string, cases []refCase) [][]float32 {
	t.Helper()
	py := python(t)
	js, _ := json.Marshal(cases)
	path := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, "testdata/reference.py", path).CombinedOutput(); err != nil {
		t.Fatalf("reference.py: %v\n%s", err, out)
	}
	var got [][]float32
	for _, c := range cases {
		data, shape, err := npy.ReadFloat32(c.Out)
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) != 3 {
			t.Fatalf("%s: reference shape %v", c.File, shape)
		}
		got = append(got, data)
	}
	return got
}

// noise fills an image of the given size with smooth gradients plus noise,
// so that every tap of the resampling filter matters.
func noise(r *rand.Rand, w, h int, set func(x, y int, v [4]uint16)) {
	for y := range h {
		for x := range w {
			var v [4]uint16
			for c := range 4 {
				g := float64((x*(c+1)*37+y*(3-c)*53)%65536) + r.Float64()*12000
				v[c] = uint16(min(65535, g))
			}
			if r.IntN(7) == 0 {
				v[3] = 0 // some fully transparent pixels: their colour must survive
			}
			set(x, y, v)
		}
	}
}

func write(t *testing.T, path string, enc func(*os.File) error) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// testImages writes images of odd sizes in every pixel layout Go's encoders
// write: 8- and 16-bit gray and colour, with and without alpha, paletted
// with transparency, as PNG, and as GIF, BMP and TIFF.
func testImages(t *testing.T, dir string) []string {
	r := rand.New(rand.NewPCG(1, 2))
	var files []string
	add := func(name string, img image.Image, enc func(*os.File, image.Image) error) {
		path := filepath.Join(dir, name)
		write(t, path, func(f *os.File) error { return enc(f, img) })
		files = append(files, path)
	}
	pngEnc := func(f *os.File, m image.Image) error { return png.Encode(f, m) }

	rgb := image.NewRGBA(image.Rect(0, 0, 97, 61))
	noise(r, 97, 61, func(x, y int, v [4]uint16) {
		rgb.Set(x, y, color.RGBA{uint8(v[0] >> 8), uint8(v[1] >> 8), uint8(v[2] >> 8), 255})
	})
	add("rgb.png", rgb, pngEnc)
	nrgba := image.NewNRGBA(image.Rect(0, 0, 45, 71))
	noise(r, 45, 71, func(x, y int, v [4]uint16) {
		nrgba.SetNRGBA(x, y, color.NRGBA{uint8(v[0] >> 8), uint8(v[1] >> 8), uint8(v[2] >> 8), uint8(v[3] >> 8)})
	})
	add("rgba.png", nrgba, pngEnc)
	gray := image.NewGray(image.Rect(0, 0, 33, 29))
	noise(r, 33, 29, func(x, y int, v [4]uint16) { gray.SetGray(x, y, color.Gray{uint8(v[0] >> 8)}) })
	add("gray.png", gray, pngEnc)
	gray16 := image.NewGray16(image.Rect(0, 0, 40, 37))
	noise(r, 40, 37, func(x, y int, v [4]uint16) { gray16.SetGray16(x, y, color.Gray16{v[0] >> uint(x%9)}) })
	add("gray16.png", gray16, pngEnc)
	rgb64 := image.NewRGBA64(image.Rect(0, 0, 51, 43))
	noise(r, 51, 43, func(x, y int, v [4]uint16) { rgb64.SetRGBA64(x, y, color.RGBA64{v[0], v[1], v[2], 0xffff}) })
	add("rgb16.png", rgb64, pngEnc)
	nrgba64 := image.NewNRGBA64(image.Rect(0, 0, 39, 47))
	noise(r, 39, 47, func(x, y int, v [4]uint16) { nrgba64.SetNRGBA64(x, y, color.NRGBA64{v[0], v[1], v[2], v[3]}) })
	add("rgba16.png", nrgba64, pngEnc)
	pal := color.Palette{}
	for i := range 200 {
		a := uint8(255)
		if i%5 == 0 {
			a = uint8(i)
		}
		pal = append(pal, color.NRGBA{uint8(i * 7), uint8(255 - i), uint8(i * 13), a})
	}
	paletted := image.NewPaletted(image.Rect(0, 0, 35, 57), pal)
	noise(r, 35, 57, func(x, y int, v [4]uint16) { paletted.SetColorIndex(x, y, uint8(int(v[0])%200)) })
	add("palette.png", paletted, pngEnc)
	opaque := image.NewPaletted(image.Rect(0, 0, 35, 57), palette256())
	copy(opaque.Pix, paletted.Pix)
	add("palette.gif", opaque, func(f *os.File, m image.Image) error { return gif.Encode(f, m, nil) })
	add("rgb.bmp", rgb, func(f *os.File, m image.Image) error { return bmp.Encode(f, m) })
	add("rgba.tiff", nrgba, func(f *os.File, m image.Image) error { return tiff.Encode(f, m, nil) })
	return files
}

func palette256() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		p[i] = color.RGBA{uint8(i * 7), uint8(255 - i), uint8(i * 13), 255}
	}
	return p
}

// TestMatchesTorchvision preprocesses losslessly stored images of every pixel
// layout in both colour modes, with upscaling and downscaling resizes, crops
// larger and smaller than the image, and no resize at all, and requires
// torchvision's tensor within 1e-6: the pixels must be identical (one level
// is 1/255/std ≈ 0.017), and identical pixels give identical float32
// arithmetic, so any difference at all would be a bug.
func TestMatchesTorchvision(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	files := testImages(t, dir)
	// And modes only Pillow writes: gray with alpha, bilevel, 16-bit gray
	// (mode I;16), a palette with alpha.
	if out, err := exec.Command(py, "testdata/make_images.py", dir).CombinedOutput(); err != nil {
		t.Fatalf("make_images.py: %v\n%s", err, out)
	}
	for _, name := range []string{"la.png", "bilevel.png", "i16.png", "p_rgba.png"} {
		files = append(files, filepath.Join(dir, name))
	}
	type setting struct {
		channels, resize int
		crop             []int
	}
	settings := []setting{
		{3, 256, []int{224, 224}}, // ImageNet evaluation: upscaling
		{3, 24, []int{21, 19}},    // downscaling, odd crop
		{1, 17, []int{16, 16}},
		{3, 0, []int{64, 30}}, // crop only: pads the smaller side
		{1, 0, nil},
	}
	var cases []refCase
	for _, f := range files {
		for k, s := range settings {
			c := refCase{File: f, Out: filepath.Join(dir, filepath.Base(f)+string(rune('a'+k))+".npy"),
				Channels: s.channels, Resize: s.resize, Crop: s.crop, Mean: imagenetMean[:s.channels], Std: imagenetStd[:s.channels]}
			cases = append(cases, c)
		}
	}
	want := reference(t, dir, cases)
	for i, c := range cases {
		img, err := DecodeFile(c.File)
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		h, w := b.Dy(), b.Dx()
		if c.Resize > 0 {
			w, h = ResizedSize(w, h, c.Resize)
		}
		if len(c.Crop) == 2 {
			h, w = c.Crop[0], c.Crop[1]
		}
		cfg := c.config(h, w)
		got := make([]float32, cfg.Len())
		if err := cfg.Preprocess(img, got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want[i]) {
			t.Fatalf("%s %+v: %d floats, torchvision %d", filepath.Base(c.File), c, len(got), len(want[i]))
		}
		if d, at := maxDiff(got, want[i]); d > 1e-6 {
			t.Errorf("%s (channels %d, resize %d, crop %v): max|go − torchvision| = %g at %d (%g vs %g)",
				filepath.Base(c.File), c.Channels, c.Resize, c.Crop, d, at, got[at], want[i][at])
		}
	}
}

// jpegPhotos are real photographs (and video frames) that Debian packages or
// the Go distribution install; the JPEG test uses those present.
var jpegPhotos = []string{
	"/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
	filepath.Join(goroot(), "src/image/testdata/video-001.jpeg"),
	filepath.Join(goroot(), "src/image/testdata/video-001.progressive.jpeg"),
	filepath.Join(goroot(), "src/image/testdata/video-001.q50.444.jpeg"),
	filepath.Join(goroot(), "src/image/testdata/video-001.221212.jpeg"),
	filepath.Join(goroot(), "src/image/testdata/video-005.gray.jpeg"),
}

func goroot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// TestJPEGDecoderDifference measures how far Go's JPEG decoding takes the
// ImageNet tensor of real photos from torchvision's (Pillow decodes with
// libjpeg-turbo), and shows that the difference is the decoders' alone:
// preprocessing the pixels Pillow decoded (saved losslessly) gives
// torchvision's tensor exactly.
func TestJPEGDecoderDifference(t *testing.T) {
	python(t)
	dir := t.TempDir()
	var cases []refCase
	for i, f := range jpegPhotos {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		cases = append(cases, refCase{File: f, Out: filepath.Join(dir, filepath.Base(f)+".npy"), Channels: 3,
			Resize: 256, Crop: []int{224, 224}, Mean: imagenetMean, Std: imagenetStd,
			Decoded: filepath.Join(dir, "decoded"+string(rune('a'+i))+".png")})
	}
	if len(cases) == 0 {
		t.Skip("no JPEG photos installed")
	}
	want := reference(t, dir, cases)
	cfg := &Config{Channels: 3, Resize: 256, CropHeight: 224, CropWidth: 224, Mean: imagenetMean, Std: imagenetStd, Height: 224, Width: 224}
	for i, c := range cases {
		got := make([]float32, cfg.Len())
		img, err := DecodeFile(c.File)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Preprocess(img, got); err != nil {
			t.Fatal(err)
		}
		d, _ := maxDiff(got, want[i])
		mean := meanDiff(got, want[i])
		t.Logf("%s: Go's decoder: max|go − torchvision| = %.4f (%.1f levels), mean %.5f", filepath.Base(c.File), d, d*255*0.225, mean)
		// Go upsamples chroma without libjpeg-turbo's smoothing, so edges in
		// colour differ by up to a few dozen levels (29 on the unusual 2:2:1
		// subsampling of video-001.221212.jpeg, 12 on grace_hopper.jpg), but
		// on average by under one level; more would not be the decoder.
		if d*255*0.225 > 40 || mean*255*0.225 > 1 {
			t.Errorf("%s: difference (max %.1f, mean %.2f levels) is more than JPEG decoders differ", c.File, d*255*0.225, mean*255*0.225)
		}
		pil, err := DecodeFile(c.Decoded)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Preprocess(pil, got); err != nil {
			t.Fatal(err)
		}
		if d, at := maxDiff(got, want[i]); d > 1e-6 {
			t.Errorf("%s: on Pillow's decoded pixels max|go − torchvision| = %g at %d", c.File, d, at)
		}
	}
}

func maxDiff(a, b []float32) (float64, int) {
	d, at := 0.0, 0
	for i := range a {
		if x := math.Abs(float64(a[i] - b[i])); x > d {
			d, at = x, i
		}
	}
	return d, at
}

func meanDiff(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += math.Abs(float64(a[i] - b[i]))
	}
	return s / float64(len(a))
}

// TestCorrupt feeds truncated and damaged files of every format to Decode
// and Preprocess: each must give an image or an error, never a panic.
func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	files := testImages(t, dir)
	cfg := &Config{Channels: 3, Resize: 20, CropHeight: 16, CropWidth: 16, Mean: imagenetMean, Std: imagenetStd, Height: 16, Width: 16}
	dst := make([]float32, cfg.Len())
	r := rand.New(rand.NewPCG(3, 4))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 40 {
			bad := append([]byte(nil), data[:r.IntN(len(data))]...)
			if k%2 == 1 {
				bad = append([]byte(nil), data...)
				for range 8 {
					bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
				}
			}
			img, err := Decode(strings.NewReader(string(bad)))
			if err == nil {
				cfg.Preprocess(img, dst) // may fail on the size; must not panic
			}
		}
	}
	if _, err := Decode(strings.NewReader("")); err == nil {
		t.Error("empty input decoded")
	}
}
