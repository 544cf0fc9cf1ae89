package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime/checkpoint"
	"github.com/grcc/grcc/runtime/npy"
)

var runCmd = &command{
	name: "run", args: "SPEC (--weights FILE | --random-weights SEED) --input X.npy --output Y.npy", nargs: 1,
	summary: "run a spec on a .npy batch and write the logits",
	detail: `The input is a float32 N×C×H×W .npy array whose C, H and W match the spec; N
is the batch. The logits are written as a float32 N×classes .npy array.
--weights takes a PyTorch checkpoint (.pt, zip or legacy format, bare
state_dict or training checkpoint) or a safetensors file. --random-weights
runs the spec with well-scaled random weights instead.

The model runs on the CPU kernels that generated packages use; no Go
toolchain is needed. --engine cuda needs a grcc built with -tags cuda.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		weights := fs.String("weights", "", "checkpoint `file` to load")
		seed := fs.Int64("random-weights", -1, "use random weights from this `seed` instead of a checkpoint")
		input := fs.String("input", "", "input batch (`X.npy`, float32 NCHW)")
		output := fs.String("output", "", "where to write the logits (`Y.npy`)")
		engineName := fs.String("engine", "go", "where to run: go (CPU) or cuda")
		return func(e *env, args []string) error {
			switch {
			case *input == "":
				return usagef("--input is required")
			case *output == "":
				return usagef("--output is required")
			case (*weights == "") == (*seed < 0):
				return usagef("give exactly one of --weights FILE and --random-weights SEED")
			}
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			data, shape, err := npy.ReadFloat32(*input)
			if err != nil {
				return err
			}
			if err := checkInput(*input, shape, m); err != nil {
				return err
			}
			sd, name, err := stateDict(m, *weights, *seed)
			if err != nil {
				return err
			}
			fwd, err := newForward(*engineName, m, sd, name)
			if err != nil {
				return err
			}
			logits := make([]float32, shape[0]*m.Classes)
			if err := fwd(data, logits); err != nil {
				return fmt.Errorf("%s: %w", m.Source, err)
			}
			if err := npy.WriteFloat32(*output, logits, []int{shape[0], m.Classes}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %d×%d logits written to %s\n", m.Name, shape[0], m.Classes, *output)
			return nil
		}
	},
}

// checkInput checks that an input array is N×C×H×W with the spec's C, H, W.
func checkInput(path string, shape []int, m *ir.Model) error {
	want := fmt.Sprintf("N×%d×%d×%d", m.Input.C, m.Input.H, m.Input.W)
	if len(shape) != 4 || shape[0] < 1 || shape[1] != m.Input.C || shape[2] != m.Input.H || shape[3] != m.Input.W {
		return fmt.Errorf("%s: input shape %s, want %s for %s", path, formatShape(shape), want, m.Name)
	}
	return nil
}

func formatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	if len(parts) == 0 {
		return "scalar"
	}
	return strings.Join(parts, "×")
}

// stateDict loads a checkpoint, or makes random weights when path is "".
func stateDict(m *ir.Model, path string, seed int64) (*checkpoint.StateDict, string, error) {
	if path == "" {
		return checkpoint.Random(engine.Params(m), uint64(seed)), fmt.Sprintf("random weights (seed %d)", seed), nil
	}
	sd, err := checkpoint.Load(path)
	return sd, path, err
}

// forwardFunc computes logits for a batch.
type forwardFunc func(in, out []float32) error

// cudaEngine is set by the cuda-tagged build of grcc.
var cudaEngine func(m *ir.Model, sd *checkpoint.StateDict, name string) (forwardFunc, error)

// errNoCUDA is what an untagged grcc says when asked for the GPU.
var errNoCUDA = errors.New("this grcc was built without CUDA support; build one with\n\tgo build -tags cuda -o grcc ./cmd/grcc\n(it needs the CUDA toolkit's headers and driver library; see README)")

// newEngine lowers m for the CPU and binds it to sd.
func newEngine(m *ir.Model, sd *checkpoint.StateDict, source string) (*engine.Model, error) {
	p, err := plan.Build(m, plan.Options{})
	if err != nil {
		return nil, err
	}
	return engine.New(p, sd, source)
}

func newForward(name string, m *ir.Model, sd *checkpoint.StateDict, source string) (forwardFunc, error) {
	switch name {
	case "go":
		em, err := newEngine(m, sd, source)
		if err != nil {
			return nil, err
		}
		return em.Forward, nil
	case "cuda":
		if cudaEngine == nil {
			return nil, errNoCUDA
		}
		return cudaEngine(m, sd, source)
	}
	return nil, usagef("unknown engine %q; want go or cuda", name)
}
