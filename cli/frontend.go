package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/parser"
	"github.com/grcc/grcc/plan"
)

// loadSpec reads, parses and checks a spec file.
func loadSpec(path string) (*ir.Model, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	return ir.Load(path, src)
}

// fileError words an I/O error as "path: reason" without repeating the path.
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", path, pe.Err)
	}
	return fmt.Errorf("%s: %v", path, err)
}

var checkCmd = &command{
	name: "check", args: "SPEC...", nargs: -2,
	summary: "check specs and report every problem found",
	detail:  "Diagnostics are printed as path:line:col: message, sorted; the exit status is 1 when any spec has errors.",
	flags: func(*flag.FlagSet) func(*env, []string) error {
		return func(e *env, args []string) error {
			var msgs []string
			for _, path := range args {
				if _, err := loadSpec(path); err != nil {
					msgs = append(msgs, err.Error())
				}
			}
			if len(msgs) > 0 {
				return errors.New(strings.Join(msgs, "\n"))
			}
			return nil
		}
	},
}

var keysCmd = &command{
	name: "keys", args: "SPEC", nargs: 1,
	summary: "print the state_dict entries a checkpoint must hold",
	detail:  "One entry a line, key, dtype and shape separated by tabs, in the reference implementation's order.",
	flags: func(*flag.FlagSet) func(*env, []string) error {
		return func(e *env, args []string) error {
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			var b bytes.Buffer
			b.WriteString("# key\tdtype\tshape\n")
			for _, p := range m.Params {
				fmt.Fprintf(&b, "%s\t%s\t%s\n", p.Key, p.DType, p.ShapeString())
			}
			_, err = e.stdout.Write(b.Bytes())
			return err
		}
	},
}

var infoCmd = &command{
	name: "info", args: "SPEC", nargs: 1,
	summary: "print a table of layers with shapes, parameters and MACs",
	detail:  "Parameters count learnable elements, shared tensors once; MACs are per image.",
	flags: func(*flag.FlagSet) func(*env, []string) error {
		return func(e *env, args []string) error {
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			return writeInfo(e, m)
		}
	},
}

func writeInfo(e *env, m *ir.Model) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(e.stdout, "model %s: input %dx%s, %d classes\n\n", m.Name, m.Batch, m.Input, m.Classes)
	fmt.Fprintln(tw, "layer\toutput\tparameters\tMACs\t")
	for _, r := range ir.Rows(m) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", r.Name, r.Out, r.Params, r.MACs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := m.Stats()
	fmt.Fprintf(e.stdout, "\nparameters: %d\nstate_dict entries: %d\nmacs: %d\n", s.Parameters, s.Entries, s.MACs)
	return nil
}

var fmtCmd = &command{
	name: "fmt", args: "[-w] SPEC...", nargs: -2,
	summary: "print specs in canonical layout",
	detail:  "Without -w the formatted spec is printed; with -w files are rewritten in place. Comments are kept; formatting twice changes nothing.",
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		write := fs.Bool("w", false, "write the result to the file instead of printing it")
		return func(e *env, args []string) error {
			var msgs []string
			for _, path := range args {
				src, err := os.ReadFile(path)
				if err != nil {
					msgs = append(msgs, fileError(path, err).Error())
					continue
				}
				f, err := parser.Parse(path, src)
				if err != nil {
					msgs = append(msgs, err.Error())
					continue
				}
				out := parser.Format(f)
				if !*write {
					e.stdout.Write(out)
					continue
				}
				if !bytes.Equal(out, src) {
					if err := os.WriteFile(path, out, 0o666); err != nil {
						msgs = append(msgs, fileError(path, err).Error())
					}
				}
			}
			if len(msgs) > 0 {
				return errors.New(strings.Join(msgs, "\n"))
			}
			return nil
		}
	},
}

var planCmd = &command{
	name: "plan", args: "SPEC [-after PASS] [-fusions] [-why]", nargs: 1,
	summary: "print the lowered program after a pass",
	detail: `The program is the forward pass as steps over numbered values, which the
Go and CUDA emitters translate one by one. -after stops the pipeline after the
named pass; -fusions fuses wherever the CUDA target can, not only where the
CPU kernels can; -why lists,
per convolution, the CPU algorithm the cost model chose and why. The passes:

` + passList(),
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		after := fs.String("after", "", "stop after this pass (default: run them all)")
		fusions := fs.Bool("fusions", false, "fuse as the CUDA target does")
		why := fs.Bool("why", false, "list each convolution's CPU algorithm and the reason for it")
		return func(e *env, args []string) error {
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			p, err := plan.Build(m, plan.Options{StopAfter: *after, Fusions: *fusions, Verify: true})
			if err != nil {
				return fmt.Errorf("%s: %w", m.Source, err)
			}
			if _, err := fmt.Fprint(e.stdout, p); err != nil || !*why {
				return err
			}
			fmt.Fprintln(e.stdout, "algorithms:")
			for _, s := range p.Steps {
				if s.Algo != "" {
					fmt.Fprintf(e.stdout, "  %-24s %-9s %s\n", s.Name, s.Algo, s.AlgoWhy)
				}
			}
			return nil
		}
	},
}

func passList() string {
	var b strings.Builder
	for _, p := range plan.Passes {
		fmt.Fprintf(&b, "  %-22s %s\n", p.Name, p.Why)
	}
	return b.String()
}
