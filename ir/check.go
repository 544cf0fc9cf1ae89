package ir

import (
	"fmt"
	"regexp"

	"github.com/grcc/grcc/parser"
)

// Check turns a parsed spec into a Model. On failure the error is a
// parser.ErrorList with every problem found, sorted by position.
func Check(f *parser.File) (*Model, error) {
	c := &checker{}
	m := c.file(f)
	c.errs.Sort()
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// Load parses and checks the spec held in src; name is used in diagnostics
// and in the generated code's header.
func Load(name string, src []byte) (*Model, error) {
	f, err := parser.Parse(name, src)
	if err != nil {
		return nil, err
	}
	return Check(f)
}

type checker struct {
	reader
	names    map[string]parser.Position // checkpoint names taken so far
	prefixes map[string]string          // dotted prefixes of those names, each to the first name with it
}

var (
	modelNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	layerNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$`)
)

func (c *checker) file(f *parser.File) *Model {
	var model *parser.Entry
	for _, e := range f.Entries {
		if e.Key != "model" {
			msg := fmt.Sprintf("unknown top-level entry %q; a spec is one model \"name\" { ... }", e.Key)
			if suggest(e.Key, []string{"model"}) != "" {
				msg = fmt.Sprintf("unknown top-level entry %q; did you mean \"model\"?", e.Key)
			}
			c.errorf(e.Pos, "%s", msg)
			continue
		}
		if model != nil {
			c.errorf(e.Pos, "a spec holds one model; %q is already defined at line %d", model.Unquoted(), model.Pos.Line)
			continue
		}
		model = e
	}
	if model == nil {
		if len(c.errs) == 0 {
			c.errorf(parser.Position{Filename: f.Name, Line: 1, Column: 1}, "no model in spec; want model \"name\" { ... }")
		}
		return nil
	}
	entries, ok := c.block(model, true)
	if !ok {
		return nil
	}
	m := &Model{Name: model.Unquoted(), Source: f.Name}
	if !modelNameRE.MatchString(m.Name) {
		c.errorf(model.Pos, "model name %q is not an identifier (letters, digits, underscores)", m.Name)
	}
	modelKeys := []string{"input", "classes", "preprocess", "stem", "stages", "head"}
	fields := c.fieldSet("model", entries, modelKeys)
	errs := len(c.errs)
	for _, key := range []string{"input", "classes", "stages", "head"} {
		if fields[key] == nil && !misspelled(entries, modelKeys, key) {
			c.errorf(model.Pos, "model %q has no %s", m.Name, key)
		}
	}
	if e := fields["input"]; e != nil {
		c.input(m, e)
	}
	if e := fields["classes"]; e != nil {
		if v, ok := c.setting(e); ok {
			m.Classes, _ = c.positive("classes", v)
		}
	}
	if fields["input"] == nil || fields["classes"] == nil || len(c.errs) > errs {
		// Shapes cannot be inferred without a valid input and class count.
		return nil
	}
	c.preprocess(m, fields["preprocess"])
	c.names = map[string]parser.Position{}
	c.prefixes = map[string]string{}
	shape := m.Input
	if e := fields["stem"]; e != nil {
		m.Stem, shape, ok = c.layers("stem", e, shape, m.Classes, false)
		if !ok {
			return nil
		}
	}
	if e := fields["stages"]; e != nil {
		m.Stages, shape, ok = c.stages(e, shape)
		if !ok {
			return nil
		}
	}
	if e := fields["head"]; e != nil {
		m.Head, shape, ok = c.layers("head", e, shape, m.Classes, true)
		if !ok {
			return nil
		}
		if shape != m.Output() {
			var last Layer
			if len(m.Head) > 0 {
				last = m.Head[len(m.Head)-1]
			}
			if l, ok := last.(*Linear); ok {
				c.errorf(c.names[l.Name], "linear %q gives %d outputs, but the model has classes = %d; drop its out = %d",
					l.Name, l.OutFeatures, m.Classes, l.OutFeatures)
			} else {
				c.errorf(e.Pos, "head ends with %s per image; want the %d class logits (end with linear)", shape, m.Classes)
			}
		}
	}
	if len(c.errs) > 0 {
		return nil
	}
	collectParams(m)
	return m
}

// maxElements bounds every tensor of one image, activations and weights, so
// that shapes, parameter counts and MACs cannot overflow, and so that a slip
// like planes = 6400000 is reported here rather than as a failed allocation.
// The largest tensor of the published models has about 2 million elements.
const maxElements = 1 << 31

// tooLarge reports whether a tensor of the given dimensions exceeds maxElements.
func tooLarge(dims ...int) bool {
	n := 1.0
	for _, d := range dims {
		n *= float64(d)
	}
	return n > maxElements
}

func (c *checker) input(m *Model, e *parser.Entry) {
	v, ok := c.setting(e)
	if !ok {
		return
	}
	if v.List == nil || len(v.List.Items) != 4 {
		c.errorf(v.Pos, "input: want [N, C, H, W], got %s", describe(v))
		return
	}
	var dims [4]int
	for i, item := range v.List.Items {
		name := []string{"N", "C", "H", "W"}[i]
		if dims[i], ok = c.positive("input "+name, item); !ok {
			return
		}
	}
	if tooLarge(dims[1], dims[2], dims[3]) {
		c.errorf(v.Pos, "input: %dx%dx%d is too large (more than %d elements per image)", dims[1], dims[2], dims[3], maxElements)
		return
	}
	m.Batch = dims[0]
	m.Input = Shape{C: dims[1], H: dims[2], W: dims[3]}
}

// claim records a checkpoint name, reporting duplicates and names that would
// clash with another in a state_dict (one a dotted prefix of the other).
func (c *checker) claim(name string, pos parser.Position) bool {
	if !layerNameRE.MatchString(name) {
		c.errorf(pos, "checkpoint name %q is not a dotted name like \"lastact.0\"", name)
		return false
	}
	if prev, dup := c.names[name]; dup {
		c.errorf(pos, "checkpoint name %q is already used at line %d", name, prev.Line)
		return false
	}
	// A name clashes with a taken name that is a dotted prefix of it, or
	// that it is a dotted prefix of. Looking up prefixes keeps this linear
	// in the number of names.
	for i := len(name) - 1; i > 0; i-- {
		if name[i] != '.' {
			continue
		}
		if prev, ok := c.names[name[:i]]; ok {
			c.errorf(pos, "checkpoint name %q clashes with %q at line %d", name, name[:i], prev.Line)
			return false
		}
	}
	if other, ok := c.prefixes[name]; ok {
		c.errorf(pos, "checkpoint name %q clashes with %q at line %d", name, other, c.names[other].Line)
		return false
	}
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '.' {
			if _, ok := c.prefixes[name[:i]]; !ok {
				c.prefixes[name[:i]] = name
			}
		}
	}
	c.names[name] = pos
	return true
}

var convKeys = []string{"out", "kernel", "stride", "padding", "dilation", "groups", "bias"}

var layerKinds = []string{"conv", "batchnorm", "relu", "maxpool", "avgpool", "globalavgpool", "linear"}

// layers checks a stem or head: a sequence of layers, each with its shape.
func (c *checker) layers(where string, e *parser.Entry, in Shape, classes int, head bool) ([]Layer, Shape, bool) {
	entries, ok := c.block(e, false)
	if !ok {
		return nil, in, false
	}
	errs := len(c.errs)
	var out []Layer
	shape := in
	flat := false // after a linear only relu and linear make sense
	for _, le := range entries {
		if !contains(layerKinds, le.Key) {
			msg := fmt.Sprintf("unknown layer %q in %s", le.Key, where)
			if s := suggest(le.Key, layerKinds); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			c.errorf(le.Pos, "%s", msg)
			return nil, in, false
		}
		if flat && le.Key != "relu" && le.Key != "linear" {
			c.errorf(le.Pos, "%s after linear: the features are flat, only relu and linear may follow", le.Key)
			return nil, in, false
		}
		if !head && le.Key == "linear" {
			c.errorf(le.Pos, "linear in the stem: the stages need a feature map; put linear layers in the head")
			return nil, in, false
		}
		l, next, ok := c.layer(le, shape, classes)
		if !ok {
			return nil, in, false
		}
		if le.Key == "linear" {
			flat = true
		}
		out = append(out, l)
		shape = next
	}
	return out, shape, len(c.errs) == errs
}

// layer checks one layer of a stem or head.
func (c *checker) layer(e *parser.Entry, in Shape, classes int) (Layer, Shape, bool) {
	named := e.Key == "conv" || e.Key == "batchnorm" || e.Key == "linear"
	if named && e.Name == nil {
		c.errorf(e.Pos, "%s needs its checkpoint name: %s \"name\"", e.Key, e.Key)
		return nil, in, false
	}
	if !named && e.Name != nil {
		c.errorf(e.Pos, "%s has no parameters and takes no name", e.Key)
		return nil, in, false
	}
	if e.Value != nil {
		switch {
		case named:
			c.errorf(e.Pos, "%s is a layer, not a setting; write %s \"name\" { ... }", e.Key, e.Key)
		case e.Key == "relu" || e.Key == "globalavgpool":
			c.errorf(e.Pos, "%s is a layer, not a setting; write %s on its own", e.Key, e.Key)
		default:
			c.errorf(e.Pos, "%s is a layer, not a setting; write %s { ... }", e.Key, e.Key)
		}
		return nil, in, false
	}
	name := e.Unquoted()
	if named && !c.claim(name, e.Pos) {
		return nil, in, false
	}
	var entries []*parser.Entry
	if e.Block != nil {
		entries = e.Block.Entries
	}
	errs := len(c.errs)
	switch e.Key {
	case "conv":
		f := c.fieldSet("conv", entries, convKeys)
		spec := convSpec{stride: [2]int{1, 1}, dilation: [2]int{1, 1}, groups: 1}
		for _, key := range []string{"out", "kernel"} {
			if f[key] == nil && !misspelled(entries, convKeys, key) {
				c.errorf(e.Pos, "conv %q needs %s = ...", name, key)
			}
		}
		c.convFields(f, &spec)
		if len(c.errs) > errs {
			return nil, in, false
		}
		conv := c.conv(e.Pos, name, in, spec)
		if conv == nil {
			return nil, in, false
		}
		return conv, conv.Out, true
	case "batchnorm":
		f := c.fieldSet("batchnorm", entries, []string{"eps"})
		eps := 1e-5
		if fe := f["eps"]; fe != nil {
			if v, ok := c.setting(fe); ok {
				var ok bool
				if eps, ok = c.float("eps", v); ok && eps <= 0 {
					c.errorf(v.Pos, "eps must be positive, got %s", *v.Number)
				}
			}
		}
		if len(c.errs) > errs {
			return nil, in, false
		}
		bn := newBatchNorm(name, in)
		bn.Eps = eps
		return bn, in, true
	case "relu", "globalavgpool":
		if e.Block != nil {
			c.errorf(e.Pos, "%s takes no settings", e.Key)
			return nil, in, false
		}
		if e.Key == "relu" {
			return &ReLU{Node{In: in, Out: in}}, in, true
		}
		out := Shape{C: in.C, H: 1, W: 1}
		return &GlobalAvgPool{Node{In: in, Out: out}}, out, true
	case "maxpool", "avgpool":
		poolKeys := []string{"kernel", "stride", "padding"}
		f := c.fieldSet(e.Key, entries, poolKeys)
		if f["kernel"] == nil {
			if !misspelled(entries, poolKeys, "kernel") {
				c.errorf(e.Pos, "%s needs kernel = ...", e.Key)
			}
			return nil, in, false
		}
		var k, s, p [2]int
		var ok bool
		if v, okv := c.setting(f["kernel"]); okv {
			k, ok = c.pair("kernel", v, c.positive)
			s = k
		}
		if fe := f["stride"]; fe != nil {
			if v, okv := c.setting(fe); okv {
				s, _ = c.pair("stride", v, c.positive)
			}
		}
		if fe := f["padding"]; fe != nil {
			if v, okv := c.setting(fe); okv {
				p, _ = c.pair("padding", v, c.nonNegative)
			}
		}
		if !ok || len(c.errs) > errs {
			return nil, in, false
		}
		for i := range 2 {
			if p[i] > k[i]/2 {
				c.errorf(e.Pos, "%s: padding %d must be at most half the kernel %d", e.Key, p[i], k[i])
				return nil, in, false
			}
		}
		pool := &Pool{Node: Node{In: in}, Max: e.Key == "maxpool",
			KH: k[0], KW: k[1], StrideH: s[0], StrideW: s[1], PadH: p[0], PadW: p[1]}
		oh, ow := (in.H+2*p[0]-k[0])/s[0]+1, (in.W+2*p[1]-k[1])/s[1]+1
		if in.H+2*p[0] < k[0] || in.W+2*p[1] < k[1] {
			c.errorf(e.Pos, "%s: kernel %dx%d is larger than the %dx%d input", e.Key, k[0], k[1], in.H, in.W)
			return nil, in, false
		}
		if !pool.Max && ((in.H+2*p[0]-k[0])%s[0] != 0 || (in.W+2*p[1]-k[1])%s[1] != 0) {
			c.errorf(e.Pos, "avgpool: kernel %dx%d stride %dx%d does not tile the %dx%d input (it would drop rows or columns)",
				k[0], k[1], s[0], s[1], in.H, in.W)
			return nil, in, false
		}
		pool.Out = Shape{C: in.C, H: oh, W: ow}
		return pool, pool.Out, true
	case "linear":
		f := c.fieldSet("linear", entries, []string{"out", "bias"})
		out, bias := classes, true
		if fe := f["out"]; fe != nil {
			if v, ok := c.setting(fe); ok {
				out, _ = c.positive("out", v)
			}
		}
		if fe := f["bias"]; fe != nil {
			if v, ok := c.setting(fe); ok {
				bias, _ = c.boolean("bias", v)
			}
		}
		if len(c.errs) > errs {
			return nil, in, false
		}
		if tooLarge(out, in.Len()) {
			c.errorf(e.Pos, "linear %q: the weight %dx%d has more than %d elements", name, out, in.Len(), maxElements)
			return nil, in, false
		}
		l := &Linear{Node: Node{Name: name, In: in, Out: Shape{C: out, H: 1, W: 1}}, InFeatures: in.Len(), OutFeatures: out}
		l.Weight = newParam(name+".weight", out, in.Len())
		if bias {
			l.Bias = newParam(name+".bias", out)
		}
		return l, l.Out, true
	}
	return nil, in, false
}

// convSpec is a convolution's settings before its shapes are known.
type convSpec struct {
	out                               int
	kernel, stride, padding, dilation [2]int
	groups                            int
	bias                              bool
}

func (c *checker) convFields(f map[string]*parser.Entry, spec *convSpec) {
	get := func(key string) *parser.Value {
		if e := f[key]; e != nil {
			if v, ok := c.setting(e); ok {
				return v
			}
		}
		return nil
	}
	if v := get("out"); v != nil {
		spec.out, _ = c.positive("out", v)
	}
	if v := get("kernel"); v != nil {
		spec.kernel, _ = c.pair("kernel", v, c.positive)
	}
	if v := get("stride"); v != nil {
		spec.stride, _ = c.pair("stride", v, c.positive)
	}
	if v := get("padding"); v != nil {
		spec.padding, _ = c.pair("padding", v, c.nonNegative)
	}
	if v := get("dilation"); v != nil {
		spec.dilation, _ = c.pair("dilation", v, c.positive)
	}
	if v := get("groups"); v != nil {
		spec.groups, _ = c.positive("groups", v)
	}
	if v := get("bias"); v != nil {
		spec.bias, _ = c.boolean("bias", v)
	}
}

// conv builds a convolution and checks its channels and sizes, reporting at pos.
func (c *checker) conv(pos parser.Position, name string, in Shape, s convSpec) *Conv {
	if in.C%s.groups != 0 || s.out%s.groups != 0 {
		c.errorf(pos, "conv %q: channels %d→%d are not divisible by groups %d", name, in.C, s.out, s.groups)
		return nil
	}
	extentH := s.dilation[0]*(s.kernel[0]-1) + 1
	extentW := s.dilation[1]*(s.kernel[1]-1) + 1
	if in.H+2*s.padding[0] < extentH || in.W+2*s.padding[1] < extentW {
		c.errorf(pos, "conv %q: kernel %dx%d (dilation %d) does not fit the %dx%d input", name,
			s.kernel[0], s.kernel[1], s.dilation[0], in.H, in.W)
		return nil
	}
	out := Shape{
		C: s.out,
		H: (in.H+2*s.padding[0]-extentH)/s.stride[0] + 1,
		W: (in.W+2*s.padding[1]-extentW)/s.stride[1] + 1,
	}
	if tooLarge(out.C, out.H, out.W) {
		c.errorf(pos, "conv %q: its output %s has more than %d elements", name, out, maxElements)
		return nil
	}
	if tooLarge(s.out, in.C/s.groups, s.kernel[0], s.kernel[1]) {
		c.errorf(pos, "conv %q: its weight %dx%dx%dx%d has more than %d elements", name,
			s.out, in.C/s.groups, s.kernel[0], s.kernel[1], maxElements)
		return nil
	}
	conv := &Conv{
		Node: Node{Name: name, In: in, Out: out},
		KH:   s.kernel[0], KW: s.kernel[1], StrideH: s.stride[0], StrideW: s.stride[1],
		PadH: s.padding[0], PadW: s.padding[1], DilH: s.dilation[0], DilW: s.dilation[1],
		Groups: s.groups,
	}
	conv.Weight = newParam(name+".weight", s.out, in.C/s.groups, s.kernel[0], s.kernel[1])
	if s.bias {
		conv.Bias = newParam(name+".bias", s.out)
	}
	return conv
}

func newParam(key string, shape ...int) *Param {
	return &Param{Key: key, DType: "float32", Shape: shape, Learnable: true}
}

func newBatchNorm(name string, in Shape) *BatchNorm {
	return &BatchNorm{
		Node:     Node{Name: name, In: in, Out: in},
		Eps:      1e-5,
		Weight:   newParam(name+".weight", in.C),
		Bias:     newParam(name+".bias", in.C),
		Mean:     &Param{Key: name + ".running_mean", DType: "float32", Shape: []int{in.C}},
		Var:      &Param{Key: name + ".running_var", DType: "float32", Shape: []int{in.C}},
		NumBatch: &Param{Key: name + ".num_batches_tracked", DType: "int64"},
	}
}
