package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grcc/grcc/generated/grcnn55"
	"github.com/grcc/grcc/runtime/checkpoint"
	"github.com/grcc/grcc/runtime/npy"
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
	input := filepath.Join(dir, "image.npy")
	if err := npy.WriteFloat32(input, make([]float32, grcnn55.InputLen), grcnn55.InputShape[:]); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := classify(&out, weights, input); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 5 {
		t.Errorf("printed %d lines, want 5:\n%s", lines, out.String())
	}
}
