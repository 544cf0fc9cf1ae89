package cuda

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// NVCC is the CUDA compiler CompilePTX and ReportResources run: $NVCC if
// set, else nvcc from PATH.
func NVCC() (string, error) {
	if p := os.Getenv("NVCC"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("nvcc")
	if err != nil {
		return "", fmt.Errorf("nvcc not found (install the CUDA toolkit or set NVCC): %w", err)
	}
	return p, nil
}

// nvccFlags are the flags of every compilation: warnings are errors, and
// nvcc must also print nothing else on stderr.
var nvccFlags = []string{"-std=c++17", "-O3", "-Werror", "all-warnings", "--display-error-number"}

func checkArch(arch string) error {
	for _, a := range Archs {
		if a == arch {
			return nil
		}
	}
	return fmt.Errorf("arch %q: want one of %s", arch, strings.Join(Archs, ", "))
}

// runNVCC compiles cuSource (kernels.cu) in a temporary directory with
// args, and returns the file named out and nvcc's stderr.
func runNVCC(cuSource []byte, out string, args ...string) ([]byte, string, error) {
	nvcc, err := NVCC()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "grcc-nvcc-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, KernelsFile)
	if err := os.WriteFile(src, cuSource, 0o666); err != nil {
		return nil, "", err
	}
	cmdArgs := append(append(append([]string(nil), nvccFlags...), args...), "-o", filepath.Join(dir, out), src)
	cmd := exec.Command(nvcc, cmdArgs...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String(), fmt.Errorf("nvcc %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(dir, out))
	return data, stderr.String(), err
}

// CompilePTX compiles kernels.cu to PTX for arch ("sm_80" or "sm_90") with
// nvcc -ptx. Warnings fail the compilation, as does anything nvcc prints on
// stderr.
func CompilePTX(cuSource []byte, arch string) ([]byte, error) {
	if err := checkArch(arch); err != nil {
		return nil, err
	}
	ptx, stderr, err := runNVCC(cuSource, "kernels.ptx", "-ptx", "-arch="+arch)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(stderr) != "" {
		return nil, fmt.Errorf("nvcc -ptx -arch=%s printed:\n%s", arch, stderr)
	}
	return ptx, nil
}

// Resources are what ptxas reports for one kernel.
type Resources struct {
	Kernel       string
	Registers    int
	SharedBytes  int // static shared memory per block
	StackBytes   int // per-thread stack frame
	SpillStores  int // bytes
	SpillLoads   int // bytes
	ConstantUsed int // bytes of cmem[0] (kernel parameters)
}

func (r Resources) String() string {
	s := fmt.Sprintf("%s: %d registers, %d bytes shared", r.Kernel, r.Registers, r.SharedBytes)
	if r.StackBytes > 0 || r.SpillStores > 0 || r.SpillLoads > 0 {
		s += fmt.Sprintf(", %d bytes stack, spills %d/%d bytes (stores/loads)", r.StackBytes, r.SpillStores, r.SpillLoads)
	}
	return s
}

var (
	reEntry = regexp.MustCompile(`Compiling entry function '([^']+)'`)
	reUsed  = regexp.MustCompile(`Used (\d+) registers`)
	reSmem  = regexp.MustCompile(`(\d+) bytes smem`)
	reCmem  = regexp.MustCompile(`(\d+) bytes cmem\[0\]`)
	reFrame = regexp.MustCompile(`(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads`)
	reAtoi  = func(re *regexp.Regexp, line string, i int) int {
		m := re.FindStringSubmatch(line)
		n, _ := strconv.Atoi(m[i])
		return n
	}
)

// ReportResources compiles kernels.cu for arch with ptxas verbose
// (nvcc -cubin -Xptxas -v) and returns each kernel's registers, shared
// memory and spills, sorted by kernel name.
func ReportResources(cuSource []byte, arch string) ([]Resources, error) {
	if err := checkArch(arch); err != nil {
		return nil, err
	}
	_, stderr, err := runNVCC(cuSource, "kernels.cubin", "-cubin", "-arch="+arch, "-Xptxas", "-v")
	if err != nil {
		return nil, err
	}
	byName := map[string]*Resources{}
	var cur *Resources
	for _, line := range strings.Split(stderr, "\n") {
		switch {
		case reEntry.MatchString(line):
			name := reEntry.FindStringSubmatch(line)[1]
			cur = &Resources{Kernel: name}
			byName[name] = cur
		case cur == nil:
		case reFrame.MatchString(line):
			cur.StackBytes, cur.SpillStores, cur.SpillLoads = reAtoi(reFrame, line, 1), reAtoi(reFrame, line, 2), reAtoi(reFrame, line, 3)
		case reUsed.MatchString(line):
			cur.Registers = reAtoi(reUsed, line, 1)
			if reSmem.MatchString(line) {
				cur.SharedBytes = reAtoi(reSmem, line, 1)
			}
			if reCmem.MatchString(line) {
				cur.ConstantUsed = reAtoi(reCmem, line, 1)
			}
		}
	}
	var out []Resources
	for _, name := range sortedKeys(byName) {
		out = append(out, *byName[name])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ptxas reported no kernels:\n%s", stderr)
	}
	return out, nil
}
