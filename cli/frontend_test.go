package cli_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The shipped specs, the reference test specs, and where the test data
// describing them lives (copies of the reference implementation's exports,
// see ir/testdata).
var (
	shippedSpecs = []string{
		"grcnn55", "skgrcnn55", "grcnn109", "skgrcnn109",
		"grcnn56", "grcnn56_shared", "grcnn110", "grcnn110_sk", "grcnn110_sk_shared",
	}
	referenceSpecs = []string{"tiny_imagenet", "tiny_imagenet_sk", "tiny_cifar", "tiny_cifar_sk_shared"}
)

func specPath(name string) string {
	for _, r := range referenceSpecs {
		if r == name {
			return filepath.Join("..", "testdata", "reference", name+".grc")
		}
	}
	return filepath.Join("..", "spec", name+".grc")
}

// TestKeys checks that grcc keys prints, byte for byte, the state_dict
// listing the reference implementation gives for every shipped spec and
// every reference checkpoint.
func TestKeys(t *testing.T) {
	for _, name := range append(append([]string(nil), shippedSpecs...), referenceSpecs...) {
		t.Run(name, func(t *testing.T) {
			want := readTestFile(t, filepath.Join("..", "ir", "testdata", "keys", name+".tsv"))
			code, stdout, stderr := run(t, "keys", specPath(name))
			if code != exitOK || stderr != "" {
				t.Fatalf("grcc keys %s: status %d, stderr:\n%s", specPath(name), code, stderr)
			}
			if stdout != want {
				t.Errorf("grcc keys %s differs from the reference's keys:\n%s", specPath(name), firstDiff(want, stdout))
			}
		})
	}
}

// firstDiff describes the first line where two listings differ; a full diff
// of a thousand-line listing would bury it.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want " + strconv.Quote(wl) + "\n  got  " + strconv.Quote(gl)
		}
	}
	return "(no difference)"
}

// totals are the counts of one model: what params.tsv records and grcc info prints.
type totals struct {
	params, entries int64
	macs            string // three significant digits, as params.tsv gives them: 3.70e9
}

// paramsTable reads ir/testdata/params.tsv, the reference's counts for the
// shipped specs, keyed by spec name.
func paramsTable(t *testing.T) map[string]totals {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "ir", "testdata", "params.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// params.tsv names the weight-sharing variants by description.
	specName := map[string]string{
		"grcnn56 (weight sharing)":     "grcnn56_shared",
		"grcnn110_sk (weight sharing)": "grcnn110_sk_shared",
	}
	out := map[string]totals{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		col := strings.Split(sc.Text(), "\t")
		if len(col) != 6 {
			t.Fatalf("params.tsv: want 6 columns, got %q", sc.Text())
		}
		name := col[0]
		if n, ok := specName[name]; ok {
			name = n
		}
		params, err1 := strconv.ParseInt(col[1], 10, 64)
		entries, err2 := strconv.ParseInt(col[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("params.tsv: bad counts in %q", sc.Text())
		}
		out[name] = totals{params: params, entries: entries, macs: col[5]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// referenceTotals are the counts of the reference test checkpoints, taken from
// the .pt files with torch 1.13: learnable tensors (not running_mean,
// running_var, num_batches_tracked), each storage once; and len(state_dict).
var referenceTotals = map[string]totals{
	"tiny_imagenet":        {params: 356298, entries: 242},
	"tiny_imagenet_sk":     {params: 204362, entries: 361},
	"tiny_cifar":           {params: 146762, entries: 190},
	"tiny_cifar_sk_shared": {params: 141066, entries: 304},
}

var infoLine = regexp.MustCompile(`(?m)^(parameters|state_dict entries|macs): (\d+)$`)

// TestInfo checks grcc info's totals against the reference's counts.
// Parameters and entries must be exact; params.tsv gives MACs to three
// significant digits, so they must agree to three significant digits.
func TestInfo(t *testing.T) {
	want := paramsTable(t)
	if len(want) != len(shippedSpecs) {
		t.Errorf("params.tsv has %d models, want %d", len(want), len(shippedSpecs))
	}
	for name, tot := range referenceTotals {
		want[name] = tot
	}
	for _, name := range append(append([]string(nil), shippedSpecs...), referenceSpecs...) {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no counts for %s", name)
			}
			code, stdout, stderr := run(t, "info", specPath(name))
			if code != exitOK || stderr != "" {
				t.Fatalf("grcc info %s: status %d, stderr:\n%s", specPath(name), code, stderr)
			}
			got := map[string]int64{}
			for _, m := range infoLine.FindAllStringSubmatch(stdout, -1) {
				got[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
			}
			if len(got) != 3 {
				t.Fatalf("grcc info %s: want parameters, state_dict entries and macs lines, got:\n%s", specPath(name), stdout)
			}
			if got["parameters"] != w.params {
				t.Errorf("parameters: %d, want %d", got["parameters"], w.params)
			}
			if got["state_dict entries"] != w.entries {
				t.Errorf("state_dict entries: %d, want %d", got["state_dict entries"], w.entries)
			}
			if w.macs != "" {
				if g := threeDigits(got["macs"]); g != w.macs {
					t.Errorf("macs: %d (%s), want %s", got["macs"], g, w.macs)
				}
			}
		})
	}
}

// threeDigits writes n as params.tsv does: 3.70e9.
func threeDigits(n int64) string {
	s := strconv.FormatFloat(float64(n), 'e', 2, 64) // 3.70e+09
	mant, exp, _ := strings.Cut(s, "e")
	e, _ := strconv.Atoi(exp)
	return mant + "e" + strconv.Itoa(e)
}
