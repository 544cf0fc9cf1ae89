package ir

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"github.com/grcc/grcc/parser"
	"github.com/grcc/grcc/runtime/labels"
)

// Preprocess is how an image file becomes the model's input, as the
// reference PyTorch evaluation prepares it: convert to RGB or gray, resize
// the shorter side (bilinear), center-crop, scale to [0, 1], normalise.
type Preprocess struct {
	Gray         bool // convert to gray (one channel) rather than RGB
	Resize       int  // the shorter side's length after resizing; 0 keeps the size
	CropH, CropW int  // the center crop; 0 crops nothing
	Mean, Std    []float64
	// Labels is the label setting as written: "imagenet", "cifar10",
	// "cifar100", a file name relative to the spec, or "" for none.
	Labels string
	// Builtin is true when Labels names a built-in set.
	Builtin bool
	// ClassNames are the resolved names, one per class, or nil.
	ClassNames []string
}

// Channels is the number of channels the preprocessed image has.
func (p *Preprocess) Channels() int {
	if p.Gray {
		return 1
	}
	return 3
}

var (
	imagenetMean = []float64{0.485, 0.456, 0.406}
	imagenetStd  = []float64{0.229, 0.224, 0.225}
	cifarMean    = []float64{0.4914, 0.4822, 0.4465}
	cifarStd     = []float64{0.2023, 0.1994, 0.2010}
)

var preprocessKeys = []string{"mode", "resize", "crop", "mean", "std", "labels"}

// defaultPreprocess gives the reference's evaluation settings for an input:
// ImageNet's (resize 256, crop 224, ImageNet mean and std; the resize scaled
// by 256/224 for other sizes) for RGB inputs of 64×64 and more, CIFAR's (no
// resize, CIFAR mean and std) for smaller RGB inputs, and for gray inputs no
// resize, mean 0 and std 1. It is nil for inputs of other channel counts.
func defaultPreprocess(in Shape) *Preprocess {
	switch {
	case in.C == 3 && in.H >= 64 && in.W >= 64:
		return &Preprocess{Resize: int(math.Round(float64(min(in.H, in.W)) * 256 / 224)), CropH: in.H, CropW: in.W,
			Mean: imagenetMean, Std: imagenetStd}
	case in.C == 3:
		return &Preprocess{Mean: cifarMean, Std: cifarStd}
	case in.C == 1:
		return &Preprocess{Gray: true, Mean: []float64{0}, Std: []float64{1}}
	}
	return nil
}

// preprocess checks a preprocess block (e may be nil: the defaults).
func (c *checker) preprocess(m *Model, e *parser.Entry) {
	p := defaultPreprocess(m.Input)
	if e == nil {
		m.Preprocess = p
		return
	}
	entries, ok := c.block(e, false)
	if !ok {
		return
	}
	if p == nil {
		c.errorf(e.Pos, "preprocess: the model's input has %d channels; images give 1 (gray) or 3 (RGB)", m.Input.C)
		return
	}
	f := c.fieldSet("preprocess", entries, preprocessKeys)
	errs := len(c.errs)
	get := func(key string) *parser.Value {
		if fe := f[key]; fe != nil {
			if v, ok := c.setting(fe); ok {
				return v
			}
		}
		return nil
	}
	if v := get("mode"); v != nil {
		if mode, ok := c.word("mode", v, []string{"rgb", "gray"}); ok {
			if want := map[string]int{"rgb": 3, "gray": 1}[mode]; want != m.Input.C {
				c.errorf(v.Pos, "mode = %s gives images of %d channel(s), but the model's input has %d", mode, want, m.Input.C)
			}
		}
	}
	if v := get("resize"); v != nil {
		if v.Ident != nil && *v.Ident == "none" {
			p.Resize = 0
		} else if n, ok := c.positive("resize", v); ok {
			p.Resize = n
		}
	}
	cropPos := e.Pos
	if v := get("crop"); v != nil {
		cropPos = v.Pos
		if v.Ident != nil && *v.Ident == "none" {
			p.CropH, p.CropW = 0, 0
		} else if hw, ok := c.pair("crop", v, c.positive); ok {
			p.CropH, p.CropW = hw[0], hw[1]
		}
	}
	for _, key := range []string{"mean", "std"} {
		v := get(key)
		if v == nil {
			continue
		}
		vals, ok := c.perChannel(key, v, m.Input.C)
		if !ok {
			continue
		}
		if key == "mean" {
			p.Mean = vals
			continue
		}
		for _, s := range vals {
			if s <= 0 {
				c.errorf(v.Pos, "std must be positive, got %g", s)
				ok = false
				break
			}
		}
		if ok {
			p.Std = vals
		}
	}
	if v := get("labels"); v != nil {
		c.labels(m, p, v)
	}
	if len(c.errs) > errs {
		return
	}
	switch {
	case p.CropH > 0 && (p.CropH != m.Input.H || p.CropW != m.Input.W):
		c.errorf(cropPos, "preprocess: crop %dx%d differs from the model's input %dx%d (height×width)", p.CropH, p.CropW, m.Input.H, m.Input.W)
	case p.CropH == 0 && p.Resize > 0 && p.Resize != min(m.Input.H, m.Input.W):
		c.errorf(e.Pos, "preprocess: resize = %d without crop cannot give the %dx%d input; add crop = [%d, %d]",
			p.Resize, m.Input.H, m.Input.W, m.Input.H, m.Input.W)
	}
	m.Preprocess = p
}

// perChannel decodes one number for every channel, or [c1, c2, ...].
func (c *checker) perChannel(key string, v *parser.Value, channels int) ([]float64, bool) {
	if v.List == nil {
		x, ok := c.float(key, v)
		if !ok {
			return nil, false
		}
		out := make([]float64, channels)
		for i := range out {
			out[i] = x
		}
		return out, true
	}
	if len(v.List.Items) != channels {
		c.errorf(v.Pos, "%s: want %d numbers, one per input channel, got %d", key, channels, len(v.List.Items))
		return nil, false
	}
	out := make([]float64, channels)
	for i, item := range v.List.Items {
		x, ok := c.float(key, item)
		if !ok {
			return nil, false
		}
		out[i] = x
	}
	return out, true
}

// labels resolves labels = imagenet | cifar10 | cifar100 | "file.txt" (a
// file relative to the spec, one name a line).
func (c *checker) labels(m *Model, p *Preprocess, v *parser.Value) {
	switch {
	case v.Ident != nil:
		names, ok := labels.Builtin(*v.Ident)
		if !ok {
			msg := fmt.Sprintf("labels: want imagenet, cifar10, cifar100 or a file name in quotes, got %s", *v.Ident)
			if s := suggest(*v.Ident, labels.BuiltinNames); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			c.errorf(v.Pos, "%s", msg)
			return
		}
		if len(names) != m.Classes {
			c.errorf(v.Pos, "labels = %s names %d classes, but the model has classes = %d", *v.Ident, len(names), m.Classes)
			return
		}
		p.Labels, p.Builtin, p.ClassNames = *v.Ident, true, names
	case v.String != nil:
		name := unquoteValue(*v.String)
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(m.Source), name)
		}
		names, err := labels.ReadFile(path, m.Classes)
		if err != nil {
			c.errorf(v.Pos, "labels: %v", err)
			return
		}
		p.Labels, p.ClassNames = name, names
	default:
		c.errorf(v.Pos, "labels: want imagenet, cifar10, cifar100 or a file name in quotes, got %s", describe(v))
	}
}

// unquoteValue removes the quotes of a string value.
func unquoteValue(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}
