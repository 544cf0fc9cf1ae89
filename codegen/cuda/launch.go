package cuda

import (
	"fmt"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

// constKind says how a device array is made from the checkpoint.
type constKind int

const (
	constParam      constKind = iota // a state_dict entry as it is
	constScale                       // a folded BatchNorm's scale γ/√(σ²+ε)
	constShift                       // a folded BatchNorm's shift β − μ·scale, plus scale·bias
	constTransposed                  // a state_dict entry of rows × (len/rows) as (len/rows) × rows
)

// constant is a device array computed once from the weights. Indices are
// positions in ir.Model.Params; -1 is absent.
type constant struct {
	kind constKind
	// param (constParam, constTransposed), or the BatchNorm's weight, bias,
	// mean and var, and the preceding convolution's bias (constScale,
	// constShift).
	p    [5]int
	eps  float64
	len  int
	rows int    // constTransposed
	key  string // identifies it, for sharing
	what string // what it is, for comments
}

// argKind says what a kernel argument is.
type argKind int

const (
	argValue   argKind = iota // an activation: a buffer, the input or the output
	argConst                  // a device array of weights
	argNull                   // a parameter the kernel's config does not use
	argBatch                  // the batch size
	argCounter                // the per-image tickets of grcc_sk_attention (batch ints, zero between launches)
)

type arg struct {
	kind  argKind
	value *plan.Value
	c     int // argConst: index into the constants
}

// launch is one kernel launch of the forward pass. cuda.go and the CPU host
// driver are both generated from the same launch list.
type launch struct {
	op     *op
	kernel *kernel
	grid   [3]dim
	block  int
	args   []arg
}

// launchList is everything the launch code needs.
type launchList struct {
	l        *lowering
	kernels  []*kernel
	consts   []constant
	launches []launch
	index    map[*ir.Param]int
	byKey    map[string]int
}

// root is the entry whose tensor a shared entry holds.
func root(p *ir.Param) *ir.Param {
	for p.SharedWith != nil {
		p = p.SharedWith
	}
	return p
}

func buildLaunches(l *lowering) (*launchList, error) {
	m := l.p.Model
	ll := &launchList{l: l, index: map[*ir.Param]int{}, byKey: map[string]int{}}
	for i, p := range m.Params {
		ll.index[p] = i
	}
	var of map[*op]*kernel
	ll.kernels, of = kernelsOf(l.ops)
	for _, o := range l.ops {
		_, threads, grid, _ := o.config()
		args, err := ll.args(o)
		if err != nil {
			return nil, err
		}
		ll.launches = append(ll.launches, launch{op: o, kernel: of[o], grid: grid, block: threads, args: args})
	}
	return ll, nil
}

func (ll *launchList) add(c constant) arg {
	if i, ok := ll.byKey[c.key]; ok {
		return arg{kind: argConst, c: i}
	}
	ll.byKey[c.key] = len(ll.consts)
	ll.consts = append(ll.consts, c)
	return arg{kind: argConst, c: len(ll.consts) - 1}
}

func (ll *launchList) idx(p *ir.Param) int {
	if p == nil {
		return -1
	}
	return ll.index[root(p)]
}

// param is the device array of a state_dict entry (shared entries once).
func (ll *launchList) param(p *ir.Param) arg {
	r := root(p)
	return ll.add(constant{kind: constParam, p: [5]int{ll.idx(r), -1, -1, -1, -1}, len: r.Len(), key: r.Key, what: r.Key})
}

// transposed is the device array of a state_dict entry whose first
// dimension is rows, transposed.
func (ll *launchList) transposed(p *ir.Param) arg {
	r := root(p)
	return ll.add(constant{kind: constTransposed, p: [5]int{ll.idx(r), -1, -1, -1, -1}, len: r.Len(), rows: r.Shape[0],
		key: "transposed " + r.Key, what: r.Key + ", transposed"})
}

// fold gives the scale and shift of a BatchNorm, with the bias of the
// convolution before it (or nil) folded into the shift.
func (ll *launchList) fold(bn *ir.BatchNorm, bias *ir.Param) (scale, shift arg) {
	p := [5]int{ll.idx(bn.Weight), ll.idx(bn.Bias), ll.idx(bn.Mean), ll.idx(bn.Var), ll.idx(bias)}
	n := bn.Out.C
	id := fmt.Sprintf("%v %g", p, bn.Eps)
	what := bn.Name
	if bias != nil {
		what += " with " + bias.Key
	}
	scale = ll.add(constant{kind: constScale, p: p, eps: bn.Eps, len: n, key: "scale " + id, what: what + ", scale"})
	shift = ll.add(constant{kind: constShift, p: p, eps: bn.Eps, len: n, key: "shift " + id, what: what + ", shift"})
	return scale, shift
}

var null = arg{kind: argNull}

func value(v *plan.Value) arg { return arg{kind: argValue, value: v} }

// args gives an op's kernel arguments in its family's parameter order.
func (ll *launchList) args(o *op) ([]arg, error) {
	if o.pair != nil {
		a := *o
		a.pair = nil
		first, err := ll.args(&a)
		if err != nil {
			return nil, err
		}
		second, err := ll.args(o.pair)
		if err != nil {
			return nil, err
		}
		// Each without its n, then n.
		return append(append(first[:len(first)-1:len(first)-1], second[:len(second)-1]...), arg{kind: argBatch}), nil
	}
	batch := arg{kind: argBatch}
	pre := func() (arg, arg) {
		if o.pre == nil {
			return null, null
		}
		return ll.fold(o.pre, nil)
	}
	inputs := func(vs []*plan.Value) []arg {
		a := []arg{null, null, null, null}
		for i, v := range vs {
			a[i] = value(v)
		}
		return a
	}
	switch o.kind {
	case opConv:
		var w arg
		var bias *ir.Param
		if o.conv != nil {
			w, bias = ll.param(o.conv.Weight), o.conv.Bias
		} else {
			w, bias = ll.param(o.linear.Weight), o.linear.Bias
		}
		ps, ph := pre()
		scale, shift := null, null
		if o.bn != nil {
			scale, shift = ll.fold(o.bn, bias)
		} else if bias != nil {
			shift = ll.param(bias)
		}
		aux := []arg{null, null}
		for i, v := range o.aux {
			aux[i] = value(v)
		}
		att := null
		if o.att != nil {
			att = value(o.att)
		}
		return append(append(inputs(o.in), att, w, ps, ph, scale, shift), aux[0], aux[1], value(o.out), batch), nil
	case opPool, opMean:
		ps, ph := pre()
		return []arg{value(o.in[0]), ps, ph, value(o.out), batch}, nil
	case opSKAttention:
		sk := o.sk
		scale, shift := ll.fold(sk.FC1BN, sk.FC1.Bias)
		return append(inputs(o.in), ll.param(sk.FC1.Weight), scale, shift, ll.transposed(sk.FC2.Weight),
			value(o.scratch), value(o.out), arg{kind: argCounter}, batch), nil
	case opSKApply:
		return append(append([]arg{value(o.in[0])}, inputs(o.in[1:])...), value(o.out), batch), nil
	case opElt:
		a := []arg{null, null, null, null, null, value(o.out), batch}
		for i, v := range o.in {
			a[i] = value(v)
		}
		if o.elt == plan.ScaleShift {
			a[3], a[4] = ll.fold(o.bn, nil)
		}
		return a, nil
	}
	return nil, fmt.Errorf("op %s: no arguments for kind %d", o.name, o.kind)
}

// Launches counts the kernel launches of one forward pass of p on the cuda
// target (CUDALaunches of its cuda.go), or 0 when Emit would fail.
func Launches(p *plan.Program) int {
	l, err := lower(p)
	if err != nil {
		return 0
	}
	return len(l.ops)
}
