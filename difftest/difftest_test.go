package difftest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grcc/grcc/codegen"
	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/generated/grcnn109"
	"github.com/grcc/grcc/generated/grcnn110"
	"github.com/grcc/grcc/generated/grcnn110_sk"
	"github.com/grcc/grcc/generated/grcnn110_sk_shared"
	"github.com/grcc/grcc/generated/grcnn55"
	"github.com/grcc/grcc/generated/grcnn56"
	"github.com/grcc/grcc/generated/grcnn56_shared"
	"github.com/grcc/grcc/generated/skgrcnn109"
	"github.com/grcc/grcc/generated/skgrcnn55"
	"github.com/grcc/grcc/generated/tiny_cifar"
	"github.com/grcc/grcc/generated/tiny_cifar_sk_shared"
	"github.com/grcc/grcc/generated/tiny_imagenet"
	"github.com/grcc/grcc/generated/tiny_imagenet_sk"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime/checkpoint"
	"github.com/grcc/grcc/runtime/npy"
)

// Tolerances. Every comparison requires max|got − want| ≤ 1e-4 · max|want|,
// want being PyTorch's float32 logits. A case only counts when it is well
// conditioned: PyTorch's own float32 logits must agree with its float64
// logits to 1e-5 · max|want|, ten times tighter, so that float32 rounding
// stays far below the tolerance (make_case.py's weights keep it near 1e-7).
const (
	tolerance    = 1e-4
	conditioning = 1e-5
)

// generatedModel is what the test needs of a generated package.
type generatedModel interface {
	Load(path string) error
	Forward(in, out []float32) error
}

var generatedPackages = map[string]func() generatedModel{
	"grcnn55":              func() generatedModel { return grcnn55.New() },
	"skgrcnn55":            func() generatedModel { return skgrcnn55.New() },
	"grcnn109":             func() generatedModel { return grcnn109.New() },
	"skgrcnn109":           func() generatedModel { return skgrcnn109.New() },
	"grcnn56":              func() generatedModel { return grcnn56.New() },
	"grcnn110":             func() generatedModel { return grcnn110.New() },
	"grcnn110_sk":          func() generatedModel { return grcnn110_sk.New() },
	"grcnn56_shared":       func() generatedModel { return grcnn56_shared.New() },
	"grcnn110_sk_shared":   func() generatedModel { return grcnn110_sk_shared.New() },
	"tiny_imagenet":        func() generatedModel { return tiny_imagenet.New() },
	"tiny_imagenet_sk":     func() generatedModel { return tiny_imagenet_sk.New() },
	"tiny_cifar":           func() generatedModel { return tiny_cifar.New() },
	"tiny_cifar_sk_shared": func() generatedModel { return tiny_cifar_sk_shared.New() },
}

// job is one case for make_case.py.
type job struct {
	Module          string `json:"module"`
	Seed            int    `json:"seed"`
	Out             string `json:"out"`
	Batch           int    `json:"batch"`
	Legacy          bool   `json:"legacy"`
	TrainCheckpoint bool   `json:"train_checkpoint"`
}

type diffCase struct {
	name  string
	model *ir.Model
	src   string // the spec, printed when the case fails
	job   job
}

// python finds a Python with PyTorch, or skips.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import torch, numpy").Run() == nil {
			return p
		}
	}
	t.Skip("no python3 with torch and numpy; ./test.sh installs Debian's python3-torch")
	return ""
}

// makeCases emits each case's PyTorch module and has PyTorch write its
// checkpoint, input and logits, all in one Python process.
func makeCases(t *testing.T, cases []*diffCase) {
	py := python(t)
	dir := t.TempDir()
	var jobs []job
	for i, c := range cases {
		files, err := codegen.Generate(c.model, codegen.Options{Targets: []string{"torch"}})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		caseDir := filepath.Join(dir, fmt.Sprintf("%03d_%s", i, c.model.Name))
		if err := os.MkdirAll(caseDir, 0o777); err != nil {
			t.Fatal(err)
		}
		module := filepath.Join(caseDir, "model.py")
		if err := os.WriteFile(module, files[codegen.TorchFile(c.model)], 0o666); err != nil {
			t.Fatal(err)
		}
		c.job.Module, c.job.Out = module, caseDir
		jobs = append(jobs, c.job)
	}
	data, _ := json.Marshal(jobs)
	jobsFile := filepath.Join(dir, "jobs.json")
	os.WriteFile(jobsFile, data, 0o666)
	cmd := exec.Command(py, "../scripts/torchref/make_case.py", "--jobs", jobsFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_case.py: %v\n%s", err, out)
	}
}

func load(t *testing.T, path string) []float32 {
	t.Helper()
	data, _, err := npy.ReadFloat32(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// compare checks got against PyTorch's logits, and that the case is well conditioned.
func compare(t *testing.T, c *diffCase, what string, got []float32) {
	t.Helper()
	want := load(t, filepath.Join(c.job.Out, "output.npy"))
	want64 := load(t, filepath.Join(c.job.Out, "output64.npy"))
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	scale, diff, torchErr := 0.0, 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
		torchErr = math.Max(torchErr, math.Abs(float64(want[i]-want64[i])))
	}
	if torchErr > conditioning*scale {
		t.Errorf("%s: badly conditioned case: PyTorch float32 vs float64 differ by %g (max|logit| %g)", c.name, torchErr, scale)
	}
	if diff > tolerance*scale || math.IsNaN(diff) {
		t.Errorf("%s: %s: max|got-want| = %g > %g × %g\nspec:\n%s", c.name, what, diff, tolerance, scale, c.src)
	}
}

// check runs a case through grcc's engine (what grcc run uses) and, when the
// spec has a committed package, through that package.
func check(t *testing.T, c *diffCase) {
	t.Helper()
	in := load(t, filepath.Join(c.job.Out, "input.npy"))
	ckpt := filepath.Join(c.job.Out, "checkpoint.pt")
	sd, err := checkpoint.Load(ckpt)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	p, err := plan.Build(c.model, plan.Options{Verify: true})
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	em, err := engine.New(p, sd, ckpt)
	if err != nil {
		t.Fatalf("%s: %v\nspec:\n%s", c.name, err, c.src)
	}
	got := make([]float32, c.job.Batch*c.model.Classes)
	if err := em.Forward(in, got); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	compare(t, c, "grcc run", got)
	if newModel, ok := generatedPackages[c.model.Name]; ok {
		gm := newModel()
		if err := gm.Load(ckpt); err != nil {
			t.Fatalf("%s: generated package: %v", c.name, err)
		}
		got := make([]float32, len(got))
		if err := gm.Forward(in, got); err != nil {
			t.Fatalf("%s: generated package: %v", c.name, err)
		}
		compare(t, c, "generated package", got)
	}
}

func loadSpec(t *testing.T, path string) *diffCase {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(filepath.ToSlash(path), "../")
	m, err := ir.Load(name, src)
	if err != nil {
		t.Fatal(err)
	}
	return &diffCase{name: name, model: m, src: string(src)}
}

// TestSpecs checks every shipped spec and every spec in the test data. The
// checkpoints vary: zip and legacy format, bare state_dicts and training
// checkpoints with a "module." prefix, batches of 1 to 3.
func TestSpecs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every spec in PyTorch")
	}
	var paths []string
	for _, pattern := range []string{"../spec/*.grc", "../testdata/reference/*.grc", "../golden/*/spec.grc", "../ir/testdata/specs/*.grc"} {
		found, _ := filepath.Glob(pattern)
		paths = append(paths, found...)
	}
	var cases []*diffCase
	for i, path := range paths {
		c := loadSpec(t, path)
		c.job = job{Seed: 1000 + i, Batch: 1 + i%3, Legacy: i%4 == 1, TrainCheckpoint: i%4 == 2}
		if c.model.Input.H >= 128 {
			c.job.Batch = 1 // full-size ImageNet models: one image keeps the test short
		}
		cases = append(cases, c)
	}
	makeCases(t, cases)
	for _, c := range cases {
		t.Run(c.model.Name, func(t *testing.T) { check(t, c) })
	}
}

// TestRandomSpecs checks a few dozen random specs. The seeds are printed;
// rerun one alone with
//
//	GRCC_DIFF_SEED=<seed> GRCC_DIFF_COUNT=1 go test ./difftest -run TestRandomSpecs
func TestRandomSpecs(t *testing.T) {
	count := envInt(t, "GRCC_DIFF_COUNT", 30)
	if testing.Short() {
		count = min(count, 5)
	}
	first := uint64(time.Now().UnixNano() % 1_000_000)
	if s := os.Getenv("GRCC_DIFF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GRCC_DIFF_SEED=%q: %v", s, err)
		}
		first = v
	}
	t.Logf("random specs: seeds %d to %d (GRCC_DIFF_SEED=%d GRCC_DIFF_COUNT=%d)", first, first+uint64(count)-1, first, count)
	var cases []*diffCase
	for seed := first; seed < first+uint64(count); seed++ {
		name, src := RandomSpec(seed)
		m, err := ir.Load(name+".grc", []byte(src))
		if err != nil {
			t.Fatalf("seed %d: generator wrote an invalid spec: %v\n%s", seed, err, src)
		}
		cases = append(cases, &diffCase{name: fmt.Sprintf("seed %d", seed), model: m, src: src,
			job: job{Seed: int(seed), Batch: m.Batch, Legacy: seed%5 == 0, TrainCheckpoint: seed%5 == 1}})
	}
	// The CPU algorithms must all be exercised: count the specs whose
	// program uses each.
	uses := map[string]int{}
	for _, c := range cases {
		p, err := plan.Build(c.model, plan.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		seen := map[string]bool{}
		for _, s := range p.Steps {
			if s.Algo != "" && !seen[s.Algo] {
				seen[s.Algo] = true
				uses[s.Algo]++
			}
			if o := s.Out.Shape; s.Algo == plan.AlgoWinograd4x2 && (o.H+3)/4*((o.W+1)/2) == 28 && !seen["winograd4x2-turned"] {
				seen["winograd4x2-turned"] = true
				uses["winograd4x2-turned"]++ // 28 tiles an image: the products turned around
			}
			if s.GateConv != nil && !seen["gate-conv"] {
				seen["gate-conv"] = true
				uses["gate-conv"]++ // the gate convolution runs inside the update
			}
			if s.Kind == plan.AvgPool && s.Pre != nil && !seen["pool-prologue"] {
				seen["pool-prologue"] = true
				uses["pool-prologue"]++ // BatchNorm+ReLU inside the average pooling
			}
		}
	}
	t.Logf("specs using each convolution algorithm: %v", uses)
	for _, algo := range []string{plan.AlgoWinograd, plan.AlgoWinograd2x2, plan.AlgoWinograd4x2, "winograd4x2-turned", plan.AlgoIm2Row, "gate-conv", "pool-prologue"} {
		if count >= 20 && uses[algo] == 0 {
			t.Errorf("no random spec uses %s: the generator no longer covers it", algo)
		}
	}
	makeCases(t, cases)
	for _, c := range cases {
		t.Run(c.model.Name, func(t *testing.T) { check(t, c) })
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}
