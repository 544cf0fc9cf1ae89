package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoGenerate is the README's downstream workflow: a module of its own
// with a spec and a //go:generate line, `go generate ./...` with grcc on the
// PATH, then `go test ./...` of the generated package and of code using it.
func TestGoGenerate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a downstream module")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	run(t, root, nil, gobin, "build", "-o", filepath.Join(bin, "grcc"), "./cmd/grcc")

	mod := filepath.Join(tmp, "downstream")
	write(t, filepath.Join(mod, "go.mod"), "module example.com/downstream\n\ngo 1.26\n\n"+
		"require github.com/grcc/grcc v0.0.0\n\nreplace github.com/grcc/grcc => "+root+"\n")
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mod, "go.sum"), string(sum))
	write(t, filepath.Join(mod, "tiny", "tiny.grc"), `model "tiny" {
  input   = [1, 3, 16, 16]
  classes = 4
  stem { conv "conv1" { out = 16  kernel = 3  padding = 1 } }
  stages {
    groups = 4
    stage "layer1" { planes = 8  iterations = 2  expansion = 2  downsample = true }
  }
  head {
    batchnorm "lastact.0"
    relu
    avgpool { kernel = 8 }
    linear "classifier"
  }
}
`)
	write(t, filepath.Join(mod, "tiny", "gen.go"), "// Package tiny is a GRCNN compiled by grcc.\npackage tiny\n\n//go:generate grcc build tiny.grc -o . -pkg tiny\n")
	write(t, filepath.Join(mod, "use", "use_test.go"), `package use

import (
	"testing"

	"example.com/downstream/tiny"
)

func TestPredict(t *testing.T) {
	m := tiny.New()
	if err := m.RandomWeights(7); err != nil {
		t.Fatal(err)
	}
	top, err := m.Predict(make([]float32, 3*tiny.InputLen), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 3 || len(top[0]) != 2 {
		t.Fatalf("got %v", top)
	}
}
`)
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "GOFLAGS=-mod=mod"}
	run(t, mod, env, gobin, "generate", "./...")
	if _, err := os.Stat(filepath.Join(mod, "tiny", "model.go")); err != nil {
		t.Fatalf("go generate wrote no model.go: %v", err)
	}
	out := run(t, mod, env, gobin, "test", "./...")
	if !strings.Contains(out, "ok") {
		t.Fatalf("go test printed:\n%s", out)
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
}
