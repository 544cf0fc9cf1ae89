#!/usr/bin/env bash
# install-deps.sh installs what grcc's tests need beyond Go: Debian's PyTorch
# (the reference for differential tests and speed comparisons), torchvision
# and Pillow (the reference image preprocessing), Fashion-MNIST (the trained
# example), matplotlib's sample data (a real JPEG photo), OpenBLAS so
# that PyTorch runs at full speed, the CUDA toolkit (nvcc and cuda.h; the
# CUDA backend is compiled and checked here, it cannot run without a GPU),
# g++ (the kernels' arithmetic is checked by compiling them for the host) and
# Graphviz (its dot renders grcc graph's diagrams in the tests).
#
# It is idempotent and quick when everything is present. Without root it prints
# the command to run and exits non-zero.
set -euo pipefail

need=()
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch python3-numpy)
/usr/bin/python3 -c 'import torchvision, PIL' 2>/dev/null || need+=(python3-torchvision python3-pil)
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || need+=(dataset-fashion-mnist)
dpkg -s python-matplotlib-data >/dev/null 2>&1 || need+=(python-matplotlib-data)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
command -v nvcc >/dev/null 2>&1 || need+=(nvidia-cuda-toolkit)
command -v g++ >/dev/null 2>&1 || need+=(g++) # the CUDA kernels are also compiled for the host, to check them
command -v dot >/dev/null 2>&1 || need+=(graphviz) # grcc graph's tests render every diagram
[ ${#need[@]} -eq 0 ] && exit 0

sources=/etc/apt/sources.list.d/debian.sources
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages: ${need[*]}" >&2
	echo "install-deps: run as root (the CUDA toolkit is in Debian's non-free component):" >&2
	echo "  sed -i 's/^Components: main\$/Components: main contrib non-free non-free-firmware/' $sources && apt-get update && apt-get install -y ${need[*]}" >&2
	exit 1
fi
# nvidia-cuda-toolkit lives in non-free.
if [ -f "$sources" ] && grep -q '^Components: main$' "$sources"; then
	sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$sources"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
