// Command grcc compiles GRCNN specs into Go, CUDA and PyTorch code; see
// package cli for the commands.
package main

import (
	"os"

	"github.com/grcc/grcc/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) }
