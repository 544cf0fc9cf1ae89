//go:build !purego

package runtime

// winoInputAVX512 is Winograd.inputTransform for the tiles whose lanes mask
// selects; strides are in bytes. See gen_winograd.go.
//
//go:noescape
func winoInputAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask uint32)

// winoOutputAVX512 is Winograd.outputTransform: rows output rows (1 to 4)
// and the output columns that colMask selects of each; strides are in
// bytes, flags are the micro-kernel's epilogue flags. See gen_winograd.go.
//
//go:noescape
func winoOutputAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32)

// winoInput2AVX512 is winoInputAVX512 for F(2×2, 3×3): 4×4 input tiles
// from two column phases.
//
//go:noescape
func winoInput2AVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask uint32)

// winoOutput2AVX512 is winoOutputAVX512 for F(2×2, 3×3): rows output rows
// (1 or 2) and the output columns that colMask selects of each (at most
// 32).
//
//go:noescape
func winoOutput2AVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32)

// winoInput2PairAVX512 is winoInput2AVX512 for the tiles of two tile rows
// at once: those of the first in the lanes mask selects, those of the
// second, read delta bytes further on, in the lanes mask2 selects.
//
//go:noescape
func winoInput2PairAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask, mask2 uint32, delta int)

// winoOutput2PairAVX512 is winoOutput2AVX512 for the tiles of two tile
// rows at once, those of the second from lane n on: their outputs are
// stored delta bytes after where the first row's would continue, under
// colMask2, rows2 output rows (1 or 2).
//
//go:noescape
func winoOutput2PairAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32, colMask2 uint64, delta, rows2 int)

// winoInputPairAVX512 is winoInput2PairAVX512 for F(4×4, 3×3).
//
//go:noescape
func winoInputPairAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask, mask2 uint32, delta int)

// winoOutputPairAVX512 is winoOutput2PairAVX512 for F(4×4, 3×3): the
// first row has at most 8 tiles, rows and rows2 are 1 to 4.
//
//go:noescape
func winoOutputPairAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32, colMask2 uint64, delta, rows2 int)

// winoInput42AVX512 and winoInput42PairAVX512 are winoInput2AVX512 and
// winoInput2PairAVX512 for F(4×2, 3×3): 6×4 input tiles from two column
// phases.
//
//go:noescape
func winoInput42AVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask uint32)

//go:noescape
func winoInput42PairAVX512(src *float32, chanStride, rowStride, phaseStride int, dst *float32, xiStride, channels int, mask, mask2 uint32, delta int)

// winoOutput42AVX512 and winoOutput42PairAVX512 are winoOutput2AVX512 and
// winoOutput2PairAVX512 for F(4×2, 3×3): rows and rows2 are 1 to 4.
//
//go:noescape
func winoOutput42AVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32)

//go:noescape
func winoOutput42PairAVX512(prod *float32, xiStride, channels int, dst *float32, chanStride, rowStride, rows int, colMask uint64, flags int, scale, shift *float32, colMask2 uint64, delta, rows2 int)
