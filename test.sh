#!/usr/bin/env bash
# test.sh runs every test of grcc. It first installs what the tests need
# beyond Go (PyTorch for the differential tests, the CUDA toolkit for the
# kernel checks) when it can; see scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
(cd bench/ort && go vet ./...) # the ONNX Runtime harness of bench/compare, a module of its own
# Builds without the amd64 assembly (other architectures, -tags purego) take
# the portable kernels; vet them too, so that a kernel added for amd64 alone
# cannot break them unseen.
go vet -tags purego ./...
GOARCH=arm64 go vet ./...
if command -v nvcc >/dev/null 2>&1; then
	# The CUDA code builds here but needs a GPU to run: vet it, and build the
	# cuda-tagged grcc and the generated packages' CUDA test binaries.
	stubs=/usr/lib/x86_64-linux-gnu/stubs
	[ -f "$stubs/libcuda.so" ] && export CGO_LDFLAGS="${CGO_LDFLAGS:-} -L$stubs"
	go vet -tags cuda ./...
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	go build -tags cuda -o "$tmp/grcc-cuda" ./cmd/grcc
	go test -tags cuda -c -o "$tmp/" ./generated/...
	echo "cuda-tagged grcc and CUDA test binaries build"
fi

echo "== bench/table.py (bench/compare's table, against a recorded run)"
python3 bench/table.py bench/testdata/results.jsonl | diff -u bench/testdata/table.md -
echo "== bench/ort_nodes.py (ONNX Runtime's per-node profile, against a recorded one)"
python3 bench/ort_nodes.py bench/testdata/ort_profile.json 'iter_10/' -n 10 | diff -u bench/testdata/ort_nodes.txt -

echo "== go test -race (one model shared by many goroutines; the server)"
go test -count=1 -race -timeout 10m -run 'Concurrent|Workspaces' ./runtime ./engine ./generated
go test -count=1 -race -timeout 10m ./serve

echo "== go test"
go test -count=1 -timeout 60m "$@" ./...
