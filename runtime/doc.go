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
// An op value is not safe for concurrent use: Forward keeps its per-call
// arguments in state the op points to, so that starting parallel work
// allocates nothing, and a copy of an op shares that state. Run separate
// model instances to serve concurrent requests.
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
