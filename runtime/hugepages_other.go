//go:build !linux

package runtime

// adviseHugePages does nothing where there is no madvise with huge pages.
func adviseHugePages(b []float32) {}
