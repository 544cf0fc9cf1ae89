package graph

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grcc/grcc/ir"
)

// specs loads the shipped specs and the golden diagram cases.
func specs(t *testing.T) []*ir.Model {
	t.Helper()
	var paths []string
	for _, pattern := range []string{"../../spec/*.grc", "../../golden/graph/*/spec.grc", "../../golden/*/spec.grc"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no specs found")
	}
	var models []*ir.Model
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ir.Load(path, src)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	return models
}

// TestWellFormed checks every diagram's structure, which the writers rely
// on: identifiers are unique, edges join drawn nodes, and data flows from
// the input to the output: only the input lacks an incoming edge and only
// the output an outgoing one.
func TestWellFormed(t *testing.T) {
	for _, m := range specs(t) {
		var opts []Options
		for _, unroll := range []bool{false, true} {
			opts = append(opts, Options{Unroll: unroll})
			for _, st := range m.Stages {
				opts = append(opts, Options{Unroll: unroll, Stage: st.Name})
			}
		}
		for _, opt := range opts {
			g, err := New(m, opt)
			if err != nil {
				t.Fatalf("%s %+v: %v", m.Source, opt, err)
			}
			ids := map[string]bool{}
			nodes := map[*Node]bool{}
			var walk func(c *Cluster)
			walk = func(c *Cluster) {
				for _, n := range c.Nodes {
					if ids[n.ID] {
						t.Errorf("%s %+v: node %q twice", m.Source, opt, n.ID)
					}
					ids[n.ID] = true
					nodes[n] = true
				}
				for _, sub := range c.Clusters {
					if ids[sub.ID] {
						t.Errorf("%s %+v: cluster %q twice", m.Source, opt, sub.ID)
					}
					ids[sub.ID] = true
					walk(sub)
				}
			}
			walk(g.Root)
			in, out := map[*Node]int{}, map[*Node]int{}
			for _, e := range g.Edges {
				if !nodes[e.From] || !nodes[e.To] {
					t.Errorf("%s %+v: edge %q → %q joins a node that is not drawn", m.Source, opt, e.From.ID, e.To.ID)
				}
				if e.Label == "" {
					t.Errorf("%s %+v: edge %q → %q has no label", m.Source, opt, e.From.ID, e.To.ID)
				}
				out[e.From]++
				in[e.To]++
			}
			for n := range nodes {
				io := n.Kind == IO
				if (in[n] == 0) != (io && out[n] > 0) || (out[n] == 0) != (io && in[n] > 0) {
					t.Errorf("%s %+v: node %q has %d edges in and %d out", m.Source, opt, n.ID, in[n], out[n])
				}
			}
		}
	}
}

// TestTotals checks that the parts' parameters and MACs add up to the
// model's, as grcc info counts them.
func TestTotals(t *testing.T) {
	for _, m := range specs(t) {
		sum := layerTotals(m.Stem)
		for _, st := range m.Stages {
			s := stageTotals(st)
			sum.Params += s.Params
			sum.MACs += s.MACs
		}
		h := layerTotals(m.Head)
		sum.Params += h.Params
		sum.MACs += h.MACs
		if s := m.Stats(); sum.Params != s.Parameters || sum.MACs != s.MACs {
			t.Errorf("%s: parts add up to %d parameters and %d MACs, grcc info counts %d and %d", m.Source, sum.Params, sum.MACs, s.Parameters, s.MACs)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 999: "999", 1000: "1.00K", 9994: "9.99K", 9995: "10.0K", 70912: "70.9K",
		224788480: "225M", 999_499: "999K", 999_500: "1.00M", 3703832576: "3.70G", 24929704: "24.9M",
	} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestUnknownStage checks the message for a stage that does not exist.
func TestUnknownStage(t *testing.T) {
	m := specs(t)[0]
	_, err := New(m, Options{Stage: "nosuch"})
	if err == nil || !strings.Contains(err.Error(), `has no stage "nosuch"`) {
		t.Errorf("New with an unknown stage: %v", err)
	}
}
