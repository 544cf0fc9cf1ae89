package ir

// collectParams lists every state_dict entry of m in the reference's order:
// the order in which the reference modules register their parameters and
// buffers.
func collectParams(m *Model) {
	var ps []*Param
	add := func(list ...*Param) {
		for _, p := range list {
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	var layers func(list ...Layer)
	layers = func(list ...Layer) {
		for _, l := range list {
			add(LayerParams(l)...)
		}
	}
	layers(m.Stem...)
	for _, st := range m.Stages {
		layers(st.BNF, st.ConvF)
		if st.Gate == SigmoidGate {
			layers(st.BNGF, st.ConvGF, st.ConvGR)
		}
		for _, it := range st.Iters {
			layers(it.Cell...)
			if it.GateBN != nil {
				layers(it.GateBN)
			}
		}
		if d := st.Down; d != nil {
			layers(d.Pool...)
			layers(d.Conv[:len(d.Conv)-1]...)
			if d.Unused != nil {
				layers(d.Unused)
				m.Unused = append(m.Unused, LayerParams(d.Unused)...)
			}
			layers(d.Conv[len(d.Conv)-1])
		}
	}
	layers(m.Head...)
	m.Params = ps
}

// LayerParams lists a layer's state_dict entries in registration order.
func LayerParams(l Layer) []*Param {
	var ps []*Param
	add := func(list ...*Param) {
		for _, p := range list {
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	switch l := l.(type) {
	case *Conv:
		add(l.Weight, l.Bias)
	case *BatchNorm:
		add(l.Weight, l.Bias, l.Mean, l.Var, l.NumBatch)
	case *Linear:
		add(l.Weight, l.Bias)
	case *SKConv:
		for _, b := range l.Branches {
			add(LayerParams(b.Conv)...)
			add(LayerParams(b.BN)...)
		}
		add(LayerParams(l.FC1)...)
		add(LayerParams(l.FC1BN)...)
		add(LayerParams(l.FC2)...)
	}
	return ps
}

// Stats are the totals grcc info prints.
type Stats struct {
	Parameters int64 // learnable elements, shared tensors once
	Entries    int   // state_dict entries
	Elements   int64 // float elements in the state_dict, shared tensors per key
	MACs       int64 // multiply-accumulates per image, convolutions and linear layers
}

// Stats counts m's parameters and work.
func (m *Model) Stats() Stats {
	var s Stats
	for _, p := range m.Params {
		s.Entries++
		if p.DType == "float32" {
			s.Elements += int64(p.Len())
		}
		if p.Learnable && p.SharedWith == nil {
			s.Parameters += int64(p.Len())
		}
	}
	m.Walk(func(l Layer) { s.MACs += LayerMACs(l) })
	return s
}

// LayerMACs is the multiply-accumulates of one layer for one image.
func LayerMACs(l Layer) int64 {
	switch l := l.(type) {
	case *Conv:
		return l.MACs()
	case *Linear:
		return l.MACs()
	case *SKConv:
		var n int64
		for _, b := range l.Branches {
			n += b.Conv.MACs()
		}
		return n + l.FC1.MACs() + l.FC2.MACs()
	}
	return 0
}

// Walk calls f for every layer of the forward pass, in order.
func (m *Model) Walk(f func(Layer)) {
	for _, l := range m.Stem {
		f(l)
	}
	for _, st := range m.Stages {
		st.Walk(f)
	}
	for _, l := range m.Head {
		f(l)
	}
}

// Walk calls f for every layer of the stage's forward pass.
func (st *Stage) Walk(f func(Layer)) {
	f(st.BNF)
	f(st.ConvF)
	if st.Gate == SigmoidGate {
		f(st.BNGF)
		f(st.ConvGF)
	}
	for _, it := range st.Iters {
		if it.GateBN != nil {
			f(it.GateBN)
			f(st.ConvGR)
		}
		for _, l := range it.Cell {
			f(l)
		}
	}
	if st.Down != nil {
		for _, l := range st.Down.Pool {
			f(l)
		}
		for _, l := range st.Down.Conv {
			f(l)
		}
	}
}
