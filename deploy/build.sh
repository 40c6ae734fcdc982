#!/usr/bin/env bash
# Configures and builds bnserve (Release) into BUILD_DIR (default build/).
# Shared by tests/run_all.sh, tests/run_sanitizers.sh, deploy/serve.sh and
# the Dockerfile so all of them build the same way. Extra arguments go to
# the CMake configure step (a later -DCMAKE_BUILD_TYPE overrides Release).
# BNSERVE_BUILD_JOBS sets the parallelism (default: every core).
#
# When ccache is installed it is the compiler launcher. The cache key must
# not contain the checkout's path, or a fresh clone elsewhere (CI's) would
# miss everything the last build compiled: CCACHE_BASEDIR makes paths under
# the source tree relative, and CCACHE_NOHASHDIR keeps the working directory
# (written into debug info) out of the hash.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNSERVE_BUILD_DIR:-$root/build}"
# Without ccache the launcher is cleared, in case the build folder was
# configured when it was there.
launcher=(-DCMAKE_C_COMPILER_LAUNCHER= -DCMAKE_CXX_COMPILER_LAUNCHER=)
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@"
cmake --build "$build" --parallel "${BNSERVE_BUILD_JOBS:-$(nproc)}"
