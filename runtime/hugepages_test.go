package runtime

import (
	"testing"
	"unsafe"
)

// TestWeightBuffer checks that weight buffers, whichever way they are
// made, have the length asked for, start zero, start at a multiple of 64
// bytes when they come from a block, and never share memory.
func TestWeightBuffer(t *testing.T) {
	sizes := []int{1, 100, minArenaFloats - 1, minArenaFloats, minArenaFloats + 3, 1 << 18, 3<<18 + 5,
		weightBlockFloats / 2, weightBlockFloats/2 + 1, weightBlockFloats / 3, weightBlockFloats / 3}
	var bufs [][]float32
	for _, n := range sizes {
		b := weightBuffer(n)
		if len(b) != n || cap(b) != n && n >= minArenaFloats {
			t.Fatalf("weightBuffer(%d): len %d, cap %d", n, len(b), cap(b))
		}
		for i, v := range b {
			if v != 0 {
				t.Fatalf("weightBuffer(%d)[%d] = %v, want 0", n, i, v)
			}
		}
		if addr := uintptr(unsafe.Pointer(&b[0])); n >= minArenaFloats && addr%64 != 0 {
			t.Errorf("weightBuffer(%d) starts at %#x, not a multiple of 64", n, addr)
		}
		for i := range b {
			b[i] = float32(len(bufs) + 1)
		}
		bufs = append(bufs, b)
	}
	for j, b := range bufs {
		for i, v := range b {
			if v != float32(j+1) {
				t.Fatalf("buffer %d (%d floats) [%d] = %v: another buffer wrote over it", j, len(b), i, v)
			}
		}
	}
}

// TestWorkspaceBuffer checks WorkspaceBuffer's lengths, zeros and the 2 MiB
// alignment of large buffers.
func TestWorkspaceBuffer(t *testing.T) {
	for _, n := range []int{0, 1, hugePageBytes/4 - 1, hugePageBytes / 4, 3*hugePageBytes/4 + 7} {
		b := WorkspaceBuffer(n)
		if len(b) != n {
			t.Fatalf("WorkspaceBuffer(%d): len %d", n, len(b))
		}
		for i, v := range b {
			if v != 0 {
				t.Fatalf("WorkspaceBuffer(%d)[%d] = %v, want 0", n, i, v)
			}
		}
		if n*4 >= hugePageBytes {
			if addr := uintptr(unsafe.Pointer(&b[0])); addr%hugePageBytes != 0 {
				t.Errorf("WorkspaceBuffer(%d) starts at %#x, not on a 2 MiB boundary", n, addr)
			}
		}
	}
}
