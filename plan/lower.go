package plan

import (
	"fmt"

	"github.com/grcc/grcc/ir"
)

// lower translates the model's layers into steps, one layer a step (an
// SKConv becomes its branch convolutions and an attention step; a GRCL
// stage its convolutions and gate updates).
func lower(p *Program) error {
	m := p.Model
	p.Input = p.newValue(m.Input)
	x := p.Input
	x = p.layers(x, m.Stem)
	for _, st := range m.Stages {
		x = p.stage(x, st)
	}
	x = p.layers(x, m.Head)
	p.Output = x
	return nil
}

func (p *Program) layers(x *Value, list []ir.Layer) *Value {
	for _, l := range list {
		x = p.layer(x, l)
	}
	return x
}

func (p *Program) layer(x *Value, l ir.Layer) *Value {
	n := l.Info()
	out := func() *Value { return p.newValue(n.Out) }
	switch l := l.(type) {
	case *ir.Conv:
		return p.add(&Step{Kind: Conv, Name: l.Name, In: []*Value{x}, Out: out(), Conv: l})
	case *ir.BatchNorm:
		return p.add(&Step{Kind: ScaleShift, Name: l.Name, In: []*Value{x}, Out: out(), BN: l})
	case *ir.ReLU:
		return p.add(&Step{Kind: ReLU, In: []*Value{x}, Out: out()})
	case *ir.Pool:
		kind := AvgPool
		if l.Max {
			kind = MaxPool
		}
		return p.add(&Step{Kind: kind, In: []*Value{x}, Out: out(), Pool: l})
	case *ir.GlobalAvgPool:
		return p.add(&Step{Kind: GlobalAvgPool, In: []*Value{x}, Out: out()})
	case *ir.Linear:
		return p.add(&Step{Kind: Linear, Name: l.Name, In: []*Value{x}, Out: out(), Linear: l})
	case *ir.SKConv:
		var branches []*Value
		for _, b := range l.Branches {
			u := p.add(&Step{Kind: Conv, Name: b.Conv.Name, In: []*Value{x}, Out: p.newValue(b.Conv.Out), Conv: b.Conv})
			u = p.add(&Step{Kind: ScaleShift, Name: b.BN.Name, In: []*Value{u}, Out: p.newValue(b.Conv.Out), BN: b.BN})
			u = p.add(&Step{Kind: ReLU, In: []*Value{u}, Out: p.newValue(b.Conv.Out)})
			branches = append(branches, u)
		}
		return p.add(&Step{Kind: SKAttention, Name: l.Name, In: branches, Out: out(), SK: l})
	}
	panic(fmt.Sprintf("plan: unknown layer %T", l))
}

// stage lowers one GRCL block.
func (p *Program) stage(x *Value, st *ir.Stage) *Value {
	xs := p.layers(x, []ir.Layer{st.BNF, &ir.ReLU{Node: ir.Node{In: st.In, Out: st.In}}, st.ConvF})
	var xg *Value
	if st.Gate == ir.SigmoidGate {
		xg = p.layers(x, []ir.Layer{st.BNGF, &ir.ReLU{Node: ir.Node{In: st.In, Out: st.In}}, st.ConvGF})
	}
	width := xs.Shape
	for _, it := range st.Iters {
		var g *Value
		if it.GateBN != nil {
			g = p.layers(xs, []ir.Layer{it.GateBN, &ir.ReLU{Node: ir.Node{In: width, Out: width}}, st.ConvGR})
		}
		r := p.layers(xs, it.Cell)
		name := fmt.Sprintf("%s.iter_%d", st.Name, it.Index)
		if g != nil {
			p.add(&Step{Kind: Gate, Name: name, In: []*Value{xs, r, g, xg}, Out: xs})
		} else {
			p.add(&Step{Kind: Residual, Name: name, In: []*Value{xs, r}, Out: xs})
		}
	}
	if st.Down == nil {
		return xs
	}
	a := p.layers(xs, st.Down.Pool)
	b := p.layers(xs, st.Down.Conv)
	return p.add(&Step{Kind: Add, Name: st.Name + ".downsample", In: []*Value{a, b}, Out: p.newValue(st.Out)})
}
