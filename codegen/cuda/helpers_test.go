package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/grcc/grcc/internal/spectest"
	"github.com/grcc/grcc/plan"
)

// loadProgram reads a spec and builds its program with fusions, as the
// cuda target does.
func loadProgram(t testing.TB, path string) *plan.Program {
	t.Helper()
	return loadProgramOpts(t, path, plan.Options{Fusions: true, Verify: true})
}

// loadProgramOpts reads a spec and builds its program with opt.
func loadProgramOpts(t testing.TB, path string, opt plan.Options) *plan.Program {
	t.Helper()
	// path is relative to this package; spectest reads it from the
	// repository root and names it from there, as grcc build does.
	m := spectest.Model(t, strings.TrimPrefix(filepath.ToSlash(path), "../../"))
	p, err := plan.Build(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// shippedSpecs lists spec/*.grc by model name.
func shippedSpecs(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob("../../spec/*.grc")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no specs in ../../spec: %v", err)
	}
	sort.Strings(paths)
	return paths
}

func specName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".grc") }

// needNVCC skips the test when nvcc is missing.
func needNVCC(t testing.TB) {
	t.Helper()
	if _, err := NVCC(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// needTool skips the test when a program is missing, and returns its path.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("skipping: %s not found", name)
	}
	return p
}

func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o666); err != nil {
			t.Fatal(err)
		}
	}
}
