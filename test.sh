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
if command -v nvcc >/dev/null 2>&1; then
	go vet -tags cuda ./...
fi

echo "== go test"
go test -count=1 -timeout 60m "$@" ./...
