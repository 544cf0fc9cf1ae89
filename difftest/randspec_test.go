package difftest

import (
	"testing"

	"github.com/grcc/grcc/ir"
)

// TestRandomSpecsCheck makes sure the generator writes only valid specs.
func TestRandomSpecsCheck(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		name, src := RandomSpec(seed)
		if _, err := ir.Load(name+".grc", []byte(src)); err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, src)
		}
	}
}
