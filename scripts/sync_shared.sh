#!/usr/bin/env bash
# Refreshes tests/shared/ (the vendored conformance data and Keras model files) from ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared}
[[ -d $src/conformance ]] || { echo "sync_shared: no $src/conformance" >&2; exit 1; }
[[ -d $src/keras-models ]] || { echo "sync_shared: no $src/keras-models" >&2; exit 1; }
rm -rf tests/shared/conformance tests/shared/keras-models
cp -r "$src/conformance" tests/shared/conformance
cp -r "$src/keras-models" tests/shared/keras-models
chmod -R u+w tests/shared
echo "sync_shared: copied $(find tests/shared -type f -not -name README.md | wc -l) files from $src"
