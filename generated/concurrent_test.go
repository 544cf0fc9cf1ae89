package generated_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/grcc/grcc/generated/tiny_cifar"
	"github.com/grcc/grcc/generated/tiny_cifar_sk_shared"
)

// sharedModel is what the concurrency test needs of a generated package.
type sharedModel interface {
	Forward(in, out []float32) error
	SetMaxWorkspaces(n int)
}

// TestConcurrentForward shares one loaded model among goroutines that run
// mixed batch sizes at once, and checks every result against the serial
// Forward of the same input bit for bit. test.sh runs it under -race, which
// also proves that Forward writes nothing shared. The workspace limit is
// below the number of goroutines, so some wait for a workspace and
// workspaces pass between batch sizes.
func TestConcurrentForward(t *testing.T) {
	cifar := tiny_cifar.New()
	if err := cifar.RandomWeights(1); err != nil {
		t.Fatal(err)
	}
	sk := tiny_cifar_sk_shared.New()
	if err := sk.RandomWeights(2); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		m                    sharedModel
		inputLen, numClasses int
	}{
		"tiny_cifar":           {cifar, tiny_cifar.InputLen, tiny_cifar.NumClasses},
		"tiny_cifar_sk_shared": {sk, tiny_cifar_sk_shared.InputLen, tiny_cifar_sk_shared.NumClasses},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.m.SetMaxWorkspaces(3)
			concurrentForward(t, c.m, c.inputLen, c.numClasses)
		})
	}
}

func concurrentForward(t *testing.T, m sharedModel, inputLen, numClasses int) {
	const goroutines, rounds = 6, 3
	batches := []int{1, 3, 2}
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := make([][]float32, goroutines)
	want := make([][]float32, goroutines)
	for g := range inputs {
		n := batches[g%len(batches)]
		inputs[g] = make([]float32, n*inputLen)
		for i := range inputs[g] {
			inputs[g][i] = 2*rng.Float32() - 1
		}
		want[g] = make([]float32, n*numClasses)
		if err := m.Forward(inputs[g], want[g]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			got := make([]float32, len(want[g]))
			for r := range rounds {
				clear(got)
				if err := m.Forward(inputs[g], got); err != nil {
					t.Error(err)
					return
				}
				if !slices.Equal(got, want[g]) {
					t.Errorf("goroutine %d round %d: logits differ from the serial Forward of the same input", g, r)
					return
				}
			}
		})
	}
	wg.Wait()
}
