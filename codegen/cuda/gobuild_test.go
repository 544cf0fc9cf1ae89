package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/grcc/grcc/codegen/golang"
	"github.com/grcc/grcc/plan"
)

// stubModel stands in for the Go emitter's model.go: the part of the CPU
// package that cuda.go and cuda_test.go use (the Model type with its
// tensors, New, Load, RandomWeights and Forward).
const stubModel = `// A stand-in for the Go target's model.go, for building the cuda files.
package %s

type Model struct{ tensors [][]float32 }

func New() *Model                                 { return &Model{} }
func (m *Model) Load(path string) error           { return nil }
func (m *Model) RandomWeights(seed uint64) error  { return nil }
func (m *Model) Forward(in, out []float32) error  { return nil }
`

// cudaHeader finds cuda.h where gorgonia.org/cu's cgo flags look.
func cudaHeader() bool {
	for _, dir := range []string{"/usr/include", "/usr/local/cuda/include", "/opt/cuda/include"} {
		if _, err := os.Stat(filepath.Join(dir, "cuda.h")); err == nil {
			return true
		}
	}
	return false
}

// cgoEnv is the environment for building against gorgonia.org/cu: cgo on,
// and the linker pointed at the CUDA driver stub (libcuda.so), which
// Debian's and Ubuntu's nvidia-cuda-toolkit install in
// /usr/lib/x86_64-linux-gnu/stubs, for machines without the driver.
func cgoEnv() []string {
	env := append(os.Environ(), "CGO_ENABLED=1")
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu/stubs", "/usr/local/cuda/lib64/stubs"} {
		if _, err := os.Stat(filepath.Join(dir, "libcuda.so")); err == nil {
			env = append(env, "CGO_LDFLAGS="+strings.TrimSpace(os.Getenv("CGO_LDFLAGS")+" -L"+dir))
			break
		}
	}
	return env
}

// TestGeneratedPackageBuilds writes a package for tiny_cifar (cuda.go,
// cuda_test.go, kernels.cu, placeholder PTX, and the Go target's files or
// a stub of the part of them the cuda files use) inside the module and
// runs go vet -tags cuda and go test -tags cuda -c on it: the cuda files
// compile, link against gorgonia.org/cu, and fit the CPU package.
func TestGeneratedPackageBuilds(t *testing.T) {
	t.Parallel() // the slow tests overlap
	for _, cpu := range []string{"stub", "go-target"} {
		t.Run(cpu, func(t *testing.T) { testGeneratedPackage(t, cpu == "stub") })
	}
}

func testGeneratedPackage(t *testing.T, stub bool) {
	if testing.Short() {
		t.Skip("skipping the cgo build in -short mode")
	}
	if !cudaHeader() {
		t.Skip("skipping: cuda.h not found (install the CUDA toolkit)")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	p := loadProgram(t, "../../testdata/reference/tiny_cifar.grc")
	const pkg = "tinycifar"
	files, err := Emit(p, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if stub {
		files["model.go"] = []byte(strings.ReplaceAll(stubModel, "%s", pkg))
	} else {
		cpu, err := golang.Emit(loadProgramOpts(t, "../../testdata/reference/tiny_cifar.grc", plan.Options{}), pkg)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range cpu {
			files[name] = data
		}
	}
	for _, arch := range Archs {
		files[PTXFile(arch)] = []byte("// placeholder: the build does not read the PTX\n")
	}
	// Inside the module so that gorgonia.org/cu resolves; the leading
	// underscore keeps ./... away from it.
	dir, err := os.MkdirTemp(".", "_gen")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	writeFiles(t, dir, files)
	rel := "./" + filepath.ToSlash(dir)
	for _, args := range [][]string{
		{"vet", "-tags", "cuda", rel},
		{"test", "-tags", "cuda", "-c", "-o", filepath.Join(t.TempDir(), "cuda.test"), rel},
	} {
		cmd := exec.Command(goTool, args...)
		cmd.Env = cgoEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
