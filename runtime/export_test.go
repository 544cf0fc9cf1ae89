package runtime

// PortableKernels makes the package use its pure-Go kernels until the
// returned function restores the previous choice.
func PortableKernels() (restore func()) {
	saved := useAVX512
	useAVX512 = false
	return func() { useAVX512 = saved }
}
