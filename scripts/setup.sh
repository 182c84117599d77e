#!/usr/bin/env bash
# Installs libsnn's dependencies on Debian 12, builds the project and checks that LibTorch
# multiplies with OpenBLAS. Idempotent: packages already installed are not touched (no
# apt-get at all when nothing is missing), and the build is incremental.
#
# Usage: bash scripts/setup.sh
# Environment:
#   SNN_BUILD_DIR     build directory (default: build)
#   SNN_BUILD_TYPE    CMake build type (default: Release)
#   SNN_JOBS          parallel build jobs (default: nproc)
#   SNN_CMAKE_ARGS    extra arguments for the CMake configure step
#   SNN_SKIP_INSTALL=1  do not check or install Debian packages
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${SNN_BUILD_DIR:-build}
build_type=${SNN_BUILD_TYPE:-Release}
jobs=${SNN_JOBS:-$(nproc)}

packages=(
  libtorch-dev libopenblas0-openmp libhdf5-dev nlohmann-json3-dev libcli11-dev catch2
  libmuparser-dev libcpp-httplib-dev cmake g++ make pkg-config ccache dataset-fashion-mnist python3-h5py
  python3-numpy zlib1g-dev
)

as_root() {
  if [[ $(id -u) == 0 ]]; then
    "$@"
  elif command -v sudo > /dev/null; then
    sudo "$@"
  else
    echo "setup: need root (or sudo) to run: $*" >&2
    exit 1
  fi
}

# --- 1. Debian packages -------------------------------------------------------------------
if [[ ${SNN_SKIP_INSTALL:-0} != 1 ]]; then
  missing=()
  for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2> /dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${missing[@]}"
  else
    echo "setup: all ${#packages[@]} Debian packages are installed"
  fi

  # OpenBLAS registers itself with a higher priority than the reference BLAS, but an
  # alternative set by hand keeps pointing at the slow one: repair that, loudly.
  openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp
  for lib in libblas.so.3 liblapack.so.3; do
    name=$lib-x86_64-linux-gnu
    current=$(update-alternatives --query "$name" 2> /dev/null | awk '$1 == "Value:" { print $2 }')
    if [[ $current == */blas/$lib || $current == */lapack/$lib ]] && [[ -e $openblas/$lib ]]; then
      echo "setup: $lib points at $current; switching it to OpenBLAS"
      as_root update-alternatives --set "$name" "$openblas/$lib"
    fi
  done
fi

# --- 2. Configure and build -----------------------------------------------------------------
# Configuring an existing build directory takes a few seconds and picks up new options.
read -r -a extra_args <<< "${SNN_CMAKE_ARGS:-}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "${extra_args[@]}"
cmake --build "$build_dir" -j"$jobs"

# --- 3. BLAS ----------------------------------------------------------------------------------
bash scripts/check_blas.sh "$build_dir"
echo "setup: done; build in $build_dir"
