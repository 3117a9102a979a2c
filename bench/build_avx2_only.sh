#!/usr/bin/env bash
# Builds `onevision` as a CPU with AVX2 and no AVX-512 runs it, for bench/llama_compare.py and
# bench/llama_7b.py --avx2-only on a machine that has AVX-512.
#
# Our own kernels pick their level at run time (ONEVISION_VECTOR_LEVEL=avx2 lowers it), but the
# matrix products of candle's `gemm` choose theirs at compile time: the workspace turns gemm's
# AVX-512 kernels on (its x86-v4 feature). This copies the committed tree (HEAD) outside the
# repository, drops that feature there, and builds the CLI into its own target folder under
# $ONEVISION_BENCH_CACHE (default ~/.cache/onevision-bench), so the repository's builds are
# untouched. Prints the binary's path.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${ONEVISION_BENCH_CACHE:-$HOME/.cache/onevision-bench}
tree=$cache/avx2-only-tree
target=$cache/avx2-only-target
rm -rf "$tree"
mkdir -p "$tree"
git -C "$repo" archive HEAD | tar -x -C "$tree"
sed -i -E 's/^gemm = \{ version = "([^"]+)", features = \["x86-v4"\] \}$/gemm = { version = "\1" }/' "$tree/Cargo.toml"
if grep -q 'x86-v4' "$tree/Cargo.toml"; then
    echo "build_avx2_only.sh: could not drop gemm's x86-v4 feature from $tree/Cargo.toml" >&2
    exit 1
fi
CARGO_TARGET_DIR=$target cargo build --release --locked -p onevision-cli --manifest-path "$tree/Cargo.toml" >&2
rm -rf "$tree"
echo "$target/release/onevision"
