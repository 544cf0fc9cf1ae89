//go:build cuda

package cli

// The CUDA engine of a cuda-tagged grcc. It runs the shipped models, whose
// packages (with their kernels and PTX) are compiled into this binary; for
// other specs, grcc build -target go,cuda writes a package with the same
// NewCUDA API.

import (
	"fmt"
	"slices"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/generated/grcnn109"
	"github.com/grcc/grcc/generated/grcnn110"
	"github.com/grcc/grcc/generated/grcnn110_sk"
	"github.com/grcc/grcc/generated/grcnn110_sk_shared"
	"github.com/grcc/grcc/generated/grcnn55"
	"github.com/grcc/grcc/generated/grcnn56"
	"github.com/grcc/grcc/generated/grcnn56_shared"
	"github.com/grcc/grcc/generated/skgrcnn109"
	"github.com/grcc/grcc/generated/skgrcnn55"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/runtime/checkpoint"
)

func init() { cudaEngine = newCUDAForward }

// cudaModel is what a generated package's CUDAModel offers.
type cudaModel interface {
	Forward(in, out []float32) error
	Close() error
}

// cudaEntry builds a CUDA forward for one shipped model.
type cudaEntry struct {
	params []checkpoint.Param
	build  func(sd *checkpoint.StateDict, name string) (forwardFunc, error)
}

func cudaEntryFor[M interface {
	LoadStateDict(*checkpoint.StateDict, string) error
}, C cudaModel](newModel func() M, newCUDA func(M, int) (C, error), inputLen int, params []checkpoint.Param) cudaEntry {
	return cudaEntry{params: params, build: func(sd *checkpoint.StateDict, name string) (forwardFunc, error) {
		m := newModel()
		if err := m.LoadStateDict(sd, name); err != nil {
			return nil, err
		}
		// The CUDA model is sized for a batch: make it on the first call
		// and again when the batch changes.
		var c cudaModel
		batch := 0
		return func(in, out []float32) error {
			n := len(in) / inputLen
			if c == nil || n != batch {
				if c != nil {
					c.Close()
				}
				cm, err := newCUDA(m, n)
				if err != nil {
					return err
				}
				c, batch = cm, n
			}
			return c.Forward(in, out)
		}, nil
	}}
}

var cudaEntries = map[string]cudaEntry{
	"grcnn55":            cudaEntryFor(grcnn55.New, grcnn55.NewCUDA, grcnn55.InputLen, grcnn55.Params),
	"skgrcnn55":          cudaEntryFor(skgrcnn55.New, skgrcnn55.NewCUDA, skgrcnn55.InputLen, skgrcnn55.Params),
	"grcnn109":           cudaEntryFor(grcnn109.New, grcnn109.NewCUDA, grcnn109.InputLen, grcnn109.Params),
	"skgrcnn109":         cudaEntryFor(skgrcnn109.New, skgrcnn109.NewCUDA, skgrcnn109.InputLen, skgrcnn109.Params),
	"grcnn56":            cudaEntryFor(grcnn56.New, grcnn56.NewCUDA, grcnn56.InputLen, grcnn56.Params),
	"grcnn110":           cudaEntryFor(grcnn110.New, grcnn110.NewCUDA, grcnn110.InputLen, grcnn110.Params),
	"grcnn110_sk":        cudaEntryFor(grcnn110_sk.New, grcnn110_sk.NewCUDA, grcnn110_sk.InputLen, grcnn110_sk.Params),
	"grcnn56_shared":     cudaEntryFor(grcnn56_shared.New, grcnn56_shared.NewCUDA, grcnn56_shared.InputLen, grcnn56_shared.Params),
	"grcnn110_sk_shared": cudaEntryFor(grcnn110_sk_shared.New, grcnn110_sk_shared.NewCUDA, grcnn110_sk_shared.InputLen, grcnn110_sk_shared.Params),
}

func newCUDAForward(m *ir.Model, sd *checkpoint.StateDict, name string) (forwardFunc, error) {
	e, ok := cudaEntries[m.Name]
	if !ok || !sameParams(engine.Params(m), e.params) {
		return nil, fmt.Errorf("%s: the CUDA engine of grcc runs the shipped models (spec/*.grc) only; "+
			"for this spec, grcc build -target go,cuda writes a package with NewCUDA", m.Source)
	}
	return e.build(sd, name)
}

func sameParams(a, b []checkpoint.Param) bool {
	return slices.EqualFunc(a, b, func(x, y checkpoint.Param) bool {
		return x.Key == y.Key && x.DType == y.DType && slices.Equal(x.Shape, y.Shape) && x.SharedWith == y.SharedWith
	})
}
