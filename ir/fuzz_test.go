package ir_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/parser"
)

// seedSpecs lists every .grc file the project ships or tests with: the
// specs, the reference test specs, the language examples and the golden
// inputs.
func seedSpecs(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, pattern := range []string{
		"../spec/*.grc",
		"../testdata/reference/*.grc",
		"testdata/specs/*.grc",
		"../golden/diagnostics/*/spec.grc",
		"../golden/fmt/*/in.grc",
		"../golden/*/spec.grc",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no seed specs found")
	}
	return paths
}

// FuzzCheck feeds arbitrary text to the parser, the checker and the
// formatter. Nothing may panic; whatever parses must format to text that
// parses again, formats identically a second time and means the same:
// checking it gives the same verdict and the same state_dict entries.
func FuzzCheck(f *testing.F) {
	for _, path := range seedSpecs(f) {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := parser.Parse("fuzz.grc", src)
		if err != nil {
			if _, ok := err.(parser.ErrorList); !ok {
				t.Fatalf("Parse error is %T, want parser.ErrorList", err)
			}
			return
		}
		m, checkErr := ir.Check(file)
		if (m == nil) == (checkErr == nil) {
			t.Fatalf("Check gave model %v and error %v; want exactly one", m != nil, checkErr)
		}
		out := parser.Format(file)
		file2, err := parser.Parse("fuzz.grc", out)
		if err != nil {
			t.Fatalf("formatted source does not parse: %v\ninput:\n%s\nformatted:\n%s", err, src, out)
		}
		if out2 := parser.Format(file2); !bytes.Equal(out, out2) {
			t.Fatalf("formatting is not idempotent\ninput:\n%s\nonce:\n%s\ntwice:\n%s", src, out, out2)
		}
		m2, checkErr2 := ir.Check(file2)
		if (checkErr == nil) != (checkErr2 == nil) {
			t.Fatalf("formatting changed the verdict: before %v, after %v\ninput:\n%s\nformatted:\n%s", checkErr, checkErr2, src, out)
		}
		if m != nil {
			if a, b := keys(m), keys(m2); a != b {
				t.Fatalf("formatting changed the state_dict entries\ninput:\n%s\nformatted:\n%s", src, out)
			}
		}
	})
}

// keys lists the model's state_dict entries as grcc keys prints them.
func keys(m *ir.Model) string {
	var b strings.Builder
	for _, p := range m.Params {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", p.Key, p.DType, p.ShapeString())
	}
	return b.String()
}
