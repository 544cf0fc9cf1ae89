// Package codegen turns a checked model into source files for a target.
//
// It takes an *ir.Model and gives files by name: the Go package
// (codegen/golang), the CUDA kernels and their launch code (codegen/cuda),
// or the PyTorch module (codegen/torch). Each target lowers the model with
// package plan using the passes it can execute.
package codegen

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/grcc/grcc/codegen/cuda"
	"github.com/grcc/grcc/codegen/golang"
	"github.com/grcc/grcc/codegen/torch"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

// Targets are the names Generate accepts.
var Targets = []string{"go", "cuda", "torch"}

// ParseTargets reads a comma-separated list of targets.
func ParseTargets(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		known := false
		for _, k := range Targets {
			known = known || k == t
		}
		if !known {
			return nil, fmt.Errorf("unknown target %q; want one of %s", t, strings.Join(Targets, ", "))
		}
		dup := false
		for _, o := range out {
			dup = dup || o == t
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out, nil
}

// Options say what Generate emits.
type Options struct {
	Package string   // the Go package name
	Targets []string // from Targets
	// NoPTX skips compiling the CUDA kernels to PTX with nvcc: the cuda
	// target then gives kernels.cu and cuda.go only.
	NoPTX bool
	// Algorithms replaces the cost model's CPU algorithms in the go
	// target (plan.Options.Algorithms), as grcc build -tune chose them.
	Algorithms map[string]plan.Choice
}

// ErrNoNVCC is returned when the cuda target needs nvcc and it is not installed.
var ErrNoNVCC = errors.New("nvcc not found: install the CUDA toolkit to compile the kernels to PTX, or build with -ptx=false to emit kernels.cu and cuda.go alone")

// Generate emits the files of the targets for m into one package.
func Generate(m *ir.Model, opt Options) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, t := range opt.Targets {
		emitted, err := generate(m, t, opt)
		if err != nil {
			return nil, fmt.Errorf("%s: target %s: %w", m.Source, t, err)
		}
		for name, data := range emitted {
			files[name] = data
		}
	}
	return files, nil
}

func generate(m *ir.Model, target string, opt Options) (map[string][]byte, error) {
	switch target {
	case "go":
		p, err := plan.Build(m, plan.Options{Algorithms: opt.Algorithms})
		if err != nil {
			return nil, err
		}
		return golang.Emit(p, opt.Package)
	case "cuda":
		p, err := plan.Build(m, plan.Options{Fusions: true})
		if err != nil {
			return nil, err
		}
		files, err := cuda.Emit(p, opt.Package)
		if err != nil || opt.NoPTX {
			return files, err
		}
		return files, AddPTX(files)
	case "torch":
		src, err := torch.Emit(m)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{TorchFile(m): src}, nil
	}
	return nil, fmt.Errorf("unknown target %q", target)
}

// AddPTX compiles the cuda target's kernels.cu for every architecture, in
// parallel, and adds the PTX files.
func AddPTX(files map[string][]byte) error {
	if _, err := cuda.NVCC(); err != nil {
		return ErrNoNVCC
	}
	src := files["kernels.cu"]
	ptx := make([][]byte, len(cuda.Archs))
	errs := make([]error, len(cuda.Archs))
	var wg sync.WaitGroup
	for i, arch := range cuda.Archs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ptx[i], errs[i] = cuda.CompilePTX(src, arch)
		}()
	}
	wg.Wait()
	header := []byte(ptxHeader(src))
	for i, arch := range cuda.Archs {
		if errs[i] != nil {
			return errs[i]
		}
		files[cuda.PTXFile(arch)] = append(header, ptx[i]...)
	}
	return nil
}

// ptxHeader is the first line of every PTX file grcc writes. nvcc numbers
// registers differently from run to run, so PTX cannot be compared byte for
// byte; the header records which kernels.cu it was compiled from instead.
func ptxHeader(cuSource []byte) string {
	return fmt.Sprintf("// grcc: compiled from kernels.cu sha256:%x\n", sha256.Sum256(cuSource))
}

// PTXIsFrom reports whether ptx was compiled from cuSource by grcc.
func PTXIsFrom(ptx, cuSource []byte) bool {
	return bytes.HasPrefix(ptx, []byte(ptxHeader(cuSource)))
}

// TorchFile is the name of the PyTorch target's file for m.
func TorchFile(m *ir.Model) string { return m.Name + ".py" }
