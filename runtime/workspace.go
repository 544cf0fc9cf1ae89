package runtime

import (
	goruntime "runtime"
	"sync"
)

// Workspaces hands out a model's workspaces: the memory of one Forward in
// progress (activations and scratch), so that a model whose weights are
// read-only after loading can serve many goroutines at once. Memory stays
// at the weights plus at most one workspace per concurrent caller, up to a
// limit: a caller that finds the limit reached waits for a workspace to be
// returned. The zero value is ready to use, with a limit of GOMAXPROCS
// (a Forward already uses every core, so more at once only costs memory).
type Workspaces[W any] struct {
	mu    sync.Mutex
	cond  sync.Cond
	free  []*W
	made  int // workspaces that exist, free or in use
	limit int // 0: GOMAXPROCS
}

// SetLimit sets how many workspaces may exist at once; n <= 0 restores the
// default, GOMAXPROCS. Lowering it frees workspaces as they are returned.
func (p *Workspaces[W]) SetLimit(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit = max(n, 0)
	for len(p.free) > 0 && p.made > p.max() {
		p.free[len(p.free)-1] = nil
		p.free = p.free[:len(p.free)-1]
		p.made--
	}
	p.init()
	p.cond.Broadcast()
}

// Get returns a free workspace, a new one (zero) if none is free and the
// limit allows it, or waits for one to be returned.
func (p *Workspaces[W]) Get() *W {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	for {
		if n := len(p.free); n > 0 {
			w := p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
			return w
		}
		if p.made < p.max() {
			p.made++
			return new(W)
		}
		p.cond.Wait()
	}
}

// Put returns a workspace taken with Get.
func (p *Workspaces[W]) Put(w *W) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.made > p.max() {
		p.made-- // the limit was lowered: let this one go
	} else {
		p.free = append(p.free, w)
	}
	p.cond.Signal()
}

// Made is the number of workspaces that exist, free or in use.
func (p *Workspaces[W]) Made() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made
}

func (p *Workspaces[W]) init() {
	if p.cond.L == nil {
		p.cond.L = &p.mu
	}
}

func (p *Workspaces[W]) max() int {
	if p.limit > 0 {
		return p.limit
	}
	return max(1, goruntime.GOMAXPROCS(0))
}
