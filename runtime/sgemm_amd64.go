//go:build !purego

package runtime

import (
	"slices"

	"golang.org/x/sys/cpu"
)

// useAVX512 selects the assembly micro-kernels; tests clear it to run the
// portable one.
var useAVX512 = cpu.X86.HasAVX512F

// microKernel computes the h×cols tile of C at c (h ≤ mr, cols ≤ nr); see
// goKernel.
func microKernel(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, cols int) {
	if !useAVX512 {
		goKernel(h, k, a, b, c, ldc, flags, scale, shift, cols)
		return
	}
	mask := uint32(1)<<uint(cols) - 1
	switch h {
	case 1:
		sgemmAVX512x1(k, a, b, c, ldc, flags, scale, shift, mask)
	case 2:
		sgemmAVX512x2(k, a, b, c, ldc, flags, scale, shift, mask)
	case 3:
		sgemmAVX512x3(k, a, b, c, ldc, flags, scale, shift, mask)
	case 4:
		sgemmAVX512x4(k, a, b, c, ldc, flags, scale, shift, mask)
	case 5:
		sgemmAVX512x5(k, a, b, c, ldc, flags, scale, shift, mask)
	case 6:
		sgemmAVX512x6(k, a, b, c, ldc, flags, scale, shift, mask)
	case 7:
		sgemmAVX512x7(k, a, b, c, ldc, flags, scale, shift, mask)
	case 8:
		sgemmAVX512x8(k, a, b, c, ldc, flags, scale, shift, mask)
	case 9:
		sgemmAVX512x9(k, a, b, c, ldc, flags, scale, shift, mask)
	case 10:
		sgemmAVX512x10(k, a, b, c, ldc, flags, scale, shift, mask)
	case 11:
		sgemmAVX512x11(k, a, b, c, ldc, flags, scale, shift, mask)
	case 12:
		sgemmAVX512x12(k, a, b, c, ldc, flags, scale, shift, mask)
	default:
		panic("runtime: micro-kernel height out of range")
	}
}

//go:noescape
func sgemmAVX512x1(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x2(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x3(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x4(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x5(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x6(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x7(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x8(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x9(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x10(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x11(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x12(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func packOffsAVX512(dst, src *float32, offs *int32, k, panels int, mask uint32)

// packOffs packs B for sgemmPacked from rows at offsets: row p of B is
// src[offs[p] : offs[p]+n]. bp holds packedLen(len(offs), n) floats.
func packOffs(bp, src []float32, offs []int32, n int) {
	k := len(offs)
	if k == 0 || n <= 0 {
		return
	}
	if !useAVX512 {
		packOffsGo(bp, src, offs, n)
		return
	}
	hi := slices.Max(offs)
	if slices.Min(offs) < 0 {
		panic("runtime: negative B row offset")
	}
	_ = src[int(hi)+n-1]
	_ = bp[packedLen(k, n)-1]
	panels := (n + nr - 1) / nr
	mask := uint32(1)<<uint(n-(panels-1)*nr) - 1
	packOffsAVX512(&bp[0], &src[0], &offs[0], k, panels, mask)
}
