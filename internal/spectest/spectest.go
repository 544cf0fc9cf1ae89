// Package spectest loads the repository's specs for tests: read, checked
// and, where a test runs a model, planned and given random weights.
package spectest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime/checkpoint"
)

// Model reads and checks the spec at path, relative to the repository root
// (spec/grcnn55.grc), named by that path as grcc names it. Any error fails
// the test.
func Model(t testing.TB, path string) *ir.Model {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root(t), path))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ir.Load(path, src)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Engine builds the spec at path (as Model) into an engine model with the
// cost model's plan and random weights from seed.
func Engine(t testing.TB, path string, seed uint64) *engine.Model {
	t.Helper()
	m := Model(t, path)
	p, err := plan.Build(m, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	em, err := engine.New(p, checkpoint.Random(engine.Params(m), seed), "random weights")
	if err != nil {
		t.Fatal(err)
	}
	return em
}

// root is the repository root: the nearest directory above the test's
// working directory (its package's) that holds go.mod.
func root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("spectest: no go.mod above the working directory")
		}
		dir = up
	}
}
