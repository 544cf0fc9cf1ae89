package plan

import "fmt"

// The CPU algorithms of a convolution step (Step.Algo).
const (
	// AlgoGEMM multiplies the packed weights by the input as the GEMM's B:
	// the input rows themselves for 1×1 stride-1 convolutions, otherwise
	// rows of the zero-padded input split into stride phases, which makes
	// every kernel tap a contiguous run without an im2col copy.
	AlgoGEMM = "gemm"
	// AlgoWinograd is Winograd's F(4×4, 3×3): 36 multiplies per 16
	// outputs instead of 144, for dense 3×3 stride-1 convolutions.
	AlgoWinograd = "winograd"
	// AlgoDirect loops over the kernel taps, for convolutions with one
	// input channel per group, whose GEMM would have a single row.
	AlgoDirect = "direct"
)

// winogradMinFill is the least share of the 4×4 output tiles that must be
// real outputs for Winograd to pay. Measured per layer against the GEMM
// (BenchmarkWinograd in runtime): 56×56, 32×32, 28×28 and 16×16 outputs
// (every tile full) run 1.3–2.7× faster with Winograd at batch 1 and 8;
// 14×14 (77% of the tiles' outputs real) and 7×7 (77%) lose at batch 8 or
// both, 8×8 (4 tiles an image) loses because a block of tiles fills only
// an eighth of the GEMM's 32 columns.
const (
	winogradMinFill  = 0.9
	winogradMinTiles = 16
)

func chooseAlgorithm(p *Program) error {
	for _, s := range p.Steps {
		if s.Kind != Conv {
			continue
		}
		s.Algo, s.AlgoWhy = convAlgorithm(s)
	}
	return nil
}

// convAlgorithm is the cost model: the algorithm for a convolution step and
// the reason, from its shapes alone.
func convAlgorithm(s *Step) (algo, why string) {
	c, in, out := s.Conv, s.In[0].Shape, s.Out.Shape
	if in.C == c.Groups {
		return AlgoDirect, "one input channel per group: a GEMM would have a single row"
	}
	if c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 && c.PadH == 0 && c.PadW == 0 {
		return AlgoGEMM, "1×1 stride 1: the input is the GEMM's right-hand matrix as it lies"
	}
	dense3 := c.KH == 3 && c.KW == 3 && c.StrideH == 1 && c.StrideW == 1 && c.DilH == 1 && c.DilW == 1 && c.Groups == 1
	if !dense3 {
		return AlgoGEMM, "zero-padded stride phases as the GEMM's right-hand matrix; Winograd needs a dense 3×3 stride-1 kernel"
	}
	th, tw := (out.H+3)/4, (out.W+3)/4
	fill := float64(out.H*out.W) / float64(16*th*tw)
	switch {
	case th*tw < winogradMinTiles:
		return AlgoGEMM, fmt.Sprintf("dense 3×3, but %d×%d outputs give only %d Winograd tiles an image, too few to fill its GEMM", out.H, out.W, th*tw)
	case fill < winogradMinFill:
		return AlgoGEMM, fmt.Sprintf("dense 3×3, but %d×%d outputs fill only %.0f%% of Winograd's 4×4 tiles", out.H, out.W, 100*fill)
	}
	return AlgoWinograd, fmt.Sprintf("dense 3×3 stride 1, %d×%d tiles of 4×4 outputs (%.0f%% filled): 4× fewer multiplies than the GEMM", th, tw, 100*fill)
}
