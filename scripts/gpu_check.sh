#!/usr/bin/env bash
# Builds libsnn against the CUDA LibTorch of this machine's PyTorch and runs what only a GPU
# can check: the [cuda] test cases, the conformance scenarios on CUDA, snn-bench on cpu and
# cuda, then the whole suite. Everything goes to a log (and a JUnit file) in the output folder.
#
#   scripts/gpu_check.sh --fetch-debs .gpudeps        # on a Debian 12 machine with apt
#   scripts/gpu_check.sh --debs .gpudeps --out DIR    # on the GPU machine
#   (--torch-prefix DIR: a LibTorch other than python3's; --jobs N; GPU_CHECK_SECONDS=540)
#
# A GPU machine without Debian's -dev packages and without a package registry gets the
# dependencies as .debs fetched beforehand: the header-only ones (nlohmann-json, Catch2,
# CLI11) plus muParser and HDF5 where the machine lacks them are unpacked into a private
# prefix; libraries that HDF5 needs and the machine lacks are taken from the .debs in
# <debs>/fallback, one file at a time, so nothing the machine already has is shadowed.
set -uo pipefail

debs=""
out="${OUT:-out/gpu_check}"
fetch=""
jobs="$(nproc)"
torch_prefix=""
budget="${GPU_CHECK_SECONDS:-540}"   # the whole suite gets what is left of this
while [[ $# -gt 0 ]]; do
  case "$1" in
    --debs) debs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --fetch-debs) fetch="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --torch-prefix) torch_prefix="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -n "$fetch" ]]; then
  mkdir -p "$fetch/fallback"
  (cd "$fetch" && apt-get download nlohmann-json3-dev catch2 libcli11-dev libmuparser-dev \
     libmuparser2v5 libhdf5-dev libhdf5-103-1 libhdf5-cpp-103-1 libhdf5-hl-100 libsz2 libaec0) \
    || exit 1
  # What libhdf5 links and an Ubuntu or slim image may lack (libcurl4 and its libraries).
  (cd "$fetch/fallback" && apt-get download libcurl4 libbrotli1 libgssapi-krb5-2 libkrb5-3 \
     libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 libidn2-0 libunistring2 \
     libldap-2.5-0 libsasl2-2 libsasl2-modules-db libdb5.3 libnghttp2-14 libpsl5 librtmp1 \
     libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8 libssh2-1 \
     libgcrypt20 libgpg-error0 libzstd1 libssl3 libgomp1) || exit 1
  echo "gpu_check.sh: .debs in $fetch"
  exit 0
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
exec > >(tee "$out/gpu_check.log") 2>&1
step() { echo; echo "=== $(date -u +%H:%M:%S) +${SECONDS}s $*"; }
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 1

step "machine"
nvidia-smi -L || echo "nvidia-smi: not available"
abi=1
if [[ -z "$torch_prefix" ]]; then
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available(), "cxx11 abi", torch.compiled_with_cxx11_abi())' \
    || { echo "gpu_check.sh: python3 has no usable torch (or pass --torch-prefix)"; exit 1; }
  torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  abi="$(python3 -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')"
fi
echo "LibTorch: $torch_prefix"
g++ --version | head -1; cmake --version | head -1

prefix_path="$torch_prefix"
extra_args=()
if [[ -n "$debs" ]]; then
  step "unpacking the .debs of $debs"
  deps=/tmp/snn-deps
  rm -rf "$deps" /tmp/snn-fallback && mkdir -p "$deps/usr/lib/snn-extra" /tmp/snn-fallback
  # A compiled library the machine already has (its -dev package installed) is not unpacked:
  # its headers and ours could differ while the loader picks one library for both.
  installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
  for f in "$debs"/*.deb; do
    pkg="$(dpkg-deb -f "$f" Package)"
    case "$pkg" in
      libhdf5*|libsz2|libaec0) dev=libhdf5-dev ;;
      libmuparser*) dev=libmuparser-dev ;;
      *) dev="" ;;
    esac
    if [[ -n "$dev" ]] && installed "$dev"; then
      echo "not unpacked: $pkg (the machine has $dev)"
      continue
    fi
    if [[ -n "$dev" && "$abi" != "1" ]]; then
      echo "not unpacked: $pkg (built with the C++11 std::string ABI, which this LibTorch lacks)"
      continue
    fi
    dpkg -x "$f" "$deps"
  done
  for f in "$debs"/fallback/*.deb; do dpkg -x "$f" /tmp/snn-fallback; done
  libdir="$deps/usr/lib/x86_64-linux-gnu"
  export LD_LIBRARY_PATH="$libdir:$deps/usr/lib/snn-extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # Copy in only what ldd reports missing, until nothing is.
  for round in 1 2 3 4 5 6; do
    missing="$(for so in "$libdir"/*.so.* "$deps"/usr/lib/snn-extra/*.so*; do
                 [[ -f "$so" ]] && ldd "$so" 2>/dev/null | awk '/not found/ {print $1}'
               done | sort -u)"
    [[ -z "$missing" ]] && break
    echo "round $round, missing: $(echo $missing)"
    for name in $missing; do
      found="$(find /tmp/snn-fallback -name "$name" | head -1)"
      if [[ -n "$found" ]]; then cp -L "$found" "$deps/usr/lib/snn-extra/"
      else echo "not in the fallback .debs: $name"; fi
    done
  done
  prefix_path="$torch_prefix;$deps/usr"
fi
if [[ "$abi" != "1" ]]; then
  # Debian's compiled libraries use the C++11 std::string ABI; this LibTorch does not. The
  # machine's own HDF5 is left out too (muParser found on the machine itself is not).
  echo "pre-C++11 ABI LibTorch: HDF5 and the unpacked muParser left out"
  extra_args+=(-DCMAKE_DISABLE_FIND_PACKAGE_HDF5=ON)
fi

step "configure"
build=build-cuda
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix_path" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "${extra_args[@]}" \
  2>&1 | grep -v "^-- Looking\|^-- Check\|^-- Performing\|^-- Found Threads"
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "gpu_check.sh: configure failed"; exit 1; }
grep -E "^(HDF5_CXX_INCLUDE_DIR|HDF5_hdf5_cpp_LIBRARY_RELEASE|SNN_MUPARSER_LIBRARY|CLI11_DIR|Catch2_DIR)" \
  "$build/CMakeCache.txt"

step "build (-j$jobs)"
start=$SECONDS
keep_going=(-k); [[ ${#generator[@]} -gt 0 ]] && keep_going=(-k 0)
# Progress lines left out; compiler messages stay.
cmake --build "$build" -j"$jobs" -- "${keep_going[@]}" 2>&1 \
  | grep -v '^\[[0-9]*/[0-9]*\] \|^\[ *[0-9]*%\]'
echo "build: rc ${PIPESTATUS[0]}, $((SECONDS - start)) s"
tests="$build/tests/snn_tests"
[[ -x "$tests" ]] || { echo "gpu_check.sh: no test binary"; exit 1; }

step "the [cuda] cases"
timeout 300 "$tests" "[cuda]" -s --reporter compact 2>&1 | grep -v "^$" | tail -40

step "conformance, CPU and CUDA"
timeout 300 "$tests" "[conformance]" 2>&1 | grep -E "cuda: |test cases|assertions|FAIL" | tail -80

step "benchmarks"
bench="$build/tools/snn-bench"
if [[ -x "$bench" ]]; then
  for dev in cpu cuda; do
    timeout 120 "$bench" mnist --device "$dev" --quiet
    [[ $dev == cuda ]] && timeout 120 "$bench" mnist --device "$dev" --minibatch 512 --quiet
    timeout 60 "$bench" integrator --dimensions 32 --device "$dev" --quiet
    # Its defaults (50 ensembles of 128 dimensions) take minutes to build: a smaller one.
    timeout 60 "$bench" random_network --dimensions 16 --ensembles 20 --device "$dev" --quiet
  done
else
  echo "snn-bench was not built"
fi

left=$((budget - SECONDS))
step "the whole suite (ctest -j$jobs, ${left} s left)"
if [[ $left -gt 30 ]]; then
  (cd "$build" && timeout "$left" ctest -j"$jobs" --timeout 300 \
     --output-junit "$out/junit.xml" 2>&1 | tail -25)
else
  echo "no time left for the whole suite"
fi
step "done"
