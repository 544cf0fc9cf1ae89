package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

func loadSpecs(t *testing.T) map[string]*ir.Model {
	t.Helper()
	paths, _ := filepath.Glob("../spec/*.grc")
	if len(paths) == 0 {
		t.Fatal("no specs found")
	}
	models := map[string]*ir.Model{}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ir.Load(path, src)
		if err != nil {
			t.Fatal(err)
		}
		models[m.Name] = m
	}
	return models
}

// TestPassesKeepProgramsValid runs the verifier after every pass, with and
// without the fusing passes, for every shipped spec.
func TestPassesKeepProgramsValid(t *testing.T) {
	for name, m := range loadSpecs(t) {
		for _, fusions := range []bool{false, true} {
			p, err := plan.Build(m, plan.Options{Fusions: fusions, Verify: true})
			if err != nil {
				t.Errorf("%s (fusions %v): %v", name, fusions, err)
				continue
			}
			if len(p.Buffers) == 0 || p.Output.Shape != m.Output() {
				t.Errorf("%s: output %s, %d buffers", name, p.Output.Shape, len(p.Buffers))
			}
		}
	}
}

// TestFusions checks what the passes did on GRCNN-55: every BatchNorm after
// a convolution is folded, no standalone ReLU remains, every gate update
// lives in the epilogue of the 1×1 convolution producing r, and every
// pre-activation BatchNorm+ReLU in the convolution reading it; the only
// BatchNorms left are those before a pool (the downsample's d_bn, the
// head's lastact.0).
func TestFusions(t *testing.T) {
	m := loadSpecs(t)["grcnn55"]
	p, err := plan.Build(m, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *plan.Program, k plan.Kind) int {
		n := 0
		for _, s := range p.Steps {
			if s.Kind == k {
				n++
			}
		}
		return n
	}
	if n := count(p, plan.ReLU); n != 0 {
		t.Errorf("%d ReLU steps left", n)
	}
	if n := count(p, plan.Gate); n != 0 {
		t.Errorf("%d gate steps left", n)
	}
	// The BatchNorms before the downsampling average poolings (3 d_bn) go
	// into the pooling on the CPU, and stay steps for the CUDA kernels, as
	// lastact.0 before the global pooling does everywhere.
	if n := count(p, plan.ScaleShift); n != 1 {
		t.Errorf("%d scale-shift steps, want 1 (lastact.0):\n%s", n, p)
	}
	if !strings.Contains(p.String(), "avgpool(%8) [pre=layer1.d_bn+relu]") {
		t.Errorf("layer1.d_bn not fused into its average pooling:\n%s", p)
	}
	fused, err := plan.Build(m, plan.Options{Fusions: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(fused, plan.Gate); n != 0 {
		t.Errorf("fused: %d gate steps left", n)
	}
	if n := count(fused, plan.ScaleShift); n != 4 {
		t.Errorf("fused: %d scale-shift steps, want 4 (3 d_bn, lastact.0):\n%s", n, fused)
	}
	if !strings.Contains(fused.String(), "pre=layer1.iter_1.0+relu") {
		t.Errorf("fused: input activation of layer1.iter_1.2 not fused:\n%s", fused)
	}
}

// TestFuseGateConv checks which gate convolutions of GRCNN-55 move into
// the update that reads them: those of the three stages whose 1×1 layers
// take the GEMM path (4 + 3 + 3 + 4 iterations less the 7×7 stage's 3 on
// im2row), on the CPU only.
func TestFuseGateConv(t *testing.T) {
	m := loadSpecs(t)["grcnn55"]
	fusedGates := func(opt plan.Options) (n int) {
		opt.Verify = true
		p, err := plan.Build(m, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Steps {
			if s.GateConv != nil {
				n++
				if s.GateOut.In[2] != nil || s.Algo != plan.AlgoGEMM || s.GateConv.Conv.Groups == 1 {
					t.Errorf("%s: gate %s fused with g %v, algorithm %s", s.Name, s.GateConv.Name, s.GateOut.In[2], s.Algo)
				}
			}
			if strings.Contains(s.Name, "conv_g_r") && s.Kind == plan.Conv && s.Conv.Out.H > 7 && !opt.NoGateConv && !opt.Fusions {
				t.Errorf("gate convolution %s (%dx%d) left as a step", s.Name, s.Conv.Out.H, s.Conv.Out.W)
			}
		}
		return n
	}
	if n := fusedGates(plan.Options{}); n != 10 {
		t.Errorf("%d gate convolutions fused, want 10", n)
	}
	if n := fusedGates(plan.Options{NoGateConv: true}); n != 0 {
		t.Errorf("NoGateConv: %d gate convolutions fused", n)
	}
	if n := fusedGates(plan.Options{Fusions: true}); n != 0 {
		t.Errorf("Fusions (CUDA): %d gate convolutions fused", n)
	}
}

// TestGateBeside checks which 1×1 convolutions compute a gate beside
// them: in GRCNN-55 and GRCNN-109 the reduce (1024 → 256) of each 14×14
// iteration, for the gate its update runs, which then reads g from a
// buffer of its own that lives from the reduce to the update; not the
// 56×56 and 28×28 reduces (more than 256 pixels), not SK-GRCNN-55's
// (1024 → 512), and nothing on the CUDA target.
func TestGateBeside(t *testing.T) {
	specs := loadSpecs(t)
	for _, tc := range []struct {
		model string
		opt   plan.Options
		want  int
	}{
		{"grcnn55", plan.Options{}, 4},
		{"grcnn109", plan.Options{}, 22},
		{"skgrcnn55", plan.Options{}, 0},
		{"grcnn55", plan.Options{Fusions: true}, 0},
		{"grcnn55", plan.Options{NoGateConv: true}, 0},
	} {
		opt := tc.opt
		opt.Verify = true
		p, err := plan.Build(specs[tc.model], opt)
		if err != nil {
			t.Fatal(err)
		}
		at := map[*plan.Step]int{}
		for i, s := range p.Steps {
			at[s] = i
		}
		n := 0
		for i, s := range p.Steps {
			if s.Beside == nil {
				continue
			}
			n++
			if s.Conv.Out.H != 14 || s.Conv.In.C != 4*s.Conv.Out.C || s.GateOut != nil {
				t.Errorf("%s: %s computes a gate beside it", tc.model, s)
			}
			// The update that reads g is the next to write x_s.
			var u *plan.Step
			for _, v := range p.Steps[i+1:] {
				if v.GateOut != nil && v.GateOut.In[0] == s.In[0] {
					u = v
					break
				}
			}
			if u == nil || u.GateConv != s.Beside || u.GateBeside != s {
				t.Errorf("%s: %s's gate %s is not the GateConv of the next update (%v)", tc.model, s.Name, s.Beside.Name, u)
				continue
			}
			g := s.Beside.Out
			if g.Buffer < 0 || g.Buffer == s.Out.Buffer || g.Buffer == u.GateOut.In[0].Buffer || g.Buffer == u.In[0].Buffer {
				t.Errorf("%s: %s's g %s has buffer %d, beside its output's %d", tc.model, s.Name, g, g.Buffer, s.Out.Buffer)
			}
			// No step between them writes g's buffer.
			for _, v := range p.Steps[at[s]+1 : at[u]] {
				for _, w := range v.Writes() {
					if w.Buffer == g.Buffer {
						t.Errorf("%s: %s writes %s's buffer %d between %s and %s", tc.model, v.Name, g, g.Buffer, s.Name, u.Name)
					}
				}
			}
		}
		if n != tc.want {
			t.Errorf("%s %+v: %d convolutions compute a gate beside them, want %d", tc.model, tc.opt, n, tc.want)
		}
	}
}

func TestStopAfter(t *testing.T) {
	m := loadSpecs(t)["grcnn56"]
	p, err := plan.Build(m, plan.Options{StopAfter: "lower", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Buffers) != 0 {
		t.Error("buffers planned although the pipeline stopped after lower")
	}
	if _, err := plan.Build(m, plan.Options{StopAfter: "nope"}); err == nil {
		t.Error("unknown pass accepted")
	}
}

// stepAlgo is the algorithm the plan of model, built for batch, gives
// step.
func stepAlgo(t *testing.T, specs map[string]*ir.Model, model, step string, batch int) string {
	t.Helper()
	m := *specs[model]
	m.Batch = batch
	p, err := plan.Build(&m, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Steps {
		if s.Name == step {
			return s.Algo
		}
	}
	t.Fatalf("%s: no step %s", model, step)
	return ""
}

// TestWinogradByBatch checks the cost model's choices for small outputs:
// F(2×2, 3×3) for CIFAR's 8×8 stage (full tiles) and the 7×7 stage of the
// ImageNet models (tiles 77% real) at batch 1, where an image has 8 tiles
// of 4×2, F(4×2, 3×3) once the batch has a panel of those, at 14×14 and
// 16×16 from batch 1, and F(4×4, 3×3) for 16 tiles an image only when the
// program is built for batch 8 or more.
func TestWinogradByBatch(t *testing.T) {
	specs := loadSpecs(t)
	for _, tc := range []struct {
		model, step string
		batch       int
		want        string
	}{
		{"grcnn55", "layer4.iter_1.5", 1, plan.AlgoWinograd2x2},
		{"grcnn55", "layer4.iter_1.5", 2, plan.AlgoWinograd2x2},
		{"grcnn55", "layer4.iter_1.5", 4, plan.AlgoWinograd4x2},
		{"grcnn55", "layer4.iter_1.5", 8, plan.AlgoWinograd4x2},
		{"grcnn56", "stage_3.iter_1.5", 1, plan.AlgoWinograd2x2},
		{"grcnn56", "stage_3.iter_1.5", 8, plan.AlgoWinograd4x2},
		// 16 tiles of 4×4 an image fill blocks from several images.
		{"grcnn55", "layer3.iter_1.5", 1, plan.AlgoWinograd4x2},
		{"grcnn55", "layer3.iter_1.5", 8, plan.AlgoWinograd},
		{"grcnn56", "stage_2.iter_1.5", 1, plan.AlgoWinograd4x2},
		{"grcnn56", "stage_2.iter_1.5", 4, plan.AlgoWinograd4x2},
		{"grcnn56", "stage_2.iter_1.5", 8, plan.AlgoWinograd},
	} {
		if got := stepAlgo(t, specs, tc.model, tc.step, tc.batch); got != tc.want {
			t.Errorf("%s %s at batch %d: %s, want %s", tc.model, tc.step, tc.batch, got, tc.want)
		}
	}
}

// TestGroupedDirectByBatch checks where the SK branches' grouped 3×3
// convolutions run direct: rows of 14 outputs and more, dilated or not, at
// every batch; 7×7 on im2row, unless strided (the downsamples' branches,
// with at most 16 channels a group, run direct at every width).
func TestGroupedDirectByBatch(t *testing.T) {
	specs := loadSpecs(t)
	for _, tc := range []struct {
		model, step string
		want        string
	}{
		{"skgrcnn109", "layer3.iter_1.5.conv.0.0", plan.AlgoDirect},
		{"skgrcnn109", "layer3.iter_1.5.conv.1.0", plan.AlgoDirect}, // dilation 2
		{"skgrcnn55", "layer3.iter_1.5.conv.1.0", plan.AlgoDirect},
		{"skgrcnn109", "layer4.iter_1.5.conv.1.0", plan.AlgoIm2Row},
		{"skgrcnn55", "layer2.d_conv_3.conv.0.0", plan.AlgoDirect},    // 8 a group, 28×28 to 14×14
		{"skgrcnn109", "layer3.d_conv_3.conv.1.0", plan.AlgoDirect},   // 16 a group, to 7×7, dilated
		{"grcnn110_sk", "stage_1.d_conv_3.conv.1.0", plan.AlgoDirect}, // 12 a group, 1×1 stride 2
		{"grcnn110_sk", "stage_2.d_conv_3.conv.0.0", plan.AlgoIm2Row}, // 20 a group
	} {
		for _, batch := range []int{1, 2, 4, 8} {
			if got := stepAlgo(t, specs, tc.model, tc.step, batch); got != tc.want {
				t.Errorf("%s %s at batch %d: %q, want %s", tc.model, tc.step, batch, got, tc.want)
			}
		}
	}
}

// TestFuseAdd checks that a downsampling block's a + b becomes the
// epilogue of the 1×1 convolution producing b, adding onto a in place, with
// no Add step left, on the GEMM (28×28, 14×14) and im2row (7×7) paths
// alike; for the CUDA target, which fuses its own way, every Add stays.
func TestFuseAdd(t *testing.T) {
	specs := loadSpecs(t)
	for _, opt := range []plan.Options{{Verify: true}, {Fusions: true, Verify: true}} {
		p, err := plan.Build(specs["grcnn55"], opt)
		if err != nil {
			t.Fatal(err)
		}
		adds := 0
		convs := map[string]*plan.Step{}
		for _, s := range p.Steps {
			if s.Kind == plan.Add {
				adds++
			}
			convs[s.Name] = s
		}
		fused := !opt.Fusions
		if want := map[bool]int{true: 0, false: 3}[fused]; adds != want {
			t.Errorf("fusions %v: %d Add steps, want %d", opt.Fusions, adds, want)
		}
		if !fused {
			continue
		}
		for _, name := range []string{"layer1.d_conv_1e", "layer2.d_conv_1e", "layer3.d_conv_1e"} {
			conv := convs[name]
			if u := conv.GateOut; u == nil || u.Kind != plan.Residual || conv.Out != u.In[0] || u.In[1] != nil {
				t.Errorf("%s does not add onto the pool path in place: GateOut %v, Out %v", name, u, conv.Out)
			}
		}
	}
}
