package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of Batcher.Do.
var (
	// ErrQueueFull is returned when the queue of waiting requests is at its
	// bound; the caller should retry later.
	ErrQueueFull = errors.New("queue full")
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("shutting down")
)

// BatchFunc runs one batch: in holds n inputs of the batcher's inLen floats
// each, out receives n outputs of outLen floats each.
type BatchFunc func(in, out []float32) error

// Batcher gathers concurrent requests into batches (dynamic batching): a
// worker takes the first waiting request, adds others that arrive within
// Delay until the batch holds MaxBatch inputs, runs the batch as one call,
// and hands each request its own part of the output. A request is never
// split; one that does not fit waits for the next batch. The queue of
// waiting requests is bounded; Do fails fast with ErrQueueFull when it is
// full.
type Batcher struct {
	run           BatchFunc
	inLen, outLen int
	maxBatch      int
	delay         time.Duration

	mu     sync.RWMutex // held for reading while sending on queue; Close takes it to close queue
	closed bool
	queue  chan *job
	wg     sync.WaitGroup

	// OnBatch, when set before the first Do, is called after each batch
	// with its number of inputs and requests and how long the call took.
	OnBatch func(inputs, requests int, took time.Duration, err error)
}

// BatcherConfig sizes a Batcher.
type BatcherConfig struct {
	MaxBatch int           // inputs per batch, at most; also the most one request may hold
	Delay    time.Duration // how long a batch waits for more requests; 0 takes only those already waiting
	Queue    int           // requests waiting, at most
	Workers  int           // batches running at once
}

// job is one request: its inputs and where its answer goes.
type job struct {
	ctx  context.Context
	in   []float32
	n    int
	out  []float32
	done chan error // buffered: a worker never blocks on a caller that left
}

// NewBatcher starts a batcher whose batches run through run; each input is
// inLen floats and each output outLen.
func NewBatcher(run BatchFunc, inLen, outLen int, c BatcherConfig) *Batcher {
	b := &Batcher{run: run, inLen: inLen, outLen: outLen,
		maxBatch: max(c.MaxBatch, 1), delay: max(c.Delay, 0),
		queue: make(chan *job, max(c.Queue, 1))}
	for range max(c.Workers, 1) {
		b.wg.Go(b.worker)
	}
	return b
}

// QueueLen is the number of requests waiting for a batch.
func (b *Batcher) QueueLen() int { return len(b.queue) }

// Do runs the inputs in (a whole number of inputs, at most MaxBatch of them)
// in a batch and returns their outputs. It returns ctx's error if ctx ends
// first; the request is then dropped, or its answer discarded.
func (b *Batcher) Do(ctx context.Context, in []float32) ([]float32, error) {
	n := len(in) / b.inLen
	if len(in) == 0 || len(in)%b.inLen != 0 {
		return nil, fmt.Errorf("input has %d floats, want a multiple of %d", len(in), b.inLen)
	}
	if n > b.maxBatch {
		return nil, fmt.Errorf("%d inputs, more than the %d a batch holds", n, b.maxBatch)
	}
	j := &job{ctx: ctx, in: in, n: n, done: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case b.queue <- j:
	default:
		b.mu.RUnlock()
		return nil, ErrQueueFull
	}
	b.mu.RUnlock()
	select {
	case err := <-j.done:
		return j.out, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops accepting requests, runs those already queued, and returns
// when the last batch is done.
func (b *Batcher) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// worker gathers and runs batches until the queue is closed and empty.
func (b *Batcher) worker() {
	var in, out []float32 // reused across batches
	var carry *job        // a request that did not fit the last batch
	var batch []*job
	for {
		first := carry
		carry = nil
		if first == nil {
			j, ok := <-b.queue
			if !ok {
				return
			}
			first = j
		}
		if first.ctx.Err() != nil {
			first.done <- first.ctx.Err() // its caller has left
			continue
		}
		batch = append(batch[:0], first)
		n := first.n
		var timer *time.Timer
		var timeout <-chan time.Time
		if b.delay > 0 && n < b.maxBatch {
			timer = time.NewTimer(b.delay)
			timeout = timer.C
		}
	gather:
		for n < b.maxBatch {
			var j *job
			var ok bool
			if timeout == nil {
				select {
				case j, ok = <-b.queue:
				default:
					break gather
				}
			} else {
				select {
				case j, ok = <-b.queue:
				case <-timeout:
					break gather
				}
			}
			switch {
			case !ok:
				break gather // closed: run what we have, then stop
			case j.ctx.Err() != nil:
				j.done <- j.ctx.Err()
			case n+j.n > b.maxBatch:
				carry = j
				break gather
			default:
				batch = append(batch, j)
				n += j.n
			}
		}
		if timer != nil {
			timer.Stop()
		}
		in, out = b.runBatch(batch, n, in, out)
	}
}

// runBatch runs the requests of batch, n inputs in all, and answers each.
// in and out are buffers to reuse; it returns them, grown if need be.
func (b *Batcher) runBatch(batch []*job, n int, in, out []float32) ([]float32, []float32) {
	var x []float32
	if len(batch) == 1 {
		x = batch[0].in
	} else {
		if cap(in) < n*b.inLen {
			in = make([]float32, n*b.inLen)
		}
		x = in[:n*b.inLen]
		at := 0
		for _, j := range batch {
			at += copy(x[at:], j.in)
		}
	}
	if cap(out) < n*b.outLen {
		out = make([]float32, n*b.outLen)
	}
	y := out[:n*b.outLen]
	start := time.Now()
	err := b.call(x, y)
	if b.OnBatch != nil {
		b.OnBatch(n, len(batch), time.Since(start), err)
	}
	at := 0
	for _, j := range batch {
		if err == nil {
			// Each request gets a copy: y is reused by the next batch.
			j.out = append([]float32(nil), y[at:at+j.n*b.outLen]...)
		}
		at += j.n * b.outLen
		j.done <- err
	}
	clear(batch)
	return in, out
}

// call runs the batch function, turning a panic into an error so that one
// bad batch cannot take the server down.
func (b *Batcher) call(in, out []float32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("batch failed: %v", r)
		}
	}()
	return b.run(in, out)
}
