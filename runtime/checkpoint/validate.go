package checkpoint

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Param describes one entry a model expects.
type Param struct {
	Key   string
	DType string
	Shape []int
	// SharedWith is the key of the first entry this one shares its tensor
	// with, or "" if none.
	SharedWith string
}

// ValidationError lists the problems Validate found.
type ValidationError struct {
	Name     string   // the file
	Problems []string // one per offending key, such as `"conv1.weight": missing`
}

// maxProblems is the number of problems a ValidationError's message shows.
const maxProblems = 5

func (e *ValidationError) Error() string {
	shown := e.Problems[:min(len(e.Problems), maxProblems)]
	msg := e.Name + ": " + strings.Join(shown, "; ")
	if more := len(e.Problems) - len(shown); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg
}

// Validate checks sd against the parameters a model expects: every expected
// key must be present with the right dtype and shape, and entries that
// share a tensor (SharedWith) must hold equal values. Keys of sd that are
// not expected are an error unless listed in unused (keys as in sd, without
// any "module." prefix). Keys ending in "num_batches_tracked" are accepted
// whether present or missing. The error, a *ValidationError, names the file
// and the first few offending keys, as in
//
//	tiny.pt: "layer1.conv_f.weight": shape 256x2x3x3, want 128x4x3x3
func Validate(name string, sd *StateDict, want []Param, unused []string) error {
	var problems []string
	expected := make(map[string]bool, len(want))
	for _, p := range want {
		expected[p.Key] = true
		t := sd.Get(p.Key)
		if t == nil {
			if !isBatchCount(p.Key) {
				problems = append(problems, fmt.Sprintf("%q: missing", p.Key))
			}
			continue
		}
		if diff := mismatch(t, p); diff != "" {
			problems = append(problems, fmt.Sprintf("%q: %s", p.Key, diff))
			continue
		}
		if p.SharedWith == "" {
			continue
		}
		if other := sd.Get(p.SharedWith); other != nil && mismatch(other, p) == "" && !sameValues(t, other) {
			problems = append(problems, fmt.Sprintf("%q: differs from %q, which it shares its tensor with", p.Key, p.SharedWith))
		}
	}
	for _, t := range sd.Tensors {
		if !expected[t.Key] && !isBatchCount(t.Key) && !slices.Contains(unused, t.Key) {
			problems = append(problems, fmt.Sprintf("%q: unexpected", t.Key))
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Name: name, Problems: problems}
	}
	return nil
}

// isBatchCount reports whether key is a BatchNorm's num_batches_tracked,
// which inference never uses.
func isBatchCount(key string) bool {
	return strings.HasSuffix(key, "num_batches_tracked")
}

// mismatch describes how t differs from p in dtype and shape, or returns "".
func mismatch(t *Tensor, p Param) string {
	var diffs []string
	if t.DType != p.DType {
		diffs = append(diffs, fmt.Sprintf("dtype %s, want %s", t.DType, p.DType))
	}
	if !slices.Equal(t.Shape, p.Shape) {
		diffs = append(diffs, fmt.Sprintf("shape %s, want %s", FormatShape(t.Shape), FormatShape(p.Shape)))
	}
	return strings.Join(diffs, ", ")
}

// sameValues reports whether a and b hold the same values, bit for bit.
func sameValues(a, b *Tensor) bool {
	if len(a.F32) != len(b.F32) || !slices.Equal(a.I64, b.I64) {
		return false
	}
	for i, v := range a.F32 {
		if math.Float32bits(v) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	return true
}
