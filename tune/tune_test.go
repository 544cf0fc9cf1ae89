package tune

import (
	"strings"
	"testing"
	"time"

	"github.com/grcc/grcc/codegen"
	"github.com/grcc/grcc/internal/spectest"
	"github.com/grcc/grcc/plan"
)

// TestTuneTriesEveryCandidate tunes the small reference models briefly and
// checks that every candidate of every class was built, gave the cost
// model's logits (Tune compares them) and was timed, and that the choices
// build. It is also a test of every algorithm on every convolution class
// of those models.
func TestTuneTriesEveryCandidate(t *testing.T) {
	for _, path := range []string{"testdata/reference/tiny_cifar.grc", "testdata/reference/tiny_imagenet_sk.grc"} {
		m := spectest.Model(t, path)
		cls, err := classes(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(cls) == 0 {
			t.Fatalf("%s: no class with a choice to make", path)
		}
		choices, trials, err := Tune(m, Options{Rounds: 2, Time: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		tried := map[string]int{}
		for _, tr := range trials {
			if tr.Err != nil {
				t.Errorf("%s: %v", path, tr)
			}
			if tr.Err == nil && len(tr.Ratios) != 2 {
				t.Errorf("%s: %v: %d rounds, want 2", path, tr, len(tr.Ratios))
			}
			tried[tr.Class]++
		}
		for _, c := range cls {
			// Every candidate but the first choice, once; a class that
			// switched compares its later candidates with the new one.
			if want := len(c.candidates) - 1; tried[c.name] != want {
				t.Errorf("%s: %s: %d trials, want %d", path, c.name, tried[c.name], want)
			}
		}
		for class, ch := range choices {
			if !strings.Contains(ch.Why, "tune") {
				t.Errorf("%s: %s: why %q does not say it was tuned", path, class, ch.Why)
			}
		}
		if _, err := plan.Build(m, plan.Options{Algorithms: choices, Verify: true}); err != nil {
			t.Errorf("%s: the tuned choices do not build: %v", path, err)
		}
	}
}

// TestTunedCode checks that a choice reaches the generated Go code: the
// step's comment and the package documentation say it was tuned and why.
func TestTunedCode(t *testing.T) {
	m := spectest.Model(t, "testdata/reference/tiny_cifar.grc")
	cls, err := classes(m)
	if err != nil {
		t.Fatal(err)
	}
	c := cls[0]
	var other string
	for _, a := range c.candidates {
		if a != c.algo {
			other = a
			break
		}
	}
	files, err := codegen.Generate(m, codegen.Options{Package: "tiny", Targets: []string{"go"},
		Algorithms: map[string]plan.Choice{c.name: {Algo: other, Why: "tuned, ×0.9 in the test"}}})
	if err != nil {
		t.Fatal(err)
	}
	src := string(files["model.go"])
	for _, want := range []string{"grcc build -tune chose", c.name + ": " + other + ", tuned, ×0.9 in the test", "(tuned)"} {
		if !strings.Contains(src, want) {
			t.Errorf("model.go lacks %q", want)
		}
	}
}

func TestKept(t *testing.T) {
	for _, c := range []struct {
		ratios []float64
		want   bool
	}{
		{[]float64{0.95, 0.97}, true},
		{[]float64{0.95, 0.99}, false}, // one round saved too little
		{[]float64{1.2, 0.9}, false},
		{nil, false},
	} {
		if got := kept(c.ratios, 0.015); got != c.want {
			t.Errorf("kept(%v) = %v, want %v", c.ratios, got, c.want)
		}
	}
	if r := (Trial{Ratios: []float64{1.1, 0.9, 1.0}}).Ratio(); r != 1.0 {
		t.Errorf("median ratio %v, want 1", r)
	}
}
