package runtime

import "time"

// KernelPeak measures the GFLOP/s of the matrix micro-kernel on every
// worker at once, each multiplying a 12×256 panel by a 256×32 one that sit
// in its L1 cache: the most the convolutions can do on this machine, the
// yardstick for a model's share of it. It takes about 50 ms.
func KernelPeak() float64 {
	w := workers()
	p := &peakRun{a: make([][]float32, w), b: make([][]float32, w), c: make([][]float32, w)}
	for i := range w {
		p.a[i] = make([]float32, mr*kc)
		p.b[i] = make([]float32, kc*nr)
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
