// Package golang emits a Go package for a lowered GRCNN.
//
// It takes a *plan.Program and gives the source of model.go: a Model type
// whose fields are the program's kernels (from package runtime) with every
// size a constant, a Forward method that runs the steps unrolled in order
// with the checkpoint name of each layer beside it, and loading and
// prediction helpers; model_test.go, which checks the package and
// benchmarks Forward; and, for models that take images, image.go: the
// spec's preprocessing, class names and PredictImage.
package golang

import (
	"bytes"
	"fmt"
	"go/format"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

const (
	runtimePkg    = "github.com/grcc/grcc/runtime"
	checkpointPkg = "github.com/grcc/grcc/runtime/checkpoint"
)

// Emit returns the files of the package for p, by name.
func Emit(p *plan.Program, pkg string) (map[string][]byte, error) {
	e := newEmitter(p, pkg)
	model, err := render(e.modelFile())
	if err != nil {
		return nil, fmt.Errorf("model.go: %w", err)
	}
	test, err := render(e.testFile())
	if err != nil {
		return nil, fmt.Errorf("model_test.go: %w", err)
	}
	files := map[string][]byte{"model.go": model, "model_test.go": test}
	if e.m.Preprocess != nil {
		img, err := render(e.imageFile())
		if err != nil {
			return nil, fmt.Errorf("image.go: %w", err)
		}
		files["image.go"] = img
	}
	return files, nil
}

// render formats a file; on failure the error shows the source with line
// numbers, so that a bug in the emitter can be found.
func render(f *jen.File) ([]byte, error) {
	var buf bytes.Buffer
	f.NoFormat = true // format here, so that a failure can show numbered lines
	if err := f.Render(&buf); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, numbered(buf.String()))
	}
	out, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%v\n%s", err, numbered(buf.String()))
	}
	return out, nil
}

func numbered(src string) string {
	var b strings.Builder
	for i, line := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%5d  %s\n", i+1, line)
	}
	return b.String()
}

// emitter holds what the emit functions share: the program, the param
// indices and the Model field chosen for each step.
type emitter struct {
	p       *plan.Program
	m       *ir.Model
	pkg     string
	index   map[*ir.Param]int // position of each entry in m.Params
	fields  map[*plan.Step]string
	order   []*plan.Step // steps that own a field, in program order
	counter map[string]int
}

func newEmitter(p *plan.Program, pkg string) *emitter {
	e := &emitter{p: p, m: p.Model, pkg: pkg, index: map[*ir.Param]int{}, fields: map[*plan.Step]string{}, counter: map[string]int{}}
	for i, prm := range e.m.Params {
		e.index[prm] = i
	}
	taken := map[string]*plan.Step{}
	// A fused gate convolution keeps its field, before the step that runs
	// it, which Prepare needs it ready for.
	var steps []*plan.Step
	for _, s := range p.Steps {
		if s.GateConv != nil {
			steps = append(steps, s.GateConv)
		}
		steps = append(steps, s)
	}
	for _, s := range steps {
		if !hasField(s) {
			continue
		}
		name := fieldName(s)
		if name == "" {
			e.counter[s.Kind.String()]++
			name = fmt.Sprintf("%s%d", s.Kind, e.counter[s.Kind.String()])
		}
		if prev, ok := taken[name]; ok && sameOp(prev, s) {
			// conv_g_r runs once per iteration with the same weights and
			// shapes: one field serves every use.
			e.fields[s] = name
			continue
		}
		for base, k := name, 2; taken[name] != nil; k++ {
			name = fmt.Sprintf("%s_%d", base, k)
		}
		taken[name] = s
		e.fields[s] = name
		e.order = append(e.order, s)
	}
	return e
}

// hasField reports whether the step's kernel keeps state in the Model.
func hasField(s *plan.Step) bool {
	switch s.Kind {
	case plan.Conv, plan.ScaleShift, plan.ReLU, plan.MaxPool, plan.AvgPool, plan.Linear, plan.SKAttention:
		return true
	}
	return false
}

func sameOp(a, b *plan.Step) bool {
	return a.Kind == b.Kind && a.Conv == b.Conv && a.BN == b.BN && a.Relu == b.Relu && a.Pre == b.Pre
}

// fieldName turns a checkpoint name into an identifier: layer1.iter_2.5 → layer1_iter_2_5.
func fieldName(s *plan.Step) string {
	if s.Kind == plan.ReLU || s.Name == "" {
		return ""
	}
	return strings.NewReplacer(".", "_", "-", "_").Replace(s.Name)
}

// t is the expression for the data of a state_dict entry.
func (e *emitter) t(p *ir.Param) jen.Code {
	if p == nil {
		return jen.Nil()
	}
	return jen.Id("t").Index(jen.Lit(e.index[p]))
}
