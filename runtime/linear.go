package runtime

import "fmt"

// Linear is y = x·Weightᵀ + Bias (PyTorch nn.Linear) with Weight Out×In and
// Bias of length Out, or nil for none.
type Linear struct {
	In, Out      int
	Weight, Bias []float32
}

// linearCall holds the arguments of the Forward in progress.
type linearCall struct {
	loop
	l       *Linear
	batch   int
	in, out []float32
}

var linearCalls calls[linearCall]

// Forward computes batch rows of Out outputs from batch rows of In inputs.
// Inference batches are small, so each output is a dot product of a weight
// row with each input row: the weights are read once, and they dominate the
// memory traffic. Units of parallel work are blocks of output features.
func (l *Linear) Forward(batch int, in, out []float32) {
	if len(l.Weight) != l.In*l.Out || (l.Bias != nil && len(l.Bias) != l.Out) {
		panic(fmt.Sprintf("runtime: Linear %d→%d: len(Weight) = %d, len(Bias) = %d", l.In, l.Out, len(l.Weight), len(l.Bias)))
	}
	if len(in) < batch*l.In || len(out) < batch*l.Out {
		panic(fmt.Sprintf("runtime: Linear.Forward: batch %d needs in %d, out %d floats; got %d, %d", batch, batch*l.In, batch*l.Out, len(in), len(out)))
	}
	cl := linearCalls.get()
	defer linearCalls.put(cl)
	cl.l, cl.batch, cl.in, cl.out = l, batch, in, out
	// About 64K multiply-adds per chunk keeps the hand-off cost small.
	cl.parallelFor(l.Out, max(1, (1<<16)/max(1, l.In*batch)), cl)
	cl.in, cl.out = nil, nil
}

func (cl *linearCall) run(lo, hi, _ int) {
	l := cl.l
	for o := lo; o < hi; o++ {
		w := l.Weight[o*l.In : (o+1)*l.In]
		var bias float32
		if l.Bias != nil {
			bias = l.Bias[o]
		}
		for b := range cl.batch {
			cl.out[b*l.Out+o] = dot(w, cl.in[b*l.In:(b+1)*l.In]) + bias
		}
	}
}
