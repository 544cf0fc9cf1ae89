package runtime

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
)

// body is a loop body split into independent units of work. run executes
// units [lo, hi) as worker w. Within one loop no two goroutines run with the
// same w at the same time, so w can select per-worker scratch.
type body interface {
	run(lo, hi, w int)
}

// loop is the shared state of one parallel loop. Each op's per-call state
// (see calls) embeds one, reused across calls, so that starting a loop
// allocates nothing: passing a pointer through the pool's channel and
// converting a pointer to body are both free. Loops of different calls,
// from any number of goroutines, share the helpers: each caller works on its
// own loop and waits only for the helpers it handed that loop to.
type loop struct {
	body    body
	n       int
	grain   int
	parts   []part
	pending atomic.Int32 // helpers handed the loop that have not finished it
	done    sync.WaitGroup
}

// part is one worker's share of a loop's units, [next, end), claimed
// from the front by its worker and, once theirs are done, by the others.
type part struct {
	next atomic.Int64
	end  int64
	_    [48]byte // a cache line each: the owners claim without contention
}

// spinRounds is how long an idle helper polls for the next loop, and a
// caller for its helpers to finish, before blocking: 100–200 µs. A forward
// pass starts a few hundred loops, one after the other, and waking a
// blocked goroutine on another core costs several microseconds (more in a
// virtual machine), which polling avoids: with it, GRCNN-55 at batch 1 on
// two cores measured 15–20% faster.
const spinRounds = 1000

// spin lets the other goroutines on this thread run, briefly, while a
// helper or a caller polls.
func spin() { goruntime.Gosched() }

// pauseRounds is how many times a helper waiting for the next loop, or a
// caller for its helpers, polls with cpuPause (about 20 ns each, 40 µs in
// all) before it polls with spin (about 110 ns each). Most waits between
// and at the end of a forward pass's loops are a few microseconds, and
// spent in Gosched they cost more than the polls: Gosched puts the
// goroutine on the scheduler's global queue under its lock, which the
// other worker's Gosched takes too, and from which the other core's
// thread may take it, so that a worker can move to the other core, away
// from the data its share of the loops keeps in that core's cache. With
// the pause first, GRCNN-109 and GRCNN-55 measured 2.1–3.5% faster at
// batch 1 (forwards alternated in one process, four rounds each); 500
// or 8000 rounds instead of 2000 made no difference.
const pauseRounds = 2000

// pool is the process-wide set of helper goroutines. It is started on first
// use and never stopped; idle helpers cost only a blocked goroutine each.
var pool struct {
	once  sync.Once
	size  int // workers including the calling goroutine
	queue chan *loop
}

// workers returns the number of goroutines that run a parallel loop,
// counting the caller, and starts the pool on first use.
func workers() int {
	pool.once.Do(func() {
		pool.size = max(1, goruntime.GOMAXPROCS(0))
		// A buffer lets a caller hand a loop to every helper without waiting
		// for them to be idle, even when several models run at once.
		pool.queue = make(chan *loop, 4*pool.size)
		for w := 1; w < pool.size; w++ {
			go helper(w)
		}
	})
	return pool.size
}

// helper is the body of helper goroutine w.
func helper(w int) {
	for {
		l := nextLoop()
		l.work(w)
		l.pending.Add(-1)
		l.done.Done()
	}
}

// nextLoop polls the queue for pauseRounds, then spinRounds, then blocks
// on it.
func nextLoop() *loop {
	for i := 0; i < pauseRounds && len(pool.queue) == 0; i++ {
		cpuPause()
	}
	for range spinRounds {
		select {
		case l := <-pool.queue:
			return l
		default:
			spin()
		}
	}
	return <-pool.queue
}

// work claims chunks of the loop until none are left: first from its own
// part, then from the others'.
func (l *loop) work(w int) {
	np := len(l.parts)
	for i := range np {
		p := &l.parts[(w+i)%np]
		for {
			lo := p.next.Add(int64(l.grain)) - int64(l.grain)
			if lo >= p.end {
				break
			}
			l.body.run(int(lo), int(min(lo+int64(l.grain), p.end)), w)
		}
	}
}

// parallelFor runs b over units [0, n), grain units at a time, on the calling
// goroutine and the pool's helpers, and returns when every unit is done.
// Each worker claims chunks from its own share of the units first, the
// caller the first share, helper w the w-th, then from the others' shares,
// so uneven units still balance themselves. The fixed shares keep data on
// one core from one loop to the next: a 1×1 convolution's worker computes
// the pixels its previous one wrote, and lines that the other core wrote
// come 2–4× slower than its own (GRCNN-55 at batch 1: 5–8% faster than
// claiming from one shared counter).
//
// A loop must not be started again before the previous call has returned,
// and b must not start parallel loops itself: helpers do not nest.
func (l *loop) parallelFor(n, grain int, b body) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	chunks := (n + grain - 1) / grain
	helpers := min(workers()-1, chunks-1)
	if helpers <= 0 {
		b.run(0, n, 0)
		return
	}
	l.body, l.n, l.grain = b, n, grain
	// Worker w starts on the w-th share of the chunks, so that loops over
	// the same data, one after the other, give each worker the same part.
	np := helpers + 1
	if cap(l.parts) < np {
		l.parts = make([]part, np)
	}
	l.parts = l.parts[:np]
	for i := range l.parts {
		l.parts[i].next.Store(int64(chunks * i / np * grain))
		l.parts[i].end = int64(min(n, chunks*(i+1)/np*grain))
	}
	l.pending.Store(int32(helpers))
	l.done.Add(helpers)
	for range helpers {
		pool.queue <- l
	}
	l.work(0)
	for i := 0; i < pauseRounds && l.pending.Load() > 0; i++ {
		cpuPause()
	}
	for i := 0; i < spinRounds && l.pending.Load() > 0; i++ {
		spin()
	}
	l.done.Wait()
	l.body = nil // do not keep the op's arguments reachable
}

// grainFor is how many units, of about work multiply-adds (or copies)
// each, make a chunk of a parallel loop. Claiming a chunk is an atomic add
// on a cache line that both cores write, which would dominate units of a
// few thousand operations (the grouped 1×1 convolutions of the GRCL gates
// have 8×8 weights a group), so chunks hold at least minChunk of work, as
// long as every worker still gets two.
func grainFor(units, work int) int {
	const minChunk = 1 << 16
	g := max(1, minChunk/max(1, work))
	return max(1, min(g, units/(2*workers())))
}

// spanCall is a parallel elementwise operation over slices of one length,
// split into chunks of spanGrain elements. Package functions without an op
// value to keep it in take one of spanSlots, or run on the caller when all
// are busy.
type spanCall struct {
	loop
	busy       atomic.Bool
	op         int
	a, b, c, d []float32
}

const (
	opGate = iota // gateUpdate(a, b, c, d)
	opAdd         // addInto(a, b, c)
)

// spanGrain is the number of elements of a unit of elementwise work: enough
// to make the hand-off cost negligible.
const spanGrain = 1 << 14

var spanSlots [16]spanCall

// runSpans runs op over a, b, c and d (the op's operands, of len(a) each),
// in parallel when they are long.
func runSpans(op int, a, b, c, d []float32) {
	n := len(a)
	if n >= 2*spanGrain && workers() > 1 {
		for i := range spanSlots {
			s := &spanSlots[i]
			if s.busy.CompareAndSwap(false, true) {
				s.op, s.a, s.b, s.c, s.d = op, a, b, c, d
				s.parallelFor((n+spanGrain-1)/spanGrain, 1, s)
				s.a, s.b, s.c, s.d = nil, nil, nil, nil
				s.busy.Store(false)
				return
			}
		}
	}
	spanOp(op, a, b, c, d, 0, n)
}

func (s *spanCall) run(lo, hi, _ int) {
	spanOp(s.op, s.a, s.b, s.c, s.d, lo*spanGrain, min(hi*spanGrain, len(s.a)))
}

// spanOp runs op over elements [lo, hi).
func spanOp(op int, a, b, c, d []float32, lo, hi int) {
	switch op {
	case opGate:
		gateUpdate(a[lo:hi], b[lo:hi], c[lo:hi], d[lo:hi])
	case opAdd:
		addInto(a[lo:hi], b[lo:hi], c[lo:hi])
	}
}

// calls is the supply of one op type's per-call state (its arguments and
// its parallel loop). Each Forward takes its own for the duration of the
// call, so any number of goroutines may run the same op at once; the pool
// keeps a warm Forward allocation-free.
type calls[T any] struct{ pool sync.Pool }

func (c *calls[T]) get() *T {
	if v, ok := c.pool.Get().(*T); ok {
		return v
	}
	return new(T)
}

func (c *calls[T]) put(v *T) { c.pool.Put(v) }

// privateScratch is memory that each worker keeps to itself from one
// parallel loop to the next, for an op's large per-worker temporaries.
// The caller's scratch is shared by every op of a model, each laying it out
// its own way, so a worker's part of it for one op was often last written
// by the other core for the op before, and every line of it first had to
// be taken from that core's cache: Winograd F(2×2) at 14×14 in a chain of
// GRCNN-109's ops, batch 1, ran 590 µs with scratch of its own and 680
// with the model's. One call at a time holds the buffers; a concurrent
// call finds them taken and uses its caller's scratch.
type privateScratch struct {
	busy atomic.Bool
	bufs [][]float32 // per worker
}

// acquire returns a buffer of at least n floats for each worker, or nil
// when another call holds them. The buffers keep what the last call wrote.
func (p *privateScratch) acquire(n int) [][]float32 {
	if !p.busy.CompareAndSwap(false, true) {
		return nil
	}
	if w := workers(); len(p.bufs) < w {
		p.bufs = append(p.bufs, make([][]float32, w-len(p.bufs))...)
	}
	for i, b := range p.bufs {
		if len(b) < n {
			p.bufs[i] = make([]float32, n)
		}
	}
	return p.bufs
}

// release hands the buffers back.
func (p *privateScratch) release() { p.busy.Store(false) }
