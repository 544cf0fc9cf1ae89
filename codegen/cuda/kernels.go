package cuda

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/grcc/grcc/plan"
)

// family is a kernel family: a device template of families.cuh and the
// parameters of the kernels that bind it (C declarations; the last word is
// the name).
type family struct {
	template string // the device template, e.g. grcc_conv2d
	params   []string
	extra    string // arguments the kernel adds to its parameters in the call
}

// in declares const float* parameters.
func in(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, "const float* "+n)
	}
	return out
}

func params(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// convParams are the parameters of one convolution, without n.
var convParams = params(in("in", "in1", "in2", "in3", "att", "w", "pre_scale", "pre_shift", "scale", "shift",
	"aux0", "aux1"), []string{"float* out"})

// prefixed renames parameters: const float* in → const float* a_in.
func prefixed(prefix string, decls []string) []string {
	var out []string
	for _, d := range decls {
		i := strings.LastIndexAny(d, " *") + 1
		out = append(out, d[:i]+prefix+d[i:])
	}
	return out
}

var (
	convFamily        = &family{"grcc_conv2d", params(convParams, []string{"int n"}), "blockIdx.x, blockIdx.y"}
	convPairFamily    = &family{"grcc_conv2d_pair", params(prefixed("a_", convParams), prefixed("b_", convParams), []string{"int n"}), ""}
	poolFamily        = &family{"grcc_pool2d", params(in("in", "pre_scale", "pre_shift"), []string{"float* out", "int n"}), ""}
	meanFamily        = &family{"grcc_channel_mean", params(in("in", "pre_scale", "pre_shift"), []string{"float* out", "int n"}), ""}
	skAttentionFamily = &family{"grcc_sk_attention", params(in("in0", "in1", "in2", "in3", "w1", "scale1", "shift1", "w2t"),
		[]string{"float* s", "float* att", "int* counter", "int n"}), ""}
	skApplyFamily = &family{"grcc_sk_apply", params(in("att", "in0", "in1", "in2", "in3"), []string{"float* out", "int n"}), ""}
	eltFamily     = &family{"grcc_eltwise", params(in("a", "b", "c", "scale", "shift"), []string{"float* out", "int n"}), ""}
)

// paramName is the name in a parameter declaration.
func paramName(decl string) string {
	f := strings.Fields(decl)
	return strings.TrimLeft(f[len(f)-1], "*")
}

// konst is one compile-time constant of a kernel's config.
type konst struct {
	name  string
	value any // int or bool
}

// kernel is one __global__ function of kernels.cu: a family bound to
// constants. Ops with equal configs share a kernel.
type kernel struct {
	name    string
	family  *family
	threads int
	// cfgs are the config structs the family's template takes (two for a
	// pair of convolutions), each a list of rows of constants.
	cfgs  [][][]konst
	users []*op // the ops it runs, in program order
	key   string
}

// tile is a conv2d blocking: BM output channels × BN pixels per block, BK
// of the reduction per shared-memory stage, TM×TN outputs per thread.
type tile struct{ bm, bn, bk, tm, tn int }

func (t tile) threads() int { return (t.bm / t.tm) * (t.bn / t.tn) }

// smem is the static shared memory of grcc_conv2d with this tile, in bytes.
func (t tile) smem() int { return 4 * (2*t.bk*(t.bm+1) + 2*t.bk*t.bn) }

// pickTile chooses a blocking for a convolution with mg output channels per
// group, hwo output pixels per image and a reduction of k: tall tiles when
// there are many channels, wide when few (grouped convolutions), and
// smaller blocks for small images so that batch-1 grids still fill the GPU.
// Blocks have 256 threads for large images and 128 for small ones (and for
// 4 or fewer channels per group), so that two convolutions on one input
// size can share a launch.
func pickTile(mg, hwo, k int) tile {
	large := hwo >= 28*28
	var t tile
	switch {
	case mg >= 128 && large:
		t = tile{128, 64, 16, 8, 4}
	case mg >= 64 && large:
		t = tile{64, 64, 16, 4, 4}
	case mg >= 64:
		t = tile{64, 32, 16, 4, 4}
	case mg >= 32 && large:
		t = tile{32, 128, 16, 4, 4}
	case mg >= 32:
		t = tile{32, 64, 16, 4, 4}
	case mg >= 16 && large:
		t = tile{16, 128, 16, 2, 4}
	case mg >= 16:
		t = tile{16, 64, 16, 2, 4}
	case mg >= 8 && large:
		t = tile{8, 128, 16, 1, 4}
	case mg >= 8:
		t = tile{8, 64, 16, 1, 4}
	default:
		t = tile{4, 128, 16, 1, 4} // 128 threads, so that SK branches pair up
	}
	if k < 16 {
		t.bk = 8
	}
	return t
}

func cdiv(a, b int) int { return (a + b - 1) / b }

// floorPow2 is the largest power of two ≤ n (1 for n < 1).
func floorPow2(n int) int {
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

// dim is one grid dimension: ceil(batch·perImage/size) blocks, or size
// blocks when perImage is 0.
type dim struct{ perImage, size int }

func fixed(n int) dim { return dim{0, n} }

var batchDim = dim{1, 1}

// eval is the dimension for a batch.
func (d dim) eval(batch int) int {
	if d.perImage == 0 {
		return d.size
	}
	return cdiv(batch*d.perImage, d.size)
}

// config gives the family, block size, grid and constants of an op's kernel.
func (o *op) config() (f *family, threads int, grid [3]dim, cfgs [][][]konst) {
	if o.pair != nil {
		_, ta, ga, ca := o.single()
		_, _, gb, cb := o.single2()
		x := ga[0]
		if gb[0].perImage*x.size > x.perImage*gb[0].size { // the wider grid
			x = gb[0]
		}
		return convPairFamily, ta, [3]dim{x, fixed(ga[1].size + gb[1].size), fixed(1)}, [][][]konst{ca, cb}
	}
	f, threads, grid, consts := o.single()
	return f, threads, grid, [][][]konst{consts}
}

// single2 is the config of the second convolution of a pair.
func (o *op) single2() (*family, int, [3]dim, [][]konst) { return o.pair.single() }

// convTile is the blocking of a convolution op.
func (o *op) convTile() tile {
	if o.tile != nil {
		return *o.tile
	}
	if c := o.conv; c != nil {
		return pickTile(c.Out.C/c.Groups, c.Out.H*c.Out.W, c.In.C/c.Groups*c.KH*c.KW)
	}
	return pickTile(o.linear.OutFeatures, 1, o.linear.InFeatures)
}

// single is the config of an op that is not a pair.
func (o *op) single() (f *family, threads int, grid [3]dim, consts [][]konst) {
	const T = 256
	pre := func() []konst {
		return []konst{{"PRE", o.pre != nil}, {"PRE_RELU", o.preRelu}}
	}
	switch o.kind {
	case opConv:
		var cin, h, w, cout, ho, wo, groups int
		kh, kw, sh, sw, ph, pw, dh, dw := 1, 1, 1, 1, 0, 0, 1, 1
		if c := o.conv; c != nil {
			cin, h, w, cout, ho, wo, groups = c.In.C, c.In.H, c.In.W, c.Out.C, c.Out.H, c.Out.W, c.Groups
			kh, kw, sh, sw, ph, pw, dh, dw = c.KH, c.KW, c.StrideH, c.StrideW, c.PadH, c.PadW, c.DilH, c.DilW
		} else {
			cin, h, w, cout, ho, wo, groups = o.linear.InFeatures, 1, 1, o.linear.OutFeatures, 1, 1, 1
		}
		xh, xw, pkh, pkw, psh, psw, pph, ppw := h, w, 1, 1, 1, 1, 0, 0
		if p := o.pool; p != nil {
			xh, xw, pkh, pkw, psh, psw, pph, ppw = p.In.H, p.In.W, p.KH, p.KW, p.StrideH, p.StrideW, p.PadH, p.PadW
		}
		mg := cout / groups
		t := o.convTile()
		hasBias := o.conv != nil && o.conv.Bias != nil || o.linear != nil && o.linear.Bias != nil
		consts = [][]konst{
			{{"CIN", cin}, {"H", h}, {"W", w}, {"COUT", cout}, {"HO", ho}, {"WO", wo}, {"GROUPS", groups}},
			{{"KH", kh}, {"KW", kw}, {"SH", sh}, {"SW", sw}, {"PH", ph}, {"PW", pw}, {"DH", dh}, {"DW", dw}},
			{{"POOL", o.pool != nil}, {"XH", xh}, {"XW", xw}, {"PKH", pkh}, {"PKW", pkw}, {"PSH", psh}, {"PSW", psw}, {"PPH", pph}, {"PPW", ppw}},
			append(pre(), konst{"MIX", o.mix}, konst{"SCALE", o.bn != nil}, konst{"SHIFT", o.bn != nil || hasBias}, konst{"RELU", o.relu}),
			{{"EPI", []string{"EPI_NONE", "EPI_GATE", "EPI_RESIDUAL", "EPI_ADD"}[o.epi]}},
			{{"BM", t.bm}, {"BN", t.bn}, {"BK", t.bk}, {"TM", t.tm}, {"TN", t.tn}, {"THREADS", t.threads()}},
		}
		grid = [3]dim{{ho * wo, t.bn}, fixed(groups * cdiv(mg, t.bm)), fixed(1)}
		return convFamily, t.threads(), grid, consts
	case opPool:
		p := o.pool
		consts = [][]konst{
			{{"C", p.In.C}, {"H", p.In.H}, {"W", p.In.W}, {"HO", p.Out.H}, {"WO", p.Out.W}},
			{{"KH", p.KH}, {"KW", p.KW}, {"SH", p.StrideH}, {"SW", p.StrideW}, {"PH", p.PadH}, {"PW", p.PadW}},
			append([]konst{{"MAX", p.Max}}, pre()...),
			{{"THREADS", T}},
		}
		return poolFamily, T, [3]dim{fixed(cdiv(p.Out.Len(), T)), batchDim, fixed(1)}, consts
	case opMean:
		in := o.in[0].Shape
		hw := in.H * in.W
		tpc := min(T, floorPow2(hw))
		cpb := T / tpc
		consts = [][]konst{
			append([]konst{{"C", in.C}, {"HW", hw}}, pre()...),
			{{"TPC", tpc}, {"CPB", cpb}, {"THREADS", T}},
		}
		return meanFamily, T, [3]dim{fixed(cdiv(in.C, cpb)), batchDim, fixed(1)}, consts
	case opSKAttention:
		in := o.in[0].Shape
		hw := in.H * in.W
		tpc := min(T, floorPow2(hw))
		cpb := T / tpc
		consts = [][]konst{
			{{"C", in.C}, {"HW", hw}, {"M", len(o.in)}, {"D", o.sk.Width}},
			{{"TPC", tpc}, {"CPB", cpb}, {"THREADS", T}},
		}
		return skAttentionFamily, T, [3]dim{fixed(cdiv(in.C, cpb)), batchDim, fixed(1)}, consts
	case opSKApply:
		s := o.out.Shape
		consts = [][]konst{
			{{"C", s.C}, {"HW", s.H * s.W}, {"M", len(o.in) - 1}},
			{{"THREADS", T}},
		}
		return skApplyFamily, T, [3]dim{fixed(cdiv(s.Len(), T)), batchDim, fixed(1)}, consts
	case opElt:
		s := o.out.Shape
		opName := map[plan.Kind]string{plan.ScaleShift: "OP_SCALESHIFT", plan.ReLU: "OP_RELU", plan.Add: "OP_ADD",
			plan.Gate: "OP_GATE", plan.Residual: "OP_RESIDUAL"}[o.elt]
		consts = [][]konst{
			{{"C", s.C}, {"HW", s.H * s.W}, {"OP", opName}, {"RELU", o.relu}},
			{{"THREADS", T}},
		}
		return eltFamily, T, [3]dim{fixed(cdiv(s.Len(), T)), batchDim, fixed(1)}, consts
	}
	panic(fmt.Sprintf("cuda: op kind %d", o.kind))
}

// configKey identifies a config: ops with equal keys share a kernel.
func configKey(f *family, cfgs [][][]konst) string {
	var b strings.Builder
	b.WriteString(f.template)
	for i, cfg := range cfgs {
		fmt.Fprintf(&b, " cfg%d", i)
		for _, row := range cfg {
			for _, k := range row {
				fmt.Fprintf(&b, " %s=%v", k.name, k.value)
			}
		}
	}
	return b.String()
}

// identifier turns a checkpoint name into a C identifier that cannot clash
// with the families' names: layer1.iter_2.5 → layer1_iter_2_5.
func identifier(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' || strings.HasPrefix(s, "grcc_") || strings.HasPrefix(s, "GRCC_") || cKeywords[s] {
		s = "k_" + s
	}
	return s
}

var cKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`alignas alignof and asm auto bool break case catch char class const
		constexpr continue default delete do double else enum explicit extern false float for friend goto if
		inline int long namespace new not operator or private protected public register return short signed
		sizeof static struct switch template this throw true try typedef typename union unsigned using virtual
		void volatile while dim3 min max main n in out w`) {
		cKeywords[k] = true
	}
}

// paramNames maps each family's parameter names, which kernel names must not shadow.
func init() {
	for _, f := range []*family{convFamily, convPairFamily, poolFamily, meanFamily, skAttentionFamily, skApplyFamily, eltFamily} {
		for _, p := range f.params {
			cKeywords[paramName(p)] = true
		}
	}
}

// cfgSuffix matches the names of config structs, which kernels must not take.
var cfgSuffix = regexp.MustCompile(`_(a_|b_)?cfg$`)

// pairName names a pair of layers by the first and what differs in the
// second: layer1.conv_f, layer1.conv_g_f → layer1.conv_f_and_g_f.
func pairName(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	for i > 0 && a[i-1] != '.' && a[i-1] != '_' { // back to a separator
		i--
	}
	return a + "_and_" + b[i:]
}

// kernelsOf groups the ops into kernels, named after their first user.
func kernelsOf(ops []*op) ([]*kernel, map[*op]*kernel) {
	var list []*kernel
	byKey := map[string]*kernel{}
	of := map[*op]*kernel{}
	taken := map[string]bool{}
	for _, o := range ops {
		f, threads, _, cfgs := o.config()
		key := configKey(f, cfgs)
		k := byKey[key]
		if k == nil {
			name := identifier(o.name)
			if o.pair != nil {
				name = identifier(pairName(o.name, o.pair.name))
			}
			for base, i := name, 2; taken[name] || cfgSuffix.MatchString(name); i++ {
				name = fmt.Sprintf("%s_%d", base, i)
			}
			taken[name] = true
			k = &kernel{name: name, family: f, threads: threads, cfgs: cfgs, key: key}
			byKey[key] = k
			list = append(list, k)
		}
		k.users = append(k.users, o)
		of[o] = k
	}
	return list, of
}
