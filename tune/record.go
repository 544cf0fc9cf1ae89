package tune

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

// Record is what grcc build -tune-save writes and -algorithms reads: the
// choices tune made for a model at a batch, so that a later build (go
// generate, another machine of the same kind) gets them without timing
// again.
type Record struct {
	Model   string                 `json:"model"`
	Batch   int                    `json:"batch"`
	Choices map[string]plan.Choice `json:"choices"` // by plan.ConvClass
}

// Save writes the choices for m at its batch as indented JSON.
func Save(w io.Writer, m *ir.Model, choices map[string]plan.Choice) error {
	if choices == nil {
		choices = map[string]plan.Choice{}
	}
	b, err := json.MarshalIndent(Record{Model: m.Name, Batch: m.Batch, Choices: choices}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// LoadFile reads the choices that Save wrote to path, for m at its batch:
// a record of another model or batch is an error naming both, since its
// classes or its measurements are not m's. Whether each choice fits its
// class, plan.Build checks.
func LoadFile(path string, m *ir.Model) (map[string]plan.Choice, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case r.Model != m.Name:
		return nil, fmt.Errorf("%s: choices for model %q, not %q", path, r.Model, m.Name)
	case r.Batch != m.Batch:
		return nil, fmt.Errorf("%s: choices tuned at batch %d, and this build is for batch %d (build with -batch %d, or tune again)", path, r.Batch, m.Batch, r.Batch)
	}
	for class, ch := range r.Choices {
		if ch.Algo == "" {
			return nil, fmt.Errorf("%s: %s: no algorithm", path, class)
		}
	}
	return r.Choices, nil
}
