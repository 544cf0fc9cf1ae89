package tune

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grcc/grcc/internal/spectest"
	"github.com/grcc/grcc/plan"
)

// TestRecord saves choices and loads them back, and checks that a record
// of another model or batch, a choice without an algorithm and a broken
// file are errors naming the file.
func TestRecord(t *testing.T) {
	m := spectest.Model(t, "testdata/reference/tiny_cifar.grc")
	dir := t.TempDir()
	choices := map[string]plan.Choice{"conv 3x3 32→32 32x32 g1": {Algo: plan.AlgoIm2Row, Why: "tuned, ×0.97"}}
	var b bytes.Buffer
	if err := Save(&b, m, choices); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "choices.json")
	if err := os.WriteFile(path, b.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(path, m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(choices, got); diff != "" {
		t.Errorf("loaded choices differ (-saved +loaded):\n%s", diff)
	}
	for name, c := range map[string]struct{ text, want string }{
		"other-model": {strings.Replace(b.String(), `"tiny_cifar"`, `"grcnn55"`, 1), `choices for model "grcnn55", not "tiny_cifar"`},
		"other-batch": {strings.Replace(b.String(), `"batch": 2`, `"batch": 8`, 1), "tuned at batch 8, and this build is for batch 2"},
		"no-algo":     {strings.Replace(b.String(), `"im2row"`, `""`, 1), "conv 3x3 32→32 32x32 g1: no algorithm"},
		"broken":      {b.String()[:20], "unexpected end of JSON input"},
	} {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(c.text), 0o666); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(p, m); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", name, err, p, c.want)
		}
	}
}
