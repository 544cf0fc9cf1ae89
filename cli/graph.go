package cli

import (
	"flag"
	"fmt"

	"github.com/grcc/grcc/codegen/graph"
)

var graphCmd = &command{
	name: "graph", args: "SPEC [-format dot|svg|mermaid] [-unroll] [-stage NAME] [-o FILE]", nargs: 1,
	summary: "draw a spec as a diagram (Graphviz DOT, SVG or Mermaid)",
	detail: `The diagram shows the stem, each stage as a box labelled with its planes,
iterations, shapes, parameters and MACs, and the head; the edges carry the
per-image output shapes (C×H×W). A stage draws x_s = conv_f(x) and the gate
input x_g = conv_g_f(x), its cell once with a recurrent edge labelled with the
number of iterations (every iteration with -unroll), the gate path (BN, ReLU,
conv_g_r, + x_g, sigmoid) and the update x_s = r·g + x_s; selective-kernel
cells show their branches side by side and the attention that weighs them;
downsampling stages show the pooled shortcut and the convolution path.

-format dot (the default) writes Graphviz's language; svg runs Graphviz's dot
on it (Debian package graphviz); mermaid writes a flowchart that renders in
Markdown (Mermaid draws at most 500 edges unless configured otherwise, so
unroll only small models there). The output is printed unless -o names a
file.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		format := fs.String("format", "dot", "what to write: dot, svg or mermaid")
		unroll := fs.Bool("unroll", false, "draw every iteration instead of the cell once with a recurrent edge")
		stage := fs.String("stage", "", "draw only the stage of this name")
		out := fs.String("o", "", "write to this file instead of standard output")
		return func(e *env, args []string) error {
			switch *format {
			case "dot", "svg", "mermaid":
			default:
				return usagef("unknown format %q; want dot, svg or mermaid", *format)
			}
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			g, err := graph.New(m, graph.Options{Unroll: *unroll, Stage: *stage})
			if err != nil {
				return usagef("-stage: %v", err)
			}
			var data []byte
			switch *format {
			case "dot":
				data = g.DOT()
			case "mermaid":
				data = g.Mermaid()
			case "svg":
				if data, err = graph.SVG(g.DOT()); err != nil {
					return fmt.Errorf("grcc graph: -format svg: %w", err)
				}
			}
			if *out != "" {
				return writeFile(*out, data)
			}
			_, err = e.stdout.Write(data)
			return err
		}
	},
}
