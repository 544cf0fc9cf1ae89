package runtime

import (
	"runtime/debug"
	"sync"
	"unsafe"
)

// Packed weights and large workspace buffers live in memory that the
// operating system is asked to back with 2 MiB pages (see
// adviseHugePages). At batch 1 the weights of a GRCNN's 14×14 and 7×7
// stages stream from memory on every forward, some 200 MB for GRCNN-109,
// and at batch 8 the activations of the 56×56 stage are 25 MB a tensor;
// with 4 KiB pages every 4 KiB of them is a TLB miss. Forwards alternated
// in one process against a model on ordinary pages: weights, GRCNN-109 at
// batch 1 about 2% faster (0.967–0.998 over five runs), GRCNN-55 0.5%;
// workspaces, at batch 8 GRCNN-109 0.958 and 0.981, SK-GRCNN-109 0.988,
// GRCNN-55 1.003 and 0.987, GRCNN-110 0.994, and level at batch 1.
const (
	hugePageBytes = 2 << 20
	// weightBlockFloats is the size of the blocks that weight buffers are
	// cut from, so that the many buffers of about 1 MiB (a 1×1
	// convolution's 1024×256) share whole pages instead of each wasting
	// most of one.
	weightBlockFloats = 32 << 20 / 4
	// minArenaFloats is the smallest buffer taken from a block: smaller
	// ones stay in cache and gain nothing.
	minArenaFloats = 64 << 10 / 4
)

// weightArena is the rest of the current block, shared by all models;
// buffers keep their block alive for as long as they are referenced.
var weightArena struct {
	sync.Mutex
	free []float32
}

// weightBuffer returns n floats for an operation's packed weights, zero.
// Buffers of 64 KiB or more come from a block on 2 MiB pages, each
// starting at a multiple of 64 bytes.
func weightBuffer(n int) []float32 {
	if n < minArenaFloats {
		return make([]float32, n)
	}
	if n > weightBlockFloats/2 {
		return hugePageBuffer(n)
	}
	weightArena.Lock()
	defer weightArena.Unlock()
	if len(weightArena.free) < n {
		weightArena.free = hugePageBuffer(weightBlockFloats)
	}
	b := weightArena.free[:n:n]
	weightArena.free = weightArena.free[min((n+15)&^15, len(weightArena.free)):]
	return b
}

// WorkspaceBuffer returns n zero floats for a model's activations or
// scratch: from 2 MiB on, starting at a 2 MiB boundary and advised onto 2
// MiB pages.
func WorkspaceBuffer(n int) []float32 {
	if n*4 < hugePageBytes {
		return make([]float32, n)
	}
	return hugePageBuffer(n)
}

// reclaimed counts the floats of checkpoint tensors released since the
// heap last gave memory back; see Reclaim.
var reclaimed struct {
	sync.Mutex
	floats int
}

// reclaimFloats is how many released floats make Reclaim collect: 16 MB.
const reclaimFloats = 16 << 20 / 4

// Reclaim tells the runtime that a loader released n floats of checkpoint
// tensors it had packed. Every 16 MB the heap is collected and its free
// memory given back, so that while a model loads the checkpoint's memory
// goes as its packed copy comes (weight blocks are too large to reuse the
// holes the tensors leave): GRCNN-109 peaked at 515 MB while loading with
// the checkpoint kept to the end, 397 MB so.
func Reclaim(n int) {
	reclaimed.Lock()
	reclaimed.floats += n
	collect := reclaimed.floats >= reclaimFloats
	if collect {
		reclaimed.floats = 0
	}
	reclaimed.Unlock()
	if collect {
		debug.FreeOSMemory()
	}
}

// hugePageBuffer returns n zero floats starting at a 2 MiB boundary,
// advised onto 2 MiB pages.
func hugePageBuffer(n int) []float32 {
	const pageFloats = hugePageBytes / 4
	b := make([]float32, n+pageFloats)
	off := (hugePageBytes - int(uintptr(unsafe.Pointer(unsafe.SliceData(b))))%hugePageBytes) % hugePageBytes / 4
	b = b[off : off+n : off+n]
	adviseHugePages(b)
	return b
}
