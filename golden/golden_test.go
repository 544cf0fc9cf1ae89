// Golden tests of the code generators.
//
// Each directory golden/<case>/ holding a spec.grc is one case: grcc build
// of the spec for every target must give exactly the files <name>.golden
// beside it. A failure prints a go-cmp diff (-want +got). After a deliberate
// change to an emitter, rewrite the golden files with
//
//	go test ./golden -update
//
// and review the diff before committing it.
package golden_test

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/grcc/grcc/codegen"
	"github.com/grcc/grcc/ir"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// targets are the emitters the golden files cover.
var targets = []string{"go", "cuda", "torch"}

func TestGenerate(t *testing.T) {
	specs, err := filepath.Glob("*/spec.grc")
	if err != nil || len(specs) == 0 {
		t.Fatalf("no golden cases found (%v)", err)
	}
	for _, spec := range specs {
		dir := filepath.Dir(spec)
		t.Run(dir, func(t *testing.T) {
			files := generate(t, spec)
			var names []string
			for name := range files {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				path := filepath.Join(dir, name+".golden")
				if *update {
					if err := os.WriteFile(path, files[name], 0o666); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Errorf("%v (run go test ./golden -update to create it)", err)
					continue
				}
				if diff := cmp.Diff(string(want), string(files[name])); diff != "" {
					t.Errorf("%s differs from %s (-want +got):\n%s", name, path, diff)
				}
			}
			// Every golden file must still be produced.
			old, _ := filepath.Glob(filepath.Join(dir, "*.golden"))
			for _, path := range old {
				name := strings.TrimSuffix(filepath.Base(path), ".golden")
				if _, ok := files[name]; !ok && !*update {
					t.Errorf("%s is no longer generated; delete it", path)
				}
			}
		})
	}
}

// TestDeterministic builds every case twice and requires identical bytes.
func TestDeterministic(t *testing.T) {
	specs, _ := filepath.Glob("*/spec.grc")
	for _, spec := range specs {
		a, b := generate(t, spec), generate(t, spec)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%s: two builds differ:\n%s", spec, diff)
		}
	}
}

func generate(t *testing.T, spec string) map[string][]byte {
	t.Helper()
	src, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ir.Load("golden/"+filepath.ToSlash(spec), src)
	if err != nil {
		t.Fatal(err)
	}
	files, err := codegen.Generate(m, codegen.Options{Package: m.Name, Targets: targets, NoPTX: true})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
