#!/usr/bin/env bash
# The include rule of docs/architecture.md, checked over every #include line:
# - a core/ part includes only itself and the parts before it, in the order
#   util, graph, stats, model, engine, store, serving, adapt;
# - core/engine/kernels/ (ISA-specific code) includes no operator of
#   core/engine/ops/, so kernels stay reusable below the operators;
# - core/ includes neither gRPC nor the generated service code, nor server/
#   or client/;
# - client/ includes no core/ (a client needs only the wire contract), but for
#   the header-only error macros of core/util/status.h;
# - the HTTP library (cpp-httplib's httplib.h) is included by
#   server/http/http_server.cc only: the routes, the messages and the tests'
#   HTTP client stay independent of it.
# Prints every violation as FILE:LINE: reason, and exits 1 if there is any.
#   tests/include_rule_test.sh [SOURCE_ROOT]
set -euo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$root"
parts=(util graph stats model engine store serving adapt)
rank() {
  local i
  for i in "${!parts[@]}"; do [ "${parts[$i]}" = "$1" ] && { echo "$i"; return; }; done
  echo -1
}
violations=0
report() { echo "$1: $2"; violations=$((violations + 1)); }

checked=0
while IFS= read -r file; do
  checked=$((checked + 1))
  part="${file#core/}"; part="${part%%/*}"
  own="$(rank "$part")"
  if [ "$own" -lt 0 ]; then
    report "$file" "core/ files live in one of the parts: ${parts[*]}"
    continue
  fi
  while IFS=: read -r line text; do
    target="$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' <<<"$text")"
    [ -n "$target" ] || continue
    case "$target" in
      grpc/*|grpcpp/*|grpc++/*|bnserve/v1/*|inference/*|*.grpc.pb.h|server/*|client/*)
        report "$file:$line" "core/ must not include $target (gRPC, generated service code, server/ or client/)" ;;
      core/*)
        tpart="${target#core/}"; tpart="${tpart%%/*}"
        trank="$(rank "$tpart")"
        if [ "$trank" -lt 0 ]; then
          report "$file:$line" "includes $target, which is in no part"
        elif [ "$trank" -gt "$own" ]; then
          report "$file:$line" "core/$part includes core/$tpart ($target), a later part"
        fi
        if [[ "$file" == core/engine/kernels/* && "$target" == core/engine/ops/* ]]; then
          report "$file:$line" "kernels must not include operators ($target)"
        fi ;;
    esac
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$file" || true)
done < <(find core -type f \( -name '*.h' -o -name '*.cc' -o -name '*.inc' \) | sort)

while IFS=: read -r file line text; do
  [[ "$text" == *'"core/util/status.h"'* ]] && continue
  report "$file:$line" "client/ must not include core/ ($text)"
done < <(grep -rn --include='*.h' --include='*.cc' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"core/' client || true)

while IFS=: read -r file line text; do
  [ "$file" = server/http/http_server.cc ] && continue
  report "$file:$line" "only server/http/http_server.cc includes the HTTP library ($text)"
done < <(grep -rn --include='*.h' --include='*.cc' '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]httplib\.h[>"]' \
           core server client tests || true)
if [ "$checked" -eq 0 ]; then
  echo "include_rule_test: no core/ source found under $root" >&2
  exit 1
fi
echo "include_rule_test: $checked core/ files checked, $violations violation(s)"
[ "$violations" -eq 0 ]
