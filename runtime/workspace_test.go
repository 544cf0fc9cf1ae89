package runtime_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/grcc/grcc/runtime"
)

// TestWorkspacesBound checks that no more workspaces exist than the limit,
// however many goroutines ask, and that lowering the limit frees them.
func TestWorkspacesBound(t *testing.T) {
	var p runtime.Workspaces[[64]float32]
	p.SetLimit(3)
	var inUse, peak atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				w := p.Get()
				n := inUse.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				w[0]++
				inUse.Add(-1)
				p.Put(w)
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got > 3 {
		t.Errorf("%d workspaces in use at once, limit 3", got)
	}
	if got := p.Made(); got > 3 {
		t.Errorf("%d workspaces made, limit 3", got)
	}
	p.SetLimit(1)
	if got := p.Made(); got != 1 {
		t.Errorf("after SetLimit(1): %d workspaces kept, want 1", got)
	}
}
