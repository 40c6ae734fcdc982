#!/usr/bin/env bash
# Keeps the Dockerfile correct by construction without a Docker engine:
#  1. its build stage installs the same package list with the same script and
#     builds with the same script as the README's commands and CI;
#  2. every shared library the built bnserve and bnctl load is provided by a
#     package of deploy/packages-runtime.txt (or its dependencies, or the
#     libc/libstdc++ of debian:bookworm-slim), so the runtime stage can run them;
#  3. the paths it copies exist in a build, and the flags that the Dockerfile,
#     compose.yaml and the Kubernetes Deployment pass are flags bnserve knows.
#   tests/dockerfile_test.sh BNSERVE_BINARY BNCTL_BINARY
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bnserve="$1"
bnctl="$2"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

dockerfile="$root/Dockerfile"
grep -q '^COPY deploy/packages-build.txt deploy/install-deps.sh deploy/' "$dockerfile" \
  && grep -q '^RUN bash deploy/install-deps.sh' "$dockerfile" \
  && pass "build stage installs deploy/packages-build.txt with deploy/install-deps.sh" \
  || fail "build stage does not install deploy/packages-build.txt with deploy/install-deps.sh"
grep -q 'bash deploy/build.sh' "$dockerfile" && pass "build stage builds with deploy/build.sh" \
  || fail "build stage does not use deploy/build.sh"
grep -q 'deploy/install-deps.sh.*packages-build.txt' "$root/tests/run_all.sh" \
  && grep -q 'deploy/build.sh' "$root/tests/run_all.sh" \
  && pass "tests/run_all.sh uses the same list and scripts" || fail "tests/run_all.sh diverges from the Dockerfile"
grep -q 'deploy/install-deps.sh' "$root/deploy/serve.sh" && grep -q 'deploy/build.sh' "$root/deploy/serve.sh" \
  && pass "deploy/serve.sh uses the same scripts" || fail "deploy/serve.sh diverges from the Dockerfile"
grep -q 'tests/run_all.sh' "$root/.ci/run" && pass ".ci/run runs tests/run_all.sh" || fail ".ci/run does not run tests/run_all.sh"
grep -q 'bash tests/run_all.sh' "$root/README.md" && grep -q 'bash deploy/serve.sh' "$root/README.md" \
  && pass "README gives the two set-up commands" || fail "README lacks bash deploy/serve.sh / bash tests/run_all.sh"
grep -q 'packages-runtime.txt' "$dockerfile" && pass "runtime stage installs deploy/packages-runtime.txt" \
  || fail "runtime stage does not install deploy/packages-runtime.txt"

# 2. Runtime libraries. The closure of the runtime list's dependencies is
# what apt installs; bookworm-slim already has libc6, libgcc-s1, libstdc++6.
mapfile -t runtime < <(grep -v '^\s*#' "$root/deploy/packages-runtime.txt" | grep -v '^\s*$')
closure="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances "${runtime[@]}" 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)"
closure="$closure"$'\n'"libc6"$'\n'"libgcc-s1"$'\n'"libstdc++6"
checked=0
lib_failures=$failures
for binary in "$bnserve" "$bnctl"; do
  while read -r lib path; do
    [ -n "$path" ] || continue
    # A sanitizer build (tests/run_sanitizers.sh) links the compiler's
    # sanitizer runtimes; such builds are for tests only and never go into
    # the image, whose build (deploy/build.sh) has no sanitizer.
    [[ "$lib" =~ ^lib(asan|ubsan|tsan|lsan)\.so ]] && continue
    checked=$((checked + 1))
    real="$(readlink -f "$path")"
    owner="$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1)" || true
    [ -n "$owner" ] || owner="$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)" || true
    if [ -z "$owner" ]; then
      fail "$(basename "$binary") needs $lib ($path), which no Debian package provides"
    elif ! grep -qx "$owner" <<<"$closure"; then
      fail "$(basename "$binary") needs $lib from $owner, which deploy/packages-runtime.txt does not bring"
    fi
  done < <(ldd "$binary" | awk '/=>/ {print $1, $3}')
done
[ $checked -gt 10 ] || fail "ldd listed only $checked libraries: the check did not run"
[ $failures -eq $lib_failures ] && pass "all $checked shared libraries of bnserve and bnctl come from the runtime packages"

# 3. Paths and flags.
for copied in server/bnserve client/bnctl; do
  grep -q "/build/$copied" "$dockerfile" && [ -x "$(dirname "$bnserve")/../$copied" ] \
    && pass "Dockerfile copies build/$copied, which the build produces" || fail "Dockerfile copies /build/$copied: not produced"
done
help="$("$bnserve" --help)"
for flag in $(cat "$dockerfile" "$root/deploy/compose.yaml" "$root/deploy/compose-replicas.yaml" \
                  "$root/deploy/k8s/deployment.yaml" "$root/deploy/k8s/replicas/deployment.yaml" | grep -v '^\s*#' \
              | grep -o -- '--[a-z][a-z-]*' | grep -v -- '--no-install-recommends\|--system\|--gid\|--uid\|--home-dir\|--shell\|--timeout\|--server\|--interval\|--start-period\|--retries\|--from' | sort -u); do
  grep -q -- "$flag" <<<"$help" && pass "bnserve accepts $flag" || fail "bnserve does not accept $flag"
done
"$bnctl" --help | grep -q -- '--server' && "$bnctl" health --help >/dev/null 2>&1 \
  && pass "bnctl has the health command the HEALTHCHECK uses" || fail "bnctl health missing"

echo "dockerfile_test: $failures failure(s)"
[ $failures -eq 0 ]
