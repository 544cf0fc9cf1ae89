// Golden diagnostics. Each directory golden/diagnostics/<case> holds a spec
// that grcc check must reject, spec.grc, and stderr.golden, the exact
// diagnostics it must print, with paths relative to the repository root.
// After changing a message on purpose, rewrite the golden files with
//
//	go test ./cli -run TestDiagnostics -update
//
// and review the change to golden/ before committing it.
package cli_test

import (
	"bytes"
	"flag"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/grcc/grcc/cli"
)

// update is the one -update flag of package cli's tests (internal and
// external share one test binary, so it must not be declared twice): golden
// tests rewrite their golden files instead of comparing with them.
var update = flag.Bool("update", false, "rewrite golden files")

func TestDiagnostics(t *testing.T) {
	// Run from the repository root so that the paths printed are the ones
	// a user at the root would see.
	t.Chdir("..")
	dirs, err := filepath.Glob("golden/diagnostics/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no cases in golden/diagnostics")
	}
	for _, dir := range dirs {
		dir := filepath.ToSlash(dir)
		t.Run(path.Base(dir), func(t *testing.T) {
			spec := dir + "/spec.grc"
			var stdout, stderr bytes.Buffer
			if code := cli.Run([]string{"check", spec}, &stdout, &stderr); code != exitError {
				t.Errorf("grcc check %s: exit status %d, want %d", spec, code, exitError)
			}
			if stdout.Len() > 0 {
				t.Errorf("grcc check %s printed to stdout:\n%s", spec, stdout.String())
			}
			golden := dir + "/stderr.golden"
			if *update {
				if err := os.WriteFile(golden, stderr.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cli -run TestDiagnostics -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), stderr.String()); diff != "" {
				t.Errorf("grcc check %s: stderr mismatch (-want +got):\n%s", spec, diff)
			}
		})
	}
}
