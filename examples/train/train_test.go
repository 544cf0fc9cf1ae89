// Package train is the README's train-in-PyTorch, deploy-with-grcc example:
// grcc emits a PyTorch module for tinycifar.grc, train.py trains it for a
// few steps on synthetic data and saves its state_dict, and both grcc run
// and the generated Go package (tinycifar/, from go generate) reproduce
// PyTorch's logits from that checkpoint.
package train

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/grcc/grcc/cli"
	"github.com/grcc/grcc/codegen"
	"github.com/grcc/grcc/examples/train/tinycifar"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/runtime/npy"
)

func TestTrainThenDeploy(t *testing.T) {
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import torch, numpy").Run() != nil {
		t.Skip("no /usr/bin/python3 with torch; ./test.sh installs Debian's python3-torch")
	}
	dir := t.TempDir()
	module := filepath.Join(dir, "tinycifar.py")
	var stdout, stderr bytes.Buffer
	if code := cli.Run([]string{"build", "--target", "torch", "tinycifar.grc", "-o", module}, &stdout, &stderr); code != 0 {
		t.Fatalf("grcc build --target torch: %s", stderr.String())
	}
	out, err := exec.Command(py, "train.py", module, "--out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("train.py: %v\n%s", err, out)
	}
	t.Logf("train.py: %s", out)
	in, want := read(t, filepath.Join(dir, "input.npy")), read(t, filepath.Join(dir, "logits.npy"))

	// grcc run from the trained checkpoint.
	logits := filepath.Join(dir, "grcc.npy")
	if code := cli.Run([]string{"run", "tinycifar.grc", "--weights", filepath.Join(dir, "model.pth"),
		"--input", filepath.Join(dir, "input.npy"), "--output", logits}, &stdout, &stderr); code != 0 {
		t.Fatalf("grcc run: %s", stderr.String())
	}
	compare(t, "grcc run", read(t, logits), want)

	// The generated package.
	m := tinycifar.New()
	if err := m.Load(filepath.Join(dir, "model.pth")); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(want))
	if err := m.Forward(in, got); err != nil {
		t.Fatal(err)
	}
	compare(t, "generated package", got, want)
}

func read(t *testing.T, path string) []float32 {
	t.Helper()
	data, _, err := npy.ReadFloat32(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// compare uses the project's tolerance, max|got − want| ≤ 1e-4 · max|want|.
func compare(t *testing.T, what string, got, want []float32) {
	t.Helper()
	diff, scale := 0.0, 0.0
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	if diff > 1e-4*scale {
		t.Errorf("%s: max|got-want| = %g > 1e-4 × %g", what, diff, scale)
	}
}

// TestGeneratedPackageIsFresh fails when go generate would change tinycifar/.
func TestGeneratedPackageIsFresh(t *testing.T) {
	src, err := os.ReadFile("tinycifar.grc")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ir.Load("../tinycifar.grc", src) // the path go generate passes, from tinycifar/
	if err != nil {
		t.Fatal(err)
	}
	files, err := codegen.Generate(m, codegen.Options{Package: "tinycifar", Targets: []string{"go"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		have, err := os.ReadFile(filepath.Join("tinycifar", name))
		if err != nil || !bytes.Equal(have, want) {
			t.Errorf("stale generated files: tinycifar/%s; run go generate ./examples/train/...", name)
		}
	}
}
