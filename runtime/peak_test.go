package runtime_test

import (
	"math"
	"testing"

	"github.com/grcc/grcc/runtime"
)

func TestKernelPeak(t *testing.T) {
	p := runtime.KernelPeak()
	if !(p > 0) || math.IsInf(p, 0) {
		t.Fatalf("KernelPeak() = %v, want a positive GFLOP/s", p)
	}
}
