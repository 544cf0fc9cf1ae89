package runtime

// PortableKernels makes the package use its pure-Go kernels until the
// returned function restores the previous choice.
func PortableKernels() (restore func()) {
	restore = saveKernel()
	useAVX512, useAVX2 = false, false
	return restore
}

// ForceKernel makes the package use the kernels named ("avx512", "avx2" or
// "portable") until the returned function restores the previous choice. ok
// is false, and nothing changes, where this machine or build cannot run them.
func ForceKernel(name string) (restore func(), ok bool) {
	restore = saveKernel()
	return restore, setKernel(name)
}

func saveKernel() (restore func()) {
	s512, s2 := useAVX512, useAVX2
	return func() { useAVX512, useAVX2 = s512, s2 }
}
