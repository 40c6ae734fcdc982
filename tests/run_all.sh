#!/usr/bin/env bash
# The whole test suite from a fresh Debian bookworm machine: installs what is
# missing, builds (Release) and runs every test with ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNSERVE_BUILD_DIR:-$root/build}"
bash "$root/deploy/install-deps.sh" "$root/deploy/packages-build.txt" "$root/deploy/packages-test.txt"
BNSERVE_BUILD_DIR="$build" bash "$root/deploy/build.sh"
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 900
