#!/usr/bin/env bash
# gpu-check.sh: checks grcc's CUDA target on a machine with an NVIDIA GPU
# (compute capability 8.x or 9.x), its driver, the CUDA toolkit (nvcc,
# cuda.h) and Go; the timing part also needs python3 with PyTorch (CUDA).
#
# 1. Correctness. For every shipped spec (spec/*.grc) and the four reference
#    cases (testdata/reference/*.grc, with their checkpoints), it builds the
#    Go and CUDA targets into a package inside the module and runs its
#    cuda-tagged test, TestCUDAMatchesCPU: the GPU's logits at batch 1 and 5
#    against the CPU path's (Model.Forward) on the same weights (random for
#    the shipped specs, the reference checkpoint for the reference cases)
#    and input, with tolerance max|gpu - cpu| <= 1e-4 * max|cpu|.
# 2. Speed. For each shipped spec it times CUDAModel.Forward (input copy,
#    the forward pass's launches replayed as a CUDA graph on one stream,
#    logits copy) at batch 1 and 64 with BenchmarkCUDAForward, and PyTorch
#    eager (input copy, forward, logits copy) on the module of
#    grcc build --target torch, on the same GPU, float32 (TF32 off for both,
#    cudnn.benchmark on), and prints a table: latency per batch, images/s,
#    and kernel launches per forward pass.
#
# Usage: scripts/gpu-check.sh [-n] [-b BATCHES] [SPEC...]
#   -n          correctness only (no timing)
#   -b BATCHES  batch sizes to time (default "1 64")
#   SPEC...     specs to check and time (default: every shipped spec, plus
#               the reference cases for correctness)
# Environment: GO (default go), PYTHON (default python3), NVCC (default nvcc).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

GO=${GO:-go}
PYTHON=${PYTHON:-python3}
NVCC=${NVCC:-nvcc}
timing=1
batches="1 64"
while getopts "nb:" opt; do
	case $opt in
	n) timing=0 ;;
	b) batches=$OPTARG ;;
	*) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

specs=("$@")
refs=()
if [ ${#specs[@]} -eq 0 ]; then
	specs=(spec/*.grc)
	refs=(testdata/reference/*.grc)
fi

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader || true
command -v "$NVCC" >/dev/null || { echo "gpu-check: $NVCC not found" >&2; exit 1; }

# The cgo build of gorgonia.org/cu links against libcuda; the toolkit's
# stub is enough to link, the driver's library runs.
for d in /usr/lib/x86_64-linux-gnu/stubs /usr/local/cuda/lib64/stubs; do
	if [ -e "$d/libcuda.so" ]; then
		export CGO_LDFLAGS="${CGO_LDFLAGS:-} -L$d"
		break
	fi
done
export CGO_ENABLED=1

# Generated packages live inside the module (so that gorgonia.org/cu
# resolves) under a directory that ./... skips.
work="$root/_gpucheck"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

"$GO" build -o "$work/grcc" ./cmd/grcc

# build SPEC NAME: writes the Go and CUDA package for SPEC into $work/NAME
# and makes sure its PTX is there (grcc build writes it when nvcc is on
# PATH; otherwise compile it here).
build() {
	local spec=$1 name=$2 dir="$work/$2"
	"$work/grcc" build -target go,cuda -pkg "$name" -o "$dir" "$spec"
	for arch in 80 90; do
		if [ ! -s "$dir/kernels_sm$arch.ptx" ]; then
			"$NVCC" -ptx -arch=sm_$arch -std=c++17 -O3 -o "$dir/kernels_sm$arch.ptx" "$dir/kernels.cu"
		fi
	done
}

name_of() { basename "$1" .grc; }

echo
echo "== correctness: TestCUDAMatchesCPU, max|gpu - cpu| <= 1e-4 * max|cpu| at batch 1 and 5"
bad=()
for spec in "${specs[@]}" ${refs[@]+"${refs[@]}"}; do
	name=$(name_of "$spec")
	weights=""
	case $spec in
	testdata/reference/*) weights="$root/testdata/reference/$name.pt" ;;
	esac
	build "$spec" "$name"
	# pipefail: the status is go test's when it fails.
	if ! (cd "$work/$name" && GRCC_WEIGHTS="$weights" "$GO" test -tags cuda -count=1 -run '^TestCUDAMatchesCPU$' -v . 2>&1 |
		sed "s/^/$name: /"); then
		bad+=("$name")
	fi
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "gpu-check: GPU and CPU disagree (or the test failed) for: ${bad[*]}" >&2
else
	echo "gpu-check: GPU and CPU agree for all $((${#specs[@]} + ${#refs[@]})) models"
fi

if [ "$timing" = 0 ]; then
	[ ${#bad[@]} -eq 0 ]
	exit
fi

echo
echo "== speed: Forward of CUDAModel vs PyTorch eager (float32, TF32 off), same GPU"
cat >"$work/torch_bench.py" <<'EOF'
import importlib.util
import sys
import time

import torch

path, batch, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("grcc_model", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
cls = getattr(mod, mod.__all__[0])
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
model = cls().cuda().eval()
x = torch.randn(batch, *mod.INPUT_SHAPE)
with torch.no_grad():
    for _ in range(5):  # warm up, cudnn autotuning
        model(x.cuda()).cpu()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        model(x.cuda()).cpu()  # like Forward: copy in, run, copy the logits out
    torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1000 / iters
print(f"{ms:.3f}")
EOF

# go_bench DIR BATCH: prints "ms images/s launches" from BenchmarkCUDAForward.
go_bench() {
	local dir=$1 batch=$2 iters=$3
	(cd "$dir" && GRCC_BATCH=$batch "$GO" test -tags cuda -count=1 -run '^$' -bench '^BenchmarkCUDAForward$' \
		-benchtime "${iters}x" . 2>&1) | awk '
		/^BenchmarkCUDAForward/ {
			for (i = 1; i <= NF; i++) {
				if ($(i+1) == "ns/op") ms = $i / 1e6
				if ($(i+1) == "images/s") ips = $i
				if ($(i+1) == "launches") l = $i
			}
			found = 1
		}
		END { if (found) printf "%.3f %.1f %d\n", ms, ips, l; else print "- - -" }'
}

printf "%-22s %6s %10s %10s %10s %10s %9s %8s\n" spec batch "grcc ms" "grcc img/s" "torch ms" "torch img/s" launches speedup
for spec in "${specs[@]}"; do
	name=$(name_of "$spec")
	"$work/grcc" build -target torch -o "$work/$name.py" "$spec"
	for batch in $batches; do
		iters=50
		[ "$batch" -ge 32 ] && iters=10
		read -r gms gips launches < <(go_bench "$work/$name" "$batch" "$iters")
		tms=$("$PYTHON" "$work/torch_bench.py" "$work/$name.py" "$batch" "$iters" 2>/dev/null || echo "-")
		tips="-"
		speedup="-"
		if [ "$tms" != "-" ] && [ "$gms" != "-" ]; then
			tips=$(awk -v b="$batch" -v ms="$tms" 'BEGIN { printf "%.1f", b * 1000 / ms }')
			speedup=$(awk -v g="$gms" -v t="$tms" 'BEGIN { printf "%.2fx", t / g }')
		fi
		printf "%-22s %6s %10s %10s %10s %10s %9s %8s\n" "$name" "$batch" "$gms" "$gips" "$tms" "$tips" "$launches" "$speedup"
	done
done

[ ${#bad[@]} -eq 0 ]
