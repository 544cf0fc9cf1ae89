package serve

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// double is a batch function over inputs of 2 floats: each output is the
// input's sum and difference, so an answer identifies its request.
func double(in, out []float32) error {
	for i := 0; i < len(in)/2; i++ {
		out[2*i], out[2*i+1] = in[2*i]+in[2*i+1], in[2*i]-in[2*i+1]
	}
	return nil
}

// TestBatcherAnswers sends many concurrent requests of 1 to 3 inputs and
// checks that each gets exactly its own answers, that batches formed, and
// that none exceeded MaxBatch.
func TestBatcherAnswers(t *testing.T) {
	var mu sync.Mutex
	sizes := map[int]int{}
	b := NewBatcher(double, 2, 2, BatcherConfig{MaxBatch: 8, Delay: 5 * time.Millisecond, Queue: 256, Workers: 2})
	b.OnBatch = func(inputs, requests int, _ time.Duration, _ error) {
		mu.Lock()
		sizes[inputs]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for r := range 20 {
				n := 1 + (g+r)%3
				in := make([]float32, 2*n)
				for i := range n {
					in[2*i], in[2*i+1] = float32(g*1000+r*10+i), float32(i)
				}
				out, err := b.Do(context.Background(), in)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range n {
					if out[2*i] != in[2*i]+in[2*i+1] || out[2*i+1] != in[2*i]-in[2*i+1] {
						t.Errorf("request %d/%d got %v for %v", g, r, out, in)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.Close()
	batched := false
	for size := range sizes {
		if size > 8 {
			t.Errorf("a batch of %d inputs, MaxBatch 8", size)
		}
		batched = batched || size > 3
	}
	if !batched {
		t.Errorf("no batch gathered more than one request: sizes %v", sizes)
	}
}

// TestBatcherQueueFull checks that Do fails fast when the queue is full,
// and that Close answers what was queued.
func TestBatcherQueueFull(t *testing.T) {
	gate := make(chan struct{})
	var started atomic.Bool
	run := func(in, out []float32) error {
		started.Store(true)
		<-gate
		return double(in, out)
	}
	b := NewBatcher(run, 2, 2, BatcherConfig{MaxBatch: 1, Queue: 2, Workers: 1})
	results := make(chan error, 3)
	do := func() {
		_, err := b.Do(context.Background(), []float32{1, 2})
		results <- err
	}
	go do() // runs, and blocks the worker
	waitFor(t, started.Load)
	go do() // these two fill the queue
	go do()
	waitFor(t, func() bool { return b.QueueLen() == 2 })
	if _, err := b.Do(context.Background(), []float32{1, 2}); !errors.Is(err, ErrQueueFull) {
		t.Errorf("Do on a full queue: %v, want ErrQueueFull", err)
	}
	close(gate)
	for range 3 {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	b.Close()
	if _, err := b.Do(context.Background(), []float32{1, 2}); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
}

// TestBatcherCancel checks that a request whose caller left is not run and
// does not disturb the others, and that a panicking batch is an error.
func TestBatcherCancel(t *testing.T) {
	gate := make(chan struct{})
	var calls atomic.Int32
	run := func(in, out []float32) error {
		calls.Add(1)
		<-gate
		if in[0] < 0 {
			panic("negative input")
		}
		return double(in, out)
	}
	b := NewBatcher(run, 2, 2, BatcherConfig{MaxBatch: 1, Queue: 8, Workers: 1})
	defer b.Close()
	first := make(chan error, 1)
	go func() {
		_, err := b.Do(context.Background(), []float32{1, 2})
		first <- err
	}()
	waitFor(t, func() bool { return calls.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Do(ctx, []float32{3, 4}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do past its deadline: %v", err)
	}
	close(gate)
	if err := <-first; err != nil {
		t.Error(err)
	}
	out, err := b.Do(context.Background(), []float32{5, 6})
	if err != nil || out[0] != 11 || out[1] != -1 {
		t.Errorf("after a cancelled request: %v, %v", out, err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("%d batches ran, want 2 (the cancelled request must not run)", got)
	}
	if _, err := b.Do(context.Background(), []float32{-1, 0}); err == nil {
		t.Error("a panicking batch gave no error")
	}
	if _, err := b.Do(context.Background(), make([]float32, 4)); err == nil {
		t.Error("more inputs than MaxBatch accepted")
	}
}

// waitFor polls cond until it holds, for at most 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}
