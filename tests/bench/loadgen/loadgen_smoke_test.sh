#!/usr/bin/env bash
# Smoke test of the serving-path kit: bnserve-bench makes ~100 Predict calls
# (raw and packed, 8 in flight) and a short Recalibrate stream against a live
# bnserve, and ~100 Echo calls against bnserve-echo; every run must report
# zero errors and print valid JSON with the expected call count. No timing
# is checked.
#
#   loadgen_smoke_test.sh BNSERVE BNSERVE_ECHO BNSERVE_BENCH EXAMPLES_DIR
set -euo pipefail

bnserve="$(realpath "$1")"
echo_server="$(realpath "$2")"
bench="$(realpath "$3")"
examples="$(realpath "$4")"

work="$(mktemp -d "${TMPDIR:-/tmp}/loadgen_smoke.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.log; do echo "--- $log ---" >&2; tail -n 20 "$log" >&2 || true; done
  exit 1
}

# wait_port LOG PATTERN: prints the port a server wrote to LOG (sed pattern
# with one group), waiting up to 20 s.
wait_port() {
  for _ in $(seq 200); do
    port="$(sed -n "s/$2/\1/p" "$1" | head -n 1)"
    if [ -n "$port" ]; then echo "$port"; return 0; fi
    sleep 0.1
  done
  return 1
}

cp -r "$examples/repository" "$work/repository"
"$bnserve" --listen 127.0.0.1:0 --model-repository "$work/repository" --worker-threads 2 >"$work/bnserve.log" 2>&1 &
pids+=($!)
"$echo_server" --listen 127.0.0.1:0 --worker-threads 2 >"$work/echo.log" 2>&1 &
pids+=($!)
bn_port="$(wait_port "$work/bnserve.log" '.*event=server_started.* port=\([0-9]*\).*')" || fail "bnserve did not start"
echo_port="$(wait_port "$work/echo.log" '.*listening on port \([0-9]*\).*')" || fail "bnserve-echo did not start"

# check NAME EXPECTED_CALLS: the JSON on stdin has zero errors and that many calls.
check() {
  python3 -c '
import json, sys
name, expected = sys.argv[1], int(sys.argv[2])
d = json.load(sys.stdin)
calls, codes, lat = d["calls"], d["errors_by_code"], d["latency_us"]
assert calls == expected, f"{name}: {calls} calls, expected {expected}"
assert d["errors"] == 0 and codes == {}, f"{name}: errors {codes}"
assert lat["p50"] > 0 and d["calls_per_s"] > 0, f"{name}: no latency or rate: {d}"
sizes = (d["request_bytes"], d["reply_bytes"])
print(f"{name}: {calls} calls, request/reply bytes {sizes}, ok")
' "$1" "$2" || fail "$1"
}

common=(--warmup 0 --json --timeout 20)
"$bench" --server "127.0.0.1:$bn_port" --model mlp --batch 1 --calls 100 --concurrency 8 "${common[@]}" \
  >"$work/predict.json" || fail "predict raw exited with $?"
check predict_raw 100 <"$work/predict.json"
# The example mlp: 8 features in, 3 scores out per sample, 4 bytes each.
grep -q '"request_bytes":32,' "$work/predict.json" || fail "predict request bytes: $(cat "$work/predict.json")"
grep -q '"reply_bytes":12,' "$work/predict.json" || fail "predict reply bytes: $(cat "$work/predict.json")"

"$bench" --server "127.0.0.1:$bn_port" --model mlp --batch 3 --packed --calls 100 --concurrency 4 "${common[@]}" \
  >"$work/packed.json" || fail "predict packed exited with $?"
check predict_packed 100 <"$work/packed.json"
grep -q '"request_bytes":96,' "$work/packed.json" || fail "packed request bytes: $(cat "$work/packed.json")"
grep -q '"reply_bytes":36,' "$work/packed.json" || fail "packed reply bytes: $(cat "$work/packed.json")"

"$bench" --server "127.0.0.1:$bn_port" --rpc recalibrate --model mlp --batch 16 --batches 3 --calls 2 --dry-run \
  "${common[@]}" >"$work/recal.json" || fail "recalibrate exited with $?"
check recalibrate 2 <"$work/recal.json"

"$bench" --server "127.0.0.1:$echo_port" --rpc echo --payload-bytes 3136 --reply-bytes 40 --calls 100 \
  --concurrency 8 "${common[@]}" >"$work/echo.json" || fail "echo exited with $?"
check echo 100 <"$work/echo.json"

# A model that does not exist is reported, not crashed on.
if "$bench" --server "127.0.0.1:$bn_port" --model no_such_model --calls 1 "${common[@]}" 2>"$work/missing.log"; then
  fail "unknown model accepted"
fi
grep -q NOT_FOUND "$work/missing.log" || fail "unknown model: $(cat "$work/missing.log")"
# Non-loopback servers are refused.
if "$bench" --server 10.1.2.3:50051 --rpc echo --calls 1 "${common[@]}" 2>/dev/null; then fail "remote server accepted"; fi
echo "PASS"
