package ir

import "fmt"

// Row is one line of grcc info: a named part of the network with its output
// shape, parameters (shared tensors counted where first used) and MACs per image.
type Row struct {
	Name   string
	Out    Shape
	Params int64
	MACs   int64
}

// Rows lists the model's parts for grcc info: each stem and head layer, and
// for each stage its input convolutions, every iteration and the downsample.
func Rows(m *Model) []Row {
	var rows []Row
	part := func(name string, out Shape, layers ...Layer) {
		r := Row{Name: name, Out: out}
		for _, l := range layers {
			for _, p := range LayerParams(l) {
				if p.Learnable && p.SharedWith == nil {
					r.Params += int64(p.Len())
				}
			}
			r.MACs += LayerMACs(l)
		}
		rows = append(rows, r)
	}
	single := func(list []Layer) {
		for _, l := range list {
			n := l.Info()
			name := n.Name
			if name == "" {
				name = "(" + kindName(l) + ")"
			}
			part(name, n.Out, l)
		}
	}
	single(m.Stem)
	for _, st := range m.Stages {
		width := Shape{C: st.Width, H: st.In.H, W: st.In.W}
		part(st.Name+".conv_f", width, st.BNF, st.ConvF)
		if st.Gate == SigmoidGate {
			// conv_g_r's parameters are counted here, once; its MACs in
			// every iteration that uses it.
			part(st.Name+".conv_g_f", width, st.BNGF, st.ConvGF, st.ConvGR)
			rows[len(rows)-1].MACs -= st.ConvGR.MACs()
		}
		for _, it := range st.Iters {
			layers := append([]Layer(nil), it.Cell...)
			if it.GateBN != nil {
				layers = append(layers, it.GateBN, st.ConvGR)
			}
			part(fmt.Sprintf("%s.iter_%d", st.Name, it.Index), width, layers...)
			if it.GateBN != nil {
				// Only the first use of conv_g_r owns its parameters.
				rows[len(rows)-1].Params -= int64(st.ConvGR.Weight.Len())
			}
		}
		if st.Down != nil {
			layers := append(append([]Layer(nil), st.Down.Pool...), st.Down.Conv...)
			if st.Down.Unused != nil {
				layers = append(layers, st.Down.Unused)
			}
			part(st.Name+".downsample", st.Out, layers...)
		}
	}
	single(m.Head)
	return rows
}

func kindName(l Layer) string {
	switch l := l.(type) {
	case *Conv:
		return "conv"
	case *BatchNorm:
		return "batchnorm"
	case *ReLU:
		return "relu"
	case *Pool:
		if l.Max {
			return "maxpool"
		}
		return "avgpool"
	case *GlobalAvgPool:
		return "globalavgpool"
	case *Linear:
		return "linear"
	case *SKConv:
		return "sk"
	}
	return "layer"
}
