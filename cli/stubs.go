package cli

import "flag"

func todo(*flag.FlagSet) func(*env, []string) error { return nil }

var (
	buildCmd   = &command{name: "build", flags: todo}
	runCmd     = &command{name: "run", flags: todo}
	benchCmd   = &command{name: "bench", flags: todo}
	convertCmd = &command{name: "convert", flags: todo}
)
