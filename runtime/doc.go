// Package runtime holds the CPU kernels that grcc-generated model packages
// call: convolution with a fused BatchNorm/ReLU epilogue, pooling, linear
// layers, the GRCL gate update, selective-kernel attention and the helpers a
// generated Predict needs.
//
// All tensors are float32 in NCHW order, stored in flat slices that the caller
// owns. Ops never allocate in Forward once they have run once, so a model can
// preallocate its activations and scratch and then run without garbage. Work
// is spread over a persistent pool of GOMAXPROCS goroutines.
//
// Once prepared, an op value is safe for concurrent use, given separate
// inputs, outputs and scratch: its fields are only read, and each Forward
// takes its per-call state (its arguments and parallel loop) from a pool, so
// that starting parallel work allocates nothing. Workspaces bounds the
// per-call memory of a model that many goroutines share.
//
// On amd64 with AVX-512 the matrix multiply, the packing of its right-hand
// side, the GRCL gate update and the per-channel scale and shift run in
// assembly, chosen at run time; elsewhere, or when built with the purego
// tag, portable Go code computes the same results with the same packed
// layouts.
//
// On amd64 without AVX-512 but with AVX2 and FMA, the matrix multiply runs
// in AVX2 assembly on the same packed layouts; the rest runs in Go there.
// The environment variable GRCC_KERNEL, read once when the program starts,
// lowers the choice for comparison: GRCC_KERNEL=avx2 uses the AVX2 kernels
// (and Go for the rest) where the CPU has them, GRCC_KERNEL=portable uses
// the portable Go code throughout. Other values are ignored.
//
// The package depends on nothing of the compiler; generated code imports it
// alone.
package runtime
