package runtime

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Conv2D is a 2-D convolution (PyTorch Conv2d semantics: zero padding,
// dilation, groups) with a fused per-output-channel epilogue.
//
// Each group is a matrix multiply: its OutC/Groups × (InC/Groups·KH·KW)
// weights times the im2col matrix of its input channels. 1×1 stride-1
// convolutions read the input itself as that matrix, others a zero-padded
// copy of the input split into stride phases, in which each row of the
// im2col matrix is a contiguous run (see Prepare); convolutions with one
// input channel per group (depthwise) are computed directly.
type Conv2D struct {
	InC, InH, InW                  int
	OutC, OutH, OutW               int
	KH, KW, SH, SW, PH, PW, DH, DW int // kernel, stride, padding, dilation
	Groups                         int
	Weight                         []float32 // OutC × InC/Groups × KH × KW, PyTorch layout

	// Epilogue per output channel c: y = acc*Scale[c] + Shift[c], then
	// max(y, 0) if Relu. Scale nil means 1, Shift nil means 0. A conv bias
	// and a folded BatchNorm go here.
	Scale, Shift []float32
	Relu         bool

	// Prologue per input channel c, applied as the input is read:
	// x*InScale[c] + InShift[c], then max(x, 0) if InRelu: a pre-activation
	// BatchNorm and ReLU that then never makes a round trip through memory.
	// Zero padding stays zero. InScale nil means no prologue. Depthwise
	// convolutions do not take one.
	InScale, InShift []float32
	InRelu           bool

	// Update, for a 1×1 stride-1 convolution, fuses the GRCL state update
	// that reads its result: call ForwardUpdate instead of Forward. Each
	// tile of the result updates the state while it is in cache, and the
	// result itself is never stored.
	Update bool

	// Gate, with Update, is the recurrent convolution of the GRCL gate,
	// g = Gate(xs): 1×1, stride 1, OutC channels in and out (grouped, with
	// its own prologue and epilogue), of the state before the update. It
	// must be prepared before this convolution is. ForwardUpdate then
	// computes g itself instead of taking it: where each unit of work
	// covers all output channels of its pixels (at batch 8 the 1×1 layers
	// of 14×14 and larger, at batch 1 of 56×56), per tile of the update, from
	// the state's pixels while they are in cache, so that g never goes out
	// to memory and back and the state is read once instead of twice;
	// elsewhere into scratch, before the update, as a separate Forward
	// would.
	Gate *Conv2D

	// Beside is a convolution of the same input, a GRCL gate's g =
	// Beside(x_s), that ForwardBeside computes in this convolution's own
	// parallel loop where it can (see besideRuns), and GateBeside, on the
	// update whose Gate is that convolution, the convolution whose
	// ForwardBeside computes its g. The compiler sets both on the cell's
	// first 1×1 layer and its last: where the first splits k between the
	// two cores (handsOffK), the gate's groups take what would be their
	// waits, and read the state while the layer's own packing has it in
	// cache, instead of a loop of their own before the update.
	Beside, GateBeside *Conv2D

	// Im2Row computes the convolution with output pixels as the rows of
	// the GEMM and output channels as its vector columns (see im2row.go):
	// faster for small outputs such as 7×7 and 14×14. The compiler's cost
	// model sets it. Depthwise convolutions ignore it.
	Im2Row bool

	// Direct computes each output row from the zero-padded input rows
	// read in place (see direct.go): faster for grouped convolutions with
	// a few channels a group. The compiler's cost model sets it. It needs
	// AVX-512 and no fused Update; otherwise the convolution takes the
	// GEMM path. Depthwise convolutions are always direct.
	Direct bool

	plan   convPlan
	rows   rowPlan    // pathIm2Row
	direct directPlan // pathDirect
	ready  bool       // Prepare succeeded
	wp     []float32  // Weight packed for the path: by packA, transposed (im2row) or in direct panels
	offs   []int32    // where row k of B (im2row: the input of row k of a panel) starts in a group's input
	guided []int      // pathPointwise: the blocks of panels when a batch is one image, group and column block (see split)
}

// convPath is the algorithm Prepare chose.
type convPath int

const (
	pathShift     convPath = iota // rows of the zero-padded input's stride phases as B
	pathPointwise                 // 1×1 stride 1 without padding: input rows as B
	pathDepthwise                 // one input channel per group: direct loops
	pathIm2Row                    // pixels as rows, channels as columns (Im2Row)
	pathDirect                    // output rows from padded input rows in place (Direct)
)

// Phases of a Forward.
const (
	phaseGEMM    = iota // multiply, with the epilogue
	phasePad            // pathShift, pathDirect: copy the input into its zero-padded stride phases
	phasePack           // pack B once for all units that share it (see copiesB)
	phaseHandoff        // the two halves of k, one worker each (see handsOffK)
)

// convPlan is what Prepare derives from the public fields.
type convPlan struct {
	path convPath
	m    int // output channels per group: rows of the group's GEMM
	k    int // InC/Groups·KH·KW: the GEMM's inner dimension
	n    int // OutH·OutW, or OutH·pw for pathShift: the GEMM's columns
	pw   int // pathShift: width of a stride phase of the zero-padded input
	ph   int // pathShift: its height
	nt   int // columns per column block: a multiple of nr, or see evenBlocks
	nb   int // column blocks per image
}

// convCall holds the arguments of the Forward in progress, so that the
// parallel loop can reach them without a per-call closure. Each Forward
// takes its own from convCalls, so goroutines may share a Conv2D.
type convCall struct {
	loop
	c                *Conv2D
	in, out, scratch []float32
	g, xg            []float32 // ForwardUpdate: the gate's operands (nil g: no gate)
	mb               int       // row panels of the weights per unit of work
	mBlocks          int       // blocks of mb row panels per group
	batch            int
	phase            int          // what run does: phasePad, phasePack, phaseHandoff or phaseGEMM
	shared           bool         // units share B: packed once in phasePack, or per worker with perWorker
	perWorker        bool         // with shared, each worker packs B into its copy (see copiesB)
	copies           [][]float32  // with perWorker, the workers' copies from gemmCopies, or nil for the scratch's
	copied           []int        // per worker, the block of B its copy holds, or -1
	fusedGate        bool         // ForwardUpdate computes g = Gate(xs) per tile (see fusedGate)
	handedOff        atomic.Int32 // handsOffK: the row panels whose first half of k is done
	pb, ob           int          // pathIm2Row: pixel and channel panels per unit
	packed           []bool       // pathIm2Row with rowCopies: per worker, whether its copy is packed
	planes           bool         // pathIm2Row: rowPlanes for this batch
	unitPlanes       bool         // pathIm2Row: rowUnitPlanes for this batch
}

var convCalls calls[convCall]

// gemmCopies holds the workers' copies of B (see workerCopy), so that
// each stays with its core from one call to the next.
var gemmCopies privateScratch

// Prepare validates the fields and plans the computation. It must be called
// once after the weights are loaded and before Forward.
//
// Prepare packs each group's weights for the micro-kernel (see packA), so
// Weight must not change afterwards without another Prepare.
func (c *Conv2D) Prepare() error {
	if err := c.validate(); err != nil {
		c.ready = false // Forward refuses to run on a stale plan
		return fmt.Errorf("runtime: Conv2D: %w", err)
	}
	p := convPlan{
		m: c.OutC / c.Groups,
		k: c.InC / c.Groups * c.KH * c.KW,
		n: c.OutH * c.OutW,
	}
	switch {
	case c.InC == c.Groups:
		p.path = pathDepthwise
	case c.Im2Row:
		p.path = pathIm2Row
	case c.Direct && useAVX512 && !c.Update:
		p.path = pathDirect
		p.pw = (c.InW + 2*c.PW + c.SW - 1) / c.SW
		p.ph = (c.InH + 2*c.PH + c.SH - 1) / c.SH
		p.n = c.OutH * p.pw
	case c.KH == 1 && c.KW == 1 && c.SH == 1 && c.SW == 1 && c.PH == 0 && c.PW == 0:
		p.path = pathPointwise
	default:
		// The zero-padded input, split into its SH·SW stride phases
		// (phase (a, b) holds the rows a, a+SH, … and the columns b,
		// b+SW, …), turns row (ic, kh, kw) of the im2col matrix into
		// phase (kh·DH mod SH, kw·DW mod SW) of input channel ic shifted
		// by kh·DH/SH rows and kw·DW/SW columns, if the GEMM computes all
		// pw columns of each output row, the last pw-OutW of them
		// discarded. The micro-kernel then reads B from the phases at
		// fixed offsets, as for 1×1, without an im2col copy.
		p.path = pathShift
		p.pw = (c.InW + 2*c.PW + c.SW - 1) / c.SW
		p.ph = (c.InH + 2*c.PH + c.SH - 1) / c.SH
		p.n = c.OutH * p.pw
	}
	// Column blocks of at most 256 outputs make the part of B that one
	// unit reads per block of k kc×256 floats (256 KiB, within L2) and
	// give a batch-1 image of 56×56 over a dozen units to balance over
	// the workers. Rounding the block count up to a multiple of the
	// workers lets such an image, the common case at inference, divide
	// evenly.
	p.nb = (p.n + 255) / 256
	if p.nb > 1 {
		w := workers()
		p.nb = (p.nb + w - 1) / w * w
	}
	p.nt = (p.n + p.nb - 1) / p.nb
	if !p.evenBlocks() {
		p.nt = (p.nt + nr - 1) / nr * nr
	}
	p.nb = (p.n + p.nt - 1) / p.nt
	if w := workers(); c.Gate != nil && p.path == pathPointwise && p.nb < 4*w && p.n >= 4*w*4*nr {
		// With a gate to fuse, enough column blocks for one image to
		// give every worker four units without splitting the output
		// channels, which the fused gate needs (fusedGate): 32×32
		// (CIFAR's first stage) in blocks of 128 columns rather than
		// 256, its expand, gate and update 1.32 → 1.02 ms at batch 1.
		p.nt = (p.n + 4*w - 1) / (4 * w)
		p.nt = (p.nt + nr - 1) / nr * nr
		p.nb = (p.n + p.nt - 1) / p.nt
	}
	c.plan = p
	c.guided = nil
	if w := workers(); p.path == pathPointwise && rowPanels(p.m) >= 4*w {
		c.guided = guidedBlocks(rowPanels(p.m), w)
	}
	c.ready = true
	if p.path == pathIm2Row {
		c.prepareIm2Row()
	} else if p.path == pathDirect {
		c.prepareDirect()
	} else if p.path != pathDepthwise {
		if cap(c.wp) < len(c.Weight) {
			c.wp = weightBuffer(len(c.Weight))
		}
		c.wp = c.wp[:len(c.Weight)]
		for g := range c.Groups {
			packA(c.wp[g*p.m*p.k:(g+1)*p.m*p.k], c.Weight[g*p.m*p.k:], p.m, p.k, p.k)
		}
	}
	c.offs = c.offs[:0]
	for k := range p.k {
		switch p.path {
		case pathPointwise:
			c.offs = append(c.offs, int32(k*p.n))
		case pathDirect:
			if c.direct.inPlace {
				c.offs = append(c.offs, int32(k*c.InH*c.InW))
			} else {
				c.offs = append(c.offs, int32(c.tapOffset(k)))
			}
		case pathShift:
			c.offs = append(c.offs, int32(c.tapOffset(k)))
		case pathIm2Row:
			// Where a channel's tap starts, from the pixels' window
			// origins; contiguous panels count the origin of pixel 0 in.
			taps := c.KH * c.KW
			o := k/taps*c.InH*c.InW + int(c.rows.shift[k%taps])
			if c.rows.contiguous {
				o -= c.PH*c.InW + c.PW
			}
			c.offs = append(c.offs, int32(o))
		}
	}
	return nil
}

func (c *Conv2D) validate() error {
	type dim struct {
		name string
		v    int
	}
	for _, d := range []dim{
		{"InC", c.InC}, {"InH", c.InH}, {"InW", c.InW},
		{"OutC", c.OutC}, {"OutH", c.OutH}, {"OutW", c.OutW},
		{"KH", c.KH}, {"KW", c.KW}, {"SH", c.SH}, {"SW", c.SW},
		{"DH", c.DH}, {"DW", c.DW}, {"Groups", c.Groups},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s = %d, want > 0", d.name, d.v)
		}
	}
	if c.PH < 0 || c.PW < 0 {
		return fmt.Errorf("padding %d×%d is negative", c.PH, c.PW)
	}
	if c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 {
		return fmt.Errorf("InC %d and OutC %d must both be multiples of Groups %d", c.InC, c.OutC, c.Groups)
	}
	wantH := (c.InH+2*c.PH-c.DH*(c.KH-1)-1)/c.SH + 1
	wantW := (c.InW+2*c.PW-c.DW*(c.KW-1)-1)/c.SW + 1
	if c.InH+2*c.PH < c.DH*(c.KH-1)+1 || c.InW+2*c.PW < c.DW*(c.KW-1)+1 {
		return errors.New("dilated kernel is larger than the padded input")
	}
	if c.OutH != wantH || c.OutW != wantW {
		return fmt.Errorf("output %d×%d, want %d×%d for input %d×%d", c.OutH, c.OutW, wantH, wantW, c.InH, c.InW)
	}
	if want := c.OutC * (c.InC / c.Groups) * c.KH * c.KW; len(c.Weight) != want {
		return fmt.Errorf("len(Weight) = %d, want OutC·InC/Groups·KH·KW = %d", len(c.Weight), want)
	}
	if c.Scale != nil && len(c.Scale) != c.OutC {
		return fmt.Errorf("len(Scale) = %d, want OutC = %d", len(c.Scale), c.OutC)
	}
	if c.Shift != nil && len(c.Shift) != c.OutC {
		return fmt.Errorf("len(Shift) = %d, want OutC = %d", len(c.Shift), c.OutC)
	}
	if c.InScale != nil {
		if len(c.InScale) != c.InC || len(c.InShift) != c.InC {
			return fmt.Errorf("len(InScale), len(InShift) = %d, %d, want InC = %d", len(c.InScale), len(c.InShift), c.InC)
		}
		if c.InC == c.Groups {
			return errors.New("a depthwise convolution takes no input prologue")
		}
	}
	if c.Update && !c.pointwise() {
		return errors.New("only a 1×1 stride-1 convolution without padding can fuse a state update")
	}
	if g := c.Gate; g != nil {
		switch {
		case !c.Update:
			return errors.New("a gate convolution needs Update")
		case !g.ready:
			return errors.New("the gate convolution is not prepared")
		case !g.pointwise() || g.Update || g.Gate != nil:
			return errors.New("the gate convolution must be 1×1, stride 1, without padding or an update of its own")
		case g.InC != c.OutC || g.OutC != c.OutC || g.InH != c.OutH || g.InW != c.OutW:
			return fmt.Errorf("the gate convolution maps %d×%d×%d to %d channels, want %d×%d×%d to %d",
				g.InC, g.InH, g.InW, g.OutC, c.OutC, c.OutH, c.OutW, c.OutC)
		}
	}
	return nil
}

// evenBlocks reports whether the 1×1 GEMM path keeps p's column blocks of
// equal width, p.nt = ⌈n/nb⌉ columns, when that is not a multiple of nr:
// each block then ends in a few columns that the tail kernel computes
// (see sgemmPacked), instead of whole panels in every block but a short
// last one. A 28×28 image (784 outputs in 4 blocks) took blocks of 224,
// 224, 224 and 112 columns, so that with the output channels split in two
// the units of one worker held 448 columns and the other's 336, and the
// faster one waited. Blocks of 196 (six panels and a tail of 4) give each
// the same: in GRCNN-55 at batch 1 the idle time at the end of the 28×28
// 1×1 layers' loops went from 1.4–1.7 to 0.4–1.25 ms of core time a
// forward (four alternations, a temporary timer in the loop), the
// forward itself level within the noise (0.990–1.022, GRCNN-55 and
// GRCNN-109), with the same bits.
func (p *convPlan) evenBlocks() bool {
	tail := p.nt % nr
	return p.path == pathPointwise && p.nb > 1 && tail != 0 && useAVX512 && useTail &&
		tail <= maxTailCols && min(p.k, kc) >= tailMinK
}

// pointwise reports whether the convolution is 1×1 with stride 1 and no
// padding, whose GEMM reads the input rows in place.
func (c *Conv2D) pointwise() bool {
	return c.KH == 1 && c.KW == 1 && c.SH == 1 && c.SW == 1 && c.PH == 0 && c.PW == 0 && c.InC != c.Groups
}

// ScratchLen is the number of float32s of scratch Forward needs for a batch:
// except for 1×1 stride-1 and depthwise convolutions, the zero-padded input
// split into stride phases and per worker a tile of output.
//
// A Gate that is not fused for this batch (see fusedGate) adds the gate's
// output and its own scratch.
func (c *Conv2D) ScratchLen(batch int) int {
	own := c.ownScratchLen(batch)
	if c.Gate == nil || c.fusedGate(batch) {
		return own
	}
	return c.gateLen(batch) + max(own, c.Gate.ScratchLen(batch))
}

// gateLen is the length of g for a batch: the shape of the output.
func (c *Conv2D) gateLen(batch int) int {
	return batch * c.OutC * c.OutH * c.OutW
}

// fusedGate reports whether ForwardUpdate computes the Gate's output per
// tile of the update: on the 1×1 GEMM path when each unit of work covers
// all output channels of its pixels, which then no other unit reads or
// updates, and with a gate on the GEMM or direct path.
func (c *Conv2D) fusedGate(batch int) bool {
	if c.Gate == nil || c.plan.path != pathPointwise || c.Groups != 1 {
		return false
	}
	if _, mBlocks := c.split(batch); mBlocks != 1 {
		return false
	}
	g := c.Gate
	return g.plan.path == pathPointwise || g.plan.path == pathDirect && g.direct.inPlace
}

// ownScratchLen is ScratchLen without an unfused Gate's part.
func (c *Conv2D) ownScratchLen(batch int) int {
	switch c.plan.path {
	case pathIm2Row:
		copies, worker := c.rowScratch(batch)
		return copies + workers()*worker
	case pathDirect:
		if c.unitPad(batch) {
			return workers() * c.unitPadLen()
		}
		return c.padLen(batch)
	}
	return c.padLen(batch) + c.sharedLen(batch) + workers()*c.workerScratch()
}

// padLen is the length of the zero-padded input of pathShift: the stride
// phases of each input channel, then the slack.
func (c *Conv2D) padLen(batch int) int {
	if c.plan.path != pathShift && (c.plan.path != pathDirect || c.direct.inPlace) {
		return 0
	}
	return batch*c.InC*c.chanLen() + c.slack()
}

// chanLen is the length of one input channel's stride phases in pathShift.
func (c *Conv2D) chanLen() int {
	return c.SH * c.SW * c.plan.ph * c.plan.pw
}

// slack is how far past the last phase the rightmost kernel tap reads for
// the discarded columns of the last output row.
func (c *Conv2D) slack() int {
	return (c.KW-1)*c.DW/c.SW + 1
}

// workerScratch is the length of one worker's part of the scratch.
func (c *Conv2D) workerScratch() int {
	switch c.plan.path {
	case pathShift:
		return packedLen(min(c.plan.k, kc), c.plan.nt) + c.plan.m*c.plan.nt // packed B, a tile of output
	case pathPointwise:
		if c.Gate != nil {
			// packed B, a tile of the result, g for a group of the gate
			// and the gate's packed B
			return packedLen(min(c.plan.k, kc), c.plan.nt) + (c.plan.m+c.Gate.plan.m)*c.plan.nt + packedLen(min(c.Gate.plan.k, kc), c.plan.nt)
		}
		if c.Update {
			return packedLen(min(c.plan.k, kc), c.plan.nt) + c.plan.m*c.plan.nt // packed B, a tile of the result
		}
		return packedLen(min(c.plan.k, kc), c.plan.nt)
	}
	return 0
}

// Forward computes out = epilogue(conv(in)). in has batch·InC·InH·InW
// elements, out batch·OutC·OutH·OutW, and scratch at least ScratchLen(batch).
func (c *Conv2D) Forward(batch int, in, out, scratch []float32) {
	if c.Update {
		panic("runtime: Conv2D.Forward called on a convolution with a fused update; call ForwardUpdate")
	}
	c.forward(batch, in, out, nil, nil, scratch, false)
}

// ForwardUpdate computes r = epilogue(conv(in)) and, instead of storing it,
// the GRCL state update xs += r·sigmoid(g + xg), or xs += r when g and xg
// are nil (an ungated cell). xs, g and xg have the shape of the output.
// Update must be set. With a Gate, g must be nil: the update computes it,
// g = Gate(xs); or, with GateBeside too, the g that GateBeside's
// ForwardBeside was given, which holds the gate's output where it
// computed it (besideRuns) and which the update otherwise ignores.
func (c *Conv2D) ForwardUpdate(batch int, in, xs, g, xg, scratch []float32) {
	if !c.Update {
		panic("runtime: Conv2D.ForwardUpdate called without Update")
	}
	n := c.gateLen(batch)
	if c.gateComputedBeside(batch) {
		if len(g) < n || len(xg) < n {
			panic(fmt.Sprintf("runtime: Conv2D.ForwardUpdate: batch %d needs gate operands of %d floats; got %d, %d", batch, n, len(g), len(xg)))
		}
		c.forward(batch, in, xs, g, xg, scratch, false)
		return
	}
	if c.Gate != nil {
		if c.GateBeside != nil {
			g = nil // GateBeside left it: the update computes g itself
		}
		if g != nil || len(xg) < n {
			panic(fmt.Sprintf("runtime: Conv2D.ForwardUpdate: batch %d with a Gate needs g nil and x_g of %d floats; got %d, %d", batch, n, len(g), len(xg)))
		}
		if len(scratch) < c.ScratchLen(batch) {
			panic(fmt.Sprintf("runtime: Conv2D.ForwardUpdate: batch %d needs scratch %d floats; got %d", batch, c.ScratchLen(batch), len(scratch)))
		}
		if !c.fusedGate(batch) {
			// g at the end of the scratch, which few convolutions
			// reach, rather than at its start, where the packed inputs of
			// the layers before it lie: their lines are in both cores'
			// caches, and writing them costs a trip to the other core.
			g, scratch = scratch[len(scratch)-n:], scratch[:len(scratch)-n]
			if c.gateBeside(batch) {
				// forward computes g in its pack phase.
				c.forward(batch, in, xs, g, xg, scratch, true)
				return
			}
			c.Gate.Forward(batch, xs[:n], g, scratch)
		}
	} else if g != nil && (len(g) < n || len(xg) < n) {
		panic(fmt.Sprintf("runtime: Conv2D.ForwardUpdate: batch %d needs gate operands of %d floats; got %d, %d", batch, n, len(g), len(xg)))
	}
	c.forward(batch, in, xs, g, xg, scratch, false)
}

// gateComputedBeside reports whether GateBeside's ForwardBeside computed
// g = Gate(xs) for a batch, which ForwardUpdate then takes.
func (c *Conv2D) gateComputedBeside(batch int) bool {
	return c.Gate != nil && c.GateBeside != nil && c.GateBeside.Beside == c.Gate && c.GateBeside.besideRuns(batch)
}

// gateBeside reports whether an unfused Gate runs in the parallel loop of
// this convolution's pack phase, beside the pack: when the pack has fewer
// units than workers and the gate's Forward is one loop that needs no
// scratch, so that the two share the loop without sharing memory. At
// batch 1 a 14×14 or 28×28 expand's 256 or 128 input channels are one
// block of k, packed by one worker while the other waited (30–35 µs at
// 14×14), and the gate's own loop ended with a barrier of its own; in one
// loop the other worker starts on the gate's groups at once. GRCNN-109 at
// batch 1 1% faster (in-process alternation, 0.989 and 0.992), GRCNN-55
// 0.3%. Where the workers pack their own copies of B (copiesB), as for
// those expands on two cores, there is no pack phase: the loop is the
// gate's alone, and each worker then packs B in the multiply's loop.
func (c *Conv2D) gateBeside(batch int) bool {
	if c.Gate == nil || c.fusedGate(batch) || c.plan.path != pathPointwise {
		return false
	}
	_, mBlocks := c.split(batch)
	p := &c.plan
	packUnits := batch * c.Groups * p.nb * ((p.k + kc - 1) / kc)
	if mBlocks == 1 || packUnits >= workers() {
		return false
	}
	// In place and without per-unit padding, a direct convolution is one
	// loop that needs no scratch.
	gc := c.Gate
	return gc.plan.path == pathDirect && gc.direct.inPlace && !gc.unitPad(batch)
}

// packBesideGate runs the pack phase's units and those of g = Gate(xs)
// in one loop; with no pack units (copiesB), the gate's alone.
func (cl *convCall) packBesideGate(packUnits int, xs, g []float32) {
	gl := cl.gateCall(cl.c.Gate, xs, g)
	defer gl.release()
	bc := besideCalls.get()
	defer besideCalls.put(bc)
	bc.a, bc.b, bc.na = cl, gl, packUnits
	bc.parallelFor(packUnits+gl.c.directUnits(cl.batch), 1, bc)
	bc.a, bc.b = nil, nil
}

// gateCall is the call state of g = gc(xs) on the direct path, for a loop
// that runs its units beside this call's own; release returns it.
func (cl *convCall) gateCall(gc *Conv2D, xs, g []float32) *convCall {
	gl := convCalls.get()
	gl.c, gl.in, gl.out, gl.scratch = gc, xs, g, nil
	gl.g, gl.xg, gl.fusedGate = nil, nil, false
	gl.batch = cl.batch
	gl.phase = phaseGEMM
	return gl
}

// release drops a gateCall's arguments and returns it to the pool.
func (cl *convCall) release() {
	cl.c, cl.in, cl.out = nil, nil, nil
	convCalls.put(cl)
}

// besideCall runs the units of two loops as one: a's first, then b's.
type besideCall struct {
	loop
	a, b body
	na   int
}

var besideCalls calls[besideCall]

func (bc *besideCall) run(lo, hi, w int) {
	if lo < bc.na {
		bc.a.run(lo, min(hi, bc.na), w)
	}
	if hi > bc.na {
		bc.b.run(max(lo, bc.na)-bc.na, hi-bc.na, w)
	}
}

// forward runs the convolution; with gateHere (see gateBeside) it also
// computes g = Gate(out), the state before the update, in its pack phase.
func (c *Conv2D) forward(batch int, in, out, g, xg, scratch []float32, gateHere bool) {
	if !c.ready {
		panic("runtime: Conv2D.Forward called without a successful Prepare")
	}
	if len(in) < batch*c.InC*c.InH*c.InW || len(out) < batch*c.OutC*c.OutH*c.OutW || len(scratch) < c.ownScratchLen(batch) {
		panic(fmt.Sprintf("runtime: Conv2D.Forward: batch %d needs in %d, out %d, scratch %d floats; got %d, %d, %d",
			batch, batch*c.InC*c.InH*c.InW, batch*c.OutC*c.OutH*c.OutW, c.ownScratchLen(batch), len(in), len(out), len(scratch)))
	}
	cl := convCalls.get()
	defer convCalls.put(cl)
	cl.c, cl.in, cl.out, cl.scratch = c, in, out, scratch // c, too, in case c was copied
	cl.g, cl.xg = g, xg
	cl.fusedGate = c.Gate != nil && g == nil
	// Each path sets the phases it runs; the others' units are GEMM or
	// direct ones (a call from the pool may hold the last call's phase).
	cl.phase = phaseGEMM
	p := &c.plan
	switch p.path {
	case pathIm2Row:
		cl.batch = batch
		cl.pb, cl.ob = c.rowSplit(batch)
		cl.planes, cl.unitPlanes = c.rowPlanes(batch), c.rowUnitPlanes(batch)
		r := &c.rows
		units := c.Groups * ((batch*r.panels + cl.pb - 1) / cl.pb) * ((r.q + cl.ob - 1) / cl.ob)
		if len(cl.packed) < workers() {
			cl.packed = make([]bool, workers())
		}
		clear(cl.packed) // each worker packs its copy in its first unit
		cl.phase = phaseGEMM
		cl.parallelFor(units, grainFor(units, cl.pb*mr*cl.ob*nr*p.k), cl)
	case pathDepthwise:
		cl.parallelFor(batch*c.OutC, grainFor(batch*c.OutC, c.OutH*c.OutW*c.KH*c.KW), cl)
	case pathDirect:
		cl.batch = batch
		if !c.direct.inPlace && !c.unitPad(batch) {
			cl.phase = phasePad
			cl.parallelFor(batch*c.InC, grainFor(batch*c.InC, c.chanLen()/4), cl)
		}
		units := c.directUnits(batch)
		cl.phase = phaseGEMM
		cl.parallelFor(units, grainFor(units, c.directRows(batch)*c.directRowLen()*p.m*p.k), cl)
	default:
		// Split the output channels too when images, groups and column
		// blocks alone give fewer than four units per worker, as for late
		// layers with 7×7 outputs at batch 1.
		base := batch * c.Groups * p.nb
		cl.mb, cl.mBlocks = c.split(batch)
		cl.batch = batch
		if p.path == pathShift {
			cl.phase = phasePad
			cl.parallelFor(batch*c.InC, grainFor(batch*c.InC, c.chanLen()/4), cl)
		}
		// When several units multiply the same columns by different
		// output channels, pack those columns once for all of them, or
		// once per worker into a copy of its own (see copiesB).
		cl.shared = cl.mBlocks > 1
		cl.perWorker = cl.shared && c.copiesB()
		if c.handsOffK(batch) {
			cl.handedOff.Store(0)
			cl.phase = phaseHandoff
			if g != nil && gateHere {
				cl.handoffBeside(g)
			} else {
				cl.parallelFor(2, 1, cl)
			}
			break
		}
		switch {
		case cl.shared && !cl.perWorker:
			cl.phase = phasePack
			packUnits := base * ((p.k + kc - 1) / kc)
			if gateHere {
				cl.packBesideGate(packUnits, out, g)
			} else {
				cl.parallelFor(packUnits, 1, cl)
			}
		case cl.perWorker:
			if gateHere {
				cl.packBesideGate(0, out, g) // the gate alone
			}
			cl.copies = gemmCopies.acquire(packedLen(p.k, p.nt))
			if len(cl.copied) < workers() {
				cl.copied = make([]int, workers())
			}
			for i := range cl.copied {
				cl.copied[i] = -1
			}
		}
		cl.phase = phaseGEMM
		units := base * cl.mBlocks
		cl.parallelFor(units, grainFor(units, min(cl.mb*mr, p.m)*p.nt*p.k), cl)
		if cl.copies != nil {
			gemmCopies.release()
		}
		cl.copies = nil
	}
	cl.c, cl.in, cl.out, cl.scratch, cl.g, cl.xg = nil, nil, nil, nil, nil, nil
}

// columns computes output columns (pixels) [j0, j0+nt) of group g of
// image b of this 1×1 convolution on the GEMM or direct path from in, the
// whole batch's input, into dst, the group's channels in rows of nt floats,
// on the calling goroutine; pack holds the GEMM path's packed input. Each
// output gets the same bits as from Forward: the same kernels sum in the
// same order.
func (c *Conv2D) columns(in []float32, b, j0, nt, g int, dst, pack []float32) {
	p := &c.plan
	plane := c.InH * c.InW
	icg := c.InC / c.Groups
	src := in[(b*c.InC+g*icg)*plane+j0 : (b*c.InC+(g+1)*icg)*plane]
	out := dst[:p.m*nt]
	if p.path == pathDirect && (p.k > kc || c.direct.rmax != mr) {
		c.directColumns(src, g, nt, out)
		return
	}
	// The GEMM packs the columns once, the prologue applied, for all of
	// a group's panels, where the direct kernels apply it for each panel
	// of 32 pixels: in a tile of the update the GEMM measured 8% faster
	// for a gate of 32 channels a group at 14×14. With k ≤ kc the direct
	// path's weights are packed as packA packs them (panels of mr rows,
	// each k columns of its rows), and both paths give the same bits.
	ep := c.groupEpilogue(g)
	wp := c.wp[g*p.m*p.k : (g+1)*p.m*p.k]
	for k0 := 0; k0 < p.k; k0 += kc {
		kl := min(kc, p.k-k0)
		e := gemmEpilogue{}
		if k0+kl == p.k {
			e = ep
		}
		tile := pack[:packedLen(kl, nt)]
		c.packInput(tile, src, g, k0, kl, nt, true)
		sgemmPacked(p.m, 0, rowPanels(p.m), nt, kl, wp[k0*p.m:(k0+kl)*p.m], tile, out, nt, k0 > 0, e)
	}
}

// split returns the most row panels of the weights a unit of work covers
// and how many such blocks a group has (block i holds panels
// [i·np/mBlocks, (i+1)·np/mBlocks) of np, see blockPanels). Output channels
// are split too when images, groups and column blocks alone give fewer than
// four units per worker, as for 14×14 and 7×7 layers at batch 1. The blocks
// differ by one panel at most, so that the workers' shares do too: 43
// panels (512 channels) in blocks of 6 left a last block of 1, and one
// worker 24 panels to the other's 19 (SK-GRCNN-109's 1×1 layers at batch 1,
// 512 channels at 14×14: 1–5% faster in three alternating runs). When the
// output channels are all there is to split (one image, group and column
// block, a 1×1 layer at 14×14 at batch 1) the blocks are guidedBlocks':
// even blocks of a quarter of a worker's share left the two cores
// finishing 10–30 µs apart with no block to take from the other, and
// blocks that shrink to single panels made GRCNN-109 1% faster at batch 1
// (forwards alternated in one process: 1.009–1.012 over four runs),
// SK-GRCNN-109 3%, GRCNN-55 level.
func (c *Conv2D) split(batch int) (mb, mBlocks int) {
	p := &c.plan
	base := batch * c.Groups * p.nb
	np := rowPanels(p.m)
	if base == 1 && c.guided != nil {
		for i := range len(c.guided) - 1 {
			mb = max(mb, c.guided[i+1]-c.guided[i])
		}
		return mb, len(c.guided) - 1
	}
	mBlocks = 1
	if want := 4 * workers(); base < want {
		mBlocks = min((want+base-1)/base, np)
	}
	return (np + mBlocks - 1) / mBlocks, mBlocks
}

// blockPanels returns the row panels [p0, p1) of block i of the mBlocks
// blocks of np panels.
func blockPanels(np, mBlocks, i int) (p0, p1 int) {
	return i * np / mBlocks, (i + 1) * np / mBlocks
}

// guidedBlocks splits np panels among w workers for a loop whose units
// are the blocks: worker i's share [np·i/w, np·(i+1)/w), as parallelFor
// hands it, in blocks of half of what is left of it, then single panels,
// every share in as many blocks. A worker that finishes first then takes
// single panels from the end of another's share instead of waiting for
// it to finish a block of several. It returns the blocks' first panels
// and np.
func guidedBlocks(np, w int) []int {
	most := (np + w - 1) / w
	blocks := 1
	for left := most; left > 1; left -= (left + 1) / 2 {
		blocks++
	}
	bounds := make([]int, 0, w*blocks+1)
	for i := range w {
		p, end := np*i/w, np*(i+1)/w
		for j := range blocks {
			bounds = append(bounds, p)
			if left := end - p; j < blocks-1 {
				// Half, leaving a panel for each block still to come.
				p += min((left+1)/2, left-(blocks-1-j))
			}
		}
	}
	return append(bounds, np)
}

// sharedLen is the length of B packed for all units, when they share it:
// per image, group and column block, k×nt floats; or, with copiesB, of
// the workers' copies, for when gemmCopies is taken: per worker one
// column block of one group.
func (c *Conv2D) sharedLen(batch int) int {
	if _, mBlocks := c.split(batch); mBlocks == 1 || c.plan.path == pathDepthwise {
		return 0
	}
	if c.copiesB() {
		return workers() * packedLen(c.plan.k, c.plan.nt)
	}
	return batch * c.Groups * c.plan.nb * packedLen(c.plan.k, c.plan.nt)
}

// copiesB reports whether, when units share B, each worker packs it once
// into a copy of its own rather than all workers packing it once together:
// when a column block of B is small (copyMaxB). Lines that one core writes
// and the other has read, or writes and the other then reads, cost a trip
// between the cores: a core packed 256 rows of 14×14 (229 KB) in 6 µs
// into a buffer only it used and in 43 µs into one the other core had just
// read. With its own copy, a worker's packing, its multiply and its next
// packing stay on its core; the shared pack of a large B (1024 input
// channels at 14×14, 917 KB) stays, since a copy per worker then fills
// each core's L2 and the convolutions around it lose more than it saves
// (GRCNN-109 at batch 1 0.6–1.7% slower with copies of every size).
func (c *Conv2D) copiesB() bool {
	return packedLen(c.plan.k, c.plan.nt) <= copyMaxB
}

// copyMaxB is the largest column block of B, in floats (256 KiB), that
// each worker packs into a copy of its own (see copiesB).
const copyMaxB = 64 << 10

func (cl *convCall) run(lo, hi, w int) {
	c := cl.c
	for u := lo; u < hi; u++ {
		if cl.phase == phasePad {
			c.padPlane(cl.in, cl.scratch, u, cl.batch)
		} else if cl.phase == phasePack {
			cl.packUnit(u)
		} else if cl.phase == phaseHandoff {
			cl.handoffUnit(u)
		} else if c.plan.path == pathDepthwise {
			c.depthwisePlane(cl.in, cl.out, u)
		} else if c.plan.path == pathIm2Row {
			cl.rowUnit(u, w)
		} else if c.plan.path == pathDirect {
			cl.directUnit(u, w)
		} else {
			cl.gemmUnit(u, w)
		}
	}
}

// handsOffK reports whether a batch runs on two workers that each take
// half of the blocks of k, the first half of each row panel handed off to
// the other worker for the second (handoffUnit), instead of both packing
// all of B together and then splitting the output channels (phasePack):
// for a 1×1 layer without an update whose one image, group and column
// block share a B too large for a copy per worker (copiesB), as the
// 1024→256 layers at 14×14 at batch 1. Each worker then packs and reads
// only its half of B's rows, the input channels that the layer before
// wrote from its own core where that layer split its output channels (the
// expand does), and what crosses between the cores is the first half's
// sums, m×n floats, where each worker read the other's half of B, k×n in
// all. That is four times less for 1024→256, and needed: with 1024→512
// (SK-GRCNN-109) the second worker writing all of the output cost the
// layers after it more than it saved (2–3% slower), so it takes 4m ≤ k.
// Each output is summed in the same order as by phasePack's units, to the
// bit. GRCNN-109 at batch 1 ran 1–2% faster (forwards alternated in one
// process), one GRCL iteration of it 2.3% (11 of 12 rounds).
func (c *Conv2D) handsOffK(batch int) bool {
	p := &c.plan
	if !handOff || workers() < 2 || batch*c.Groups*p.nb != 1 || c.Update || c.Gate != nil ||
		p.path != pathPointwise || (p.k+kc-1)/kc < 2 || 4*p.m > p.k || c.copiesB() {
		return false
	}
	_, mBlocks := c.split(batch)
	return mBlocks > 1
}

// handOff lets tests turn handsOffK off, to compare it with phasePack.
var handOff = true

// ForwardBeside computes out = epilogue(conv(in)) like Forward and, where
// besideRuns, g = Beside(in) in the same parallel loop; elsewhere it
// leaves g as it is, and the update whose GateBeside c is computes g
// itself. g has the shape of Beside's output.
func (c *Conv2D) ForwardBeside(batch int, in, out, g, scratch []float32) {
	if c.Beside == nil {
		panic("runtime: Conv2D.ForwardBeside called without Beside")
	}
	if !c.besideRuns(batch) {
		c.Forward(batch, in, out, scratch)
		return
	}
	if n := c.Beside.gateLen(batch); len(g) < n {
		panic(fmt.Sprintf("runtime: Conv2D.ForwardBeside: batch %d needs g of %d floats; got %d", batch, n, len(g)))
	}
	c.forward(batch, in, out, g, nil, scratch, true)
}

// besideRuns reports whether ForwardBeside computes Beside's output for a
// batch: when this convolution hands off k (handsOffK) and Beside is a
// direct convolution of the same input that reads it in place, one loop
// that needs no scratch, like the gate that gateBeside runs beside a pack.
func (c *Conv2D) besideRuns(batch int) bool {
	b := c.Beside
	return b != nil && c.handsOffK(batch) && b.plan.path == pathDirect && b.direct.inPlace && !b.unitPad(batch) &&
		b.InC == c.InC && b.InH == c.InH && b.InW == c.InW
}

// handoffBeside runs handsOffK's two units and the units of g =
// Beside(in) as one loop: the first worker's handoff unit, then the
// gate's units, then the second's handoff unit. The shares of the loop
// give the first worker its half of k and then the first half of the
// gate's groups, which it computes while the second finishes, and the
// second worker the other half of the groups, which it computes while the
// first hands it its first row panels; each worker's groups are the
// channels of the state its half of k packs.
func (cl *convCall) handoffBeside(g []float32) {
	gl := cl.gateCall(cl.c.Beside, cl.in, g)
	defer gl.release()
	hb := handoffCalls.get()
	defer handoffCalls.put(hb)
	hb.h, hb.gate, hb.units = cl, gl, gl.c.directUnits(cl.batch)
	hb.parallelFor(hb.units+2, 1, hb)
	hb.h, hb.gate = nil, nil
}

// handoffCall is the loop of handoffBeside: unit 0 and units+1 are the
// handoff's, those between the gate's.
type handoffCall struct {
	loop
	h, gate *convCall
	units   int
}

var handoffCalls calls[handoffCall]

func (hb *handoffCall) run(lo, hi, w int) {
	for u := lo; u < hi; u++ {
		switch u {
		case 0:
			hb.h.handoffUnit(0)
		case hb.units + 1:
			hb.h.handoffUnit(1)
		default:
			hb.gate.run(u-1, u, w)
		}
	}
}

// handoffUnit is unit u of handsOffK's loop: with u = 0 the first half of
// the blocks of k, with u = 1 the second, each packed by its worker and
// multiplied row panel by row panel; the second waits for the first to be
// done with a panel, and its last block applies the epilogue.
func (cl *convCall) handoffUnit(u int) {
	c, p := cl.c, &cl.c.plan
	blocks := (p.k + kc - 1) / kc
	kb0, kb1 := 0, blocks/2
	if u == 1 {
		kb0, kb1 = blocks/2, blocks
	}
	src := cl.bSource(0, 0)
	for kb := kb0; kb < kb1; kb++ {
		k0 := kb * kc
		cl.pack(cl.sharedTile(0, 0, 0, k0), src, 0, k0, min(kc, p.k-k0), p.n)
	}
	np := rowPanels(p.m)
	ep := c.groupEpilogue(0)
	asked := 0
	for i := range np {
		if u == 1 {
			for poll := 0; cl.handedOff.Load() <= int32(i); poll++ {
				if poll < pauseRounds {
					cpuPause()
				} else {
					spin()
				}
			}
		}
		r0 := panelStart(p.m, np, i)
		if u == 1 {
			// Ask for the first half's sums of the panels handed off and
			// not yet asked for, this one's and the next at most: the
			// micro-kernel adds them after its block's products, and
			// read from the other core there they left the first worker
			// waiting 43 µs a call for the second (25 µs with these,
			// GRCNN-109 at batch 1 1% faster, four alternated rounds).
			done := min(int(cl.handedOff.Load()), i+2)
			if done > asked {
				ra, rb := panelStart(p.m, np, asked), panelStart(p.m, np, done)
				prefetchSpan(&cl.out[ra*p.n], (rb-ra)*p.n)
				asked = done
			}
		}
		for kb := kb0; kb < kb1; kb++ {
			k0 := kb * kc
			kl := min(kc, p.k-k0)
			var e gemmEpilogue
			if k0+kl == p.k {
				e = ep
			}
			sgemmPacked(p.m, i, i+1, p.n, kl, c.wp[k0*p.m:(k0+kl)*p.m], cl.sharedTile(0, 0, 0, k0), cl.out[r0*p.n:], p.n, k0 > 0, e)
		}
		if u == 0 {
			cl.handedOff.Store(int32(i + 1))
		}
	}
}

// gemmUnit computes unit u: one block of output channels of one group and
// one block of output columns of one image.
func (cl *convCall) gemmUnit(u, w int) {
	c, p := cl.c, &cl.c.plan
	mi := u % cl.mBlocks
	u /= cl.mBlocks
	jb := u % p.nb
	u /= p.nb
	g := u % c.Groups
	b := u / c.Groups

	np := rowPanels(p.m)
	p0, p1 := blockPanels(np, cl.mBlocks, mi)
	if cl.batch*c.Groups*p.nb == 1 && c.guided != nil {
		p0, p1 = c.guided[mi], c.guided[mi+1]
	}
	j0 := jb * p.nt
	nt := min(p.nt, p.n-j0)

	outPlane := c.OutH * c.OutW
	y := cl.out[(b*c.OutC+g*p.m)*outPlane : (b*c.OutC+(g+1)*p.m)*outPlane]
	wp := c.wp[g*p.m*p.k : (g+1)*p.m*p.k]
	ws := c.workerScratch()
	pl := c.padLen(cl.batch)
	wsc := cl.scratch[pl+c.sharedLen(cl.batch)+w*ws : pl+c.sharedLen(cl.batch)+(w+1)*ws]
	// Row k of B is src[offs[k]:], packed into tile block by block.
	src := cl.bSource(b, g)
	tile := wsc[:packedLen(min(p.k, kc), p.nt)]
	rowBuf := wsc[len(tile):] // pathShift: a tile of output
	r0 := panelStart(p.m, np, p0)
	cOut, ldc := rowBuf, nt // where the GEMM writes
	if p.path != pathShift && !c.Update {
		cOut, ldc = y[r0*p.n+j0:], p.n
	}

	// The epilogue runs in the micro-kernel after the last block of k.
	ep := c.groupEpilogue(g)

	for k0 := 0; k0 < p.k; k0 += kc {
		kl := min(kc, p.k-k0)
		var e gemmEpilogue
		if k0+kl == p.k {
			e = ep
		}
		// Packing B costs little next to the multiply and measured 10-30%
		// faster than the micro-kernel reading the rows in place.
		if cl.perWorker {
			tile = cl.workerCopy(w, b, g, jb, k0)
		} else if cl.shared {
			tile = cl.sharedTile(b, g, jb, k0)
		} else {
			cl.pack(tile, src[j0:], g, k0, kl, nt)
		}
		sgemmPacked(p.m, p0, p1, nt, kl, wp[k0*p.m:(k0+kl)*p.m], tile, cOut, ldc, k0 > 0, e)
	}
	if c.Update {
		// The state update, on the tile of r while it is in cache. With
		// the gate fused, the unit covers all channels of its pixels
		// (r0 = 0): it computes g for them group by group of the gate,
		// from the state's rows it is about to update, which then come
		// from cache.
		r1 := panelStart(p.m, np, p1)
		step := r1 - r0
		var gt []float32
		if cl.fusedGate {
			step = c.OutC / c.Gate.Groups
			gt = rowBuf[p.m*nt : p.m*nt+step*nt]
		}
		for s0 := r0; s0 < r1; s0 += step {
			if gt != nil {
				if s0+2*step <= r1 {
					// The next gate group's rows, while this one's gate runs.
					cl.prefetchRows(b, g, j0, nt, s0+step, s0+2*step)
				}
				c.Gate.columns(cl.out, b, j0, nt, s0/step, gt, rowBuf[p.m*nt+step*nt:])
			}
			for r := s0; r < s0+step; r++ {
				if gt == nil && r+rowsAhead < s0+step {
					cl.prefetchRows(b, g, j0, nt, r+rowsAhead, r+rowsAhead+1)
				}
				xs := y[r*p.n+j0 : r*p.n+j0+nt]
				rt := rowBuf[(r-r0)*nt : (r-r0+1)*nt]
				at := (b*c.OutC+g*p.m+r)*p.n + j0
				switch {
				case gt != nil:
					gateUpdate(xs, rt, gt[(r-s0)*nt:(r-s0+1)*nt], cl.xg[at:at+nt])
				case cl.g == nil:
					addInto(xs, xs, rt)
				default:
					gateUpdate(xs, rt, cl.g[at:at+nt], cl.xg[at:at+nt])
				}
			}
		}
	}
	if p.path == pathShift {
		// Keep the columns of the output tile that are output positions.
		r1 := panelStart(p.m, np, p1)
		for j := j0; j < j0+nt; {
			oh, ow := j/p.pw, j%p.pw
			seg := min(p.pw-ow, j0+nt-j)
			if ow < c.OutW {
				w := min(seg, c.OutW-ow)
				for r := r0; r < r1; r++ {
					copy(y[r*outPlane+oh*c.OutW+ow:r*outPlane+oh*c.OutW+ow+w], rowBuf[(r-r0)*nt+j-j0:])
				}
			}
			j += seg
		}
	}
}

// prefetchRows asks for the cache lines of the update's operands in rows
// [r0, r1) of group g's output channels, columns [j0, j0+nt) of image b:
// the state and, with a gate, g (unless fused) and x_g. Each row of a tile
// is a short run of a long channel plane, a new stream for the hardware's
// prefetchers every few hundred bytes, so the update would wait on memory
// at the start of each row. Asking for the next gate group's rows while
// this group's gate runs, or for the rows rowsAhead on, made a gated 56×56
// expand (64→256, batch 1, its state and x_g out of cache) 6–13% faster and
// a 28×28 one (128→512) 2.5–4%, in forwards alternated in one process; in
// GRCNN-55 at batch 1 those steps' share of the forward went from 16.9–17.4%
// to 16.0–17.0% over six alternated runs.
func (cl *convCall) prefetchRows(b, g, j0, nt, r0, r1 int) {
	c, p := cl.c, &cl.c.plan
	for r := r0; r < r1; r++ {
		at := (b*c.OutC+g*p.m+r)*p.n + j0
		prefetchSpan(&cl.out[at], nt)
		if cl.g != nil {
			prefetchSpan(&cl.g[at], nt)
		}
		if cl.xg != nil {
			prefetchSpan(&cl.xg[at], nt)
		}
	}
}

// rowsAhead is how many rows of an update tile ahead prefetchRows asks for.
const rowsAhead = 2

// bSource is where the rows of B start for image b and group g: the
// group's input channels, or their padded stride phases for pathShift.
func (cl *convCall) bSource(b, g int) []float32 {
	c := cl.c
	icg := c.InC / c.Groups
	if c.plan.path == pathShift || c.plan.path == pathDirect && !c.direct.inPlace {
		return cl.scratch[(b*c.InC+g*icg)*c.chanLen() : c.padLen(cl.batch)]
	}
	inPlane := c.InH * c.InW
	return cl.in[(b*c.InC+g*icg)*inPlane : (b*c.InC+(g+1)*icg)*inPlane]
}

// workerCopy is the block of B from row k0 on, of image b, group g and
// column block jb, in worker w's copy (see copiesB), which the worker
// packs, all rows, when it holds another block.
func (cl *convCall) workerCopy(w, b, g, jb, k0 int) []float32 {
	c, p := cl.c, &cl.c.plan
	tc := packedLen(1, p.nt) // a block's packed width: whole panels
	var buf []float32
	if cl.copies != nil {
		buf = cl.copies[w][:p.k*tc]
	} else {
		at := c.padLen(cl.batch) + w*p.k*tc
		buf = cl.scratch[at : at+p.k*tc]
	}
	if blk := (b*c.Groups+g)*p.nb + jb; cl.copied[w] != blk {
		j0 := jb * p.nt
		nt := min(p.nt, p.n-j0)
		src := cl.bSource(b, g)[j0:]
		for k0 := 0; k0 < p.k; k0 += kc {
			kl := min(kc, p.k-k0)
			cl.pack(buf[k0*tc:(k0+kl)*tc], src, g, k0, kl, nt)
		}
		cl.copied[w] = blk
	}
	return buf[k0*tc : min(p.k, k0+kc)*tc]
}

// sharedTile is the block of B from row k0 on, packed in phasePack, for
// image b, group g and column block jb.
func (cl *convCall) sharedTile(b, g, jb, k0 int) []float32 {
	c, p := cl.c, &cl.c.plan
	tc := packedLen(1, p.nt) // a block's packed width: whole panels
	at := c.padLen(cl.batch) + ((b*c.Groups+g)*p.nb+jb)*p.k*tc + k0*tc
	return cl.scratch[at : at+(min(p.k, k0+kc)-k0)*tc]
}

// packUnit packs block u of B for phasePack: one block of kc rows of one
// column block of one group of one image.
func (cl *convCall) packUnit(u int) {
	c, p := cl.c, &cl.c.plan
	kBlocks := (p.k + kc - 1) / kc
	k0 := u % kBlocks * kc
	u /= kBlocks
	jb := u % p.nb
	u /= p.nb
	g := u % c.Groups
	b := u / c.Groups
	j0 := jb * p.nt
	nt := min(p.nt, p.n-j0)
	kl := min(kc, p.k-k0)
	cl.pack(cl.sharedTile(b, g, jb, k0), cl.bSource(b, g)[j0:], g, k0, kl, nt)
}

// pack packs rows [k0, k0+kl) of group g's B, nt columns from src, with
// the input prologue for pathPointwise, whose rows are input channels
// (pathShift applies it when it pads the input).
func (cl *convCall) pack(tile, src []float32, g, k0, kl, nt int) {
	cl.c.packInput(tile, src, g, k0, kl, nt, cl.c.plan.path == pathPointwise)
}

// packInput packs rows [k0, k0+kl) of group g's B, nt columns from src
// (row k at the offset of step k), through the input prologue when
// prologue is set and the convolution has one.
func (c *Conv2D) packInput(tile, src []float32, g, k0, kl, nt int, prologue bool) {
	offs := c.offs[k0 : k0+kl]
	if c.InScale == nil || !prologue {
		packOffs(tile, src, offs, nt)
		return
	}
	ch := g*(c.InC/c.Groups) + k0
	packOffsAct(tile, src, offs, nt, c.InScale[ch:ch+kl], c.InShift[ch:ch+kl], c.InRelu)
}

// groupEpilogue is the epilogue of group g's output channels.
func (c *Conv2D) groupEpilogue(g int) gemmEpilogue {
	m := c.plan.m
	ep := gemmEpilogue{relu: c.Relu}
	if c.Scale != nil {
		ep.scale = c.Scale[g*m : (g+1)*m]
	}
	if c.Shift != nil {
		ep.shift = c.Shift[g*m : (g+1)*m]
	}
	return ep
}

// tapOffset is where row k of the im2col matrix of pathShift starts in the
// stride phases of a group's input channels: the phase of input channel
// k/(KH·KW) that kernel tap k%(KH·KW) reads, shifted by the tap.
func (c *Conv2D) tapOffset(k int) int {
	p := &c.plan
	taps := c.KH * c.KW
	ic, t := k/taps, k%taps
	dy, dx := t/c.KW*c.DH, t%c.KW*c.DW
	phase := dy%c.SH*c.SW + dx%c.SW
	return ic*c.chanLen() + phase*p.ph*p.pw + dy/c.SH*p.pw + dx/c.SW
}

// padPlane writes the stride phases of input channel u (of batch·InC) of
// the zero-padded input at its place at the start of scratch.
func (c *Conv2D) padPlane(in, scratch []float32, u, batch int) {
	cl := c.chanLen()
	c.padChannel(scratch[u*cl:(u+1)*cl], in[u*c.InH*c.InW:(u+1)*c.InH*c.InW], u%c.InC)
	if u == batch*c.InC-1 {
		clear(scratch[(u+1)*cl : (u+1)*cl+c.slack()])
	}
}

// padChannel writes into dst (chanLen floats) the stride phases of input
// channel ic, src, zero-padded and read through the prologue. Each input
// row goes through the prologue once, whole, before its columns are spread
// over the phases: called on each row of a phase, 16 or 29 floats long, the
// prologue cost SK-GRCNN-109's strided selective-kernel branches at 56×56
// more than their convolution (with the gather at stride 2 in AVX-512,
// 0.71 → 0.48 ms a branch alone). With AVX-512 and strides 1, 2 or 4 one
// call does all the rows of a row phase (padPhases): the four calls a row
// had cost the grouped 3×3 at 56×56 5–10% and the 3×3/2 at 14×14 on this
// path 20% (BenchmarkConv).
func (c *Conv2D) padChannel(dst, src []float32, ic int) {
	p := &c.plan
	phase := p.ph * p.pw
	if useAVX512 && (c.SW == 1 || c.SW == 2 || c.SW == 4) {
		// One call for the rows of each row phase that hold input.
		var s, t float32
		if c.InScale != nil {
			s, t = c.InScale[ic], c.InShift[ic]
		}
		for a := range c.SH {
			// The rows i of this phase that hold input: 0 ≤ i·SH + a -
			// PH < InH. Found by a loop over the rows, they cost more
			// than the copy at 14×14 (SK-GRCNN-109's branches).
			lo := min(max(ceilDiv(c.PH-a, c.SH), 0), p.ph)
			hi := max(min(ceilDiv(c.InH+c.PH-a, c.SH), p.ph), lo)
			for b := range c.SW {
				ph := dst[(a*c.SW+b)*phase:][:phase]
				clear(ph[:lo*p.pw])
				clear(ph[hi*p.pw:])
			}
			if lo < hi {
				ih := lo*c.SH + a - c.PH
				padPhases(dst[a*c.SW*phase+lo*p.pw:], p.pw, phase, p.pw, src[ih*c.InW:], c.SH*c.InW, c.InW, c.PW,
					hi-lo, c.SW, s, t, c.InScale != nil, c.InRelu)
			}
		}
		return
	}
	var buf [padRowMax]float32
	whole := c.InScale != nil && c.InW <= padRowMax
	for a := range c.SH {
		for i := range p.ph {
			ih := i*c.SH + a - c.PH
			if ih < 0 || ih >= c.InH {
				for b := range c.SW {
					clear(dst[(a*c.SW+b)*phase+i*p.pw:][:p.pw])
				}
				continue
			}
			row := src[ih*c.InW : (ih+1)*c.InW]
			if whole {
				scaleShift(buf[:c.InW], row, c.InScale[ic], c.InShift[ic], c.InRelu)
				row = buf[:c.InW]
			}
			for b := range c.SW {
				d := dst[(a*c.SW+b)*phase+i*p.pw:][:p.pw]
				gatherRow(d, row, b-c.PW, c.SW)
				if c.InScale != nil && !whole {
					lo, hi := inside(len(d), b-c.PW, c.SW, c.InW)
					scaleShift(d[lo:hi], d[lo:hi], c.InScale[ic], c.InShift[ic], c.InRelu)
				}
			}
		}
	}
}

// ceilDiv is ⌈a/b⌉ for b > 0 and any a.
func ceilDiv(a, b int) int {
	if b == 1 {
		return a // no division, whose latency showed in padChannel
	}
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}

// padPhases pads rows input rows (each inW floats of src, srcStride
// apart) with pad zeros on the left and zeros on the right, optionally
// through the prologue max(x·s + t, 0) (without the max unless relu), and
// splits each into its m column phases (m = 1, 2 or 4; phase floats apart,
// n columns each): dst[r·rowLen + p·phase + j] gets padded column m·j + p
// of row r. AVX-512 only: one call for all the rows (see padPhasesAVX512).
func padPhases(dst []float32, rowLen, phase, n int, src []float32, srcStride, inW, pad, rows, m int, s, t float32, scaled, relu bool) {
	if rows <= 0 || n <= 0 {
		return
	}
	_ = dst[(rows-1)*rowLen+(m-1)*phase+n-1]
	_ = src[(rows-1)*srcStride+inW-1]
	padPhasesAVX512(&dst[0], rowLen, phase, n, &src[0], srcStride, inW, pad, rows, s, t, padFlags(m, scaled, relu))
}

// padFlags encodes padPhasesAVX512's flags: the phases m (1, 2 or 4) and
// the prologue.
func padFlags(m int, scaled, relu bool) int {
	flags := 0
	if scaled {
		flags = 1
		if relu {
			flags |= 2
		}
	}
	switch m {
	case 1:
		flags |= 8
	case 4:
		flags |= 4
	case 2:
	default:
		panic("runtime: padPhases: phases must be 1, 2 or 4")
	}
	return flags
}

// padRowMax is the widest input row that padChannel passes through the
// prologue whole, in a buffer on the stack, without AVX-512.
const padRowMax = 512

// gatherRow sets dst[t] = src[x0+t*stride], or 0 where that index is outside
// src (the zero padding).
func gatherRow(dst, src []float32, x0, stride int) {
	lo, hi := inside(len(dst), x0, stride, len(src))
	clear(dst[:lo])
	clear(dst[hi:])
	if lo == hi {
		return // x0+lo may lie outside src
	}
	if stride == 1 {
		copy(dst[lo:hi], src[x0+lo:])
		return
	}
	if stride == 2 && useAVX512 {
		// Blocks of 16 that read no further than the last element
		// gathered.
		if blocks := (hi - lo - 1) / 16; blocks > 0 {
			gatherEvenAVX512(&dst[lo], &src[x0+2*lo], blocks)
			lo += 16 * blocks
		}
	}
	for t := lo; t < hi; t++ {
		dst[t] = src[x0+t*stride]
	}
}

// inside returns the range [lo, hi) of t in [0, n) for which x0+t*stride
// lies in [0, size). stride is positive.
func inside(n, x0, stride, size int) (lo, hi int) {
	if stride == 1 {
		// The common case, without the divisions, which are slow next to
		// copying a short row.
		lo, hi = max(-x0, 0), size-x0
	} else {
		if x0 < 0 {
			lo = (-x0 + stride - 1) / stride
		}
		if rest := size - x0; rest > 0 {
			hi = (rest + stride - 1) / stride
		}
	}
	lo = min(lo, n)
	hi = max(min(hi, n), lo)
	return lo, hi
}

// depthwisePlane computes output plane u (image u/OutC, channel u%OutC) of
// a convolution with one input channel per group. Its GEMM would have a
// single row of KH·KW, so direct loops beat im2col.
func (c *Conv2D) depthwisePlane(in, out []float32, u int) {
	b, oc := u/c.OutC, u%c.OutC
	ic := oc / (c.OutC / c.Groups)
	inPlane := c.InH * c.InW
	outPlane := c.OutH * c.OutW
	src := in[(b*c.InC+ic)*inPlane : (b*c.InC+ic+1)*inPlane]
	dst := out[u*outPlane : (u+1)*outPlane]
	w := c.Weight[oc*c.KH*c.KW : (oc+1)*c.KH*c.KW]
	clear(dst)
	for oh := range c.OutH {
		row := dst[oh*c.OutW : (oh+1)*c.OutW]
		for kh := range c.KH {
			ih := oh*c.SH - c.PH + kh*c.DH
			if ih < 0 || ih >= c.InH {
				continue
			}
			srcRow := src[ih*c.InW : (ih+1)*c.InW]
			if c.KW == 3 && c.SW == 1 {
				c.taps3(row, srcRow, w[kh*3:kh*3+3])
				continue
			}
			for kw := range c.KW {
				x0 := kw*c.DW - c.PW
				lo, hi := inside(c.OutW, x0, c.SW, c.InW)
				if lo == hi {
					continue // x0+lo may lie outside srcRow
				}
				wv := w[kh*c.KW+kw]
				if c.SW == 1 {
					axpy(row[lo:hi], srcRow[x0+lo:], wv)
				} else {
					for t := lo; t < hi; t++ {
						row[t] += wv * srcRow[x0+t*c.SW]
					}
				}
			}
		}
	}
	c.epilogue(dst, oc)
}

// taps3 adds one input row's contribution through three kernel taps w, at
// stride 1, to an output row. It is the common depthwise 3×3 case: one pass
// over the output row instead of three halves its loads and stores.
func (c *Conv2D) taps3(row, src []float32, w []float32) {
	x0 := -c.PW // input column of tap 0 for output column 0
	// Columns [lo, hi) see all three taps inside the input; the few
	// columns at the edges check each tap.
	lo, hi := inside(len(row), x0, 1, c.InW-2*c.DW)
	if lo < hi {
		axpy3(row[lo:hi], src[x0+lo:], c.DW, w[0], w[1], w[2])
	}
	for _, edge := range [2][2]int{{0, lo}, {hi, len(row)}} {
		for t := edge[0]; t < edge[1]; t++ {
			for kw, wv := range w {
				if iw := x0 + t + kw*c.DW; iw >= 0 && iw < len(src) {
					row[t] += wv * src[iw]
				}
			}
		}
	}
}

// axpy3 computes y[i] += w0·x[i] + w1·x[i+d] + w2·x[i+2d].
func axpy3(y, x []float32, d int, w0, w1, w2 float32) {
	n := len(y)
	x0, x1, x2 := x[:n], x[d:d+n], x[2*d:2*d+n]
	for i := range y {
		y[i] += w0*x0[i] + w1*x1[i] + w2*x2[i]
	}
}

// axpy computes y += a·x over len(y) elements.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// epilogue applies output channel oc's scale, shift and ReLU to row.
func (c *Conv2D) epilogue(row []float32, oc int) {
	if c.Scale == nil && c.Shift == nil && !c.Relu {
		return
	}
	s, t := float32(1), float32(0)
	if c.Scale != nil {
		s = c.Scale[oc]
	}
	if c.Shift != nil {
		t = c.Shift[oc]
	}
	scaleShift(row, row, s, t, c.Relu)
}

// scaleShift sets dst[i] = src[i]*s + t, clamped at 0 if relu; dst and src
// may be the same slice.
func scaleShift(dst, src []float32, s, t float32, relu bool) {
	src = src[:len(dst)]
	if useAVX512 && len(dst) >= 16 && !(s == 1 && t == 0 && !relu) {
		n := len(dst) &^ 15
		scaleShiftAVX512(&dst[0], &src[0], n, s, t, relu)
		dst, src = dst[n:], src[n:]
	}
	switch {
	case relu:
		for i, v := range src {
			dst[i] = max(v*s+t, 0)
		}
	case s == 1 && t == 0:
		copy(dst, src) // leaves dst as is when in place
	default:
		for i, v := range src {
			dst[i] = v*s + t
		}
	}
}

// PackedLen is the number of floats of the packed copy of the weights that
// Prepare made (none for depthwise convolutions), for memory accounting.
func (c *Conv2D) PackedLen() int { return len(c.wp) }

// ReleaseWeight drops the layer's reference to Weight once Prepare has
// packed it, since Forward then reads only the packed copy: the
// checkpoint's tensor can be freed while a model loads, instead of living
// beside its packed copy for as long as the model does. It reports whether
// it released anything: a depthwise convolution reads Weight as it runs and
// keeps it. Prepare cannot run again after a release.
func (c *Conv2D) ReleaseWeight() bool {
	if !c.ready || c.plan.path == pathDepthwise {
		return false
	}
	c.Weight = nil
	return true
}
