package runtime

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHugePages asks Linux to back the whole 2 MiB pages of b with
// transparent huge pages (madvise MADV_HUGEPAGE, which systems whose
// transparent_hugepage setting is "madvise" need), and to collapse the
// ones already mapped with small pages now (MADV_COLLAPSE, Linux 6.1 and
// later) rather than whenever the kernel's background scan reaches them.
// Both are hints: where they fail, b works as it is.
func adviseHugePages(b []float32) {
	if len(b) == 0 {
		return
	}
	bytes := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b)*4)
	start := (hugePageBytes - int(uintptr(unsafe.Pointer(&bytes[0])))%hugePageBytes) % hugePageBytes
	end := start + (len(bytes)-start)/hugePageBytes*hugePageBytes
	if end <= start {
		return
	}
	_ = unix.Madvise(bytes[start:end], unix.MADV_HUGEPAGE)
	_ = unix.Madvise(bytes[start:end], unix.MADV_COLLAPSE)
}
