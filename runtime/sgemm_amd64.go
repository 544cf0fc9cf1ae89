//go:build !purego

package runtime

import "golang.org/x/sys/cpu"

// useAVX512 selects the assembly micro-kernels; tests clear it to run the
// portable one.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// microKernel computes the h×cols tile of C at c (h ≤ mr, cols ≤ nr); see
// goKernel.
func microKernel(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, offs *int32, cols int) {
	if !useAVX512 {
		goKernel(h, k, a, b, c, ldc, flags, scale, shift, offs, cols)
		return
	}
	mask := uint32(1)<<uint(cols) - 1
	if offs != nil {
		switch h {
		case 1:
			sgemmAVX512Dx1(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 2:
			sgemmAVX512Dx2(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 3:
			sgemmAVX512Dx3(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 4:
			sgemmAVX512Dx4(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 5:
			sgemmAVX512Dx5(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 6:
			sgemmAVX512Dx6(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 7:
			sgemmAVX512Dx7(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 8:
			sgemmAVX512Dx8(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 9:
			sgemmAVX512Dx9(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 10:
			sgemmAVX512Dx10(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 11:
			sgemmAVX512Dx11(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		case 12:
			sgemmAVX512Dx12(k, a, b, c, ldc, flags, scale, shift, offs, mask)
		default:
			panic("runtime: micro-kernel height out of range")
		}
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
func sgemmAVX512Dx1(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx2(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx3(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx4(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx5(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx6(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx7(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx8(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx9(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx10(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx11(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)

//go:noescape
func sgemmAVX512Dx12(k int, a, b, c *float32, ldc int, flags int, scale, shift *float32, offs *int32, mask uint32)
