#!/usr/bin/env bash
# Refreshes tests/shared/ (the vendored conformance data) from ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared}
[[ -d $src/conformance ]] || { echo "sync_shared: no $src/conformance" >&2; exit 1; }
rm -rf tests/shared/conformance
cp -r "$src/conformance" tests/shared/conformance
echo "sync_shared: copied $(find tests/shared/conformance -type f | wc -l) files from $src"
