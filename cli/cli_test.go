// Tests of the command line itself: help, usage errors, exit statuses, and
// the front-end commands check and fmt.
package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grcc/grcc/cli"
)

// Exit statuses, as package cli documents them.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// run runs grcc in-process and returns its exit status and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// commandNames lists the commands grcc help shows.
func commandNames(t *testing.T) []string {
	t.Helper()
	_, stdout, _ := run(t, "help")
	_, list, ok := strings.Cut(stdout, "Commands:\n")
	if !ok {
		t.Fatalf("grcc help has no Commands: section:\n%s", stdout)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\t(\w+) `).FindAllStringSubmatch(list, -1) {
		names = append(names, m[1])
	}
	for _, want := range []string{"build", "run", "check", "info", "keys", "fmt", "version"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("grcc help does not list %q:\n%s", want, stdout)
		}
	}
	return names
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := run(t, "version")
	if want := "grcc " + cli.Version + "\n"; code != exitOK || stdout != want || stderr != "" {
		t.Errorf("grcc version: status %d, stdout %q, stderr %q; want 0, %q, nothing", code, stdout, stderr, want)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, stdout, stderr := run(t, args...)
		if code != exitOK || stderr != "" {
			t.Errorf("grcc %s: status %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, stderr)
		}
		if !strings.Contains(stdout, "Commands:") {
			t.Errorf("grcc %s does not list the commands:\n%s", strings.Join(args, " "), stdout)
		}
	}
	// Without a command grcc prints the same overview, to stderr, as a usage error.
	code, stdout, stderr := run(t)
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, "Usage:") {
		t.Errorf("grcc: status %d, stdout %q, stderr %q; want 2 and usage on stderr", code, stdout, stderr)
	}
}

// TestCommandHelp checks grcc help CMD and CMD -h for every command.
func TestCommandHelp(t *testing.T) {
	for _, name := range commandNames(t) {
		for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "-help"}} {
			code, stdout, stderr := run(t, args...)
			if code != exitOK || stderr != "" {
				t.Errorf("grcc %s: status %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, stderr)
			}
			if !strings.HasPrefix(stdout, "usage: grcc "+name) {
				t.Errorf("grcc %s: stdout does not start with the usage line:\n%s", strings.Join(args, " "), stdout)
			}
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	code, stdout, stderr := run(t, "chek", "spec.grc")
	want := "grcc: unknown command \"chek\"; did you mean \"check\"?\nRun 'grcc help' for usage.\n"
	if code != exitUsage || stdout != "" || stderr != want {
		t.Errorf("grcc chek: status %d, stdout %q, stderr %q; want 2, nothing, %q", code, stdout, stderr, want)
	}
	code, _, stderr = run(t, "frobnicate")
	if code != exitUsage || strings.Contains(stderr, "did you mean") {
		t.Errorf("grcc frobnicate: status %d, stderr %q; want 2 and no suggestion", code, stderr)
	}
	code, _, stderr = run(t, "help", "chek")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "chek"`) {
		t.Errorf("grcc help chek: status %d, stderr %q; want 2 and an unknown command", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	spec := filepath.Join("..", "spec", "grcnn55.grc")
	for _, args := range [][]string{
		{"check"},
		{"keys"},
		{"keys", spec, spec},
		{"info"},
		{"info", spec, spec},
		{"fmt"},
		{"version", "extra"},
		{"help", "check", "keys"},
		{"check", "-nosuchflag", spec},
	} {
		code, stdout, stderr := run(t, args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, "usage: grcc ") {
			t.Errorf("grcc %s: status %d, stdout %q, stderr %q; want 2 and a usage line", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

func TestMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nosuch.grc")
	for _, cmd := range []string{"check", "keys", "info", "fmt"} {
		code, stdout, stderr := run(t, cmd, missing)
		want := missing + ": no such file or directory\n"
		if code != exitError || stdout != "" || stderr != want {
			t.Errorf("grcc %s %s: status %d, stdout %q, stderr %q; want 1, nothing, %q", cmd, missing, code, stdout, stderr, want)
		}
	}
}

// TestCheckSeveralFiles checks that grcc check reports every bad spec and
// fails if any is bad.
func TestCheckSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	bad1 := filepath.Join(dir, "bad1.grc")
	bad2 := filepath.Join(dir, "bad2.grc")
	writeTestFile(t, bad1, "# nothing\n")
	writeTestFile(t, bad2, "model \"m\" {\n")
	good := filepath.Join("..", "spec", "grcnn56.grc")
	code, stdout, stderr := run(t, "check", bad1, good, bad2)
	want := bad1 + ":1:1: no model in spec; want model \"name\" { ... }\n" +
		bad2 + ":2:1: unexpected end of file; missing \"}\"\n"
	if code != exitError || stdout != "" || stderr != want {
		t.Errorf("grcc check: status %d, stdout %q, stderr:\n%s\nwant 1, nothing and:\n%s", code, stdout, stderr, want)
	}
	if code, stdout, stderr := run(t, "check", good, good); code != exitOK || stdout != "" || stderr != "" {
		t.Errorf("grcc check on good specs: status %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
}

const messy = "model \"m\"{input=[1,3,32,32]  classes=10\n" +
	"stem{conv \"c\"{out=16 kernel=3 padding=1}}\n" +
	"stages{stage \"s\"{planes=16 iterations=1}}\n" +
	"head{globalavgpool linear \"fc\"}}\n"

const tidy = `model "m" {
  input   = [1, 3, 32, 32]
  classes = 10
  stem {
    conv "c" { out = 16  kernel = 3  padding = 1 }
  }
  stages {
    stage "s" { planes = 16  iterations = 1 }
  }
  head {
    globalavgpool
    linear "fc"
  }
}
`

func TestFmt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.grc")
	writeTestFile(t, path, messy)
	code, stdout, stderr := run(t, "fmt", path)
	if code != exitOK || stdout != tidy || stderr != "" {
		t.Errorf("grcc fmt: status %d, stderr %q, stdout:\n%s\nwant 0 and:\n%s", code, stderr, stdout, tidy)
	}
	if got := readTestFile(t, path); got != messy {
		t.Errorf("grcc fmt without -w changed the file:\n%s", got)
	}
}

func TestFmtWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.grc")
	writeTestFile(t, path, messy)
	for i := 0; i < 2; i++ { // the second time there is nothing to do
		code, stdout, stderr := run(t, "fmt", "-w", path)
		if code != exitOK || stdout != "" || stderr != "" {
			t.Errorf("grcc fmt -w: status %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
		}
		if got := readTestFile(t, path); got != tidy {
			t.Errorf("grcc fmt -w wrote:\n%s\nwant:\n%s", got, tidy)
		}
	}
	if code, _, stderr := run(t, "check", path); code != exitOK {
		t.Errorf("grcc check on the formatted file: status %d, stderr %q", code, stderr)
	}

	// A file that does not parse is reported and left alone; the others are still formatted.
	bad := filepath.Join(dir, "bad.grc")
	writeTestFile(t, bad, "model \"m\" {\n  classes = 10;\n}\n")
	other := filepath.Join(dir, "other.grc")
	writeTestFile(t, other, messy)
	code, _, stderr := run(t, "fmt", "-w", bad, other)
	want := bad + ":2:15: invalid character ';'; entries need no separator\n"
	if code != exitError || stderr != want {
		t.Errorf("grcc fmt -w on a bad file: status %d, stderr %q; want 1, %q", code, stderr, want)
	}
	if got := readTestFile(t, bad); got != "model \"m\" {\n  classes = 10;\n}\n" {
		t.Errorf("grcc fmt -w changed a file it could not parse:\n%s", got)
	}
	if got := readTestFile(t, other); got != tidy {
		t.Errorf("grcc fmt -w did not format the good file after the bad one:\n%s", got)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
