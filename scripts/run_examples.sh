#!/usr/bin/env bash
# Installs, builds, and runs every example network in models/*.json with snn-run, writing
# the probe data to out/<name>.h5 and printing a one-line summary per probe.
#
# Each model runs for its natural length: the `train.n_steps` of its spec when it has one
# (the presentation time a trained model expects), otherwise 1000 steps (1 s at dt = 1 ms).
# Input placeholders get zeros (snn-run without --data).
#
# Usage: bash scripts/run_examples.sh [MODEL.json ...]     (default: models/*.json)
# Environment: as scripts/setup.sh (SNN_BUILD_DIR, ...); SNN_OUT_DIR (default: out).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${SNN_BUILD_DIR:-build}
out_dir=${SNN_OUT_DIR:-out}
python=/usr/bin/python3

bash scripts/setup.sh

snn_run=
for candidate in "$build_dir/tools/snn-run" "$build_dir/tools/snn-run/snn-run"; do
  if [[ -f $candidate && -x $candidate ]]; then snn_run=$candidate; fi
done
if [[ -z $snn_run ]]; then
  echo "run_examples: snn-run was not built (looked in $build_dir/tools)" >&2
  exit 1
fi

if (($#)); then models=("$@"); else models=(models/*.json); fi
mkdir -p "$out_dir"

# Steps for a spec: train.n_steps if present, else 1000.
natural_steps() {
  "$python" -c 'import json, sys
spec = json.load(open(sys.argv[1]))
print(int((spec.get("train") or {}).get("n_steps", 1000)))' "$1" 2> /dev/null || echo 1000
}

# One line per probe: shape, min, max, mean (needs h5py; skipped without it).
summarize() {
  if ! "$python" -c 'import h5py' 2> /dev/null; then
    echo "    (install python3-h5py for a per-probe summary)"
    return
  fi
  "$python" - "$1" << 'PY'
import sys
import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    probes = f.get("probes", {})
    for name in sorted(probes):
        data = np.asarray(probes[name])
        if data.size == 0:
            print(f"    {name:<16} shape {data.shape}  (empty)")
            continue
        print(f"    {name:<16} shape {str(data.shape):<16} min {data.min():<11.4g} "
              f"max {data.max():<11.4g} mean {data.mean():.4g}")
PY
}

failed=()
for spec in "${models[@]}"; do
  name=$(basename "$spec" .json)
  steps=$(natural_steps "$spec")
  out=$out_dir/$name.h5
  echo
  echo "== $name: $steps steps -> $out"
  start=$(date +%s.%N)
  if "$snn_run" "$spec" --steps "$steps" --out "$out"; then
    seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
    echo "   ran in $seconds s (network build included); probes:"
    summarize "$out"
  else
    echo "   FAILED: $snn_run $spec --steps $steps --out $out" >&2
    failed+=("$name")
  fi
done

echo
echo "run_examples: results in $(cd "$out_dir" && pwd)/ (HDF5: /probes/<id>, /trange)"
if ((${#failed[@]})); then
  echo "run_examples: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "run_examples: all ${#models[@]} models ran"
