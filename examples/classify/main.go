// Command classify prints the five most probable ImageNet classes of a photo
// with GRCNN-55: the package grcc generated for spec/grcnn55.grc decodes,
// resizes, crops and normalises the image as the reference evaluation does.
//
//	go run ./examples/classify -weights grcnn55.pth photo.jpg
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/grcc/grcc/generated/grcnn55"
	"github.com/grcc/grcc/runtime/imageproc"
)

func main() {
	weights := flag.String("weights", "grcnn55.pth", "PyTorch checkpoint or safetensors file")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: classify [-weights FILE] IMAGE")
	}
	if err := classify(os.Stdout, *weights, flag.Arg(0)); err != nil {
		log.Fatal(err)
	}
}

func classify(w io.Writer, weights, path string) error {
	model := grcnn55.New()
	if err := model.Load(weights); err != nil {
		return err // names the file and the offending keys
	}
	img, err := imageproc.DecodeFile(path) // JPEG, PNG, GIF, BMP, TIFF or WebP
	if err != nil {
		return err
	}
	top, err := model.PredictImage(img, 5)
	if err != nil {
		return err
	}
	for _, p := range top {
		fmt.Fprintf(w, "%6.2f%%  %s\n", 100*p.Probability, grcnn55.ClassNames[p.Class])
	}
	return nil
}
