package cli

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grcc/grcc/runtime/imageproc"
	"github.com/grcc/grcc/runtime/npy"
)

// tinySpec is a CIFAR-sized reference spec: 32×32 RGB, no resize, CIFAR's
// mean and std by default.
var tinySpec = refPath("tiny_cifar", ".grc")

func writePNG(t *testing.T, path string, w, h int, seed int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*7 + seed*31), uint8(y*5 + seed), uint8((x + y + seed) * 3), 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestPreprocessCommand(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, a, 32, 32, 1)
	writePNG(t, b, 32, 32, 2)
	out := filepath.Join(dir, "x.npy")
	if code, _, stderr := grcc("preprocess", tinySpec, a, b, "--output", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, shape, err := npy.ReadFloat32(out)
	if err != nil {
		t.Fatal(err)
	}
	if formatShape(shape) != "2×3×32×32" {
		t.Fatalf("shape %v", shape)
	}
	// The second image, preprocessed directly with CIFAR's mean and std.
	img, err := imageproc.DecodeFile(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &imageproc.Config{Channels: 3, Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2023, 0.1994, 0.2010}, Height: 32, Width: 32}
	want := make([]float32, cfg.Len())
	if err := cfg.Preprocess(img, want); err != nil {
		t.Fatal(err)
	}
	for i, v := range want {
		if data[cfg.Len()+i] != v {
			t.Fatalf("float %d: %g, want %g", i, data[cfg.Len()+i], v)
		}
	}
}

// TestImageErrors checks that bad images are clear errors naming the file.
func TestImageErrors(t *testing.T) {
	dir := t.TempDir()
	good, wrongSize, corrupt, text := filepath.Join(dir, "good.png"), filepath.Join(dir, "big.png"), filepath.Join(dir, "corrupt.png"), filepath.Join(dir, "notes.txt")
	writePNG(t, good, 32, 32, 1)
	writePNG(t, wrongSize, 40, 30, 1)
	os.WriteFile(text, []byte("hello"), 0o644)
	data, _ := os.ReadFile(good)
	os.WriteFile(corrupt, data[:len(data)/2], 0o644)
	out := filepath.Join(dir, "x.npy")
	for _, c := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.png"), "missing.png: no such file or directory"},
		{wrongSize, "big.png: image is 40x30, the model takes 32x32"},
		{corrupt, "corrupt.png: corrupt or unsupported image"},
		{text, "notes.txt: not a JPEG, PNG, GIF, BMP, TIFF or WebP image"},
	} {
		for _, cmd := range [][]string{
			{"preprocess", tinySpec, good, c.file, "--output", out},
			{"predict", tinySpec, "--random-weights", "1", good, c.file},
		} {
			code, _, stderr := grcc(cmd...)
			if code != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("grcc %s: exit %d, stderr %q; want 1 and %q", cmd[0], code, stderr, c.want)
			}
		}
	}
	// A model whose input no image can give.
	spec := filepath.Join(dir, "four.grc")
	src, _ := os.ReadFile(tinySpec)
	os.WriteFile(spec, []byte(strings.Replace(string(src), "[2, 3, 32, 32]", "[2, 4, 32, 32]", 1)), 0o644)
	if code, _, stderr := grcc("preprocess", spec, good, "--output", out); code != 1 || !strings.Contains(stderr, "4 channels") {
		t.Errorf("4-channel model: exit %d, %q", code, stderr)
	}
}

func TestPredictCommand(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, a, 32, 32, 1)
	writePNG(t, b, 32, 32, 2)
	spec := filepath.Join(dir, "named.grc")
	src, _ := os.ReadFile(tinySpec)
	os.WriteFile(spec, []byte(strings.Replace(string(src), "classes = 10", "classes = 10\n  preprocess { labels = cifar10 }", 1)), 0o644)
	logits := filepath.Join(dir, "logits.npy")
	code, stdout, stderr := grcc("predict", spec, "--random-weights", "3", "--top", "3", "--json", "--output", logits, a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []jsonImage
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(got) != 2 || got[1].Path != b || len(got[1].Top) != 3 {
		t.Fatalf("predictions: %+v", got)
	}
	cifar := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	for _, c := range got[0].Top {
		if c.Name != cifar[c.Class] || c.Probability <= 0 || c.Probability > 1 {
			t.Errorf("class %+v", c)
		}
	}
	if got[0].Top[0].Probability < got[0].Top[1].Probability {
		t.Error("not sorted by probability")
	}
	// The logits are grcc run's on grcc preprocess's batch.
	x, y := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if code, _, stderr := grcc("preprocess", spec, a, b, "--output", x); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := grcc("run", spec, "--random-weights", "3", "--input", x, "--output", y); code != 0 {
		t.Fatal(stderr)
	}
	l1, _, _ := npy.ReadFloat32(logits)
	l2, _, _ := npy.ReadFloat32(y)
	for i := range l2 {
		if math.Abs(float64(l1[i]-l2[i])) > 0 {
			t.Fatalf("logit %d: predict %g, run %g", i, l1[i], l2[i])
		}
	}
	// Plain text names the classes.
	code, stdout, _ = grcc("predict", spec, "--random-weights", "3", a)
	if code != 0 || !strings.Contains(stdout, a) || strings.Count(stdout, "%") != 5 {
		t.Errorf("text output:\n%s", stdout)
	}
}

func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// Classes in sorted order b_cat, c_dog, z_ship (indices 0, 1, 2); a
	// nested folder, a file ImageFolder ignores and one unreadable image.
	var want []string
	for k, class := range []string{"z_ship", "b_cat", "c_dog"} {
		for i := range 3 {
			writePNG(t, filepath.Join(data, class, string(rune('a'+i))+".png"), 32, 32, 10*k+i)
		}
		os.WriteFile(filepath.Join(data, class, "README.txt"), []byte("not an image"), 0o644)
	}
	writePNG(t, filepath.Join(data, "b_cat", "sub", "x.png"), 32, 32, 99)
	os.WriteFile(filepath.Join(data, "c_dog", "broken.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	want = []string{"b_cat/a.png,0", "b_cat/b.png,0", "b_cat/c.png,0", "b_cat/sub/x.png,0",
		"c_dog/a.png,1", "c_dog/b.png,1", "c_dog/broken.png,1,-1", "c_dog/c.png,1",
		"z_ship/a.png,2", "z_ship/b.png,2", "z_ship/c.png,2"}

	csv := filepath.Join(dir, "pred.csv")
	code, stdout, stderr := grcc("eval", tinySpec, "--random-weights", "1", data, "--batch", "4", "--predictions", csv)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "10 images, top-1") || !strings.Contains(stdout, "1 images could not be read") {
		t.Errorf("stdout: %s", stdout)
	}
	if !strings.Contains(stderr, "broken.png") {
		t.Errorf("stderr does not name the broken image: %s", stderr)
	}
	rows, _ := os.ReadFile(csv)
	lines := strings.Split(strings.TrimSpace(string(rows)), "\n")
	if lines[0] != "path,label,prediction" || len(lines) != len(want)+1 {
		t.Fatalf("csv:\n%s", rows)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i+1], w+",") && lines[i+1] != w {
			t.Errorf("row %d: %q, want %q...", i+1, lines[i+1], w)
		}
	}
	// --limit and --strict.
	if code, stdout, _ := grcc("eval", tinySpec, "--random-weights", "1", data, "--limit", "5"); code != 0 || !strings.Contains(stdout, " 5 images") {
		t.Errorf("--limit 5: exit %d, %s", code, stdout)
	}
	if code, _, stderr := grcc("eval", tinySpec, "--random-weights", "1", data, "--strict"); code != 1 || !strings.Contains(stderr, "broken.png") {
		t.Errorf("--strict: exit %d, %s", code, stderr)
	}
	// Folders that are not ImageFolders.
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(filepath.Join(empty), 0o755)
	os.WriteFile(filepath.Join(empty, "x.png"), nil, 0o644)
	if code, _, stderr := grcc("eval", tinySpec, "--random-weights", "1", empty); code != 1 || !strings.Contains(stderr, "no class folders") {
		t.Errorf("no class folders: exit %d, %s", code, stderr)
	}
	if code, _, stderr := grcc("eval", tinySpec, "--random-weights", "1", filepath.Join(dir, "nope")); code != 1 || !strings.Contains(stderr, "nope: no such file") {
		t.Errorf("missing folder: exit %d, %s", code, stderr)
	}
}
