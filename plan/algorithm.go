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
	// AlgoWinograd2x2 is Winograd's F(2×2, 3×3): 16 multiplies per 4
	// outputs instead of 36, for dense 3×3 stride-1 convolutions whose
	// outputs are too small for F(4×4)'s tiles.
	AlgoWinograd2x2 = "winograd2x2"
	// AlgoWinograd4x2 is Winograd's F(4×2, 3×3): 24 multiplies per 8
	// outputs instead of 72, tiles of 4 rows and 2 columns, for dense
	// stride-1 3×3 convolutions whose outputs fill too few of F(4×4)'s
	// tiles but enough of its own.
	AlgoWinograd4x2 = "winograd4x2"
	// AlgoDirect computes whole output rows from the zero-padded input
	// read in place, each input channel and kernel tap a run of it, for
	// grouped convolutions with few channels a group and convolutions with
	// few input channels; with one input channel a group (depthwise), plain
	// loops over the kernel taps.
	AlgoDirect = "direct"
	// AlgoIm2Row turns the GEMM around: output pixels as its rows, read
	// from the input through each kernel tap, output channels as its
	// vector columns, for dense stride-1 convolutions whose small outputs
	// fill the 32 columns of a pixel panel badly.
	AlgoIm2Row = "im2row"
)

// winogradMinFill is the least share of the output tiles that must be
// real outputs for Winograd F(4×4, 3×3) to pay, and winogradMinTiles the
// fewest tiles an image: a unit of work is a block of at most 32 tiles of
// one image, and an image of fewer makes one block, which the cores can
// only share by splitting its output channels and transforming its input
// twice. Measured per layer (BenchmarkWinograd and BenchmarkWinogradCold
// in runtime, against im2row): 56×56, 32×32 and 28×28 outputs (every tile
// full) run 1.4–2.5× faster at batch 1 and 8; 16×16 (16 tiles) is level at
// batch 1, 14×14 (16 tiles, 77% real) 1.1× with its 4× weights out of
// cache; 7×7 and 8×8 lose.
//
// Those that F(4×4) does not take go to F(2×2, 3×3) from 16 tiles of 2×2
// an image (winograd2MinTiles), as full as F(4×4)'s must be: 14×14 (49
// tiles, 256 channels, weights out of cache) 1.5× im2row at batch 1 and 8
// (and 1.35× F(4×4) at batch 1), 16×16 (64 tiles, 160 channels) 1.8× and
// 1.7×, 8×8 (16 tiles, 192 channels) 1.35× and 1.35×, now that its input
// is padded and split into phases by one call a channel (before that, 8×8
// was level at batch 1). Tiles three quarters real (winograd2MinFill) pay
// too: 7×7 with 512 channels, alone with its weights out of cache, 1.15×
// at batch 1 and 1.3× at 8; in GRCNN-55 1.2× at batch 8 (7.5–7.7 → 6.1–6.4
// ms), and at batch 1, where its 16.8 MB of transformed weights a layer
// against the kernel's 9.4 come from memory, 1.3% faster for GRCNN-55 and
// 0.7% for GRCNN-109, alternating forwards in one process (two such runs
// each; separate runs had seen only noise).
//
// From batch 8 (winogradRunsBatch) a block may hold tiles of several
// images, so F(4×4) needs only the 16 tiles and three-quarters fill of
// F(2×2): 14×14 256→256 at batch 8 runs 2.9 ms against F(2×2)'s 3.2–3.5
// (weights out of cache), and in the models F(4×4) on such layers made
// GRCNN-109 3.2%, GRCNN-55 1.7%, GRCNN-56 and -110 2% faster at batch 8
// (alternating forwards in one process), for 9.4 MB of transformed weights
// a 256-channel layer instead of 4.2.
//
// F(4×2, 3×3) comes before F(2×2) where the batch has at least
// winograd42MinTiles of its tiles (28, a packed panel seven-eighths full),
// as full as F(2×2)'s must be. Its 24 points a tile against F(2×2)'s 16
// take twice the outputs, and at 14×14 an image's 28 tiles fill one panel
// where F(2×2)'s 49 take two: 256→256 at batch 1 ran 352–372 µs against
// F(2×2)'s 442–474 and F(4×4)'s 445–530, warm or with its weights out of
// cache; 16×16 160→160 at batch 1 144 µs against 167; with 8 tiles an
// image, 7×7 512→512 at batch 8 2.65 ms against F(2×2)'s 3.36 and F(4×4)'s
// 3.10, 8×8 192→192 448 µs against 519. Where F(4×4) fills its blocks it
// stays ahead (14×14 at batch 8: 2.36 ms against 2.52), and with fewer
// tiles than a panel F(2×2) (7×7 at batch 1: 0.64 ms against 1.13).
const (
	winograd42MinTiles = 28
	winogradRunsBatch  = 8
	winogradMinFill    = 0.9
	winogradMinTiles   = 32
	winograd2MinFill   = 0.75
	winograd2MinTiles  = 16
)

// WinogradTile is the rows and columns of the output tiles of a Winograd
// algorithm, 4×4, 2×2 or 4×2, and 0×0 for the other algorithms.
func WinogradTile(algo string) (rows, cols int) {
	switch algo {
	case AlgoWinograd:
		return 4, 4
	case AlgoWinograd2x2:
		return 2, 2
	case AlgoWinograd4x2:
		return 4, 2
	}
	return 0, 0
}

// im2RowMinWaste is the share of wasted columns from which a 1×1
// convolution runs faster as im2row: the pixel-column GEMM computes whole
// panels of 32 outputs, so 7×7 (49 outputs in 64 columns, 31% wasted)
// measured 1.2–1.3× faster as im2row, while outputs that fill their panels
// (8×8, 16×16, 28×28, 56×56) ran up to 1.3× slower. 14×14 (196 outputs in
// 224 columns, 12.5% wasted) stays on the GEMM: with its weights and input
// out of cache, as in a model, the GEMM ran 1.25–1.3× faster at batch 8
// (GRCNN-109 at batch 8: 6.6% faster in all) and level at batch 1, where
// im2row won 256→1024 and lost 1024→256. Larger kernels always go to
// im2row (1.3–1.9× faster at 7×7 to 32×32), where the other GEMM also
// computes the padding columns.
const im2RowMinWaste = 0.2

// The measurements behind the rest of the cost model, per layer against
// the other algorithms at batch 1 and 8 (GFLOP/s counted as direct
// convolution):
//
//   - Grouped 3×3 convolutions with at most directMaxGroupWidth output
//     channels a group and rows of at least directMinWidth outputs run
//     direct: 4 a group (SK branches, 56×56) 2.5–3.5× faster than im2row,
//     8 a group 1.0–2.9×, 16 a group at 28×28 1.5–2.3×. At 14×14 (16 a
//     group, SK's third stage, weights out of cache), where a row fills
//     14 of a vector's 16 lanes, direct measured 1.15× im2row at batch 1
//     and 1.09× at batch 8 without dilation, and with dilation 2 1.13× at
//     batch 1, while im2row won at batch 8 (1.07×) until the direct path
//     computed several rows a call: with those, the dilated 14×14
//     branches at batch 8 took 15% less time than on im2row against the
//     plain branches beside them (SK-GRCNN-109, grcc bench --layers, two
//     alternated runs; SK-GRCNN-55's 8-channel groups 6.6%), so rows down
//     to 14 outputs run direct at every batch, dilated or not. At 7×7
//     im2row wins 1.9×. With 32 or 64 a group im2row wins too (each unit
//     then packs its own pixel panels, see runtime's rowSplit).
//   - Strided grouped 3×3 ones with at most directMaxGroupWidth channels
//     a group run direct too, on the stride phases, at any width: the
//     selective-kernel downsamples' branches, dilated or not, at batch 1
//     and 8, 8 a group (28×28 to 14×14) 3.3–4× faster than im2row, whose
//     32 columns those 8 channels fill a quarter of, 16 a group (14×14 to
//     7×7) 1.05–1.4×, CIFAR's 12 a group (32×32 to 16×16) 2.4–2.8×.
//     Wider groups gather their pixels for im2row: 1.5–1.8× the GEMM on
//     the stride phases.
//   - Convolutions reading at most directMaxInputs input channels a group,
//     such as the 7×7/2 stem (3 channels), run direct: the stem 1.45× the
//     GEMM, 2× im2row, whose gathers would outweigh its short k.
//   - Dense strided 3×3 ones gather for im2row: 1.2–1.8× the GEMM.
//   - Grouped 1×1 ones with at most direct1x1MaxGroupWidth channels a
//     group run direct, reading their input in place (no padding, the
//     prologue applied as it is loaded): 8 a group (GRCNN-55's gate at
//     56×56) 2.7–4.3× the GEMM, 16 a group 1.4×, 32 a group (the gates
//     of GRCNN-55's and GRCNN-109's 14×14 stage) 1.7–1.8× at 14×14 and
//     16×16, 1.3–1.6× at 7×7 and level at 8×8, at batch 1 and 8, since
//     the GEMM's tiles of k = 32 spend as long storing as multiplying.
//     With 64 a group direct is level at 7×7 and mixed at 14×14 (1.25×
//     at batch 1, 0.97× at batch 8), and im2row 2–4× slower than the
//     GEMM, so they stay on the GEMM.
const (
	directMaxGroupWidth    = 16
	direct1x1MaxGroupWidth = 32
	directMinWidth         = 14
	directMaxInputs        = 4
)

func chooseAlgorithm(p *Program) error {
	for _, s := range p.Steps {
		if s.Kind != Conv {
			continue
		}
		s.Algo, s.AlgoWhy = convAlgorithm(s, p.Model.Batch)
	}
	return applyChoices(p, p.choices)
}

// convAlgorithm is the cost model: the algorithm for a convolution step and
// the reason, from its shapes and the batch the program is built for.
func convAlgorithm(s *Step, batch int) (algo, why string) {
	c, in, out := s.Conv, s.In[0].Shape, s.Out.Shape
	if in.C == c.Groups {
		return AlgoDirect, "one input channel per group: a GEMM would have a single row"
	}
	// im2row reads each tap's pixels of a panel as one run of the input
	// when the stride is 1 and the output as wide as the input; otherwise
	// it gathers them.
	contiguous := c.StrideH == 1 && c.StrideW == 1 && out.W == in.W
	npix := out.H * out.W
	if c.Is1x1() {
		waste := float64((npix+31)/32*32-npix) / float64(npix)
		if c.Groups == 1 && waste >= im2RowMinWaste {
			return AlgoIm2Row, fmt.Sprintf("1×1 with %d×%d outputs: as pixel columns %.0f%% of the GEMM's columns would be wasted; as rows, none", out.H, out.W, 100*waste)
		}
		if ocg := out.C / c.Groups; c.Groups > 1 && ocg <= direct1x1MaxGroupWidth {
			return AlgoDirect, fmt.Sprintf("grouped 1×1, %d channels a group: each output plane from the input read in place, the prologue applied as it is loaded", ocg)
		}
		return AlgoGEMM, "1×1 stride 1: the input is the GEMM's right-hand matrix as it lies"
	}
	dense3 := c.KH == 3 && c.KW == 3 && c.StrideH == 1 && c.StrideW == 1 && c.DilH == 1 && c.DilW == 1 && c.Groups == 1
	tiles := func(mh, mw int) (th, tw int, fill float64) {
		th, tw = (out.H+mh-1)/mh, (out.W+mw-1)/mw
		return th, tw, float64(out.H*out.W) / float64(mh*mw*th*tw)
	}
	th, tw, fill := tiles(4, 4)
	if dense3 && batch >= winogradRunsBatch && th*tw >= winograd2MinTiles && fill >= winograd2MinFill {
		return AlgoWinograd, fmt.Sprintf("dense 3×3 stride 1, %d×%d tiles of 4×4 outputs (%.0f%% filled) an image, at batch %d: blocks of tiles from several images fill the GEMM; 4× fewer multiplies than the GEMM", th, tw, 100*fill, batch)
	}
	if dense3 && th*tw >= winogradMinTiles && fill >= winogradMinFill {
		return AlgoWinograd, fmt.Sprintf("dense 3×3 stride 1, %d×%d tiles of 4×4 outputs (%.0f%% filled): 4× fewer multiplies than the GEMM", th, tw, 100*fill)
	}
	th42, tw42, fill42 := tiles(4, 2)
	if dense3 && batch*th42*tw42 >= winograd42MinTiles && fill42 >= winograd2MinFill {
		return AlgoWinograd4x2, fmt.Sprintf("dense 3×3 stride 1, %d×%d tiles of 4×2 outputs (%.0f%% filled) an image, %d at batch %d (%d tiles of 4×4, %.0f%% filled, too few): 3× fewer multiplies than the GEMM", th42, tw42, 100*fill42, batch*th42*tw42, batch, th*tw, 100*fill)
	}
	th2, tw2, fill2 := tiles(2, 2)
	if dense3 && th2*tw2 >= winograd2MinTiles && fill2 >= winograd2MinFill {
		return AlgoWinograd2x2, fmt.Sprintf("dense 3×3 stride 1, %d×%d tiles of 2×2 outputs (%.0f%% filled; %d tiles of 4×4, %.0f%% filled, too few): 2.25× fewer multiplies than the GEMM", th2, tw2, 100*fill2, th*tw, 100*fill)
	}
	var whyNot string
	switch {
	case !dense3:
		whyNot = "Winograd needs a dense 3×3 stride-1 kernel"
	case th2*tw2 < winograd2MinTiles:
		whyNot = fmt.Sprintf("%d×%d outputs give only %d Winograd tiles of 2×2 an image, too few to fill its GEMM", out.H, out.W, th2*tw2)
	default:
		whyNot = fmt.Sprintf("%d×%d outputs fill only %.0f%% of Winograd's 4×4 tiles and %.0f%% of its 2×2 tiles (%.0f%% pays)",
			out.H, out.W, 100*fill, 100*fill2, 100*winograd2MinFill)
	}
	icg, ocg := in.C/c.Groups, out.C/c.Groups
	switch {
	case c.Groups > 1 && ocg <= directMaxGroupWidth && c.StrideH == 1 && c.StrideW == 1 &&
		out.W >= directMinWidth:
		return AlgoDirect, fmt.Sprintf("grouped, %d channels a group: whole output rows from the padded input in place, no GEMM tiles to fill (%s)", ocg, whyNot)
	case c.Groups > 1 && ocg <= directMaxGroupWidth && (c.StrideH > 1 || c.StrideW > 1):
		return AlgoDirect, fmt.Sprintf("strided, grouped, %d channels a group: whole output rows from the padded stride phases in place; as im2row's columns they would fill %d of 32 (%s)", ocg, ocg, whyNot)
	case icg <= directMaxInputs:
		return AlgoDirect, fmt.Sprintf("%d input channels a group: whole output rows from the padded input in place (%s)", icg, whyNot)
	case contiguous && c.Groups == 1:
		return AlgoIm2Row, fmt.Sprintf("stride 1, same size: pixels as rows waste no columns on padding (%s)", whyNot)
	case contiguous:
		return AlgoIm2Row, fmt.Sprintf("grouped, stride 1, same size: pixels as rows, each group's %d channels as columns (%s)", ocg, whyNot)
	case c.StrideH > 1 || c.StrideW > 1:
		return AlgoIm2Row, fmt.Sprintf("strided: gathered pixels as rows waste no columns (%s)", whyNot)
	}
	return AlgoGEMM, fmt.Sprintf("zero-padded stride phases as the GEMM's right-hand matrix (%s)", whyNot)
}
