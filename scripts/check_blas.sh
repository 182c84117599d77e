#!/usr/bin/env bash
# Fails loudly when LibTorch would multiply matrices with the reference BLAS.
#
# Debian's LibTorch calls whatever libblas.so.3 the alternatives system points at. The
# reference implementation runs a 1024^3 sgemm at ~6 GFLOP/s on these machines, OpenBLAS at
# ~100: every dense connection in libsnn would be 15 times slower without anyone noticing.
# Two checks: which file libblas.so.3 resolves to (cheap, exact), then a timed matmul through
# LibTorch itself (scripts/check_blas.cpp), which also catches a slow BLAS we do not know by
# name.
#
# Usage: scripts/check_blas.sh [BUILD_DIR]     (default: build)
# Environment: SNN_MIN_GFLOPS (default 20), SNN_SKIP_BLAS_CHECK=1 to skip both checks.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:-${SNN_BUILD_DIR:-build}}
min_gflops=${SNN_MIN_GFLOPS:-20}

fail() {
  {
    echo
    echo "=================================================================================="
    echo "check_blas: FAILED: $*"
    echo "  LibTorch would use the slow reference BLAS (~15x slower matrix products)."
    echo "  Fix:  apt-get install libopenblas0-openmp"
    echo "        update-alternatives --set libblas.so.3-x86_64-linux-gnu \\"
    echo "            /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"
    echo "  (set SNN_SKIP_BLAS_CHECK=1 to skip this check at your own risk)"
    echo "=================================================================================="
  } >&2
  exit 1
}

if [[ ${SNN_SKIP_BLAS_CHECK:-0} == 1 ]]; then
  echo "check_blas: skipped (SNN_SKIP_BLAS_CHECK=1)"
  exit 0
fi

# 1. Which file Debian's LibTorch loads as libblas.so.3. Other LibTorch builds (pip wheels,
#    CUDA archives) bring their own BLAS and are only timed.
torch_cpu=/usr/lib/x86_64-linux-gnu/libtorch_cpu.so
if [[ -e $torch_cpu ]]; then
  blas_link=$(ldd "$torch_cpu" | awk '$1 == "libblas.so.3" { print $3 }')
  [[ -n $blas_link ]] || fail "ldd $torch_cpu does not list libblas.so.3"
  blas_file=$(readlink -f "$blas_link")
  echo "check_blas: libblas.so.3 -> $blas_file"
  case $blas_file in
    */openblas*/* | */libopenblas* | */blis*/* | */mkl/*) ;;
    */blas/libblas.so.3*) fail "libblas.so.3 resolves to the reference BLAS ($blas_file)" ;;
    *) echo "check_blas: warning: unknown BLAS $blas_file; relying on the timing below" ;;
  esac
fi

# 2. Time a matmul through LibTorch. The program is built once per build directory (only
#    ATen's headers, ~10 s, cached by ccache) and rebuilt when its source changes.
src=scripts/check_blas.cpp
bin=$build_dir/scripts/check_blas
if [[ ! -x $bin || $src -nt $bin ]]; then
  mkdir -p "$build_dir/scripts"
  launcher=()
  if command -v ccache > /dev/null; then launcher=(ccache); fi
  echo "check_blas: compiling $src"
  "${launcher[@]}" "${CXX:-g++}" -std=c++17 -O2 "$src" -o "$bin.tmp" -ltorch_cpu -lc10 ||
    fail "could not compile $src against LibTorch"
  mv -f "$bin.tmp" "$bin"
fi
"$bin" "$min_gflops" || fail "matmul through LibTorch is below $min_gflops GFLOP/s"
