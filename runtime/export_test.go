package runtime

import "math"

// PortableKernels makes the package use its pure-Go kernels until the
// returned function restores the previous choice.
func PortableKernels() (restore func()) {
	restore = saveKernel()
	useAVX512, useAVX2 = false, false
	return restore
}

// ForceKernel makes the package use the kernels named ("avx512", "avx2" or
// "portable") until the returned function restores the previous choice. ok
// is false, and nothing changes, where this machine or build cannot run them.
func ForceKernel(name string) (restore func(), ok bool) {
	restore = saveKernel()
	return restore, setKernel(name)
}

func saveKernel() (restore func()) {
	s512, s2 := useAVX512, useAVX2
	return func() { useAVX512, useAVX2 = s512, s2 }
}

// Im2RowSplit names how a prepared im2row convolution splits a batch's
// work: "wide" (units of all channels, each over its own pixels), "copies"
// (each worker prepares its input for all units once) or "unit" (units of
// some channels and some pixels, each preparing its own input).
func Workers() int { return workers() }

func Im2RowSplit(c *Conv2D, batch int) string {
	if c.plan.path != pathIm2Row {
		return "not im2row"
	}
	switch pb, ob := c.rowSplit(batch); {
	case c.rowCopies(batch):
		return "copies"
	case ob == c.rows.q && c.rows.q > 1 && (batch*c.rows.panels+pb-1)/pb*c.Groups < 4*workers():
		return "even"
	case ob == c.rows.q && c.rows.q > 1:
		return "wide"
	}
	return "unit"
}

// Im2RowPlanes reports whether a prepared im2row convolution reads a
// batch's input from shifted planes rather than packed pixel panels.
func Im2RowPlanes(c *Conv2D, batch int) bool {
	return c.plan.path == pathIm2Row && (c.rowPlanes(batch) || c.rowUnitPlanes(batch))
}

// DirectPadding reports how a prepared convolution on the direct path pads
// a batch's input: "unit" (each unit its group's channels), "shared" (all
// of it before the units), "none" (read in place) or "" off the direct path.
func DirectPadding(c *Conv2D, batch int) string {
	switch {
	case c.plan.path != pathDirect:
		return ""
	case c.direct.inPlace:
		return "none"
	case c.unitPad(batch):
		return "unit"
	}
	return "shared"
}

// DirectRowVectors reports how many output rows a kernel call of a prepared
// convolution on the direct path computes: 0 when its calls take vectors
// of one row (rows wider than 16 pixels, or 1×1 read in place).
func DirectRowVectors(c *Conv2D) int {
	if c.plan.path != pathDirect || !c.direct.rows {
		return 0
	}
	return c.direct.v
}

// ForceRowVectors makes the direct path's Prepare compute v rows a kernel
// call where rows are at most 16 pixels (0: its cost model chooses). It
// returns a function that restores the choice.
func ForceRowVectors(v int) (restore func()) {
	old := forceRowVectors
	forceRowVectors = v
	return func() { forceRowVectors = old }
}

// PoisonWinogradScratch fills the workers' own Winograd scratch with NaN,
// so that a test sees any read of scratch that the call did not write.
func PoisonWinogradScratch() {
	for _, b := range winoScratch.bufs {
		for i := range b {
			b[i] = float32(math.NaN())
		}
	}
}

// CopiesB reports whether the workers of c pack their own copies of a B
// that units share.
func CopiesB(c *Conv2D) bool { return c.copiesB() }

// HoldGEMMCopies takes the workers' own copies of B, as a concurrent call
// would, until the returned function is called.
func HoldGEMMCopies() (release func()) {
	if gemmCopies.acquire(1) == nil {
		panic("runtime: HoldGEMMCopies: already taken")
	}
	return gemmCopies.release
}

// FusedGate reports whether ForwardUpdate computes c's Gate per tile of the
// update for a batch, rather than into scratch before it.
func FusedGate(c *Conv2D, batch int) bool { return c.fusedGate(batch) }

// GateBeside reports whether ForwardUpdate computes c's unfused Gate in the
// parallel loop of its pack phase for a batch.
func GateBeside(c *Conv2D, batch int) bool { return c.gateBeside(batch) }

// HasAVX512 reports whether the package uses its AVX-512 kernels.
func HasAVX512() bool { return useAVX512 }

// UseAVX512 reports whether the AVX-512 kernels run.
func UseAVX512() bool { return useAVX512 }

// ColumnBlocks returns a prepared convolution's column blocks: their width
// and how many an image has.
func ColumnBlocks(c *Conv2D) (nt, nb int) { return c.plan.nt, c.plan.nb }

// HandsOffK reports whether c's Forward of a batch splits k between two
// workers, one handing its sums to the other (see handsOffK).
func HandsOffK(c *Conv2D, batch int) bool { return c.handsOffK(batch) }

// SetHandOff turns handsOffK on or off until restore is called.
func SetHandOff(on bool) (restore func()) {
	old := handOff
	handOff = on
	return func() { handOff = old }
}

// BesideRuns reports whether c's ForwardBeside computes its Beside's
// output for a batch.
func BesideRuns(c *Conv2D, batch int) bool { return c.besideRuns(batch) }

// TileRows reports whether c computes its products turned around (see
// tileRowsFor).
func (c *Winograd) TileRows() bool { return c.tileRows }
