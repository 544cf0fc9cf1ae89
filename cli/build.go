package cli

import (
	"flag"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grcc/grcc/codegen"
)

var buildCmd = &command{
	name: "build", args: "SPEC [-o DIR] [-pkg NAME] [-batch N] [-target go,cuda,torch]", nargs: 1,
	summary: "compile a spec into a Go package (and CUDA kernels, or a PyTorch module)",
	detail: `The Go target writes model.go and model_test.go: a package specialised to the
spec's shapes, with New, Load, Forward and Predict. The cuda target adds
kernels.cu, its PTX for sm_80 and sm_90 (when nvcc is installed) and cuda.go,
built only with -tags cuda. The torch target writes one Python file with an
nn.Module whose state_dict matches the spec (-o names the file).

By default the package goes to generated/<model> and is named after the model.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		out := fs.String("o", "", "output directory (for -target torch: the .py file)")
		pkg := fs.String("pkg", "", "Go package name (default: the model's name)")
		batch := fs.Int("batch", 0, "the default batch size (default: N of the spec's input)")
		target := fs.String("target", "go", "what to emit: go, cuda, torch, or a comma-separated list")
		ptx := fs.Bool("ptx", true, "with the cuda target, compile the kernels to PTX for sm_80 and sm_90 (needs nvcc)")
		return func(e *env, args []string) error {
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			if *batch < 0 {
				return usagef("-batch %d: want a positive batch size", *batch)
			}
			if *batch > 0 {
				m.Batch = *batch
			}
			targets, err := codegen.ParseTargets(*target)
			if err != nil {
				return usageError{err.Error()}
			}
			if *pkg == "" {
				*pkg = m.Name
			}
			if !isIdentifier(*pkg) {
				return usagef("-pkg %q is not a Go package name", *pkg)
			}
			files, err := codegen.Generate(m, codegen.Options{Package: *pkg, Targets: targets, NoPTX: !*ptx})
			if err != nil {
				return err
			}
			dir := *out
			if len(targets) == 1 && targets[0] == "torch" {
				// The PyTorch module is one file: -o names it.
				if strings.HasSuffix(dir, ".py") {
					return writeFile(dir, files[codegen.TorchFile(m)])
				}
				if dir == "" {
					dir = "."
				}
			}
			if dir == "" {
				dir = filepath.Join("generated", m.Name)
			}
			return writeFiles(dir, files)
		}
	},
}

// isIdentifier reports whether s can name a Go package.
func isIdentifier(s string) bool {
	if s == "" || s == "_" || token.IsKeyword(s) {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// writeFiles writes the files into dir, creating it, in a stable order.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fileError(dir, err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o666); err != nil {
			return fileError(path, err)
		}
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return fileError(dir, err)
		}
	}
	if err := os.WriteFile(path, data, 0o666); err != nil {
		return fileError(path, err)
	}
	return nil
}
