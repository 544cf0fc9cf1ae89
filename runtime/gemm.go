package runtime

import "unsafe"

// Blocking of sgemmPacked. The register tile is up to mr rows of C by nr
// columns. With AVX-512 (sgemm_amd64.s, written by gen_sgemm.go) its 2·mr
// accumulators are zmm registers (24 of the 32 for mr = 12); each step of k
// loads two vectors of B, broadcasts mr values of A and issues 2·mr fused
// multiply-adds, and the epilogue (scale, shift, ReLU) runs on the
// registers before the masked stores. On one core it measured 137 GFLOP/s
// (BenchmarkSgemmKc, thread CPU time), against 160 for two 16-wide FMAs a
// cycle at 2.5 GHz. A is packed once, when a convolution is prepared, in
// panels of at most mr rows; B is packed per call in panels of nr columns.
// kc columns of an A panel (12 KiB) stay in L1 while the B tile (kc×256
// floats, 256 KiB) streams from L2; kc = 128 and 64 measured no faster.
const (
	nr = 32
	mr = 12
	kc = 256
)

// packedLen is the length of a k×n matrix packed by packRows: whole panels
// of nr columns.
func packedLen(k, n int) int {
	return k * ((n + nr - 1) / nr * nr)
}

// packRows stores rows [r0, r0+rows) of a k×n matrix B packed for
// sgemmPacked, taking row r0+i from src[i*ld : i*ld+n]. Packed, B is a
// sequence of panels of nr columns, each holding its k rows of nr floats one
// after the other, so that the micro-kernel reads it sequentially. Columns
// past n in the last panel are set to zero.
func packRows(bp []float32, k, r0, rows int, src []float32, ld, n int) {
	for q := range (n + nr - 1) / nr {
		panel := bp[(q*k+r0)*nr : (q*k+r0+rows)*nr]
		j := q * nr
		if j+nr <= n {
			for i := range rows {
				*(*[nr]float32)(panel[i*nr:]) = *(*[nr]float32)(src[i*ld+j:])
			}
			continue
		}
		for i := range rows {
			dst := panel[i*nr : (i+1)*nr]
			copy(dst, src[i*ld+j:i*ld+n])
			clear(dst[n-j:])
		}
	}
}

// rowPanels is the number of panels packA splits m rows into. The panels
// have as even heights as possible, all at most mr, so that no panel is
// much shorter than the others: 64 rows make panels of 10 and 11 rows
// rather than five of 12 and one of 4.
func rowPanels(m int) int {
	return (m + mr - 1) / mr
}

// panelStart is the first row of panel i of the np panels of m rows; panel
// i has rows [panelStart(m, np, i), panelStart(m, np, i+1)).
func panelStart(m, np, i int) int {
	return i * m / np
}

// packA stores the m×k row-major matrix a (row stride lda) in dst, of length
// m·k, packed for sgemmPacked: in blocks of kc columns, block k0 at
// dst[k0·m:]; within a block of kl columns, panel i of rows [r0, r1) at
// offset r0·kl, holding its kl columns of r1-r0 floats one after the other.
func packA(dst, a []float32, m, k, lda int) {
	np := rowPanels(m)
	for k0 := 0; k0 < k; k0 += kc {
		kl := min(kc, k-k0)
		for i := range np {
			r0, r1 := panelStart(m, np, i), panelStart(m, np, i+1)
			h := r1 - r0
			pan := dst[k0*m+r0*kl : k0*m+r1*kl]
			for r := range h {
				row := a[(r0+r)*lda+k0 : (r0+r)*lda+k0+kl]
				for p, v := range row {
					pan[p*h+r] = v
				}
			}
		}
	}
}

// gemmEpilogue is what sgemmPacked applies to each row i of C after the
// product: y = y*scale[i] + shift[i], then max(y, 0) if relu. A nil scale
// means 1 and a nil shift 0; the zero value does nothing.
type gemmEpilogue struct {
	scale, shift []float32
	relu         bool
}

// flags are the micro-kernel flags of the epilogue (kScale, kShift,
// kRelu), which every assembly kernel with an epilogue takes.
func (ep gemmEpilogue) flags() int {
	f := 0
	if ep.scale != nil {
		f |= kScale
	}
	if ep.shift != nil {
		f |= kShift
	}
	if ep.relu {
		f |= kRelu
	}
	return f
}

// Flags of a micro-kernel call.
const (
	kAccumulate = 1 << iota // C += A·B instead of C = A·B
	kScale                  // multiply row i by scale[i]
	kShift                  // add shift[i] to row i
	kRelu                   // clamp at 0
)

// sgemmPacked computes the rows of C = A·B, or C += A·B when accumulate is
// set, that row panels [p0, p1) of A cover, then applies ep to
// them. A is m×k packed by packA (ap is the block of the packed matrix that
// holds these k columns: m·k floats), B is k×n packed by packRows or
// packOffs, and C is row-major with row stride ldc, its first computed row (the first of panel
// p0) at c[0]. It is the single entry point of the matrix multiply.
func sgemmPacked(m, p0, p1, n, k int, ap, bp, c []float32, ldc int, accumulate bool, ep gemmEpilogue) {
	if m <= 0 || n <= 0 || p0 >= p1 {
		return
	}
	np := rowPanels(m)
	r0, r1 := panelStart(m, np, p0), panelStart(m, np, p1)
	// Check the bounds the kernels rely on once, here.
	if k > 0 {
		_ = ap[m*k-1]
		_ = bp[packedLen(k, n)-1]
	}
	_ = c[(r1-r0-1)*ldc+n-1]
	flags := ep.flags()
	if accumulate {
		flags |= kAccumulate
	}
	var scale, shift []float32
	if ep.scale != nil {
		scale = ep.scale[:r1]
	}
	if ep.shift != nil {
		shift = ep.shift[:r1]
	}
	panels := (n + nr - 1) / nr
	// A last panel of a few columns goes to the tail kernel, two panels
	// of rows at a time, after their other panels: the 4 columns a 14×14
	// image leaves after six panels of 32 took two thirds of a full
	// panel's time in the half kernel, and the 1×1 layers of a 14×14
	// stage (1024→256 and 256→1024) run 8–12% faster on one core
	// (BenchmarkSgemmTail, 183 → 206 and 185 → 201 GFLOP/s). Its
	// gathers and scatters of C cost more than that saves for short k:
	// at k = 32 it was 14% slower, at 64 level.
	tail := 0
	if useAVX512 && useTail && n%nr <= maxTailCols && k >= tailMinK {
		tail = n % nr
	}
	var idx [16]int32 // the tail kernel's row offsets in C
	if tail > 0 {
		for r := range idx {
			idx[r] = int32(r * ldc)
		}
	}
	rowScale := func(v []float32, s0 int) *float32 {
		if v == nil {
			return nil
		}
		return &v[s0]
	}
	for i := p0; i < p1; i += 2 {
		for ii := i; ii < min(i+2, p1); ii++ {
			s0, s1 := panelStart(m, np, ii), panelStart(m, np, ii+1)
			a := unsafe.Pointer(unsafe.SliceData(ap[s0*k:]))
			for q := range panels {
				j0 := q * nr
				cols := min(nr, n-j0)
				if cols == tail {
					break
				}
				b := unsafe.Pointer(unsafe.SliceData(bp[q*k*nr:]))
				microKernel(s1-s0, k, (*float32)(a), (*float32)(b), &c[(s0-r0)*ldc+j0], ldc, flags, rowScale(scale, s0), rowScale(shift, s0), cols)
			}
		}
		if tail > 0 {
			s0, s1, s2 := panelStart(m, np, i), panelStart(m, np, i+1), panelStart(m, np, min(i+2, p1))
			a0 := (*float32)(unsafe.Pointer(unsafe.SliceData(ap[s0*k:])))
			a1 := (*float32)(unsafe.Pointer(unsafe.SliceData(ap[s1*k:]))) // not read when s2 = s1
			b := (*float32)(unsafe.Pointer(unsafe.SliceData(bp[(panels-1)*k*nr:])))
			tailKernel(tail, k, a0, a1, b, &c[(s0-r0)*ldc+n-tail], ldc, flags, rowScale(scale, s0), rowScale(shift, s0), s1-s0, s2-s1, &idx[0])
		}
	}
}

// tailMinK is the fewest steps of k for which sgemmPacked uses the tail
// kernel.
const tailMinK = 96

// useTail lets tests turn the tail kernel off, to compare it with the
// half and full kernels that would otherwise compute the last panel.
var useTail = true

// goKernel is the portable micro-kernel: the h×cols tile of C at c (row
// stride ldc) from the A panel a (k columns of h floats) and the B panel b
// (k rows of nr floats), with the flags' accumulation and epilogue. It works
// on eight columns at a time, which Go keeps in registers.
func goKernel(h, k int, a, b, c *float32, ldc, flags int, scale, shift *float32, cols int) {
	as := unsafe.Slice(a, h*k)
	bs := unsafe.Slice(b, nr*k)
	cs := unsafe.Slice(c, (h-1)*ldc+cols)
	for i := range h {
		s, t := float32(1), float32(0)
		if flags&kScale != 0 {
			s = *(*float32)(unsafe.Add(unsafe.Pointer(scale), 4*i))
		}
		if flags&kShift != 0 {
			t = *(*float32)(unsafe.Add(unsafe.Pointer(shift), 4*i))
		}
		for j0 := 0; j0 < cols; j0 += 8 {
			var c0, c1, c2, c3, c4, c5, c6, c7 float32
			for p := range k {
				av := as[p*h+i]
				x := (*[8]float32)(bs[p*nr+j0:])
				c0 += av * x[0]
				c1 += av * x[1]
				c2 += av * x[2]
				c3 += av * x[3]
				c4 += av * x[4]
				c5 += av * x[5]
				c6 += av * x[6]
				c7 += av * x[7]
			}
			acc := [8]float32{c0, c1, c2, c3, c4, c5, c6, c7}
			row := cs[i*ldc+j0 : i*ldc+min(j0+8, cols)]
			for j := range row {
				v := acc[j]
				if flags&kAccumulate != 0 {
					v += row[j]
				}
				v = float32(v*s) + t // no fused multiply-add: the same bits as the assembly
				if flags&kRelu != 0 {
					v = max(v, 0)
				}
				row[j] = v
			}
		}
	}
}

// dot returns Σ a[i]·b[i] over len(a) elements, with four partial sums to
// hide the latency of the floating-point adds (64 with AVX-512).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	if useAVX512 && len(a) >= 16 {
		return dotAVX512(&a[0], &b[0], len(a))
	}
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x := (*[4]float32)(a[i:])
		y := (*[4]float32)(b[i:])
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// packOffsGo is the portable packOffs.
func packOffsGo(bp, src []float32, offs []int32, n int) {
	k := len(offs)
	for p, o := range offs {
		packRows(bp, k, p, 1, src[o:], 0, n)
	}
}

// packOffsActGo is the portable packOffsAct: packOffs, then the prologue
// on each packed row.
func packOffsActGo(bp, src []float32, offs []int32, n int, scale, shift []float32, relu bool) {
	k := len(offs)
	packOffsGo(bp, src, offs, n)
	for q := range (n + nr - 1) / nr {
		for p := range k {
			row := bp[(q*k+p)*nr : (q*k+p+1)*nr]
			scaleShift(row, row, scale[p], shift[p], relu)
		}
	}
}
