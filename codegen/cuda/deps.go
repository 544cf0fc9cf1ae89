//go:build grcc_deps

package cuda

// The generated cuda.go imports gorgonia.org/cu. No build of grcc may
// import it (its init exits the process on machines without a GPU), but a
// package generated inside this module needs it in go.mod: this file,
// built by nothing (no build sets grcc_deps) yet seen by go mod tidy, which
// considers every build tag, keeps the requirement.
import _ "gorgonia.org/cu"
