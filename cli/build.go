package cli

import (
	"bytes"
	"flag"
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grcc/grcc/codegen"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/tune"
)

var buildCmd = &command{
	name: "build", args: "SPEC [-o DIR] [-pkg NAME] [-batch N] [-target go,cuda,torch] [-tune [-tune-save FILE] | -algorithms FILE]", nargs: 1,
	summary: "compile a spec into a Go package (and CUDA kernels, or a PyTorch module)",
	detail: `The Go target writes model.go and model_test.go: a package specialised to the
spec's shapes, with New, Load, Forward and Predict. The cuda target adds
kernels.cu, its PTX for sm_80 and sm_90 (when nvcc is installed) and cuda.go,
built only with -tags cuda. The torch target writes one Python file with an
nn.Module whose state_dict matches the spec (-o names the file).

By default the package goes to generated/<model> and is named after the model.

With -tune, grcc first times the forward pass on this machine, on random
weights at the build's batch, with each candidate CPU algorithm of each class
of convolutions (the same shapes; grcc plan -why shows the cost model's
choices), alternating the two programs pass by pass, and keeps a candidate
where it made the whole pass faster by at least 1.5% in every round of two
comparisons, the second with both built afresh. It prints each comparison
(a few minutes for an ImageNet model at batch 1), and the generated
package lists its choices and their measurements in its documentation. The
cost model decides the rest, and everything without -tune. -tune-save writes
the choices to a file, which -algorithms then applies without timing again
(for go generate, or another machine of the same kind).`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		out := fs.String("o", "", "output directory (for -target torch: the .py file)")
		pkg := fs.String("pkg", "", "Go package name (default: the model's name)")
		batch := fs.Int("batch", 0, "the default batch size (default: N of the spec's input)")
		target := fs.String("target", "go", "what to emit: go, cuda, torch, or a comma-separated list")
		ptx := fs.Bool("ptx", true, "with the cuda target, compile the kernels to PTX for sm_80 and sm_90 (needs nvcc)")
		doTune := fs.Bool("tune", false, "choose the CPU algorithms by timing the model on this machine (go target)")
		tuneTime := fs.Duration("tune-time", 300*time.Millisecond, "with -tune, the least time each of two programs runs per round of a comparison")
		tuneSave := fs.String("tune-save", "", "with -tune, also write its choices to `FILE` (JSON), for -algorithms")
		algorithms := fs.String("algorithms", "", "take the CPU algorithms that -tune -tune-save wrote to `FILE` instead of tuning")
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
			var choices map[string]plan.Choice
			if *doTune && *algorithms != "" {
				return usagef("-tune and -algorithms: choose one")
			}
			if *tuneSave != "" && !*doTune {
				return usagef("-tune-save needs -tune")
			}
			if *algorithms != "" {
				if !slices.Contains(targets, "go") {
					return usagef("-algorithms sets the CPU algorithms of the go target, which -target %s leaves out", *target)
				}
				if choices, err = tune.LoadFile(*algorithms, m); err != nil {
					return err
				}
			}
			if *doTune {
				if !slices.Contains(targets, "go") {
					return usagef("-tune chooses the CPU algorithms of the go target, which -target %s leaves out", *target)
				}
				if *tuneTime <= 0 {
					return usagef("-tune-time %v: want a positive duration", *tuneTime)
				}
				fmt.Fprintf(e.stderr, "tuning %s at batch %d on %d threads (each line: a class of convolutions, how many, the forward pass's time ratio)\n", m.Name, m.Batch, runtime.GOMAXPROCS(0))
				choices, _, err = tune.Tune(m, tune.Options{Time: *tuneTime, Log: e.stderr})
				if err != nil {
					return fmt.Errorf("%s: -tune: %w", m.Source, err)
				}
				fmt.Fprintf(e.stderr, "tuned: %d of the cost model's choices replaced\n", len(choices))
				if *tuneSave != "" {
					var b bytes.Buffer
					if err := tune.Save(&b, m, choices); err != nil {
						return err
					}
					if err := writeFile(*tuneSave, b.Bytes()); err != nil {
						return err
					}
				}
			}
			files, err := codegen.Generate(m, codegen.Options{Package: *pkg, Targets: targets, NoPTX: !*ptx, Algorithms: choices})
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
