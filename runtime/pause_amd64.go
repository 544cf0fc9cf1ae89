//go:build !purego

package runtime

// cpuPause tells the core that the caller is polling in a loop (the PAUSE
// instruction): it waits a few dozen cycles, saves power and leaves the
// core's resources to its other hardware thread.
func cpuPause()
