#!/usr/bin/env bash
# Installs, builds and runs the whole test suite: what CI (.ci/run) calls.
#
# Usage: bash scripts/test.sh [extra ctest arguments, e.g. -L package or -R lif]
# Environment: as scripts/setup.sh (SNN_BUILD_DIR, SNN_JOBS, ...); SNN_TEST_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${SNN_BUILD_DIR:-build}

bash scripts/setup.sh

# ctest prints its "N% tests passed, M tests failed out of K" summary and exits non-zero when
# any test fails; --output-on-failure shows the failing test's output in the log.
echo "test: running ctest in $build_dir"
ctest --test-dir "$build_dir" --output-on-failure -j"${SNN_TEST_JOBS:-2}" "$@"
