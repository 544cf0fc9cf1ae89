// Package difftest checks grcc against PyTorch: every spec, shipped or
// randomly generated, is emitted as a PyTorch module, run there on random
// weights, and run again by grcc from the checkpoint PyTorch wrote.
package difftest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// RandomSpec writes a random valid spec: 1–5 stages, plain or SK cells,
// gated or not, with or without weight sharing, 1–4 iterations, several
// group counts, expansions, SK branch sets, input sizes and class counts.
// The same seed gives the same spec.
func RandomSpec(seed uint64) (name, src string) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	pick := func(xs ...int) int { return xs[r.IntN(len(xs))] }
	name = fmt.Sprintf("rand%d", seed)
	var b strings.Builder
	stages := 1 + r.IntN(5)
	downs := make([]bool, stages)
	nDown := 0
	for i := range stages - 1 {
		if r.IntN(3) > 0 {
			downs[i] = true
			nDown++
		}
	}
	// Every fourth seed gets a 32×32 first stage of bottleneck cells, so
	// that any run of 20 or more seeds has Winograd layers, which need 32
	// or more 4×4 tiles an image; other seeds' small inputs rarely do.
	// Every other one of those gets a 14×14 first stage instead and no
	// downsampling, whose F(4×2) products run turned around (28 tiles).
	wino := seed%4 == 0
	turned := seed%8 == 4
	if turned {
		clear(downs)
		nDown = 0
	}
	// The stem: CIFAR-like (3×3), ImageNet-like (7×7/2 and max pool) or a strided 3×3.
	stem := r.IntN(3)
	if wino && stem == 1 {
		stem = 0 // a 7×7/2 stem and its pool would need a 128×128 input
	}
	reduce := []int{1, 4, 2}[stem]
	unit := reduce << nDown // input sides must be multiples of this
	h := unit * pick(2, 3, 4, 5)
	w := h
	if r.IntN(3) == 0 {
		w = unit * pick(2, 3, 4, 5)
	}
	if wino {
		h, w = reduce*32, reduce*32
		if turned {
			h, w = reduce*14, reduce*14
		}
	}
	for h > 96 || w > 96 {
		h, w = unit*2, unit*2
		if unit*2 > 96 {
			break
		}
	}
	classes := pick(3, 5, 10, 17)
	stemOut := pick(8, 16, 32)
	fmt.Fprintf(&b, "# Random spec, seed %d.\nmodel %q {\n  input   = [%d, 3, %d, %d]\n  classes = %d\n\n  stem {\n",
		seed, name, 1+r.IntN(3), h, w, classes)
	switch stem {
	case 0:
		fmt.Fprintf(&b, "    conv \"conv_3x3\" { out = %d  kernel = 3  padding = 1 }\n", stemOut)
	case 1:
		fmt.Fprintf(&b, "    conv \"conv1\" { out = %d  kernel = 7  stride = 2  padding = 3 }\n    batchnorm \"bn1\"\n    relu\n", stemOut)
		b.WriteString("    maxpool { kernel = 3  stride = 2  padding = 1 }\n")
	case 2:
		fmt.Fprintf(&b, "    conv \"stem.0\" { out = %d  kernel = 3  stride = 2  padding = 1  bias = true }\n    batchnorm \"stem.1\"\n    relu\n", stemOut)
	}
	b.WriteString("  }\n\n  stages {\n")
	groups := pick(1, 2, 4, 8)
	if turned {
		groups = 1 // Winograd takes only dense 3×3 convolutions
	}
	fmt.Fprintf(&b, "    groups = %d\n", groups)
	if r.IntN(2) == 0 {
		writeSK(&b, r, "    ")
	}
	b.WriteString("\n")
	in := stemOut
	for i := range stages {
		planes := groups * pick(1, 2, 3, 4)
		exp := pick(1, 2, 4)
		cell := []string{"bottleneck", "sk"}[r.IntN(2)]
		if wino && i == 0 {
			cell = "bottleneck"
		}
		gate := []string{"sigmoid", "sigmoid", "none"}[r.IntN(3)]
		fmt.Fprintf(&b, "    stage \"layer%d\" {\n      planes = %d  iterations = %d  expansion = %d\n      cell = %s  gate = %s\n",
			i+1, planes, 1+r.IntN(4), exp, cell, gate)
		if cell == "sk" {
			writeSK(&b, r, "      ")
		}
		if r.IntN(3) == 0 {
			b.WriteString("      share_weights = true\n")
		}
		if downs[i] {
			b.WriteString("      downsample = true\n")
			if cell == "bottleneck" && r.IntN(3) == 0 {
				b.WriteString("      unused_d_bn_1e = true\n")
			}
		}
		b.WriteString("    }\n")
		in = planes * exp
	}
	_ = in
	b.WriteString("  }\n\n  head {\n    batchnorm \"lastact.0\"\n    relu\n")
	fh, fw := h/reduce>>nDown, w/reduce>>nDown
	if r.IntN(2) == 0 && fh == fw {
		fmt.Fprintf(&b, "    avgpool { kernel = %d }\n", fh)
	} else {
		b.WriteString("    globalavgpool\n")
	}
	if r.IntN(4) == 0 {
		fmt.Fprintf(&b, "    linear \"fc.0\" { out = %d }\n    relu\n    linear \"fc.2\"\n", pick(8, 16))
	} else {
		b.WriteString("    linear \"classifier\"\n")
	}
	b.WriteString("  }\n}\n")
	return name, b.String()
}

func writeSK(b *strings.Builder, r *rand.Rand, indent string) {
	kinds := [][2]int{{3, 1}, {3, 2}, {1, 1}, {5, 1}}
	n := 2 + r.IntN(2)
	fmt.Fprintf(b, "%ssk {\n", indent)
	for range n {
		k := kinds[r.IntN(len(kinds))]
		fmt.Fprintf(b, "%s  branch { kernel = %d  dilation = %d }\n", indent, k[0], k[1])
	}
	fmt.Fprintf(b, "%s  reduction = %d  min_width = %d\n%s}\n", indent, []int{4, 8, 16}[r.IntN(3)], []int{4, 8, 16}[r.IntN(3)], indent)
}
