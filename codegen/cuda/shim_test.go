package cuda

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime/checkpoint"
	"github.com/grcc/grcc/runtime/npy"
)

// referenceCases are the models built with the reference PyTorch code
// (testdata/reference/CASES.md of the shared notes), with their logits.
var referenceCases = []string{"tiny_cifar", "tiny_cifar_sk_shared", "tiny_imagenet", "tiny_imagenet_sk"}

const referenceDir = "../../testdata/reference"

// TestKernelsOnCPU checks the arithmetic of the generated kernels without a
// GPU: for each reference case it compiles kernels.cu for the host with g++
// and grcc_shim.h (each block's threads run as fibers, __syncthreads is a
// real barrier, __shared__ is per block), runs host.cpp, which makes the
// launches of cuda.go from the same launch list, on the reference weights
// and input, and compares with the reference logits.
//
// The small cases also run with each block's threads in reverse order
// between barriers, and with the first image alone (grids sized for batch
// 1), and must give bitwise the same logits: that catches reads of shared
// memory without a barrier, and indexing that mixes images. Blocks run
// concurrently on all CPUs, which exposes races between blocks.
//
// GRCC_SHIM_KEEP=DIR keeps each case's sources, binary and data in DIR/<case>;
// GRCC_SHIM_PROFILE=1 logs each launch's time.
//
// Tolerance: max|got − want| ≤ 1e-4·max|want|. Both sides are float32 but
// sum in different orders (PyTorch's GEMMs versus tiled implicit GEMMs with
// BatchNorm folded into scale and shift), so they differ by rounding: about
// 1e-6 relative per layer, growing to ~1e-5 over the network. Logits reach
// 20–120, so the bound is relative to the largest; an indexing, fusion or
// barrier error moves logits by about their own size, far above it.
func TestKernelsOnCPU(t *testing.T) {
	t.Parallel() // the slow tests overlap
	gxx := needTool(t, "g++")
	// tiny_cifar also without the plan's fusions: standalone BatchNorm,
	// ReLU and gate steps run on grcc_eltwise.
	for _, name := range append(referenceCases, "tiny_cifar/unfused") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			name, unfused := strings.CutSuffix(name, "/unfused")
			spec := filepath.Join(referenceDir, name+".grc")
			if _, err := os.Stat(spec); err != nil {
				t.Skipf("skipping: %v", err)
			}
			opt := plan.Options{Fusions: !unfused, NoGateConv: true, Verify: true}
			p := loadProgramOpts(t, spec, opt)
			files, err := HostSources(p)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if keep := os.Getenv("GRCC_SHIM_KEEP"); keep != "" { // for debugging: keep the build
				dir = filepath.Join(keep, name+map[bool]string{true: "_unfused"}[unfused])
				if err := os.MkdirAll(dir, 0o777); err != nil {
					t.Fatal(err)
				}
			}
			writeFiles(t, dir, files)

			weights, err := weightsFile(p, filepath.Join(referenceDir, name+".pt"))
			if err != nil {
				t.Fatal(err)
			}
			in, inShape, err := npy.ReadFloat32(filepath.Join(referenceDir, name+".input.npy"))
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := npy.ReadFloat32(filepath.Join(referenceDir, name+".output.npy"))
			if err != nil {
				t.Fatal(err)
			}
			batch := inShape[0]
			writeFiles(t, dir, map[string][]byte{"weights.bin": weights, "input.bin": floatBytes(in)})

			start := time.Now()
			bin := filepath.Join(dir, "host")
			args := append(append([]string(nil), HostCompileArgs...), filepath.Join(dir, HostFile), "-o", bin)
			if out, err := exec.Command(gxx, args...).CombinedOutput(); err != nil {
				t.Fatalf("g++: %v\n%s", err, out)
			}
			compiled := time.Since(start)
			start = time.Now()
			run := func(order string, batch int) []float32 {
				cmd := exec.Command(bin, filepath.Join(dir, "weights.bin"), filepath.Join(dir, "input.bin"),
					filepath.Join(dir, "output.bin"), strconv.Itoa(batch))
				cmd.Env = append(os.Environ(), "GRCC_SHIM_ORDER="+order)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("host: %v\n%s", err, out)
				}
				if os.Getenv("GRCC_SHIM_PROFILE") != "" {
					t.Logf("launch times:\n%s", out)
				}
				raw, err := os.ReadFile(filepath.Join(dir, "output.bin"))
				if err != nil {
					t.Fatal(err)
				}
				return bytesFloat(raw)
			}
			got := run("forward", batch)
			if !strings.HasPrefix(name, "tiny_imagenet") { // the small cases: check the order and batch 1 too
				if rev := run("reverse", batch); !slices.Equal(got, rev) {
					t.Errorf("threads run in reverse order give other logits: a missing barrier\nforward %v\nreverse %v", got, rev)
				}
				if one := run("forward", 1); !slices.Equal(one, got[:len(one)]) {
					t.Errorf("the first image alone gives other logits than in a batch of %d\nalone    %v\nin batch %v", batch, one, got[:len(one)])
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d logits, want %d", len(got), len(want))
			}
			var maxDiff, maxWant float64
			for i := range want {
				maxDiff = math.Max(maxDiff, math.Abs(float64(got[i])-float64(want[i])))
				maxWant = math.Max(maxWant, math.Abs(float64(want[i])))
			}
			if !(maxDiff <= 1e-4*maxWant) { // also catches NaN
				t.Errorf("max |got - want| = %g, max |want| = %g: over 1e-4 relative\ngot  %v\nwant %v", maxDiff, maxWant, got, want)
			}
			t.Logf("%d launches, batch %d: max |got - want| = %.3g (%.2g of max |want| = %.3g); g++ %v, run %v",
				Launches(p), batch, maxDiff, maxDiff/maxWant, maxWant, compiled.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		})
	}
}

// weightsFile reads a checkpoint and lays out its float32 entries in Params
// order, as host.cpp reads them.
func weightsFile(p *plan.Program, path string) ([]byte, error) {
	sd, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, prm := range p.Model.Params {
		if prm.DType != "float32" {
			continue
		}
		tensor := sd.Get(prm.Key)
		if tensor == nil || len(tensor.F32) != prm.Len() {
			return nil, fmt.Errorf("%s: entry %q missing or not %d floats", path, prm.Key, prm.Len())
		}
		buf.Write(floatBytes(tensor.F32))
	}
	return buf.Bytes(), nil
}

func floatBytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func bytesFloat(b []byte) []float32 {
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}
