//go:build !purego

package runtime

import (
	"os"
	"slices"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX512 selects the AVX-512 assembly (micro-kernels, B packing, gate
// update, scale and shift); useAVX2 selects the AVX2+FMA micro-kernels where
// AVX-512 is absent. Tests switch them to run each kernel; GRCC_KERNEL can
// lower the choice at start-up (see the package documentation).
var (
	useAVX512 = cpu.X86.HasAVX512F
	useAVX2   = !cpu.X86.HasAVX512F && hasAVX2FMA
)

// hasAVX2FMA reports whether the AVX2 micro-kernels can run here.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	switch os.Getenv("GRCC_KERNEL") {
	case "avx2":
		if hasAVX2FMA {
			useAVX512, useAVX2 = false, true
		}
	case "portable":
		useAVX512, useAVX2 = false, false
	}
}

// setKernel selects the kernels by name ("avx512", "avx2" or "portable")
// and reports whether this machine can run them; if not it changes nothing.
func setKernel(name string) bool {
	switch name {
	case "avx512":
		if !cpu.X86.HasAVX512F {
			return false
		}
		useAVX512, useAVX2 = true, false
	case "avx2":
		if !hasAVX2FMA {
			return false
		}
		useAVX512, useAVX2 = false, true
	case "portable":
		useAVX512, useAVX2 = false, false
	default:
		return false
	}
	return true
}

// avx2Masks[16-w:] is the VMASKMOVPS mask of the first w of 16 columns.
var avx2Masks = [32]int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}

// avx2Kernel is microKernel with the AVX2 kernels: it covers the h×cols
// tile with blocks of at most 6 rows and 16 columns.
func avx2Kernel(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, cols int) {
	astride := 4 * h
	for r0 := 0; r0 < h; r0 += 6 {
		hh := min(6, h-r0)
		ar := (*float32)(unsafe.Add(unsafe.Pointer(a), 4*r0))
		cr := unsafe.Add(unsafe.Pointer(c), 4*r0*ldc)
		sc, sh := scale, shift
		if flags&kScale != 0 {
			sc = (*float32)(unsafe.Add(unsafe.Pointer(scale), 4*r0))
		}
		if flags&kShift != 0 {
			sh = (*float32)(unsafe.Add(unsafe.Pointer(shift), 4*r0))
		}
		for j0 := 0; j0 < cols; j0 += 16 {
			bj := (*float32)(unsafe.Add(unsafe.Pointer(b), 4*j0))
			cj := (*float32)(unsafe.Add(cr, 4*j0))
			if w := cols - j0; w < 16 {
				avx2Masked(hh, k, ar, bj, cj, ldc, flags, sc, sh, astride, &avx2Masks[16-w])
			} else {
				avx2Full(hh, k, ar, bj, cj, ldc, flags, sc, sh, astride)
			}
		}
	}
}

func avx2Full(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, astride int) {
	switch h {
	case 1:
		sgemmAVX2x1(k, a, b, c, ldc, flags, scale, shift, astride, nil)
	case 2:
		sgemmAVX2x2(k, a, b, c, ldc, flags, scale, shift, astride, nil)
	case 3:
		sgemmAVX2x3(k, a, b, c, ldc, flags, scale, shift, astride, nil)
	case 4:
		sgemmAVX2x4(k, a, b, c, ldc, flags, scale, shift, astride, nil)
	case 5:
		sgemmAVX2x5(k, a, b, c, ldc, flags, scale, shift, astride, nil)
	default:
		sgemmAVX2x6(k, a, b, c, ldc, flags, scale, shift, astride, nil)
	}
}

func avx2Masked(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, astride int, mask *int32) {
	switch h {
	case 1:
		sgemmAVX2x1m(k, a, b, c, ldc, flags, scale, shift, astride, mask)
	case 2:
		sgemmAVX2x2m(k, a, b, c, ldc, flags, scale, shift, astride, mask)
	case 3:
		sgemmAVX2x3m(k, a, b, c, ldc, flags, scale, shift, astride, mask)
	case 4:
		sgemmAVX2x4m(k, a, b, c, ldc, flags, scale, shift, astride, mask)
	case 5:
		sgemmAVX2x5m(k, a, b, c, ldc, flags, scale, shift, astride, mask)
	default:
		sgemmAVX2x6m(k, a, b, c, ldc, flags, scale, shift, astride, mask)
	}
}

// microKernel computes the h×cols tile of C at c (h ≤ mr, cols ≤ nr); see
// goKernel.
func microKernel(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, cols int) {
	if !useAVX512 {
		if useAVX2 {
			avx2Kernel(h, k, a, b, c, ldc, flags, scale, shift, cols)
		} else {
			goKernel(h, k, a, b, c, ldc, flags, scale, shift, cols)
		}
		return
	}
	mask := uint32(1)<<uint(cols) - 1
	if cols <= 16 {
		halfKernel(h, k, a, b, c, ldc, flags, scale, shift, mask)
		return
	}
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

// offsKernel is microKernel for AVX-512 with A read in place: step p of
// k reads the h floats of A from a + offs[p] floats on (see genAVX512).
func offsKernel(h, k int, a *float32, offs *int32, b, c *float32, ldc, flags, cols int) {
	half := 0
	if cols <= 16 {
		half = 1
	}
	offsKernels[half][h-1](k, a, b, c, ldc, flags, nil, nil, uint32(1)<<uint(cols)-1, offs)
}

// halfKernel is the AVX-512 micro-kernel for a tile of at most 16 columns,
// as in a group of at most 16 output channels on the im2row path: the same
// products, for the first vector of B only.
func halfKernel(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, mask uint32) {
	switch h {
	case 1:
		sgemmAVX512x1h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 2:
		sgemmAVX512x2h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 3:
		sgemmAVX512x3h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 4:
		sgemmAVX512x4h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 5:
		sgemmAVX512x5h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 6:
		sgemmAVX512x6h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 7:
		sgemmAVX512x7h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 8:
		sgemmAVX512x8h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 9:
		sgemmAVX512x9h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 10:
		sgemmAVX512x10h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 11:
		sgemmAVX512x11h(k, a, b, c, ldc, flags, scale, shift, mask)
	case 12:
		sgemmAVX512x12h(k, a, b, c, ldc, flags, scale, shift, mask)
	default:
		panic("runtime: micro-kernel height out of range")
	}
}

//go:noescape
func sgemmAVX512x1h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x2h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x3h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x4h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x5h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x6h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x7h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x8h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x9h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x10h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x11h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

//go:noescape
func sgemmAVX512x12h(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, mask uint32)

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
func sgemmAVX2x1(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x1m(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x2(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x2m(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x3(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x3m(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x4(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x4m(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x5(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x5m(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x6(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func sgemmAVX2x6m(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, astride int, mask *int32)

//go:noescape
func packOffsAVX512(dst, src *float32, offs *int32, k, panels int, mask uint32)

//go:noescape
func packOffsActAVX512(dst, src *float32, offs *int32, k, panels int, mask uint32, scale, shift *float32, relu bool)

//go:noescape
func im2rowPackAVX512(dst, src *float32, origins, offs *int32, masks *uint16, k, taps, t0, h int, store uint16, scale, shift *float32, relu bool, win *uint32, o0 int)

// im2rowPack packs len(offs) rows of a pixel panel for the im2row path:
// row p of dst, h floats, holds for each j < h src[base+offs[p]+j], or with
// origins src[base+offs[p]+origins[j]], where masks[t] selects j, t =
// (t0+p) mod len(masks), and zero elsewhere; with scale non-nil, read
// through the prologue of channel c, which counts up from 0 each time t
// wraps. The masks must select only reads inside src. With win non-nil
// (len(masks) of them), the origins are within 32 floats of o0, and win[t]
// has bit origins[j]-o0 set for each j that masks[t] selects: the rows are
// loaded whole and permuted instead of gathered.
func im2rowPack(dst, src []float32, base int, origins, offs []int32, masks []uint16, t0, h int, scale, shift []float32, relu bool, win []uint32, o0 int) {
	k := len(offs)
	if !useAVX512 || k == 0 {
		im2rowPackGo(dst, src, base, origins, offs, masks, t0, h, scale, shift, relu)
		return
	}
	if h < 1 || h > 16 || len(dst) < k*h || t0 >= len(masks) || origins != nil && len(origins) < 16 {
		panic("runtime: im2rowPack: bad panel")
	}
	var sp, tp *float32
	if scale != nil {
		last := (t0 + k - 1) / len(masks)
		_, _ = scale[last], shift[last]
		sp, tp = &scale[0], &shift[0]
	}
	var op *int32
	if origins != nil {
		op = &origins[0]
	}
	var wp *uint32
	if win != nil && origins != nil {
		_ = win[len(masks)-1]
		wp = &win[0]
	}
	im2rowPackAVX512(&dst[0], &src[base], op, &offs[0], &masks[0], k, len(masks), t0, h, uint16(1)<<h-1, sp, tp, relu, wp, o0)
}

// packOffsAct is packOffs with a prologue per row: row p becomes
// src·scale[p] + shift[p], clamped at 0 if relu (as scaleShift computes it).
func packOffsAct(bp, src []float32, offs []int32, n int, scale, shift []float32, relu bool) {
	k := len(offs)
	if k == 0 || n <= 0 {
		return
	}
	if !useAVX512 {
		packOffsActGo(bp, src, offs, n, scale, shift, relu)
		return
	}
	hi := slices.Max(offs)
	if slices.Min(offs) < 0 {
		panic("runtime: negative B row offset")
	}
	_ = src[int(hi)+n-1]
	_ = bp[packedLen(k, n)-1]
	_, _ = scale[k-1], shift[k-1]
	panels := (n + nr - 1) / nr
	mask := uint32(1)<<uint(n-(panels-1)*nr) - 1
	packOffsActAVX512(&bp[0], &src[0], &offs[0], k, panels, mask, &scale[0], &shift[0], relu)
}

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

//go:noescape
func transposeAVX512(src *float32, ldsrc int, dst *float32, lddst int, rows, cols, flags int, scale, shift *float32)
