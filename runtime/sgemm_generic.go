//go:build purego || !amd64

package runtime

// useAVX512 and useAVX2 are false where the assembly kernels are not built.
var useAVX512, useAVX2 = false, false

// setKernel selects the kernels by name; only "portable" is built here.
func setKernel(name string) bool { return name == "portable" }

// microKernel computes the h×cols tile of C at c; see goKernel.
func microKernel(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, cols int) {
	goKernel(h, k, a, b, c, ldc, flags, scale, shift, cols)
}

func offsKernel(h, k int, a *float32, offs *int32, b, c *float32, ldc, flags, cols int) {
	panic("runtime: no AVX-512 in this build")
}

// packOffs packs B for sgemmPacked from rows at offsets: row p of B is
// src[offs[p] : offs[p]+n].
func packOffs(bp, src []float32, offs []int32, n int) {
	packOffsGo(bp, src, offs, n)
}

// packOffsAct is packOffs with a prologue per row; see packOffsActGo.
func packOffsAct(bp, src []float32, offs []int32, n int, scale, shift []float32, relu bool) {
	packOffsActGo(bp, src, offs, n, scale, shift, relu)
}

// im2rowPack packs rows of a pixel panel for the im2row path; see
// im2rowPackGo.
func im2rowPack(dst, src []float32, base int, origins, offs []int32, masks []uint16, t0, h int, scale, shift []float32, relu bool, _ []uint32, _ int) {
	im2rowPackGo(dst, src, base, origins, offs, masks, t0, h, scale, shift, relu)
}

func transposeAVX512(src *float32, ldsrc int, dst *float32, lddst int, rows, cols, flags int, scale, shift *float32) {
	panic("runtime: no AVX-512 in this build")
}

// directKernels are the AVX-512 kernels of the direct path, absent here.
var directKernels [4][]func(k int, a, src *float32, offs *int32, c *float32, ldc, flags int, scale, shift *float32, mask uint16)

// directRowsKernels are the AVX-512 kernels of the direct path that
// compute several rows a call, absent here.
var directRowsKernels [3][]func(k int, a, src *float32, offs *int32, c *float32, ldc, flags int, scale, shift *float32, mask uint16, inStride, outStride int)

// directActKernels are the AVX-512 kernels of the direct path with the
// input prologue, absent here.
var directActKernels [4][]func(k int, a, src *float32, offs *int32, c *float32, ldc, flags int, scale, shift *float32, mask uint16, ascale, ashift *float32, arelu bool)

// maxTailCols is 0: there is no tail kernel here.
const maxTailCols = 0

func tailKernel(cols, k int, a0, a1, b, c *float32, ldc, flags int, scale, shift *float32, h0, h1 int, idx *int32) {
	panic("runtime: no assembly kernels")
}

// rowsVKernel is never called here: tileRowsProduct takes rowsVGo.
func rowsVKernel(h, k int, a, b, c *float32, ldc, flags int, pf *float32) {
	panic("runtime: no AVX-512 in this build")
}
