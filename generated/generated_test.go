// Tests of the committed generated packages.
//
// TestFresh fails with "stale generated files" when grcc would now emit
// something else for a spec; `go test ./generated -update` rewrites them
// (the PTX only where nvcc is installed). TestReference checks the packages of
// the four reference cases against the logits of the reference PyTorch
// implementation.
package generated_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/grcc/grcc/codegen"
	"github.com/grcc/grcc/codegen/cuda"
	"github.com/grcc/grcc/generated/tiny_cifar"
	"github.com/grcc/grcc/generated/tiny_cifar_sk_shared"
	"github.com/grcc/grcc/generated/tiny_imagenet"
	"github.com/grcc/grcc/generated/tiny_imagenet_sk"
	"github.com/grcc/grcc/internal/spectest"
	"github.com/grcc/grcc/runtime/checkpoint"
	"github.com/grcc/grcc/runtime/npy"
)

var update = flag.Bool("update", false, "rewrite the generated packages")

// targets is what the committed packages hold: the Go package and the CUDA
// kernels with their launch code and PTX.
var targets = []string{"go", "cuda"}

// specs lists every spec with a committed package, by path from the repository root.
func specs(t *testing.T) []string {
	var paths []string
	for _, pattern := range []string{"spec/*.grc", "testdata/reference/*.grc"} {
		found, err := filepath.Glob(filepath.Join("..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			paths = append(paths, strings.TrimPrefix(filepath.ToSlash(f), "../"))
		}
	}
	if len(paths) < 13 {
		t.Fatalf("found %d specs, want the 9 shipped and 4 reference ones", len(paths))
	}
	return paths
}

func TestFresh(t *testing.T) {
	for _, path := range specs(t) {
		m := spectest.Model(t, path)
		dir := m.Name
		files, err := codegen.Generate(m, codegen.Options{Package: m.Name, Targets: targets, NoPTX: true})
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			updatePackage(t, dir, files)
			continue
		}
		var names []string
		for name := range files {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			have, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(have, files[name]) {
				t.Errorf("stale generated files: %s/%s differs from what grcc emits for %s; run go test ./generated -update", dir, name, path)
			}
		}
		// nvcc's PTX differs from run to run in register numbering, so the
		// PTX is checked by the kernels.cu it records it was compiled from.
		for _, arch := range cuda.Archs {
			ptx, err := os.ReadFile(filepath.Join(dir, cuda.PTXFile(arch)))
			if err != nil || !codegen.PTXIsFrom(ptx, files["kernels.cu"]) {
				t.Errorf("stale generated files: %s/%s was not compiled from the current kernels.cu; run go test ./generated -update", dir, cuda.PTXFile(arch))
			}
		}
	}
}

// updatePackage rewrites a package's files, and its PTX when it was not
// compiled from the current kernels.cu (which needs nvcc).
func updatePackage(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	fresh := true
	for _, arch := range cuda.Archs {
		ptx, err := os.ReadFile(filepath.Join(dir, cuda.PTXFile(arch)))
		fresh = fresh && err == nil && codegen.PTXIsFrom(ptx, files["kernels.cu"])
	}
	if !fresh {
		if err := codegen.AddPTX(files); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o666); err != nil {
			t.Fatal(err)
		}
	}
}

// model is what the reference test needs of a generated package.
type model interface {
	Load(path string) error
	Forward(in, out []float32) error
}

// TestReference runs each reference case's generated package on the case's
// input and compares with the reference logits. Tolerance: max|got − want| ≤
// 1e-4 · max|want|. The logits reach 20–120 while float32 rounding over these
// depths accumulates to about 1e-6 relative, so 1e-4 passes every correct
// implementation and fails any wrong index or missing term.
func TestReference(t *testing.T) {
	cases := map[string]model{
		"tiny_imagenet":        tiny_imagenet.New(),
		"tiny_imagenet_sk":     tiny_imagenet_sk.New(),
		"tiny_cifar":           tiny_cifar.New(),
		"tiny_cifar_sk_shared": tiny_cifar_sk_shared.New(),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join("..", "testdata", "reference", name)
			if err := m.Load(base + ".pt"); err != nil {
				t.Fatal(err)
			}
			in, _, err := npy.ReadFloat32(base + ".input.npy")
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := npy.ReadFloat32(base + ".output.npy")
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, len(want))
			if err := m.Forward(in, got); err != nil {
				t.Fatal(err)
			}
			if diff, limit := maxDiff(got, want); diff > limit {
				t.Errorf("max|got-want| = %g > %g\n%s", diff, limit, cmp.Diff(want, got))
			}
		})
	}
}

func maxDiff(got, want []float32) (diff, limit float64) {
	scale := 0.0
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i]-want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	return diff, 1e-4 * scale
}

// TestLoadReleasesConvolutionWeights checks that a generated package's
// LoadStateDict moves the convolution weights out of the state dict,
// shared ones included (tiny_cifar_sk_shared shares its gate convolution
// across iterations), and keeps the BatchNorms', the SK attention's (fc1,
// fc2: 1×1 convolutions in the checkpoint, read as they are) and the
// classifier's tensors. TestReference checks that the outputs stay right.
func TestLoadReleasesConvolutionWeights(t *testing.T) {
	sd := checkpoint.Random(tiny_cifar_sk_shared.Params, 1)
	m := tiny_cifar_sk_shared.New()
	if err := m.LoadStateDict(sd, "random weights"); err != nil {
		t.Fatal(err)
	}
	released, shared := 0, 0
	for _, p := range tiny_cifar_sk_shared.Params {
		if p.DType != "float32" {
			continue
		}
		conv := len(p.Shape) == 4 && !strings.Contains(p.Key, ".fc")
		if got := sd.Get(p.Key).F32 == nil; got != conv {
			t.Errorf("%s: released %v, a convolution weight %v", p.Key, got, conv)
		}
		if got := sd.Get(p.Key).F32 == nil; got {
			released++
			if p.SharedWith != "" {
				shared++
			}
		}
	}
	if released == 0 || shared == 0 {
		t.Errorf("released %d tensors, %d of them shared; want some of each", released, shared)
	}
}
