// Package fashion is the trained-on-real-data example: a small GRCNN
// (fashion.grc) trained on Fashion-MNIST in PyTorch with train.py, its
// weights committed as fashion.safetensors, and evaluated on the 10,000 test
// images as PNG files by grcc eval, with exactly PyTorch's predictions.
package fashion

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grcc/grcc/cli"
)

const dataDir = "/usr/share/datasets/fashion-mnist" // Debian's dataset-fashion-mnist

// python finds Debian's Python with PyTorch, torchvision and Pillow and the
// dataset, or skips.
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, "t10k-images-idx3-ubyte.gz")); err != nil {
		t.Skip("no Fashion-MNIST; ./test.sh installs Debian's dataset-fashion-mnist")
	}
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import torch, torchvision, PIL, numpy").Run() != nil {
		t.Skip("no /usr/bin/python3 with torch, torchvision and Pillow; ./test.sh installs them")
	}
	return py
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func grcc(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := cli.Run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("grcc %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String()
}

// torchModule writes the PyTorch module of fashion.grc.
func torchModule(t *testing.T, dir string) string {
	module := filepath.Join(dir, "fashion.py")
	grcc(t, "build", "--target", "torch", "fashion.grc", "-o", module)
	return module
}

// TestEvalMatchesPyTorch writes the test set as PNG files and evaluates the
// committed weights with grcc eval and with PyTorch (torchvision's
// ImageFolder, Pillow, ToTensor, Normalize): the per-image predictions must
// be identical, so the accuracies are too. grcc's logits differ from
// PyTorch's only by float32 rounding (about 1e-6 relative), far less than the
// gap between the two best classes of any of these images.
func TestEvalMatchesPyTorch(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	images := filepath.Join(dir, "test")
	run(t, py, "export_png.py", "--data", dataDir, "--out", images)
	module := torchModule(t, dir)

	grccCSV, torchCSV := filepath.Join(dir, "grcc.csv"), filepath.Join(dir, "pytorch.csv")
	out := grcc(t, "eval", "fashion.grc", "--weights", "fashion.safetensors", images, "--batch", "100", "--predictions", grccCSV)
	t.Logf("grcc eval: %s", out)
	torchOut := run(t, py, "pytorch_eval.py", module, "fashion.safetensors", images, "--predictions", torchCSV)
	t.Logf("%s", torchOut)

	got, _ := os.ReadFile(grccCSV)
	want, _ := os.ReadFile(torchCSV)
	gotRows, wantRows := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	if len(gotRows) != len(wantRows) || len(gotRows) != 10002 {
		t.Fatalf("grcc wrote %d rows, PyTorch %d; want 10,000 images", len(gotRows)-2, len(wantRows)-2)
	}
	diffs := 0
	for i := range wantRows {
		if gotRows[i] != wantRows[i] {
			if diffs < 10 {
				t.Errorf("row %d: grcc %q, PyTorch %q", i, gotRows[i], wantRows[i])
			}
			diffs++
		}
	}
	if diffs > 0 {
		t.Errorf("%d of 10,000 predictions differ", diffs)
	}
	top1 := regexp.MustCompile(`top-1 ([0-9.]+)%`)
	g, w := top1.FindStringSubmatch(out), top1.FindStringSubmatch(torchOut)
	if g == nil || w == nil || g[1] != w[1] {
		t.Errorf("top-1: grcc %v, PyTorch %v", g, w)
	}
	// README reports this figure.
	if g != nil && g[1] != readmeAccuracy {
		t.Errorf("top-1 %s%%, README says %s%%", g[1], readmeAccuracy)
	}
}

// readmeAccuracy is the top-1 accuracy of fashion.safetensors that README
// reports.
const readmeAccuracy = "92.01"

// TestTrainSmoke runs train.py for a few steps, alone and under torchrun
// with two processes (DistributedDataParallel over gloo), and evaluates the
// weights each writes with grcc.
func TestTrainSmoke(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	module := torchModule(t, dir)
	images := filepath.Join(dir, "test")
	run(t, py, "export_png.py", "--data", dataDir, "--out", images, "--limit", "100")
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"single", []string{"train.py"}},
		// torchrun; --redirects 1 --tee 1 because Debian's torchrun on
		// Python 3.11 cannot parse the default "0" (its Std enum no longer
		// iterates over the zero flag).
		{"ddp", []string{"-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--redirects", "1", "--tee", "1", "train.py"}},
	} {
		weights := filepath.Join(dir, mode.name+".safetensors")
		args := append(append([]string{}, mode.args...), module, "--data", dataDir, "--out", weights,
			"--steps", "3", "--batch", "32", "--test-limit", "100")
		out := run(t, py, args...)
		if !strings.Contains(out, "trained 3 steps") {
			t.Errorf("%s: %s", mode.name, out)
		}
		if mode.name == "ddp" && !strings.Contains(out, "2 process(es)") {
			t.Errorf("ddp did not run two processes: %s", out)
		}
		t.Logf("%s: %s", mode.name, lastLine(out))
		res := grcc(t, "eval", "fashion.grc", "--weights", weights, images)
		if !strings.Contains(res, "100 images") {
			t.Errorf("grcc eval of the %s weights: %s", mode.name, res)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
