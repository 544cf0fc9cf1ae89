package cuda

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/grcc/grcc/plan"
)

var (
	//go:embed grcc_shim.h
	shimHeader string
	//go:embed host.cpp.tmpl
	hostTemplateText string

	hostTemplate = template.Must(template.New("host.cpp").Parse(hostTemplateText))
)

// Files of the CPU build of the kernels.
const (
	HostFile = "host.cpp"
	ShimFile = "grcc_shim.h"
)

// HostSources returns a C++ program that runs p's kernels.cu on the CPU:
// kernels.cu, grcc_shim.h (the CUDA constructs the kernels use, with each
// block's threads as fibers) and host.cpp (main: reads weights and input,
// makes the launches of cuda.go, writes the logits; see its comment).
// Build it with
//
//	g++ -std=c++17 -O1 -pthread -U_FORTIFY_SOURCE -x c++ host.cpp -o host
func HostSources(p *plan.Program) (map[string][]byte, error) {
	ll, err := build(p)
	if err != nil {
		return nil, err
	}
	cu, err := ll.kernelsSource()
	if err != nil {
		return nil, err
	}
	host, err := ll.hostSource()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{KernelsFile: cu, ShimFile: []byte(shimHeader), HostFile: host}, nil
}

// HostCompileArgs are the g++ arguments (before the source and -o) that
// build host.cpp.
var HostCompileArgs = []string{"-std=c++17", "-O1", "-pthread", "-U_FORTIFY_SOURCE", "-Wno-unknown-pragmas", "-x", "c++"}

type hostLaunch struct {
	Comment, Kernel, Grid, Args string
	Block                       int
}

func (ll *launchList) hostSource() ([]byte, error) {
	gv := ll.goView("")
	var lens []int
	for _, p := range ll.l.p.Model.Params {
		if p.DType == "float32" {
			lens = append(lens, p.Len())
		} else {
			lens = append(lens, -1)
		}
	}
	consts := make([]constView, len(gv.Consts))
	copy(consts, gv.Consts)
	for i := range consts {
		consts[i].Kind = map[string]string{"cudaParam": "kParam", "cudaScale": "kScale", "cudaShift": "kShift", "cudaTransposed": "kTransposed"}[consts[i].Kind]
	}
	var launches []hostLaunch
	for _, l := range ll.launches {
		var grid, args []string
		for _, d := range l.grid {
			grid = append(grid, fmt.Sprintf("grcc::grid_size(n, %d, %d)", d.perImage, d.size))
		}
		for _, a := range l.args {
			args = append(args, ll.hostArg(a))
		}
		launches = append(launches, hostLaunch{
			Comment: fmt.Sprintf("%s: %s", l.kernel.name, l.op.describe()),
			Kernel:  l.kernel.name,
			Grid:    strings.Join(grid, ", "),
			Block:   l.block,
			Args:    strings.Join(args, ", "),
		})
	}
	var buf bytes.Buffer
	err := hostTemplate.Execute(&buf, map[string]any{
		"Header":    header(ll.l.p),
		"InputLen":  gv.InputLen,
		"OutputLen": gv.OutputLen,
		"ParamLens": lens,
		"Consts":    consts,
		"Buffers":   gv.Buffers,
		"Launches":  launches,
	})
	return buf.Bytes(), err
}

// hostArg is a kernel argument as host.cpp spells it.
func (ll *launchList) hostArg(a arg) string {
	switch a.kind {
	case argValue:
		switch b := ll.l.buffer[a.value]; b {
		case plan.InputBuffer:
			return "in"
		case plan.OutputBuffer:
			return "out"
		default:
			return fmt.Sprintf("b[%d].data()", b)
		}
	case argConst:
		return fmt.Sprintf("k[%d].data()", a.c)
	case argBatch:
		return "n"
	case argCounter:
		return "counter.data()"
	}
	return "nullptr"
}
