// Tests of grcc graph.
//
// Golden diagrams: each directory golden/graph/<case> holds a spec.grc and
// what grcc graph must print for it: graph.dot.golden (the default DOT),
// unrolled.dot.golden (-unroll) and graph.mmd.golden (-format mermaid). The
// picture of GRCNN-55 in the README, docs/grcnn55.svg, is rendered from
// docs/grcnn55.dot, and the README's Mermaid diagram is printed by the command
// above it; tests check all three. After a deliberate change to the diagrams,
// rewrite the golden files and the docs with
//
//	go test ./cli -run Graph -update
//
// (the README's Mermaid block is not rewritten: the failure prints the
// command whose output to paste), and review the diff, rendered, before
// committing it.
//
// The tests that render DOT need Graphviz's dot. Without it they skip, except
// in CI (CI set), where scripts/install-deps.sh installs it and its absence is
// a failure.
package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/grcc/grcc/ir"
)

// needDot skips the test when Graphviz's dot is missing, unless in CI.
func needDot(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dot"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("Graphviz's dot is not installed; scripts/install-deps.sh installs it (Debian package graphviz)")
		}
		t.Skip("skipping: Graphviz's dot is not installed (Debian package graphviz)")
	}
}

// compareGolden compares got with the golden file, or rewrites it with -update.
func compareGolden(t *testing.T, golden string, got []byte, what string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -run Graph -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", what, golden, diff)
	}
}

// graphOK runs grcc graph and requires success and silence on stderr.
func graphOK(t *testing.T, args ...string) []byte {
	t.Helper()
	code, stdout, stderr := run(t, append([]string{"graph"}, args...)...)
	if code != exitOK || stderr != "" {
		t.Fatalf("grcc graph %s: status %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, stderr)
	}
	return []byte(stdout)
}

func TestGraphGolden(t *testing.T) {
	t.Chdir("..") // paths in the header are relative to the repository root
	dirs, err := filepath.Glob("golden/graph/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases in golden/graph (%v)", err)
	}
	for _, dir := range dirs {
		dir := filepath.ToSlash(dir)
		t.Run(path.Base(dir), func(t *testing.T) {
			spec := dir + "/spec.grc"
			for _, c := range []struct {
				golden string
				args   []string
			}{
				{"graph.dot.golden", nil},
				{"unrolled.dot.golden", []string{"-unroll"}},
				{"graph.mmd.golden", []string{"-format", "mermaid"}},
			} {
				args := append([]string{spec}, c.args...)
				got := graphOK(t, args...)
				compareGolden(t, dir+"/"+c.golden, got, "grcc graph "+strings.Join(args, " "))
				if strings.HasSuffix(c.golden, ".dot.golden") {
					renders(t, got, "grcc graph "+strings.Join(args, " "))
				}
			}
		})
	}
}

// renders requires dot to turn the DOT into SVG without complaint, and
// returns the SVG.
func renders(t *testing.T, dot []byte, what string) []byte {
	t.Helper()
	needDot(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("dot", "-Tsvg")
	cmd.Stdin = bytes.NewReader(dot)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg on %s: %v\n%s", what, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestGraphShippedSpecs draws every shipped spec: the DOT is the same twice,
// dot renders it, and the picture names every stage; the Mermaid names them
// too.
func TestGraphShippedSpecs(t *testing.T) {
	specs, err := filepath.Glob("../spec/*.grc")
	if err != nil || len(specs) == 0 {
		t.Fatalf("no specs in spec/ (%v)", err)
	}
	for _, spec := range specs {
		t.Run(strings.TrimSuffix(filepath.Base(spec), ".grc"), func(t *testing.T) {
			m, err := loadModel(spec)
			if err != nil {
				t.Fatal(err)
			}
			dot := graphOK(t, spec)
			if again := graphOK(t, spec); !bytes.Equal(dot, again) {
				t.Errorf("grcc graph %s printed different DOT twice", spec)
			}
			mermaid := graphOK(t, spec, "-format", "mermaid")
			svg := renders(t, dot, spec)
			for _, st := range m.Stages {
				// The stage's cluster title starts with its name.
				if !bytes.Contains(svg, []byte(">"+st.Name+" · ")) {
					t.Errorf("the SVG of %s does not name stage %q", spec, st.Name)
				}
				if !bytes.Contains(mermaid, []byte(`["`+st.Name+" · ")) {
					t.Errorf("the Mermaid of %s does not name stage %q", spec, st.Name)
				}
			}
		})
	}
}

// layoutAttr matches the SVG attributes that hold coordinates and sizes.
var layoutAttr = regexp.MustCompile(`\s(x|y|width|height|viewBox|points|d|transform|cx|cy|rx|ry)="[^"]*"`)

// graphvizVersion matches the comment in which dot names its version.
var graphvizVersion = regexp.MustCompile(`<!-- Generated by graphviz version ([^>]*) -->\n`)

// withoutLayout removes from an SVG what comes from the installed Graphviz
// and fonts rather than from the DOT: the version comment, coordinates and
// sizes. What is left are the elements in order with their identifiers,
// titles, text, colours and fonts.
func withoutLayout(svg []byte) string {
	return layoutAttr.ReplaceAllString(graphvizVersion.ReplaceAllString(string(svg), ""), "")
}

// TestGraphDocs regenerates the README's picture of GRCNN-55. The DOT must
// be exactly docs/grcnn55.dot. The SVG that dot renders from it must equal
// docs/grcnn55.svg except for layout: coordinates depend on the Graphviz
// version and on the fonts it finds, so a machine whose dot places a node a
// pixel apart still passes (the test logs it), while any change to what is
// drawn, its labels, colours or structure, fails.
func TestGraphDocs(t *testing.T) {
	t.Chdir("..")
	dot := graphOK(t, "spec/grcnn55.grc")
	compareGolden(t, "docs/grcnn55.dot", dot, "grcc graph spec/grcnn55.grc")
	svg := renders(t, dot, "spec/grcnn55.grc")
	if *update {
		if err := os.WriteFile("docs/grcnn55.svg", svg, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("docs/grcnn55.svg")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(want, svg) {
		return
	}
	if diff := cmp.Diff(withoutLayout(want), withoutLayout(svg)); diff != "" {
		t.Fatalf("docs/grcnn55.svg is not what dot renders from docs/grcnn55.dot (-want +got):\n%s", diff)
	}
	version := func(svg []byte) string {
		if m := graphvizVersion.FindSubmatch(svg); m != nil {
			return strings.TrimSpace(string(m[1]))
		}
		return "unknown"
	}
	t.Logf("docs/grcnn55.svg: same drawing, different layout (committed with graphviz %s, this dot is %s)", version(want), version(svg))
}

// TestGraphREADME checks that the README's Mermaid diagram is what the
// command it quotes prints.
func TestGraphREADME(t *testing.T) {
	t.Chdir("..")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)`(grcc graph [^`]* -format mermaid)`[^`]*?```mermaid\n(.*?)```\n").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```mermaid block after a `grcc graph ... -format mermaid` command")
	}
	args := strings.Fields(string(m[1]))[2:] // after "grcc graph"
	got := graphOK(t, args...)
	if diff := cmp.Diff(string(m[2]), string(got)); diff != "" {
		t.Errorf("the README's Mermaid diagram is not what %s prints; paste its output (-want +got):\n%s", m[1], diff)
	}
}

func TestGraphErrors(t *testing.T) {
	t.Chdir("..")
	// A bad spec gets grcc check's diagnostics and status.
	bad := "golden/diagnostics/many_errors/spec.grc"
	wantCode, _, wantErr := run(t, "check", bad)
	if code, stdout, stderr := run(t, "graph", bad); code != wantCode || stdout != "" || stderr != wantErr {
		t.Errorf("grcc graph %s: status %d, stdout %q, stderr:\n%s\nwant %d, nothing and grcc check's:\n%s", bad, code, stdout, stderr, wantCode, wantErr)
	}

	spec := "spec/grcnn55.grc"
	for _, c := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"graph"}, "usage: grcc graph SPEC"},
		{[]string{"graph", spec, spec}, "usage: grcc graph SPEC"},
		{[]string{"graph", spec, "-format", "png"}, `grcc graph: unknown format "png"; want dot, svg or mermaid`},
		{[]string{"graph", spec, "-format"}, "flag needs an argument"},
		{[]string{"graph", spec, "-stage", "layer5"}, `grcc graph: -stage: model "grcnn55" has no stage "layer5"; did you mean "layer1"? (its stages: layer1, layer2, layer3, layer4)`},
	} {
		code, stdout, stderr := run(t, c.args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("grcc %s: status %d, stdout %q, stderr %q; want 2 and %q", strings.Join(c.args, " "), code, stdout, stderr, c.want)
		}
	}

	// Without dot, -format svg says how to get it; the other formats need nothing.
	t.Setenv("PATH", t.TempDir())
	code, stdout, stderr := run(t, "graph", spec, "-format", "svg")
	if code != exitError || stdout != "" || !strings.Contains(stderr, "apt-get install graphviz") {
		t.Errorf("grcc graph -format svg without dot: status %d, stdout %q, stderr %q; want 1 and how to install it", code, stdout, stderr)
	}
	graphOK(t, spec, "-format", "mermaid")
}

func TestGraphOutputFile(t *testing.T) {
	spec := filepath.Join("..", "spec", "grcnn56.grc")
	out := filepath.Join(t.TempDir(), "sub", "grcnn56.mmd")
	code, stdout, stderr := run(t, "graph", spec, "-format", "mermaid", "-o", out)
	if code != exitOK || stdout != "" || stderr != "" {
		t.Fatalf("grcc graph -o: status %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
	if got, want := readTestFile(t, out), string(graphOK(t, spec, "-format", "mermaid")); got != want {
		t.Errorf("grcc graph -o wrote something else than it prints:\n%s", got)
	}

	needDot(t)
	svgPath := filepath.Join(t.TempDir(), "grcnn56.svg")
	if code, _, stderr := run(t, "graph", spec, "-format", "svg", "-o", svgPath); code != exitOK || stderr != "" {
		t.Fatalf("grcc graph -format svg: status %d, stderr %q", code, stderr)
	}
	if svg := readTestFile(t, svgPath); !strings.Contains(svg, "<svg") || !strings.Contains(svg, "stage_1 · ") {
		t.Errorf("grcc graph -format svg wrote no SVG of the stages:\n%.300s", svg)
	}
}

// loadModel checks a spec as grcc does.
func loadModel(path string) (*ir.Model, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ir.Load(path, src)
}
