#!/usr/bin/env bash
# Type-checks and lints the `cuda` build of the command and the app on a machine with neither a GPU
# nor a CUDA toolkit, so the GPU code paths keep compiling where nobody can run them. Part of
# `make test`.
#
# NVIDIA's compiler and headers come from their PyPI wheels, unpacked into a folder laid out like a
# toolkit (bin/, include/, nvvm/). CUDA 13.0 on purpose: it is what driver 580 runs, and a newer nvcc
# writes PTX such a driver cannot load. candle's kernels are compiled to PTX for compute capability
# 9.0 (H100/H200) during the check. Linking and running need a real toolkit and a GPU; this only
# checks.
#   scripts/check-cuda.sh          (everything lands in target/cuda-check/)
set -euo pipefail
cd "$(dirname "$0")/.."

root="$PWD/target/cuda-check"
toolkit="$root/toolkit/nvidia/cu13"
if [ ! -x "$toolkit/bin/nvcc" ]; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "scripts/check-cuda.sh needs Python 3 with pip, to fetch NVIDIA's compiler from PyPI" >&2
    exit 1
  fi
  echo "Fetching the CUDA 13.0 compiler and headers from PyPI into $root"
  mkdir -p "$root/wheels" "$root/toolkit"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$root/wheels" \
    nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
  for wheel in "$root"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$root/toolkit/"
  done
  chmod +x "$toolkit"/bin/* "$toolkit"/nvvm/bin/*
fi

export CUDA_HOME="$toolkit" CUDA_PATH="$toolkit" CUDA_ROOT="$toolkit" NVCC="$toolkit/bin/nvcc"
export PATH="$toolkit/bin:$PATH"
# Without these the build asks nvidia-smi for the GPU's capability and nvcc for its version.
export CUDA_COMPUTE_CAP=90 CUDARC_CUDA_VERSION=13000
export CARGO_TARGET_DIR="$root/target"
cargo clippy --locked -p onevision-cli -p onevision-desk \
  --features onevision-cli/cuda,onevision-desk/cuda --all-targets -- -D warnings
