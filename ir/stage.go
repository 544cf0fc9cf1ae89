package ir

import (
	"fmt"

	"github.com/grcc/grcc/parser"
)

// stageKeys are the settings of a stage; in a stages block before the stage
// entries they are defaults for every stage.
var stageKeys = []string{
	"planes", "iterations", "expansion", "groups", "downsample",
	"cell", "gate", "share_weights", "sk", "unused_d_bn_1e",
}

// maxIterations and maxModelIterations bound the iterations of a stage and
// of a whole model. Every iteration becomes layers and state_dict entries, so
// without a bound a short spec could ask for billions of them; the published
// models have at most 22 in a stage and 31 in all.
const (
	maxIterations      = 1000
	maxModelIterations = 10000
)

// stageSettings holds a stage's settings; a nil field was not given.
type stageSettings struct {
	planes, iterations, expansion, groups *int
	downsample, shareWeights, unusedDBN1e *bool
	cell                                  *CellKind
	gate                                  *GateKind
	sk                                    *SKSettings
	skPos                                 parser.Position
}

// read decodes the settings among entries (others are left to the caller).
func (c *checker) readStageSettings(entries []*parser.Entry) stageSettings {
	var s stageSettings
	intp := func(key string, v *parser.Value) *int {
		if n, ok := c.positive(key, v); ok {
			return &n
		}
		return nil
	}
	boolp := func(key string, v *parser.Value) *bool {
		if b, ok := c.boolean(key, v); ok {
			return &b
		}
		return nil
	}
	for _, e := range entries {
		if e.Key == "sk" {
			if body, ok := c.block(e, false); ok {
				s.sk = c.skSettings(e.Pos, body)
				s.skPos = e.Pos
			}
			continue
		}
		if !contains(stageKeys, e.Key) {
			continue
		}
		v, ok := c.setting(e)
		if !ok {
			continue
		}
		switch e.Key {
		case "planes":
			s.planes = intp(e.Key, v)
		case "iterations":
			if s.iterations = intp(e.Key, v); s.iterations != nil && *s.iterations > maxIterations {
				c.errorf(v.Pos, "iterations %d is more than grcc supports (at most %d)", *s.iterations, maxIterations)
				s.iterations = nil
			}
		case "expansion":
			s.expansion = intp(e.Key, v)
		case "groups":
			s.groups = intp(e.Key, v)
		case "downsample":
			s.downsample = boolp(e.Key, v)
		case "share_weights":
			s.shareWeights = boolp(e.Key, v)
		case "unused_d_bn_1e":
			s.unusedDBN1e = boolp(e.Key, v)
		case "cell":
			if w, ok := c.word("cell", v, []string{"bottleneck", "sk"}); ok {
				k := Bottleneck
				if w == "sk" {
					k = SelectiveKernel
				}
				s.cell = &k
			}
		case "gate":
			if w, ok := c.word("gate", v, []string{"sigmoid", "none"}); ok {
				k := SigmoidGate
				if w == "none" {
					k = NoGate
				}
				s.gate = &k
			}
		}
	}
	return s
}

func (c *checker) skSettings(pos parser.Position, entries []*parser.Entry) *SKSettings {
	f := c.fieldSet("sk", entries, []string{"branch", "reduction", "min_width"}, "branch")
	sk := &SKSettings{Reduction: 16, MinWidth: 32}
	errs := len(c.errs)
	for _, e := range entries {
		if e.Key != "branch" {
			continue
		}
		body, ok := c.block(e, false)
		if !ok {
			continue
		}
		branchKeys := []string{"kernel", "dilation"}
		bf := c.fieldSet("branch", body, branchKeys)
		b := SKBranchSpec{Dilation: 1}
		if be := bf["kernel"]; be == nil {
			if !misspelled(body, branchKeys, "kernel") {
				c.errorf(e.Pos, "branch needs kernel = ...")
			}
		} else if v, ok := c.setting(be); ok {
			if b.Kernel, ok = c.positive("kernel", v); ok && b.Kernel%2 == 0 {
				c.errorf(v.Pos, "branch kernel %d must be odd, so that padding keeps the size", b.Kernel)
			}
		}
		if be := bf["dilation"]; be != nil {
			if v, ok := c.setting(be); ok {
				b.Dilation, _ = c.positive("dilation", v)
			}
		}
		sk.Branches = append(sk.Branches, b)
	}
	if e := f["reduction"]; e != nil {
		if v, ok := c.setting(e); ok {
			sk.Reduction, _ = c.positive("reduction", v)
		}
	}
	if e := f["min_width"]; e != nil {
		if v, ok := c.setting(e); ok {
			sk.MinWidth, _ = c.positive("min_width", v)
		}
	}
	if len(sk.Branches) < 2 && len(c.errs) == errs {
		c.errorf(pos, "sk needs two or more branches, got %d", len(sk.Branches))
	}
	if len(c.errs) > errs {
		return nil
	}
	return sk
}

// over returns s with every setting that s lacks taken from defaults.
func (s stageSettings) over(d stageSettings) stageSettings {
	if s.planes == nil {
		s.planes = d.planes
	}
	if s.iterations == nil {
		s.iterations = d.iterations
	}
	if s.expansion == nil {
		s.expansion = d.expansion
	}
	if s.groups == nil {
		s.groups = d.groups
	}
	if s.downsample == nil {
		s.downsample = d.downsample
	}
	if s.shareWeights == nil {
		s.shareWeights = d.shareWeights
	}
	if s.unusedDBN1e == nil {
		s.unusedDBN1e = d.unusedDBN1e
	}
	if s.cell == nil {
		s.cell = d.cell
	}
	if s.gate == nil {
		s.gate = d.gate
	}
	if s.sk == nil {
		s.sk, s.skPos = d.sk, d.skPos
	}
	return s
}

func orInt(p *int, d int) int {
	if p == nil {
		return d
	}
	return *p
}

func orBool(p *bool) bool { return p != nil && *p }

// stages checks the stages block: defaults, then one stage entry per GRCL block.
func (c *checker) stages(e *parser.Entry, in Shape) ([]*Stage, Shape, bool) {
	entries, ok := c.block(e, false)
	if !ok {
		return nil, in, false
	}
	errs := len(c.errs)
	var defaults []*parser.Entry
	var stageEntries []*parser.Entry
	for _, se := range entries {
		if se.Key == "stage" {
			stageEntries = append(stageEntries, se)
			continue
		}
		if len(stageEntries) > 0 && contains(stageKeys, se.Key) {
			c.errorf(se.Pos, "default %q after the first stage; put defaults at the top of the stages block", se.Key)
			continue
		}
		defaults = append(defaults, se)
	}
	c.fieldSet("stages", defaults, append(stageKeys, "stage"))
	d := c.readStageSettings(defaults)
	if len(stageEntries) == 0 {
		c.errorf(e.Pos, "stages has no stage \"name\" { ... }")
	}
	var out []*Stage
	shape := in
	// After the defaults or a stage fail, the later stages' settings are
	// still read, so that their mistakes are reported too, but not their
	// shapes or names, which would depend on what failed.
	failed := len(c.errs) > errs
	total := 0 // iterations so far
	for _, se := range stageEntries {
		body, ok := c.block(se, true)
		if !ok {
			failed = true
			continue
		}
		c.fieldSet(fmt.Sprintf("stage %q", se.Unquoted()), body, stageKeys)
		own := c.readStageSettings(body)
		if failed || len(c.errs) > errs {
			failed = true
			continue
		}
		st := c.stage(se, own, own.over(d), shape)
		if st == nil {
			failed = true
			continue
		}
		if total += st.Iterations; total > maxModelIterations {
			c.errorf(se.Pos, "stage %q: the model has more than %d iterations in all, more than grcc supports", st.Name, maxModelIterations)
			failed = true
			continue
		}
		out = append(out, st)
		shape = st.Out
	}
	if failed {
		return nil, in, false
	}
	return out, shape, true
}

// stage resolves one stage's settings and builds its layers.
func (c *checker) stage(e *parser.Entry, own, s stageSettings, in Shape) *Stage {
	name := e.Unquoted()
	errs := len(c.errs)
	if s.planes == nil {
		c.errorf(e.Pos, "stage %q needs planes = ... (here or as a default)", name)
	}
	if s.iterations == nil {
		c.errorf(e.Pos, "stage %q needs iterations = ... (here or as a default)", name)
	}
	if len(c.errs) > errs {
		return nil
	}
	st := &Stage{
		Name:         name,
		Planes:       *s.planes,
		Iterations:   *s.iterations,
		Expansion:    orInt(s.expansion, 1),
		Groups:       orInt(s.groups, 1),
		ShareWeights: orBool(s.shareWeights),
		In:           in,
	}
	if s.cell != nil {
		st.Cell = *s.cell
	}
	if s.gate != nil {
		st.Gate = *s.gate
	}
	st.Width = st.Planes * st.Expansion
	if st.Cell == SelectiveKernel {
		if s.sk == nil {
			c.errorf(e.Pos, "stage %q has cell = sk but no sk { branch { ... } ... } settings", name)
			return nil
		}
		st.SK = s.sk
	} else if own.sk != nil {
		c.errorf(own.skPos, "stage %q: sk settings on a bottleneck cell; set cell = sk", name)
	}
	downsample := orBool(s.downsample)
	if orBool(own.unusedDBN1e) && !downsample {
		c.errorf(e.Pos, "stage %q: unused_d_bn_1e needs downsample = true", name)
	}
	if !c.claim(name, e.Pos) {
		return nil
	}
	g := st.Groups
	switch {
	case in.C%g != 0:
		c.errorf(e.Pos, "stage %q: input channels %d are not divisible by groups %d", name, in.C, g)
	case st.Width%g != 0:
		c.errorf(e.Pos, "stage %q: width %d (planes %d × expansion %d) is not divisible by groups %d", name, st.Width, st.Planes, st.Expansion, g)
	case st.Cell == SelectiveKernel && st.Planes%g != 0:
		c.errorf(e.Pos, "stage %q: planes %d are not divisible by groups %d", name, st.Planes, g)
	case downsample && (in.H%2 != 0 || in.W%2 != 0):
		c.errorf(e.Pos, "stage %q: downsample halves the size, but the input %dx%d is odd", name, in.H, in.W)
	}
	if len(c.errs) > errs {
		return nil
	}
	c.buildStage(st, downsample, orBool(s.unusedDBN1e))
	if len(c.errs) > errs {
		return nil
	}
	return st
}
