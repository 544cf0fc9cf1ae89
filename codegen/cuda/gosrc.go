package cuda

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/grcc/grcc/plan"
)

// The Go files are mostly fixed runtime code around tables (kernels,
// buffers, constants, launches), so they are templates rather than
// jennifer code: the emitted Go reads as the template does. gofmt runs on
// the result.
var (
	//go:embed cuda.go.tmpl
	goTemplateText string
	//go:embed cuda_test.go.tmpl
	testTemplateText string

	goTemplate   = template.Must(template.New(GoFile).Parse(goTemplateText))
	testTemplate = template.Must(template.New(TestFile).Parse(testTemplateText))
)

type constView struct {
	Kind, P, Eps, Comment string
	Len, Rows             int
}

type launchView struct {
	Comment, Layers, Grid, Args string
	Kernel, Block               int
}

// goView is what the Go templates print.
type goView struct {
	Header, Pkg                 string
	InputLen, OutputLen, MaxLen int
	Kernels                     []string
	Buffers                     []int
	Consts                      []constView
	Launches                    []launchView
}

func (ll *launchList) goView(pkg string) goView {
	p := ll.l.p
	v := goView{
		Header:    header(p),
		Pkg:       pkg,
		InputLen:  p.Input.Shape.Len(),
		OutputLen: p.Output.Shape.Len(),
		Buffers:   ll.l.sizes,
	}
	v.MaxLen = max(v.InputLen, v.OutputLen)
	for _, n := range ll.l.sizes {
		v.MaxLen = max(v.MaxLen, n)
	}
	kernelIndex := map[*kernel]int{}
	for i, k := range ll.kernels {
		v.Kernels = append(v.Kernels, k.name)
		kernelIndex[k] = i
	}
	for _, c := range ll.consts {
		var ps []string
		for _, i := range c.p {
			ps = append(ps, fmt.Sprint(i))
		}
		v.Consts = append(v.Consts, constView{
			Kind:    []string{"cudaParam", "cudaScale", "cudaShift", "cudaTransposed"}[c.kind],
			P:       strings.Join(ps, ", "),
			Eps:     fmt.Sprintf("%g", c.eps),
			Len:     c.len,
			Rows:    c.rows,
			Comment: c.what,
		})
	}
	for _, l := range ll.launches {
		var grid, args []string
		for _, d := range l.grid {
			grid = append(grid, fmt.Sprintf("{%d, %d}", d.perImage, d.size))
		}
		for _, a := range l.args {
			kind, index := ll.goArg(a)
			args = append(args, fmt.Sprintf("{%s, %d}", kind, index))
		}
		v.Launches = append(v.Launches, launchView{
			Comment: fmt.Sprintf("%s: %s", l.kernel.name, l.op.describe()),
			Layers:  l.op.layers(),
			Kernel:  kernelIndex[l.kernel],
			Grid:    strings.Join(grid, ", "),
			Block:   l.block,
			Args:    strings.Join(args, ", "),
		})
	}
	return v
}

// goArg gives a cudaArg's kind and index.
func (ll *launchList) goArg(a arg) (string, int) {
	switch a.kind {
	case argValue:
		switch b := ll.l.buffer[a.value]; b {
		case plan.InputBuffer:
			return "cudaArgInput", 0
		case plan.OutputBuffer:
			return "cudaArgOutput", 0
		default:
			return "cudaArgBuffer", b
		}
	case argConst:
		return "cudaArgConst", a.c
	case argBatch:
		return "cudaArgBatch", 0
	case argCounter:
		return "cudaArgCounter", 0
	}
	return "cudaArgNull", 0
}

func (ll *launchList) goSource(pkg string, t *template.Template) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, ll.goView(pkg)); err != nil {
		return nil, err
	}
	return gofmt(buf.Bytes())
}

// layers names the program steps an op computes: "layer1.iter_1.8 + layer1.iter_1".
func (o *op) layers() string {
	if o.pair != nil {
		a := *o
		a.pair = nil
		return a.layers() + " + " + o.pair.layers()
	}
	if len(o.steps) == 1 && o.steps[0].Kind == plan.SKAttention {
		return o.name // layer1.iter_1.5.pool, .fc or .apply
	}
	var names []string
	seen := map[string]bool{}
	for _, s := range o.steps {
		n := s.Name
		if n == "" {
			n = s.Kind.String()
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, " + ")
}
