package parser_test

// Golden formatting. Each directory golden/fmt/<case> holds in.grc, a spec
// written carelessly, and out.grc.golden, what Format must make of it.
// After changing the layout on purpose, rewrite the golden files with
//
//	go test ./parser -run TestFormatGolden -update
//
// and review the change to golden/ before committing it.

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/grcc/grcc/parser"
)

// update is the one -update flag of package parser's tests.
var update = flag.Bool("update", false, "rewrite golden files")

func format(t *testing.T, path string, src []byte) []byte {
	t.Helper()
	f, err := parser.Parse(path, src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return parser.Format(f)
}

func TestFormatGolden(t *testing.T) {
	dirs, err := filepath.Glob("../golden/fmt/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no cases in golden/fmt")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in := filepath.Join(dir, "in.grc")
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := format(t, in, src)
			golden := filepath.Join(dir, "out.grc.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./parser -run TestFormatGolden -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Format(%s) mismatch (-want +got):\n%s", in, diff)
			}
		})
	}
}

// specFiles lists the specs that must be formatted already (the shipped
// specs, the reference test specs, the language examples and the golden
// formatter outputs) and the other specs of the repository (golden inputs of
// every kind, some of which do not parse).
func specFiles(t *testing.T) (formatted, others []string) {
	t.Helper()
	glob := func(patterns ...string) []string {
		var out []string
		for _, p := range patterns {
			m, err := filepath.Glob(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m...)
		}
		return out
	}
	formatted = glob("../spec/*.grc", "../testdata/reference/*.grc", "../ir/testdata/specs/*.grc", "../golden/fmt/*/out.grc.golden")
	others = glob("../golden/fmt/*/in.grc", "../golden/diagnostics/*/spec.grc", "../golden/*/spec.grc")
	if len(formatted) == 0 || len(others) == 0 {
		t.Fatal("no specs found")
	}
	return formatted, others
}

// TestFormatIdempotent checks that formatting a formatted spec changes
// nothing, for every spec and golden file of the project.
func TestFormatIdempotent(t *testing.T) {
	formatted, others := specFiles(t)
	for _, path := range append(formatted, others...) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.Parse(path, src)
		if err != nil {
			continue // a golden diagnostic of a syntax error
		}
		once := parser.Format(f)
		twice := format(t, path, once)
		if diff := cmp.Diff(string(once), string(twice)); diff != "" {
			t.Errorf("Format is not idempotent on %s (-once +twice):\n%s", path, diff)
		}
	}
}

// TestShippedSpecsFormatted checks that the specs and the language examples
// are in canonical layout, as grcc fmt -w would leave them.
func TestShippedSpecsFormatted(t *testing.T) {
	formatted, _ := specFiles(t)
	for _, path := range formatted {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := format(t, path, src); !bytes.Equal(got, src) {
			t.Errorf("%s is not formatted; run grcc fmt -w %s (-file +formatted):\n%s", path, path, cmp.Diff(string(src), string(got)))
		}
	}
}
