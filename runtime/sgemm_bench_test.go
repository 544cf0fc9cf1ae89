package runtime

import (
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"
)

// threadTime is the CPU time of the calling thread, which other processes
// on a loaded machine do not inflate.
func threadTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuRun runs f b.N times on a locked thread and reports GFLOP/s of its
// thread CPU time.
func cpuRun(b *testing.B, flops float64, f func()) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	f()
	t0 := threadTime()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(flops*float64(n)/(threadTime()-t0).Seconds()/1e9, "cpuGFLOP/s")
}

// operand returns n random floats in a buffer with the slack past them
// that the micro-kernel's prefetches reach (see peakPanel), as the
// convolutions' weights and packed inputs have.
func operand(rng *rand.Rand, n int) []float32 {
	x := peakPanel(n)
	copy(x, randVec(rng, n))
	return x
}

// BenchmarkSgemm times one unit of a 1×1 convolution's work (m×256 of C,
// k = 256) from rows of a 56×56 image, packed by packRows or packOffs, on
// one goroutine.
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const k, n, ld = 256, 256, 3136
	for _, m := range []int{24, 64, 256} {
		ap := operand(rng, m*k)
		src := randVec(rng, k*ld)
		offs := make([]int32, k)
		for p := range offs {
			offs[p] = int32(p * ld)
		}
		c := make([]float32, m*ld)
		bp := peakPanel(packedLen(k, n))
		flops := 2 * float64(m*n*k)
		b.Run(fmt.Sprintf("packed_m%d", m), func(b *testing.B) {
			cpuRun(b, flops, func() {
				packRows(bp, k, 0, k, src, ld, n)
				sgemmPacked(m, 0, rowPanels(m), n, k, ap, bp, c, ld, false, gemmEpilogue{})
			})
		})
		b.Run(fmt.Sprintf("packoffs_m%d", m), func(b *testing.B) {
			cpuRun(b, flops, func() {
				packOffs(bp, src, offs, n)
				sgemmPacked(m, 0, rowPanels(m), n, k, ap, bp, c, ld, false, gemmEpilogue{})
			})
		})
	}
}

// BenchmarkSgemmKc compares blocks of k of 64, 128 and 256 rows for
// 256×256×256 (B is not packed to match; only the timing counts).
func BenchmarkSgemmKc(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const m, n, k = 256, 256, 256
	ap := operand(rng, m*k)
	bp := operand(rng, packedLen(k, n))
	c := make([]float32, m*n)
	flops := 2 * float64(m*n*k)
	for _, kb := range []int{64, 128, 256} {
		b.Run(fmt.Sprint("kc", kb), func(b *testing.B) {
			cpuRun(b, flops, func() {
				for k0 := 0; k0 < k; k0 += kb {
					sgemmPacked(m, 0, rowPanels(m), n, kb, ap[k0*m:], bp[k0*n:], c, n, k0 > 0, gemmEpilogue{})
				}
			})
		})
	}
}

// BenchmarkSgemmKernels times the 256×256×256 product of BenchmarkSgemmKc
// (k in one block) with each micro-kernel this machine can run.
func BenchmarkSgemmKernels(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const m, n, k = 256, 256, 256
	ap := operand(rng, m*k)
	bp := operand(rng, packedLen(k, n))
	c := make([]float32, m*n)
	flops := 2 * float64(m*n*k)
	defer saveKernel()()
	for _, name := range []string{"avx512", "avx2", "portable"} {
		if !setKernel(name) {
			continue
		}
		b.Run(name, func(b *testing.B) {
			cpuRun(b, flops, func() {
				sgemmPacked(m, 0, rowPanels(m), n, k, ap, bp, c, n, false, gemmEpilogue{})
			})
		})
	}
}

// BenchmarkSgemmTail times products whose last panel of B has 4 of 32
// columns (196 outputs, a 14×14 image) with the tail kernel and without it
// (the half kernel), for blocks of 256 steps of k as the 1×1 layers of a
// 14×14 stage make them.
func BenchmarkSgemmTail(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][3]int{{256, 1024, 196}, {1024, 256, 196}, {32, 32, 196}} {
		m, k, n := sh[0], sh[1], sh[2]
		ap := operand(rng, m*k)
		bp := operand(rng, packedLen(min(k, kc), n))
		c := make([]float32, m*n)
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("m%d_k%d_n%d_tail=%v", m, k, n, on), func(b *testing.B) {
				defer func(v bool) { useTail = v }(useTail)
				useTail = on
				cpuRun(b, 2*float64(m*n*k), func() {
					for k0 := 0; k0 < k; k0 += kc {
						kl := min(kc, k-k0)
						sgemmPacked(m, 0, rowPanels(m), n, kl, ap[k0*m:(k0+kl)*m], bp[:packedLen(kl, n)], c, n, k0 > 0, gemmEpilogue{})
					}
				})
			})
		}
	}
}
