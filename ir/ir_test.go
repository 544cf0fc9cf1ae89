package ir_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/grcc/grcc/ir"
)

// load reads and checks a spec, failing the test on any diagnostic.
func load(t *testing.T, path string) *ir.Model {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ir.Load(path, src)
	if err != nil {
		t.Fatalf("%s:\n%v", path, err)
	}
	return m
}

// Specs whose state_dict listing the reference gave (testdata/keys), with
// where each lives: the shipped specs and the reference test cases.
var keyedSpecs = map[string]string{
	"grcnn55":              "../spec/grcnn55.grc",
	"skgrcnn55":            "../spec/skgrcnn55.grc",
	"grcnn109":             "../spec/grcnn109.grc",
	"skgrcnn109":           "../spec/skgrcnn109.grc",
	"grcnn56":              "../spec/grcnn56.grc",
	"grcnn56_shared":       "../spec/grcnn56_shared.grc",
	"grcnn110":             "../spec/grcnn110.grc",
	"grcnn110_sk":          "../spec/grcnn110_sk.grc",
	"grcnn110_sk_shared":   "../spec/grcnn110_sk_shared.grc",
	"tiny_imagenet":        "../testdata/reference/tiny_imagenet.grc",
	"tiny_imagenet_sk":     "../testdata/reference/tiny_imagenet_sk.grc",
	"tiny_cifar":           "../testdata/reference/tiny_cifar.grc",
	"tiny_cifar_sk_shared": "../testdata/reference/tiny_cifar_sk_shared.grc",
}

// TestParamsMatchReference checks every state_dict entry, its order, dtype
// and shape, against the reference's listing.
func TestParamsMatchReference(t *testing.T) {
	files, _ := filepath.Glob("testdata/keys/*.tsv")
	if len(files) != len(keyedSpecs) {
		t.Errorf("testdata/keys has %d listings, want %d", len(files), len(keyedSpecs))
	}
	for name, path := range keyedSpecs {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "keys", name+".tsv"))
			if err != nil {
				t.Fatal(err)
			}
			got := "# key\tdtype\tshape\n" + keys(load(t, path))
			if got != string(want) {
				w, g := strings.Split(string(want), "\n"), strings.Split(got, "\n")
				for i := range min(len(w), len(g)) {
					if w[i] != g[i] {
						t.Fatalf("line %d: got %q, want %q", i+1, g[i], w[i])
					}
				}
				t.Fatalf("got %d lines, want %d", len(g), len(w))
			}
		})
	}
}

// TestStats checks the totals against params.tsv: parameters (shared tensors
// once), state_dict entries and float elements exactly, and MACs to the
// three significant digits params.tsv gives.
func TestStats(t *testing.T) {
	f, err := os.Open("testdata/params.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	specName := map[string]string{
		"grcnn56 (weight sharing)":     "grcnn56_shared",
		"grcnn110_sk (weight sharing)": "grcnn110_sk_shared",
	}
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows++
		col := strings.Split(line, "\t")
		name := col[0]
		if n, ok := specName[name]; ok {
			name = n
		}
		t.Run(name, func(t *testing.T) {
			m := load(t, keyedSpecs[name])
			s := m.Stats()
			if got := strconv.FormatInt(s.Parameters, 10); got != col[1] {
				t.Errorf("parameters %s, want %s", got, col[1])
			}
			if got := strconv.Itoa(s.Entries); got != col[2] {
				t.Errorf("state_dict entries %s, want %s", got, col[2])
			}
			if got := strconv.FormatInt(s.Elements, 10); got != col[3] {
				t.Errorf("float elements %s, want %s", got, col[3])
			}
			if got := m.Input.String(); got != col[4] {
				t.Errorf("input %s, want %s", got, col[4])
			}
			want, err := strconv.ParseFloat(col[5], 64)
			if err != nil {
				t.Fatal(err)
			}
			if got := strconv.FormatFloat(float64(s.MACs), 'e', 2, 64); got != strconv.FormatFloat(want, 'e', 2, 64) {
				t.Errorf("MACs %d (%s), want %s", s.MACs, got, col[5])
			}
		})
	}
	if rows != 9 {
		t.Errorf("params.tsv has %d models, want 9", rows)
	}
}

// TestRowsAddUp checks that grcc info's rows share out the totals exactly:
// every parameter and every MAC in exactly one row.
func TestRowsAddUp(t *testing.T) {
	for name, path := range keyedSpecs {
		m := load(t, path)
		var params, macs int64
		for _, r := range ir.Rows(m) {
			params += r.Params
			macs += r.MACs
		}
		if s := m.Stats(); params != s.Parameters || macs != s.MACs {
			t.Errorf("%s: rows add up to %d parameters and %d MACs, want %d and %d", name, params, macs, s.Parameters, s.MACs)
		}
	}
}

// TestExamples checks the specs of README.md, which
// testdata/specs holds, and a property of each that the document claims.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/specs/*.grc")
	if len(files) == 0 {
		t.Fatal("no specs in testdata/specs")
	}
	for _, path := range files {
		load(t, path)
	}
	has := func(m *ir.Model, key string) bool {
		for _, p := range m.Params {
			if p.Key == key {
				return true
			}
		}
		return false
	}

	m := load(t, "testdata/specs/ungated.grc")
	for _, st := range m.Stages {
		if st.Gate != ir.NoGate || st.ConvGR != nil || has(m, st.Name+".conv_g_r.weight") || has(m, st.Name+".iter_g_1.0.weight") {
			t.Errorf("ungated.grc: stage %s has a gate", st.Name)
		}
	}

	m = load(t, "testdata/specs/sk3.grc")
	if sk := m.Stages[0].SK; sk == nil || len(sk.Branches) != 3 || sk.Branches[1] != (ir.SKBranchSpec{Kernel: 3, Dilation: 2}) {
		t.Errorf("sk3.grc: stage_1 SK settings %+v, want three branches", sk)
	}
	if !has(m, "stage_1.iter_1.5.conv.2.0.weight") || !has(m, "stage_2.d_conv_3.conv.2.1.running_var") {
		t.Error("sk3.grc: no third branch in the keys")
	}
	// fc2 gives planes × branches; fc1 gives max(128/16, 32).
	if sk := m.Stages[1].Iters[0].Cell[5].(*ir.SKConv); sk.FC2.Out.C != 128*3 || sk.Width != 32 {
		t.Errorf("sk3.grc: stage_2 SKConv fc2 out %d, width %d; want 384 and 32", sk.FC2.Out.C, sk.Width)
	}

	m = load(t, "testdata/specs/five_stages.grc")
	sizes := []int{16, 8, 4, 2, 2}
	if len(m.Stages) != 5 {
		t.Fatalf("five_stages.grc: %d stages", len(m.Stages))
	}
	for i, st := range m.Stages {
		if st.Out.H != sizes[i] || st.Out.W != sizes[i] {
			t.Errorf("five_stages.grc: stage %s gives %s, want %dx%d", st.Name, st.Out, sizes[i], sizes[i])
		}
	}
	if st := m.Stages[4]; st.Cell != ir.SelectiveKernel || st.Down != nil || st.Iterations != 2 {
		t.Errorf("five_stages.grc: layer5 is %v, downsample %v, %d iterations; want sk, none, 2", st.Cell, st.Down != nil, st.Iterations)
	}
	if !m.Stages[0].ShareWeights || m.Stages[1].ShareWeights || m.Stages[2].Iterations != 3 {
		t.Error("five_stages.grc: stage overrides not applied")
	}

	m = load(t, "testdata/specs/nonsquare.grc")
	if m.Batch != 4 || m.Input != (ir.Shape{C: 1, H: 96, W: 160}) || m.Stem[0].Info().Out != (ir.Shape{C: 32, H: 48, W: 80}) {
		t.Errorf("nonsquare.grc: batch %d, input %s, stem conv output %s", m.Batch, m.Input, m.Stem[0].Info().Out)
	}

	m = load(t, "testdata/specs/layers.grc")
	conv := m.Stem[0].(*ir.Conv)
	if conv.DilH != 2 || conv.PadW != 2 || conv.Bias == nil || conv.Out != (ir.Shape{C: 32, H: 64, W: 64}) {
		t.Errorf("layers.grc: stem.conv1 %+v", conv)
	}
	if bn := m.Stem[1].(*ir.BatchNorm); bn.Eps != 0.001 {
		t.Errorf("layers.grc: stem.bn1 eps %g", bn.Eps)
	}
	if fc1 := m.Head[3].(*ir.Linear); fc1.OutFeatures != 128 || fc1.Bias != nil {
		t.Errorf("layers.grc: head.fc1 has %d outputs, bias %v", fc1.OutFeatures, fc1.Bias != nil)
	}
	if fc2 := m.Head[5].(*ir.Linear); fc2.OutFeatures != 10 || fc2.Bias == nil {
		t.Errorf("layers.grc: head.fc2 has %d outputs, bias %v", fc2.OutFeatures, fc2.Bias != nil)
	}

	m = load(t, "testdata/specs/minimal.grc")
	if st := m.Stages[0]; len(m.Stem) != 0 || st.Expansion != 1 || st.Groups != 1 || st.Cell != ir.Bottleneck || st.Gate != ir.SigmoidGate || st.Down != nil || st.ShareWeights {
		t.Errorf("minimal.grc: defaults not applied: %+v", st)
	}
}

// TestDeterministicDiagnostics checks that a spec with several problems at
// one position is reported the same way every time (no map order leaks).
func TestDeterministicDiagnostics(t *testing.T) {
	src := []byte(`model "m" {
  input   = [1, 3, 8, 8]
  classes = 2
  stem { conv "a" { out = 4  kernel = 1 }  conv "a.b.c" { out = 4  kernel = 1 } }
  stages { stage "s" { } }
  head { globalavgpool linear "a.b" }
}
`)
	var first string
	for i := range 50 {
		_, err := ir.Load("m.grc", src)
		if err == nil {
			t.Fatal("no error")
		}
		if i == 0 {
			first = err.Error()
			continue
		}
		if err.Error() != first {
			t.Fatalf("run %d reported\n%s\nrun 0 reported\n%s", i, err, first)
		}
	}
}

// TestLanguageDoc checks that every example in README.md passes the
// checker, and that the specs in testdata/specs appear in it word for word.
func TestLanguageDoc(t *testing.T) {
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```grc\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 5 {
		t.Fatalf("README.md has %d grc examples", len(blocks))
	}
	for i, b := range blocks {
		if _, err := ir.Load(fmt.Sprintf("README.md example %d", i+1), b[1]); err != nil {
			t.Errorf("%v\n%s", err, b[1])
		}
	}
	files, _ := filepath.Glob("testdata/specs/*.grc")
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, append([]byte("```grc\n"), src...)) {
			t.Errorf("%s is not an example of README.md, or differs from it", path)
		}
	}
}
