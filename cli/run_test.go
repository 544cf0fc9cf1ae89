package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grcc/grcc/runtime/npy"
)

var referenceCases = []string{"tiny_imagenet", "tiny_imagenet_sk", "tiny_cifar", "tiny_cifar_sk_shared"}

func grcc(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func refPath(name, suffix string) string {
	return filepath.Join("..", "testdata", "reference", name+suffix)
}

// checkLogits compares logits with the reference's. Tolerance: max|got −
// want| ≤ 1e-4 · max|want|; float32 rounding through these networks stays
// near 1e-6 relative, so this passes correct code and fails a wrong term.
func checkLogits(t *testing.T, gotPath, wantPath string) {
	t.Helper()
	got, gotShape, err := npy.ReadFloat32(gotPath)
	if err != nil {
		t.Fatal(err)
	}
	want, wantShape, err := npy.ReadFloat32(wantPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(gotShape) != len(wantShape) {
		t.Fatalf("logits shape %v, want %v", gotShape, wantShape)
	}
	diff, scale := 0.0, 0.0
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	if diff > 1e-4*scale {
		t.Errorf("max|got-want| = %g > 1e-4 × %g", diff, scale)
	}
}

func TestRunReference(t *testing.T) {
	for _, name := range referenceCases {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "logits.npy")
			code, stdout, stderr := grcc("run", refPath(name, ".grc"), "--weights", refPath(name, ".pt"),
				"--input", refPath(name, ".input.npy"), "--output", out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "logits written") {
				t.Errorf("stdout: %q", stdout)
			}
			checkLogits(t, out, refPath(name, ".output.npy"))
		})
	}
}

// TestConvert converts a checkpoint to safetensors and runs from it.
func TestConvert(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "w.safetensors")
	if code, _, stderr := grcc("convert", refPath("tiny_cifar_sk_shared", ".pt"), st); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "logits.npy")
	code, _, stderr := grcc("run", refPath("tiny_cifar_sk_shared", ".grc"), "--weights", st,
		"--input", refPath("tiny_cifar_sk_shared", ".input.npy"), "--output", out)
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	checkLogits(t, out, refPath("tiny_cifar_sk_shared", ".output.npy"))
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.npy")
	spec := refPath("tiny_cifar", ".grc")
	in := refPath("tiny_cifar", ".input.npy")
	truncated := filepath.Join(dir, "cut.pt")
	full, err := os.ReadFile(refPath("tiny_cifar", ".pt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(truncated, full[:len(full)/2], 0o666)
	wrongShape := filepath.Join(dir, "wrong.npy")
	if err := npy.WriteFloat32(wrongShape, make([]float32, 2*3*8*8), []int{2, 3, 8, 8}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no input", []string{"run", spec, "--random-weights", "1", "--output", out}, 2, "--input is required"},
		{"both weights", []string{"run", spec, "--weights", "x.pt", "--random-weights", "1", "--input", in, "--output", out}, 2, "exactly one"},
		{"missing spec", []string{"run", "nope.grc", "--random-weights", "1", "--input", in, "--output", out}, 1, "nope.grc: no such file"},
		{"missing weights", []string{"run", spec, "--weights", "nope.pt", "--input", in, "--output", out}, 1, "nope.pt"},
		{"missing input", []string{"run", spec, "--random-weights", "1", "--input", "nope.npy", "--output", out}, 1, "nope.npy"},
		{"wrong input shape", []string{"run", spec, "--random-weights", "1", "--input", wrongShape, "--output", out}, 1, "input shape 2×3×8×8, want N×3×32×32"},
		{"truncated checkpoint", []string{"run", spec, "--weights", truncated, "--input", in, "--output", out}, 1, "cut.pt"},
		{"wrong checkpoint", []string{"run", spec, "--weights", refPath("tiny_imagenet", ".pt"), "--input", in, "--output", out}, 1, "tiny_imagenet.pt"},
		{"cuda without the tag", []string{"run", spec, "--random-weights", "1", "--input", in, "--output", out, "--engine", "cuda"}, 1, "without CUDA support"},
		{"unknown engine", []string{"run", spec, "--random-weights", "1", "--input", in, "--output", out, "--engine", "tpu"}, 2, "unknown engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := grcc(tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

func TestRunRandomWeights(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.npy")
	code, _, stderr := grcc("run", "../spec/grcnn56.grc", "--random-weights", "3",
		"--input", refPath("tiny_cifar", ".input.npy"), "--output", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	logits, shape, err := npy.ReadFloat32(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 || shape[0] != 2 || shape[1] != 10 {
		t.Fatalf("shape %v", shape)
	}
	for _, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("logit %v", v)
		}
	}
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := grcc("build", refPath("tiny_cifar", ".grc"), "-o", dir, "-pkg", "tiny", "-batch", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	src, err := os.ReadFile(filepath.Join(dir, "model.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"package tiny", "Batch         = 4", "Code generated by grcc from ../testdata/reference/tiny_cifar.grc. DO NOT EDIT."} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("model.go lacks %q", want)
		}
	}
	for _, bad := range [][]string{
		{"build", refPath("tiny_cifar", ".grc"), "-o", dir, "-target", "tpu"},
		{"build", refPath("tiny_cifar", ".grc"), "-o", dir, "-pkg", "not-a-name"},
		{"build", refPath("tiny_cifar", ".grc"), "-o", dir, "-pkg", "type"},
	} {
		if code, _, _ := grcc(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestBuildTune tunes the tiny model briefly: grcc prints a line per
// comparison and a summary, and writes the package.
func TestBuildTune(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := grcc("build", refPath("tiny_cifar", ".grc"), "-o", dir, "-tune", "-tune-time", "1ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"tuning tiny_cifar at batch 2", "conv 3x3 ", " of the cost model's choices replaced"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "model.go")); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{
		{"build", refPath("tiny_cifar", ".grc"), "-o", dir, "-tune", "-target", "torch"},
		{"build", refPath("tiny_cifar", ".grc"), "-o", dir, "-tune", "-tune-time", "0s"},
		{"build", refPath("tiny_cifar", ".grc"), "-o", dir, "-tune", "-algorithms", "x.json"},
		{"build", refPath("tiny_cifar", ".grc"), "-o", dir, "-tune-save", "x.json"},
	} {
		if code, _, stderr := grcc(bad...); code != 2 || !strings.Contains(stderr, "-tune") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a word on -tune", bad, code, stderr)
		}
	}
}

// TestBuildAlgorithms applies saved choices: the package is the one a build
// with those choices gives, and a choice that its class cannot take, or a
// record of another batch, fails the build with an error naming it.
func TestBuildAlgorithms(t *testing.T) {
	dir := t.TempDir()
	spec := refPath("tiny_cifar", ".grc")
	save := filepath.Join(dir, "choices.json")
	code, _, stderr := grcc("build", spec, "-o", filepath.Join(dir, "tuned"), "-tune", "-tune-time", "1ms", "-tune-save", save)
	if code != 0 {
		t.Fatalf("build -tune -tune-save: exit %d: %s", code, stderr)
	}
	code, _, stderr = grcc("build", spec, "-o", filepath.Join(dir, "again"), "-algorithms", save)
	if code != 0 {
		t.Fatalf("build -algorithms: exit %d: %s", code, stderr)
	}
	tuned, err1 := os.ReadFile(filepath.Join(dir, "tuned", "model.go"))
	again, err2 := os.ReadFile(filepath.Join(dir, "again", "model.go"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !bytes.Equal(tuned, again) {
		t.Error("the package built with -algorithms differs from the one -tune built")
	}

	forced := filepath.Join(dir, "forced.json")
	const rec = `{"model": "tiny_cifar", "batch": 2, "choices": {"conv 1x1 64→32 32x32 g1": {"algo": "winograd"}}}`
	if err := os.WriteFile(forced, []byte(rec), 0o666); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = grcc("build", spec, "-o", filepath.Join(dir, "forced"), "-algorithms", forced)
	if code != 1 || !strings.Contains(stderr, "conv 1x1 64→32 32x32 g1") || !strings.Contains(stderr, `"winograd"`) {
		t.Errorf("a Winograd 1×1: exit %d, stderr %q; want 1 and the class named", code, stderr)
	}
	code, _, stderr = grcc("build", spec, "-o", filepath.Join(dir, "b8"), "-batch", "8", "-algorithms", save)
	if code != 1 || !strings.Contains(stderr, "tuned at batch 2, and this build is for batch 8") {
		t.Errorf("batch 8 with batch-2 choices: exit %d, stderr %q; want 1 and both batches named", code, stderr)
	}
}

func TestBenchJSON(t *testing.T) {
	code, stdout, stderr := grcc("bench", refPath("tiny_cifar", ".grc"), "--json", "--rounds", "2", "--time", "0s", "--warmup", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	for _, key := range []string{"median_ms", "images_per_s", "gflops", "peak_rss_mb", "peak_gflops"} {
		if v, ok := r[key].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", key, r[key])
		}
	}
}

func TestPlan(t *testing.T) {
	code, stdout, stderr := grcc("plan", refPath("tiny_cifar", ".grc"), "-after", "fold-batchnorm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "relu(") || strings.Contains(stdout, "@b") {
		t.Errorf("after fold-batchnorm: want standalone ReLUs and no buffers:\n%s", stdout)
	}
	code, stdout, _ = grcc("plan", refPath("tiny_cifar", ".grc"), "-fusions")
	if code != 0 || !strings.Contains(stdout, "gate→") || !strings.Contains(stdout, "buffers:") {
		t.Errorf("with fusions: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := grcc("plan", refPath("tiny_cifar", ".grc"), "-after", "nope"); code != 1 || !strings.Contains(stderr, `no pass "nope"`) {
		t.Errorf("unknown pass: exit %d, %q", code, stderr)
	}
}

func TestPlanWhy(t *testing.T) {
	code, stdout, stderr := grcc("plan", refPath("tiny_cifar", ".grc"), "-why")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, list, ok := strings.Cut(stdout, "algorithms:\n")
	if !ok {
		t.Fatalf("no algorithm list:\n%s", stdout)
	}
	// tiny_cifar's 32×32 dense 3×3 convolutions take Winograd, its 8×8 ones
	// and its 1×1 convolutions the GEMM; every line gives a reason.
	for _, want := range []string{"stage_1.iter_1.5", "winograd", "gemm", "1×1 stride 1"} {
		if !strings.Contains(list, want) {
			t.Errorf("algorithm list lacks %q:\n%s", want, list)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if len(strings.Fields(line)) < 4 {
			t.Errorf("line without a reason: %q", line)
		}
	}
}

func TestBenchLayers(t *testing.T) {
	code, stdout, stderr := grcc("bench", refPath("tiny_cifar", ".grc"), "--rounds", "2", "--time", "0s", "--warmup", "1", "--layers", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"time per kind of step", "conv 3x3 winograd", "slowest steps:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("profile lacks %q:\n%s", want, stdout)
		}
	}
	if _, slowest, _ := strings.Cut(stdout, "slowest steps:\n"); strings.Count(slowest, "\n") != 3 {
		t.Errorf("want the 3 slowest steps:\n%s", slowest)
	}
	if code, _, _ := grcc("bench", refPath("tiny_cifar", ".grc"), "--layers", "3", "--engine", "cuda"); code != 2 {
		t.Errorf("--layers with the cuda engine: exit %d, want 2", code)
	}
}
