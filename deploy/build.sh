#!/usr/bin/env bash
# Configures and builds bnserve (Release) into BUILD_DIR (default build/).
# Shared by tests/run_all.sh, deploy/serve.sh and the Dockerfile so all three
# build the same way. Extra arguments go to the CMake configure step.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNSERVE_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" --parallel "$(nproc)"
