package engine_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/internal/spectest"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime/checkpoint"
)

// TestConcurrentForward shares one model among goroutines running mixed
// batch sizes at once and checks every result against the serial Forward
// of the same input, bit for bit. test.sh runs it under -race. The
// workspace limit is below the number of goroutines, so some wait for one.
func TestConcurrentForward(t *testing.T) {
	for _, spec := range []string{"testdata/reference/tiny_cifar.grc", "testdata/reference/tiny_cifar_sk_shared.grc"} {
		t.Run(filepath.Base(spec), func(t *testing.T) {
			m := spectest.Engine(t, spec, 1)
			m.SetMaxWorkspaces(3)
			const goroutines, rounds = 6, 3
			il, nc := m.InputLen(), m.NumClasses()
			rng := rand.New(rand.NewPCG(5, 6))
			inputs := make([][]float32, goroutines)
			want := make([][]float32, goroutines)
			for g := range inputs {
				n := []int{1, 3, 2}[g%3]
				inputs[g] = make([]float32, n*il)
				for i := range inputs[g] {
					inputs[g][i] = 2*rng.Float32() - 1
				}
				want[g] = make([]float32, n*nc)
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
							t.Errorf("goroutine %d round %d: logits differ from the serial Forward", g, r)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestMemory prints, for each shipped spec, the weight memory and the
// workspace memory of a batch-1 Forward (the README's table):
//
//	GRCC_MEMORY=1 go test ./engine -run TestMemory -v
//
// Without GRCC_MEMORY it checks one small spec's figures for sanity.
func TestMemory(t *testing.T) {
	specs := []string{"testdata/reference/tiny_cifar.grc"}
	if os.Getenv("GRCC_MEMORY") != "" {
		found, err := filepath.Glob("../spec/*.grc")
		if err != nil {
			t.Fatal(err)
		}
		specs = specs[:0]
		for _, f := range found {
			specs = append(specs, filepath.ToSlash(f[3:]))
		}
	}
	const mib = 1 << 20
	t.Logf("| model | weights MiB | workspace, batch 1, MiB | per extra image MiB |")
	for _, spec := range specs {
		m := spectest.Engine(t, spec, 1)
		w, ws1 := m.Memory(1)
		_, ws8 := m.Memory(8)
		if w <= 0 || ws1 <= 0 || ws8 <= ws1 {
			t.Errorf("%s: weights %d bytes, workspace %d bytes at batch 1 and %d at batch 8", spec, w, ws1, ws8)
		}
		t.Logf("| %s | %s | %s | %s |", m.Name(), fmt.Sprintf("%.1f", float64(w)/mib),
			fmt.Sprintf("%.1f", float64(ws1)/mib), fmt.Sprintf("%.1f", float64(ws8-ws1)/7/mib))
	}
}

// TestNewReleasesPackedWeights checks that New moves the convolution
// weights out of the state dict (shared ones after their last user) and
// keeps the rest, and that the model, which then reads only its packed
// copies, computes what a model built from an untouched state dict does.
func TestNewReleasesPackedWeights(t *testing.T) {
	const spec = "testdata/reference/tiny_cifar_sk_shared.grc"
	src, err := os.ReadFile(filepath.Join("..", spec))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ir.Load(spec, src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(m, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sd := checkpoint.Random(engine.Params(m), 3)
	em, err := engine.New(p, sd, "random weights")
	if err != nil {
		t.Fatal(err)
	}
	convWeights := map[string]bool{}
	shared := 0
	for _, s := range p.Steps {
		if s.Kind != plan.Conv {
			continue
		}
		for _, c := range []*plan.Step{s, s.GateConv} {
			if c == nil {
				continue
			}
			convWeights[c.Conv.Weight.Key] = true
			if c.Conv.Weight.SharedWith != nil {
				shared++
			}
		}
	}
	if shared == 0 {
		t.Fatalf("%s has no shared convolution weights to test", spec)
	}
	for _, prm := range p.Model.Params {
		tensor := sd.Get(prm.Key)
		if prm.DType != "float32" {
			continue
		}
		if released := tensor.F32 == nil; released != convWeights[prm.Key] {
			t.Errorf("%s: released %v, a convolution weight %v", prm.Key, released, convWeights[prm.Key])
		}
	}
	// The same weights again, kept whole, in a second model.
	ref, err := engine.New(p, checkpoint.Random(engine.Params(m), 3), "random weights")
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, 2*em.InputLen())
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range in {
		in[i] = 2*rng.Float32() - 1
	}
	got, want := make([]float32, 2*em.NumClasses()), make([]float32, 2*em.NumClasses())
	if err := em.Forward(in, got); err != nil {
		t.Fatal(err)
	}
	if err := ref.Forward(in, want); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("outputs differ between two models of the same weights")
	}
}

// TestGateBeside runs GRCNN-55, whose 14×14 reduces compute the gate
// beside them at batch 1 on two cores (plan.Step.Beside), and checks that
// an image alone gets the same logits, bit for bit, as in a batch of two,
// where each update computes its gate itself.
func TestGateBeside(t *testing.T) {
	m := spectest.Engine(t, "spec/grcnn55.grc", 3)
	il, nc := m.InputLen(), m.NumClasses()
	rng := rand.New(rand.NewPCG(7, 8))
	in := make([]float32, 2*il)
	for i := range in {
		in[i] = 2*rng.Float32() - 1
	}
	both, alone := make([]float32, 2*nc), make([]float32, nc)
	if err := m.Forward(in, both); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(in[il:], alone); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(alone, both[nc:]) {
		t.Errorf("the second image alone gets other logits than in the batch")
	}
	beside := 0
	for _, s := range m.Steps() {
		if s.Beside != nil {
			beside++
		}
	}
	if beside != 4 {
		t.Errorf("%d steps compute a gate beside them, want 4", beside)
	}
}
