// Package cli is the grcc command line: it parses arguments, runs a
// subcommand and returns the exit status, so that every command can be tested
// in-process. Exit status 0 is success, 1 an error, 2 a usage mistake.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/grcc/grcc/ir"
)

// Version is grcc's version.
const Version = "0.1.0"

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string // one line for grcc help
	detail  string // more, for grcc help NAME
	// flags declares the command's flags on fs and returns the function that runs it.
	flags func(fs *flag.FlagSet) func(env *env, args []string) error
	// nargs is the number of positional arguments: exact when >= 0, at least -nargs-1 when negative.
	nargs int
}

// env is what a running command writes to.
type env struct {
	stdout, stderr io.Writer
}

var commands []*command

func init() {
	commands = []*command{
		buildCmd, runCmd, preprocessCmd, predictCmd, evalCmd, serveCmd, benchCmd, checkCmd, infoCmd, keysCmd, planCmd, graphCmd, fmtCmd, convertCmd,
		{name: "version", summary: "print grcc's version", nargs: 0,
			flags: func(*flag.FlagSet) func(*env, []string) error {
				return func(e *env, _ []string) error {
					fmt.Fprintf(e.stdout, "grcc %s\n", Version)
					return nil
				}
			}},
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError marks errors that should exit with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Run runs grcc with the arguments after the program name and returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(e, rest)
	}
	cmd := lookup(name)
	if cmd == nil {
		msg := fmt.Sprintf("grcc: unknown command %q", name)
		var names []string
		for _, c := range commands {
			names = append(names, c.name)
		}
		if s := ir.Suggest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintf(stderr, "%s\nRun 'grcc help' for usage.\n", msg)
		return exitUsage
	}
	return cmd.run(e, rest)
}

func (c *command) run(e *env, args []string) int {
	fs := flag.NewFlagSet("grcc "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	do := c.flags(fs)
	positional, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(e.stdout, fs)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "grcc %s: %v\n", c.name, err)
		fmt.Fprintf(e.stderr, "usage: grcc %s %s\nRun 'grcc help %s' for details.\n", c.name, c.args, c.name)
		return exitUsage
	}
	if (c.nargs >= 0 && len(positional) != c.nargs) || (c.nargs < 0 && len(positional) < -c.nargs-1) {
		fmt.Fprintf(e.stderr, "usage: grcc %s %s\nRun 'grcc help %s' for details.\n", c.name, c.args, c.name)
		return exitUsage
	}
	if err := do(e, positional); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(e.stderr, "grcc %s: %s\n", c.name, ue.msg)
			return exitUsage
		}
		msg := strings.TrimSuffix(err.Error(), "\n")
		fmt.Fprintln(e.stderr, msg)
		return exitError
	}
	return exitOK
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, as users type them: grcc build spec.grc -o out.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "grcc compiles GRCNN specs (.grc) into Go, CUDA and PyTorch code.\n\nUsage:\n\n\tgrcc <command> [arguments]\n\nCommands:\n\n")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-*s %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'grcc help <command>' for more about a command.\n")
}

func help(e *env, args []string) int {
	switch len(args) {
	case 0:
		printUsage(e.stdout)
		return exitOK
	case 1:
		c := lookup(args[0])
		if c == nil {
			fmt.Fprintf(e.stderr, "grcc help: unknown command %q\n", args[0])
			return exitUsage
		}
		fs := flag.NewFlagSet("grcc "+c.name, flag.ContinueOnError)
		c.flags(fs)
		c.printHelp(e.stdout, fs)
		return exitOK
	}
	fmt.Fprintln(e.stderr, "usage: grcc help [command]")
	return exitUsage
}

func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: grcc %s %s\n\n%s.\n", c.name, c.args, capitalize(c.summary))
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.detail))
	}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) == 0 {
		return
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	fmt.Fprintln(w, "\nFlags:")
	for _, f := range flags {
		name, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
