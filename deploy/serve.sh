#!/usr/bin/env bash
# From a fresh Debian bookworm machine: installs what is missing, builds, and
# runs bnserve on localhost:50051 serving a working copy of the bundled example
# models (deploy/examples/repository is copied once to build/models so that
# recalibrations never modify the checked-in files). Extra arguments go to
# bnserve, e.g. --log-level debug.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNSERVE_BUILD_DIR:-$root/build}"
bash "$root/deploy/install-deps.sh"
BNSERVE_BUILD_DIR="$build" bash "$root/deploy/build.sh" -DBNSERVE_BUILD_TESTS=OFF
repo="${BNSERVE_MODEL_REPOSITORY:-$build/models}"
if [ ! -d "$repo" ]; then
  mkdir -p "$repo"
  cp -r "$root/deploy/examples/repository/." "$repo/"
fi
exec "$build/server/bnserve" --listen "${BNSERVE_LISTEN:-127.0.0.1:50051}" --model-repository "$repo" "$@"
