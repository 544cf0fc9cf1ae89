// Command classify is the README's example: it loads a GRCNN-55 checkpoint
// into the package grcc generated for spec/grcnn55.grc and prints the five
// most probable ImageNet classes of a preprocessed image.
//
//	go run ./examples/classify -weights grcnn55.pth -input image.npy
//
// The image is a float32 1×3×224×224 .npy array, resized, cropped and
// normalised as the README's "Preprocessing" section says.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/grcc/grcc/generated/grcnn55"
	"github.com/grcc/grcc/runtime/npy"
)

func main() {
	weights := flag.String("weights", "grcnn55.pth", "PyTorch checkpoint or safetensors file")
	input := flag.String("input", "image.npy", "preprocessed image, float32 1×3×224×224")
	flag.Parse()
	if err := classify(os.Stdout, *weights, *input); err != nil {
		log.Fatal(err)
	}
}

func classify(w io.Writer, weights, input string) error {
	model := grcnn55.New()
	if err := model.Load(weights); err != nil {
		return err
	}
	image, _, err := npy.ReadFloat32(input)
	if err != nil {
		return err
	}
	top, err := model.Predict(image, 5)
	if err != nil {
		return err
	}
	for _, p := range top[0] {
		fmt.Fprintf(w, "class %4d  probability %.4f\n", p.Class, p.Probability)
	}
	return nil
}
