// Package codegen turns a checked model into source files for a target.
//
// It takes an *ir.Model and gives files by name: the Go package
// (codegen/golang), the CUDA kernels and their launch code (codegen/cuda),
// or the PyTorch module (codegen/torch). Each target lowers the model with
// package plan using the passes it can execute.
package codegen

import (
	"fmt"
	"strings"

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

// Generate emits the files of the targets for m into one package named pkg.
func Generate(m *ir.Model, pkg string, targets []string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, t := range targets {
		var emitted map[string][]byte
		var err error
		switch t {
		case "go":
			var p *plan.Program
			if p, err = plan.Build(m, plan.Options{}); err == nil {
				emitted, err = golang.Emit(p, pkg)
			}
		case "torch":
			var src []byte
			if src, err = torch.Emit(m); err == nil {
				emitted = map[string][]byte{TorchFile(m): src}
			}
		default:
			err = fmt.Errorf("target %s is not implemented yet", t)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: target %s: %w", m.Source, t, err)
		}
		for name, data := range emitted {
			files[name] = data
		}
	}
	return files, nil
}

// TorchFile is the name of the PyTorch target's file for m.
func TorchFile(m *ir.Model) string { return m.Name + ".py" }
