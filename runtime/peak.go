package runtime

import "time"

// KernelPeak measures the GFLOP/s of the matrix micro-kernel on every
// worker at once, each multiplying a 12×256 panel by a 256×32 one that sit
// in its cache: the most the convolutions can do on this machine, the
// yardstick for a model's share of it. It takes about 50 ms.
func KernelPeak() float64 {
	w := workers()
	p := &peakRun{a: make([][]float32, w), b: make([][]float32, w), c: make([][]float32, w)}
	for i := range w {
		p.a[i] = peakPanel(mr * kc)
		p.b[i] = peakPanel(kc * nr)
		p.c[i] = make([]float32, mr*nr)
		for j := range p.a[i] {
			p.a[i][j] = float32(j%7) * 0.01
		}
		for j := range p.b[i] {
			p.b[i][j] = float32(j%5) * 0.01
		}
	}
	var l loop
	best := 0.0
	for range 5 {
		t0 := time.Now()
		l.parallelFor(w, 1, p)
		flops := 2 * float64(mr*nr*kc) * peakReps * float64(w)
		best = max(best, flops/time.Since(t0).Seconds()/1e9)
	}
	return best
}

// peakPanel returns n floats followed, in the same allocation (the
// slice's capacity), by peakSlack more, all written once. The micro-kernel prefetches the next
// panel of A and the B rows 32 KiB on (see gen_sgemm.go), which in a
// convolution lie within its weights and its packed input; here they lie
// past panels allocated to size, in pages that may not be mapped, and
// every such prefetch cost a page walk: one core measured 21–26 GFLOP/s
// on unpadded panels (k = 64 to 256) against 70–103 with the slack, and
// a loop of register FMAs 103. grcc bench then reported models at
// 150–190% of that "peak".
func peakPanel(n int) []float32 {
	b := make([]float32, n+peakSlack)
	for i := range b {
		b[i] = 0
	}
	return b[:n]
}

// peakSlack covers the farthest prefetch: 32 KiB past B, one A panel
// (mr·kc floats, 12 KiB) past A.
const peakSlack = 64 << 10 / 4

// peakReps is how many products each worker computes per timing.
const peakReps = 2000

// peakRun is the body of KernelPeak's loop: unit i is worker i's products.
type peakRun struct{ a, b, c [][]float32 }

func (p *peakRun) run(lo, hi, _ int) {
	for i := lo; i < hi; i++ {
		for range peakReps {
			microKernel(mr, kc, &p.a[i][0], &p.b[i][0], &p.c[i][0], nr, 0, nil, nil, nr)
		}
	}
}
