//go:build purego || !amd64

package runtime

// cpuPause stands for the polling hint of pause_amd64.s: a no-op here.
func cpuPause() {}
