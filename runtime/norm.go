package runtime

import (
	"fmt"
	"math"
)

// ScaleShift is an inference BatchNorm (and optional ReLU) as
// y = x*Scale[c] + Shift[c] over batch×C planes of HW elements. Scale nil
// means 1, Shift nil means 0.
type ScaleShift struct {
	C, HW        int
	Scale, Shift []float32
	Relu         bool
}

// scaleShiftCall holds the arguments of the Forward in progress.
type scaleShiftCall struct {
	loop
	s       *ScaleShift
	in, out []float32
}

var scaleShiftCalls calls[scaleShiftCall]

// Forward applies s to batch images; in and out may be the same slice.
// Planes are spread over the workers in chunks of at least spanGrain
// elements.
func (s *ScaleShift) Forward(batch int, in, out []float32) {
	n := batch * s.C * s.HW
	if len(in) < n || len(out) < n {
		panic(fmt.Sprintf("runtime: ScaleShift.Forward: batch %d needs %d floats; got in %d, out %d", batch, n, len(in), len(out)))
	}
	cl := scaleShiftCalls.get()
	defer scaleShiftCalls.put(cl)
	cl.s, cl.in, cl.out = s, in, out
	cl.parallelFor(batch*s.C, max(1, spanGrain/max(1, s.HW)), cl)
	cl.in, cl.out = nil, nil
}

func (cl *scaleShiftCall) run(lo, hi, _ int) {
	s := cl.s
	for p := lo; p < hi; p++ {
		c := p % s.C
		sc, sh := float32(1), float32(0)
		if s.Scale != nil {
			sc = s.Scale[c]
		}
		if s.Shift != nil {
			sh = s.Shift[c]
		}
		scaleShift(cl.out[p*s.HW:(p+1)*s.HW], cl.in[p*s.HW:(p+1)*s.HW], sc, sh, s.Relu)
	}
}

func BatchNormScaleShift(weight, bias, mean, variance []float32, eps float64) (scale, shift []float32) {
	scale = make([]float32, len(mean))
	shift = make([]float32, len(mean))
	for c := range mean {
		w, b := 1.0, 0.0
		if weight != nil {
			w = float64(weight[c])
		}
		if bias != nil {
			b = float64(bias[c])
		}
		s := w / math.Sqrt(float64(variance[c])+eps)
		scale[c] = float32(s)
		shift[c] = float32(b - float64(mean[c])*s)
	}
	return scale, shift
}
