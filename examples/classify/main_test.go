package main

import (
	"bufio"
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grcc/grcc/generated/grcnn55"
	"github.com/grcc/grcc/runtime/checkpoint"
)

// TestClassify runs the example on a random checkpoint written as safetensors.
func TestClassify(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "w.safetensors")
	f, err := os.Create(weights)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if err := checkpoint.WriteSafetensors(bw, checkpoint.Random(grcnn55.Params, 1)); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	f.Close()
	// A 320×240 JPEG: the package resizes it to 298×256 and crops 224×224.
	input := filepath.Join(dir, "photo.jpg")
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 / 3)
	}
	jf, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(jf, img, nil); err != nil {
		t.Fatal(err)
	}
	jf.Close()
	var out bytes.Buffer
	if err := classify(&out, weights, input); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 5 {
		t.Errorf("printed %d lines, want 5:\n%s", lines, out.String())
	}
}

// TestREADME checks that README shows this program whole.
func TestREADME(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append(append([]byte("```go\n"), src...), "```\n"...)) {
		t.Error("README does not show examples/classify/main.go as it is")
	}
}
