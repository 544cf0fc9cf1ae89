package graph

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrNoDot is returned by SVG when Graphviz's dot is not on the PATH.
var ErrNoDot = errors.New("Graphviz's dot is not installed; install Graphviz (Debian: apt-get install graphviz) or write DOT and render it elsewhere")

// SVG renders DOT source to SVG with Graphviz's dot.
func SVG(dot []byte) ([]byte, error) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return nil, ErrNoDot
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, "-Tsvg")
	cmd.Stdin = bytes.NewReader(dot)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dot -Tsvg: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
