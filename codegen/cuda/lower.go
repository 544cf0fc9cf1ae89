package cuda

import (
	"fmt"
	"sort"
	"strings"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

// opKind is the kernel family an op runs on.
type opKind int

const (
	opConv        opKind = iota // grcc_conv2d: convolutions and Linear layers
	opPool                      // grcc_pool2d: max and average pools
	opMean                      // grcc_channel_mean: global average pools
	opSKAttention               // grcc_sk_attention: selective-kernel attention
	opSKApply                   // grcc_sk_apply: branches weighted by attention
	opElt                       // grcc_eltwise: what no fusion absorbed
)

// epilogue is what conv2d does with each result after scale, shift and ReLU.
type epilogue int

const (
	epiNone     epilogue = iota // out = v
	epiGate                     // out += v·sigmoid(aux0 + aux1)
	epiResidual                 // out += v
	epiAdd                      // out = v + aux0
)

// op is one kernel launch: one or more steps of the program.
type op struct {
	kind  opKind
	name  string       // the checkpoint name the kernel is named after
	steps []*plan.Step // the program's steps it computes
	in    []*plan.Value
	aux   []*plan.Value // conv epilogue operands: g and x_g of a gate, or the addend
	att   *plan.Value   // conv prologue: the attention mixing the inputs (mix of them)
	out   *plan.Value
	// scratch is a second output that lives only during the op (the
	// channel means of grcc_sk_attention).
	scratch *plan.Value
	// inPlace: out is read and updated (the gate update of x_s).
	inPlace bool

	conv    *ir.Conv
	linear  *ir.Linear
	mix     int           // opConv: inputs mixed by att while loading
	pre     *ir.BatchNorm // BatchNorm applied to each input element read
	preRelu bool          // ReLU after pre
	pool    *ir.Pool      // opPool: the pool; opConv: an average pool of the input
	bn      *ir.BatchNorm // folded into the conv epilogue, or the ScaleShift of an opElt
	relu    bool
	epi     epilogue
	sk      *ir.SKConv
	elt     plan.Kind // opElt: ScaleShift, ReLU, Add, Gate or Residual
	// pair is a second, independent convolution run by the same launch.
	pair *op
	// tile overrides pickTile's blocking (set by pair-convs).
	tile *tile
}

// reads lists the values the op reads.
func (o *op) reads() []*plan.Value {
	r := append(append([]*plan.Value(nil), o.in...), o.aux...)
	if o.att != nil {
		r = append(r, o.att)
	}
	if o.inPlace {
		r = append(r, o.out)
	}
	if o.pair != nil {
		r = append(r, o.pair.reads()...)
	}
	return r
}

// lowering is the CUDA target's view of a program: the ops, and the buffer
// each value lives in.
type lowering struct {
	p      *plan.Program
	ops    []*op
	nextID int
	// buffer maps values to buffers (plan.InputBuffer and plan.OutputBuffer
	// for the caller's); sizes holds the floats per image of each buffer.
	buffer map[*plan.Value]int
	sizes  []int
}

// cudaPass is one transformation of the op list, beyond the plan's fusions.
type cudaPass struct {
	name, why string
	run       func(*lowering)
}

// cudaPasses run in order after the program's steps become ops. Buffers are
// planned after them, since fusing changes lifetimes.
var cudaPasses = []cudaPass{
	{"activation-into-pool", "a pool applies the BatchNorm+ReLU before it to each element it reads (the head's lastact)", activationIntoPool},
	{"pool-into-conv", "a 1×1 convolution averages its input while loading it (the downsample's avgpool path)", poolIntoConv},
	{"add-into-conv", "the downsample's a + b is the epilogue of the convolution producing b", addIntoConv},
	{"sk-apply-into-conv", "the 1×1 convolution after a selective-kernel convolution mixes the branches by their attention while loading them", skApplyIntoConv},
	{"pair-convs", "two convolutions in a row that do not read each other's output share a launch (conv_f and conv_g_f, conv_g_r and the cell's first, the SK branches)", pairConvs},
}

func newValue(l *lowering, s ir.Shape) *plan.Value {
	l.nextID++
	return &plan.Value{ID: l.nextID, Shape: s, Buffer: -1}
}

// lower turns the program's steps into ops, runs the passes and plans buffers.
func lower(p *plan.Program) (*lowering, error) {
	l := &lowering{p: p, nextID: len(p.Values)}
	for _, v := range p.Values {
		l.nextID = max(l.nextID, v.ID)
	}
	counter := map[string]int{}
	unnamed := func(kind string) string {
		counter[kind]++
		return fmt.Sprintf("%s%d", kind, counter[kind])
	}
	for _, s := range p.Steps {
		o := &op{steps: []*plan.Step{s}, in: append([]*plan.Value(nil), s.In...), out: s.Out, name: s.Name}
		switch s.Kind {
		case plan.Conv:
			if s.GateConv != nil {
				return nil, fmt.Errorf("step %s runs its gate convolution %s in its update, which the CUDA kernels do not; build the program with Fusions or NoGateConv", s.Name, s.GateConv.Name)
			}
			o.kind, o.conv, o.bn, o.relu = opConv, s.Conv, s.BN, s.Relu
			if s.Pre != nil {
				o.pre, o.preRelu = s.Pre, true
			}
			if g := s.GateOut; g != nil {
				o.steps = append(o.steps, g)
				o.out, o.inPlace = g.Out, true
				if g.Kind == plan.Gate {
					o.epi, o.aux = epiGate, []*plan.Value{g.In[2], g.In[3]}
				} else {
					o.epi = epiResidual
				}
			}
		case plan.Linear:
			o.kind, o.linear = opConv, s.Linear
		case plan.ScaleShift:
			o.kind, o.elt, o.bn, o.relu = opElt, s.Kind, s.BN, s.Relu
		case plan.ReLU, plan.Add:
			o.kind, o.elt = opElt, s.Kind
			if o.name == "" {
				o.name = unnamed(s.Kind.String())
			}
		case plan.Gate, plan.Residual:
			o.kind, o.elt, o.inPlace = opElt, s.Kind, true
			o.in = []*plan.Value{s.In[1]}
			if s.Kind == plan.Gate {
				o.in = append(o.in, s.In[2], s.In[3])
			}
		case plan.MaxPool, plan.AvgPool:
			o.kind, o.pool = opPool, s.Pool
			if isGlobal(s.Pool) {
				o.kind = opMean
			}
			o.name = unnamed(s.Kind.String())
		case plan.GlobalAvgPool:
			o.kind = opMean
			o.name = unnamed(s.Kind.String())
		case plan.SKAttention:
			if len(s.In) > 4 {
				return nil, fmt.Errorf("%s: %d selective-kernel branches; the cuda target supports up to 4", s.Name, len(s.In))
			}
			if s.SK.FC2.Bias != nil || s.SK.FC1.Groups != 1 || s.SK.FC2.Groups != 1 {
				return nil, fmt.Errorf("%s: grouped or biased fc2 is not supported by the cuda target", s.Name)
			}
			c := s.Out.Shape.C
			att := newValue(l, ir.Shape{C: c * len(s.In), H: 1, W: 1})
			l.ops = append(l.ops, &op{kind: opSKAttention, name: s.Name + ".attention", steps: o.steps, in: o.in, out: att,
				scratch: newValue(l, ir.Shape{C: c, H: 1, W: 1}), sk: s.SK})
			o.kind, o.sk, o.name = opSKApply, s.SK, s.Name+".apply"
			o.in = append([]*plan.Value{att}, o.in...)
		default:
			return nil, fmt.Errorf("step %s: the cuda target has no kernel for %s", s, s.Kind)
		}
		l.ops = append(l.ops, o)
	}
	for _, pass := range cudaPasses {
		pass.run(l)
	}
	l.planBuffers()
	if err := l.verify(); err != nil {
		return nil, fmt.Errorf("cuda lowering: %w", err)
	}
	return l, nil
}

// isGlobal reports whether a pool reduces each channel to one value over a
// window that is exactly the input, which channel_mean does better.
func isGlobal(p *ir.Pool) bool {
	return !p.Max && p.Out.H == 1 && p.Out.W == 1 && p.KH == p.In.H && p.KW == p.In.W && p.PadH == 0 && p.PadW == 0
}

// uses counts the ops reading each value; the program's output counts once.
func (l *lowering) uses() map[*plan.Value]int {
	n := map[*plan.Value]int{l.p.Output: 1}
	for _, o := range l.ops {
		for _, v := range o.reads() {
			n[v]++
		}
	}
	return n
}

// producer finds the op that last writes v before op index i, and its index.
func (l *lowering) producer(v *plan.Value, i int) (*op, int) {
	for k := i - 1; k >= 0; k-- {
		if l.ops[k].out == v {
			return l.ops[k], k
		}
	}
	return nil, -1
}

// unchanged reports whether no op between indices from and to (exclusive)
// writes v, so that reading it at to sees what from saw.
func (l *lowering) unchanged(v *plan.Value, from, to int) bool {
	for _, o := range l.ops[from+1 : to] {
		if o.out == v {
			return false
		}
	}
	return true
}

func (l *lowering) remove(drop map[*op]bool) {
	out := l.ops[:0]
	for _, o := range l.ops {
		if !drop[o] {
			out = append(out, o)
		}
	}
	l.ops = out
}

// activationIntoPool folds a ScaleShift (and its ReLU) read only by a pool
// into the pool's loads.
func activationIntoPool(l *lowering) {
	uses := l.uses()
	drop := map[*op]bool{}
	for i, o := range l.ops {
		if (o.kind != opPool && o.kind != opMean) || len(o.in) != 1 || o.pre != nil {
			continue
		}
		s, si := l.producer(o.in[0], i)
		if s == nil || drop[s] || s.kind != opElt || s.elt != plan.ScaleShift || uses[o.in[0]] != 1 || !l.unchanged(s.in[0], si, i) {
			continue
		}
		o.pre, o.preRelu, o.in[0] = s.bn, s.relu, s.in[0]
		o.steps = append(append([]*plan.Step(nil), s.steps...), o.steps...)
		o.name = s.name
		drop[s] = true
	}
	l.remove(drop)
}

// poolIntoConv folds an average pool without padding (and what the pool
// absorbed) read only by a 1×1 convolution into the convolution's loads.
func poolIntoConv(l *lowering) {
	uses := l.uses()
	drop := map[*op]bool{}
	for i, o := range l.ops {
		if o.kind != opConv || o.conv == nil || !o.conv.Is1x1() || o.pre != nil || o.pool != nil {
			continue
		}
		p, pi := l.producer(o.in[0], i)
		if p == nil || drop[p] || p.kind != opPool || p.pool.Max || p.pool.PadH != 0 || p.pool.PadW != 0 || uses[o.in[0]] != 1 || !l.unchanged(p.in[0], pi, i) {
			continue
		}
		o.pool, o.pre, o.preRelu, o.in[0] = p.pool, p.pre, p.preRelu, p.in[0]
		o.steps = append(append([]*plan.Step(nil), p.steps...), o.steps...)
		drop[p] = true
	}
	l.remove(drop)
}

// addIntoConv makes an Add the epilogue of the convolution producing one
// operand when the other is ready by then.
func addIntoConv(l *lowering) {
	uses := l.uses()
	drop := map[*op]bool{}
	for i, o := range l.ops {
		if o.kind != opElt || o.elt != plan.Add {
			continue
		}
		for k := 1; k >= 0; k-- {
			v, other := o.in[k], o.in[1-k]
			c, ci := l.producer(v, i)
			if c == nil || drop[c] || c.kind != opConv || c.epi != epiNone || uses[v] != 1 {
				continue
			}
			if _, oi := l.producer(other, i); oi >= ci || oi < 0 && other != l.p.Input {
				continue // other is not ready when c runs, or changes after
			}
			c.epi, c.aux, c.out = epiAdd, []*plan.Value{other}, o.out
			c.steps = append(c.steps, o.steps...)
			drop[o] = true
			break
		}
	}
	l.remove(drop)
}

// skApplyIntoConv folds the weighting of a selective-kernel convolution's
// branches into the loads of the 1×1 convolution reading its output.
func skApplyIntoConv(l *lowering) {
	uses := l.uses()
	drop := map[*op]bool{}
	for i, o := range l.ops {
		if o.kind != opConv || o.conv == nil || !o.conv.Is1x1() || o.pre != nil || o.pool != nil || o.mix > 0 {
			continue
		}
		a, ai := l.producer(o.in[0], i)
		if a == nil || drop[a] || a.kind != opSKApply || uses[o.in[0]] != 1 {
			continue
		}
		ok := true
		for _, v := range a.in {
			ok = ok && l.unchanged(v, ai, i)
		}
		if !ok {
			continue
		}
		o.att, o.in, o.mix = a.in[0], append([]*plan.Value(nil), a.in[1:]...), len(a.in)-1
		o.steps = append(append([]*plan.Step(nil), a.steps...), o.steps...)
		drop[a] = true
	}
	l.remove(drop)
}

// maxSharedMemory is the static shared memory a kernel may declare.
const maxSharedMemory = 48 << 10

// pairConvs merges each convolution with the next op when that is an
// independent convolution with the same block size, and both tiles fit in
// shared memory together.
func pairConvs(l *lowering) {
	drop := map[*op]bool{}
	for i := 0; i+1 < len(l.ops); i++ {
		a, b := l.ops[i], l.ops[i+1]
		if a.kind != opConv || b.kind != opConv || a.pair != nil || b.pair != nil || drop[a] {
			continue
		}
		ta, tb := a.convTile(), b.convTile()
		if ta.threads() != tb.threads() || !independent(a, b) {
			continue
		}
		if ta.smem()+tb.smem() > maxSharedMemory {
			// Halve the reduction step of both: more barriers, half the memory.
			ta.bk, tb.bk = 8, 8
			if ta.smem()+tb.smem() > maxSharedMemory {
				continue
			}
			a.tile, b.tile = &ta, &tb
		}
		a.pair = b
		drop[b] = true
		i++
	}
	l.remove(drop)
}

// independent reports whether two ops can run at the same time: neither
// writes what the other reads or writes.
func independent(a, b *op) bool {
	touches := func(vs []*plan.Value, x *op) bool {
		for _, v := range vs {
			for _, w := range append(x.reads(), x.outs()...) {
				if v == w {
					return true
				}
			}
		}
		return false
	}
	return !touches(a.outs(), b) && !touches(b.outs(), a)
}

// outs lists the values an op writes.
func (o *op) outs() []*plan.Value {
	out := []*plan.Value{o.out}
	if o.scratch != nil {
		out = append(out, o.scratch)
	}
	if o.pair != nil {
		out = append(out, o.pair.outs()...)
	}
	return out
}

// planBuffers assigns values to buffers as the plan-buffers pass does, for
// the op list: a value takes the smallest free buffer that fits (or grows
// the largest free one) when first written, and frees it after its last
// reader. An op's output never shares a buffer with its inputs, except for
// in-place updates.
func (l *lowering) planBuffers() {
	last := map[*plan.Value]int{}
	for i, o := range l.ops {
		for _, v := range o.reads() {
			last[v] = i
		}
		for _, v := range o.outs() {
			last[v] = max(last[v], i)
		}
	}
	last[l.p.Output] = len(l.ops)
	l.buffer = map[*plan.Value]int{l.p.Input: plan.InputBuffer, l.p.Output: plan.OutputBuffer}
	l.sizes = nil
	var free []int
	var live []*plan.Value
	for i, o := range l.ops {
		kept := live[:0]
		for _, v := range live {
			if last[v] < i {
				free = append(free, l.buffer[v])
			} else {
				kept = append(kept, v)
			}
		}
		live = kept
		sort.Ints(free)
		for _, out := range o.outs() {
			if _, ok := l.buffer[out]; ok {
				continue
			}
			need := out.Shape.Len()
			best := -1
			for k, b := range free {
				if l.sizes[b] >= need && (best < 0 || l.sizes[b] < l.sizes[free[best]]) {
					best = k
				}
			}
			if best < 0 {
				for k, b := range free {
					if best < 0 || l.sizes[b] > l.sizes[free[best]] {
						best = k
					}
				}
			}
			if best >= 0 {
				b := free[best]
				free = append(free[:best], free[best+1:]...)
				l.sizes[b] = max(l.sizes[b], need)
				l.buffer[out] = b
			} else {
				l.buffer[out] = len(l.sizes)
				l.sizes = append(l.sizes, need)
			}
			live = append(live, out)
		}
	}
}

// verify checks the op list: every value is written before it is read, and
// no two values live at the same time share a buffer.
func (l *lowering) verify() error {
	first := map[*plan.Value]int{l.p.Input: -1}
	lastUse := map[*plan.Value]int{l.p.Input: -1}
	for i, o := range l.ops {
		for _, v := range o.reads() {
			if _, ok := first[v]; !ok {
				return fmt.Errorf("op %d (%s) reads %s before it is written", i, o.name, v)
			}
			lastUse[v] = i
		}
		for _, out := range o.outs() {
			if _, ok := first[out]; !ok {
				first[out] = i
			}
			lastUse[out] = max(lastUse[out], i)
			for _, v := range append(o.reads(), o.outs()...) {
				if v != out && l.buffer[v] == l.buffer[out] {
					return fmt.Errorf("op %d (%s) writes %s into the buffer of %s", i, o.name, out, v)
				}
			}
		}
	}
	if _, ok := first[l.p.Output]; !ok {
		return fmt.Errorf("output %s is never written", l.p.Output)
	}
	byBuffer := map[int][]*plan.Value{}
	for v := range first {
		b, ok := l.buffer[v]
		if !ok {
			return fmt.Errorf("%s has no buffer", v)
		}
		if b >= 0 {
			if v.Shape.Len() > l.sizes[b] {
				return fmt.Errorf("%s needs %d floats, buffer %d has %d", v, v.Shape.Len(), b, l.sizes[b])
			}
			byBuffer[b] = append(byBuffer[b], v)
		}
	}
	for b, vs := range byBuffer {
		for i, x := range vs {
			for _, y := range vs[i+1:] {
				if first[x] <= lastUse[y] && first[y] <= lastUse[x] {
					return fmt.Errorf("%s and %s are live together in buffer %d", x, y, b)
				}
			}
		}
	}
	return nil
}

// describe says in one line what an op computes, for comments.
func (o *op) describe() string {
	if o.pair != nil {
		a := *o
		a.pair = nil
		return a.describe() + "; and " + o.pair.describe()
	}
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	switch o.kind {
	case opConv:
		if o.pre != nil {
			add("%s%s on the input", o.pre.Name, reluSuffix(o.preRelu))
		}
		if o.pool != nil {
			add("avgpool %dx%d/%d of the input", o.pool.KH, o.pool.KW, o.pool.StrideH)
		}
		if o.mix > 0 {
			add("%s's %d branches mixed by attention on the input", o.steps[0].Name, o.mix)
		}
		if c := o.conv; c != nil {
			g := ""
			if c.Groups > 1 {
				g = fmt.Sprintf(" groups %d", c.Groups)
			}
			d := ""
			if c.DilH > 1 || c.DilW > 1 {
				d = fmt.Sprintf(" dilation %d", c.DilH)
			}
			add("conv %s %dx%d/%d pad %d%s%s %s→%s", c.Name, c.KH, c.KW, c.StrideH, c.PadH, d, g, c.In, c.Out)
			if c.Bias != nil {
				add("bias")
			}
		} else {
			add("linear %s %d→%d", o.linear.Name, o.linear.InFeatures, o.linear.OutFeatures)
			if o.linear.Bias != nil {
				add("bias")
			}
		}
		if o.bn != nil {
			add("%s folded", o.bn.Name)
		}
		if o.relu {
			add("ReLU")
		}
		switch o.epi {
		case epiGate:
			add("gate %s: x_s += r·sigmoid(g + x_g)", o.steps[len(o.steps)-1].Name)
		case epiResidual:
			add("update %s: x_s += r", o.steps[len(o.steps)-1].Name)
		case epiAdd:
			add("+ the other operand of %s", o.steps[len(o.steps)-1].Name)
		}
	case opPool, opMean:
		if o.pre != nil {
			add("%s%s", o.pre.Name, reluSuffix(o.preRelu))
		}
		switch {
		case o.pool == nil:
			add("global average pool %s→%s", o.in[0].Shape, o.out.Shape)
		default:
			kind := "avgpool"
			if o.pool.Max {
				kind = "maxpool"
			}
			add("%s %dx%d/%d pad %d %s→%s", kind, o.pool.KH, o.pool.KW, o.pool.StrideH, o.pool.PadH, o.pool.In, o.pool.Out)
		}
	case opSKAttention:
		add("attention of %s: s = channel means of Σ %d branches %s, softmax over branches of fc2·relu(%s(fc1·s))",
			o.sk.Name, len(o.in), o.in[0].Shape, o.sk.FC1BN.Name)
	case opSKApply:
		add("%s: Σ_m attention_m · branch_m, %s", o.sk.Name, o.out.Shape)
	case opElt:
		switch o.elt {
		case plan.ScaleShift:
			add("BatchNorm %s%s, %s", o.bn.Name, reluSuffix(o.relu), o.out.Shape)
		case plan.ReLU:
			add("ReLU %s", o.out.Shape)
		case plan.Add:
			add("add %s", o.out.Shape)
		case plan.Gate:
			add("gate %s: x_s += r·sigmoid(g + x_g)", o.name)
		case plan.Residual:
			add("update %s: x_s += r", o.name)
		}
	}
	return strings.Join(parts, ", ")
}

func reluSuffix(relu bool) string {
	if relu {
		return "+ReLU"
	}
	return ""
}
