package labels

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltin(t *testing.T) {
	for name, want := range map[string]int{"imagenet": 1000, "cifar10": 10, "cifar100": 100} {
		names, ok := Builtin(name)
		if !ok || len(names) != want {
			t.Errorf("%s: %d names, want %d", name, len(names), want)
		}
		for i, s := range names {
			if s == "" {
				t.Errorf("%s: class %d has no name", name, i)
			}
		}
	}
	if ImageNet[0] != "tench" || ImageNet[999] != "toilet tissue" || CIFAR10[9] != "truck" || CIFAR100[99] != "worm" {
		t.Error("built-in names out of order")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.txt")
	os.WriteFile(path, []byte("a\r\nb b\nc\n"), 0o644)
	if names, err := ReadFile(path, 3); err != nil || strings.Join(names, "|") != "a|b b|c" {
		t.Errorf("ReadFile = %q, %v", names, err)
	}
	if _, err := ReadFile(path, 4); err == nil || !strings.Contains(err.Error(), "3 class names, want 4") {
		t.Errorf("wrong count: %v", err)
	}
	os.WriteFile(path, []byte("a\n\nc\n"), 0o644)
	if _, err := ReadFile(path, 3); err == nil || !strings.Contains(err.Error(), "l.txt:2: empty") {
		t.Errorf("empty name: %v", err)
	}
}
