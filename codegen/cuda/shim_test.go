package cuda

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// Tolerance: max|got − want| ≤ 1e-4·max|want|. Both sides are float32 but
// sum in different orders (PyTorch's GEMMs versus tiled implicit GEMMs with
// BatchNorm folded into scale and shift), so they differ by rounding: about
// 1e-6 relative per layer, growing to ~1e-5 over the network. Logits reach
// 20–120, so the bound is relative to the largest; an indexing, fusion or
// barrier error moves logits by about their own size, far above it.
func TestKernelsOnCPU(t *testing.T) {
	gxx := needTool(t, "g++")
	for _, name := range referenceCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := filepath.Join(referenceDir, name+".grc")
			if _, err := os.Stat(spec); err != nil {
				t.Skipf("skipping: %v", err)
			}
			p := loadProgram(t, spec)
			files, err := HostSources(p)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
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
			cmd := exec.Command(bin, filepath.Join(dir, "weights.bin"), filepath.Join(dir, "input.bin"),
				filepath.Join(dir, "output.bin"), strconv.Itoa(batch))
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
			got := bytesFloat(raw)
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
