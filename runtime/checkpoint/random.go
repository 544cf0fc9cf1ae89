package checkpoint

import (
	"math"
	"math/rand/v2"
	"strings"
)

// Random returns a state dict for params filled with well-scaled random
// values, the same for the same seed: convolution weights ~ N(0, 1/fan_in),
// linear weights ~ N(0, 1/in), BatchNorm weights and running variances
// uniform in [0.5, 1.5), biases and running means ~ N(0, 0.1²). Shared
// entries share one tensor. It is for benchmarks and for trying a spec
// without a checkpoint.
func Random(params []Param, seed uint64) *StateDict {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	byKey := map[string]*Tensor{}
	tensors := make([]*Tensor, 0, len(params))
	for _, p := range params {
		t := &Tensor{Key: p.Key, DType: p.DType, Shape: append([]int(nil), p.Shape...), Storage: p.Key}
		n := t.Numel()
		switch {
		case p.SharedWith != "" && byKey[p.SharedWith] != nil:
			root := byKey[p.SharedWith]
			t.F32, t.I64, t.Storage = root.F32, root.I64, root.Storage
		case p.DType != "float32":
			t.I64 = make([]int64, n)
		default:
			t.F32 = make([]float32, n)
			fill(rng, t.F32, p)
		}
		byKey[p.Key] = t
		tensors = append(tensors, t)
	}
	sd, err := NewStateDict(tensors)
	if err != nil {
		panic("checkpoint: Random: " + err.Error()) // params with duplicate keys are a programming error
	}
	return sd
}

func fill(rng *rand.Rand, x []float32, p Param) {
	uniform := func() {
		for i := range x {
			x[i] = float32(0.5 + rng.Float64())
		}
	}
	normal := func(std float64) {
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
	}
	switch {
	case strings.HasSuffix(p.Key, ".running_var"):
		uniform()
	case strings.HasSuffix(p.Key, ".running_mean"), strings.HasSuffix(p.Key, ".bias"):
		normal(0.1)
	case len(p.Shape) == 1: // a BatchNorm weight
		uniform()
	default:
		fanIn := 1
		for _, d := range p.Shape[1:] {
			fanIn *= d
		}
		// Gain 1, not He's 2: deep random GRCNNs with gain 2 grow activations
		// into the thousands and become chaotic in float32.
		normal(math.Sqrt(1 / float64(fanIn)))
	}
}
