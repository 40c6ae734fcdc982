#!/usr/bin/env bash
# The torchvision zoo beyond CI (issue 12): generates each architecture
# (tests/zoo/gen_zoo_model.py, cached under the build tree), runs
# tests/zoo/zoo_test.cc on it, one architecture at a time, and prints one
# markdown table: architecture, load, max relative error, BN layers reported
# by the dry-run recalibration / BN modules in PyTorch, export reload,
# seconds to generate (build, export, float64 reference; recorded when the
# cache entry was made) and seconds of the test (load, predict, batch
# statistics, dry run, commit, export, reload, predict).
#
#   tests/zoo/run_zoo.sh [--all | ARCH...] [--build-dir DIR]
#
# Without arguments: the CI list (gen_zoo_model.py --list ci). --all: every
# architecture, about 7 GB of ONNX files in the cache and the better part of
# an hour on 2 cores. Builds zoo_test first. Exits non-zero when any
# architecture fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build"
list=ci
archs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --all) list=all ;;
    --build-dir) build="$2"; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "run_zoo.sh: unknown argument $1 (expected --all, --build-dir DIR or architecture names)" >&2; exit 2 ;;
    *) archs+=("$1") ;;
  esac
  shift
done
generator="$here/gen_zoo_model.py"
[ ${#archs[@]} -gt 0 ] || mapfile -t archs < <(/usr/bin/python3 "$generator" --list "$list")

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBNSERVE_BUILD_TESTS=ON >&2
fi
cmake --build "$build" --target zoo_test -j2 >&2
cache="${BNSERVE_ZOO_CACHE:-$build/tests/zoo/cache}"
report="$(mktemp "${TMPDIR:-/tmp}/bnserve_zoo.XXXXXX")"
logs="$(mktemp -d "${TMPDIR:-/tmp}/bnserve_zoo_logs.XXXXXX")"
status=0
for arch in "${archs[@]}"; do
  echo "run_zoo.sh: $arch" >&2
  if ! /usr/bin/python3 "$generator" --arch "$arch" --out "$cache" >"$logs/$arch.gen.log" 2>&1; then
    echo "{\"arch\": \"$arch\", \"passed\": false, \"load\": \"generation failed (see $logs/$arch.gen.log)\"}" >>"$report"
    status=1
    continue
  fi
  if ! BNSERVE_ZOO_ARCHS="$arch" BNSERVE_ZOO_CACHE="$cache" BNSERVE_ZOO_REPORT="$report" \
      "$build/tests/zoo/zoo_test" --gtest_filter="Torchvision/ZooTest.*" >"$logs/$arch.test.log" 2>&1; then
    status=1
    grep -q "\"arch\":\"$arch\"" "$report" ||
      echo "{\"arch\": \"$arch\", \"passed\": false, \"load\": \"zoo_test crashed (see $logs/$arch.test.log)\"}" >>"$report"
  fi
done

/usr/bin/python3 - "$report" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| architecture | passed | load | max rel err | BN layers (reported / PyTorch) | export reload (max rel diff) | generate s | test s |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    err = r.get("max_rel_err")
    reload = r.get("export_reload", "-")
    if "export_rel_diff" in r:
        reload += f" ({r['export_rel_diff']:.1e})"
    load = r.get("load", "-").replace("|", "/").replace("\n", " ")
    print(f"| {r['arch']} | {'yes' if r.get('passed') else 'NO'} | {load[:160]} | "
          f"{'-' if err is None else f'{err:.1e}'} | {r.get('bn_reported', '-')} / {r.get('bn_modules', '-')} | "
          f"{reload} | {r.get('generate_seconds', 0):.1f} | {r.get('seconds', 0):.1f} |")
print(f"\n{sum(1 for r in rows if r.get('passed'))} of {len(rows)} passed")
EOF
echo "run_zoo.sh: logs in $logs" >&2
exit $status
