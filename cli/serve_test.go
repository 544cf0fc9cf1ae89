//go:build unix

package cli_test

import (
	"io"
	"net/http"
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

// TestServe starts grcc serve on a free loopback port, asks it something,
// and stops it with SIGTERM: it must finish and exit 0.
func TestServe(t *testing.T) {
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run([]string{"serve", "../testdata/reference/tiny_cifar.grc", "--random-weights", "1", "--addr", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	var addr string
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
	resp, err := http.Get("http://" + addr + "/v2/models/tiny_cifar")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"shape":[-1,3,32,32]`) {
		t.Errorf("metadata: %d %s", resp.StatusCode, body)
	}
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
