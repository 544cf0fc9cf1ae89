//go:build unix

package cli_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grcc/grcc/cli"
)

// syncBuffer is an output that a test reads while the command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs grcc serve with args on a free loopback port and
// returns its address and a function that stops it with SIGTERM, which
// must make it finish and exit 0.
func startServe(t *testing.T, args ...string) (addr string, stop func()) {
	t.Helper()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(append([]string{"serve"}, append(args, "--addr", "127.0.0.1:0")...), &stdout, &stderr)
	}()
	for deadline := time.Now().Add(30 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if m := regexp.MustCompile(`on http://(\S+)`).FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("grcc serve exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("grcc serve did not start: %s %s", stdout.String(), stderr.String())
		}
	}
	return addr, func() {
		t.Helper()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			if code != 0 || !strings.Contains(stdout.String(), "stopped") {
				t.Errorf("after SIGTERM: status %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("grcc serve did not stop after SIGTERM")
		}
	}
}

// TestServe starts grcc serve, asks it for the model's metadata and stops
// it.
func TestServe(t *testing.T) {
	addr, stop := startServe(t, "../testdata/reference/tiny_cifar.grc", "--random-weights", "1")
	defer stop()
	resp, err := http.Get("http://" + addr + "/v2/models/tiny_cifar")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"shape":[-1,3,32,32]`) {
		t.Errorf("metadata: %d %s", resp.StatusCode, body)
	}
}

// TestServeClassify serves the trained Fashion-MNIST example and sends
// /classify a PNG as the body: the spec's preprocessing and labels answer
// with the class's name, as grcc predict does for the same file.
func TestServeClassify(t *testing.T) {
	addr, stop := startServe(t, "../examples/fashion/fashion.grc", "--weights", "../examples/fashion/fashion.safetensors")
	defer stop()
	img, err := os.ReadFile("../examples/fashion/images/ankle_boot.png")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/v2/models/fashion/classify?top=1", "image/png", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"label":"Ankle boot"`) {
		t.Errorf("classify: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+addr+"/v2/models/fashion/classify", "image/png", strings.NewReader("not an image"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "image") {
		t.Errorf("classify of a non-image: %d %s", resp.StatusCode, body)
	}
}

func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "x.grc"},
		{"serve", "x.grc", "--random-weights", "1", "--max-batch", "0"},
		{"serve", "x.grc", "--random-weights", "1", "--batch-delay", "-1s"},
	} {
		if code, _, _ := run(t, args...); code != exitUsage {
			t.Errorf("grcc %s: status %d, want %d", strings.Join(args, " "), code, exitUsage)
		}
	}
}
