#!/usr/bin/env bash
# Resident memory of bnserve with no model and with one model loaded, next to
# the model's weight bytes (float initializers, as float32). Prints one
# markdown row per model. Usage:
#   tests/bench/memory_rss.sh BUILD_DIR MODEL.onnx [MODEL.onnx ...]
# RSS is read from /proc/<pid>/status (VmRSS, VmHWM = peak) once the model
# answers `bnctl health <model>` and after one Predict-free settle second.
set -euo pipefail
build=${1:?build dir}; shift
bnserve="$build/server/bnserve"
bnctl="$build/client/bnctl"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))

weights_bytes() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
total = 0
for t in m.graph.initializer:
    a = numpy_helper.to_array(t)
    if a.dtype.kind == 'f':
        total += a.size * 4
print(total)
PY
}

rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# run_server REPO MODEL_NAME (empty = none): prints "rss_kb hwm_kb"
run_server() {
  "$bnserve" --listen "127.0.0.1:$port" --model-repository "$1" --log-level warn --worker-threads 2 >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    if [ -z "$2" ]; then "$bnctl" -s "127.0.0.1:$port" health >/dev/null 2>&1 && break
    else "$bnctl" -s "127.0.0.1:$port" health "$2" >/dev/null 2>&1 && break; fi
    sleep 0.1
  done
  sleep 1
  echo "$(rss_kb $pid VmRSS) $(rss_kb $pid VmHWM)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

mkdir -p "$work/empty"
read -r base base_hwm < <(run_server "$work/empty" "")
echo "| model | weights | RSS | RSS - no-model RSS | ratio to weights | peak RSS (VmHWM) |"
echo "|---|---|---|---|---|---|"
echo "| (none) | 0 | $((base / 1024)) MiB | 0 | - | $((base_hwm / 1024)) MiB |"
for model in "$@"; do
  name=$(basename "$model" .onnx); [ "$name" = model ] && name=$(basename "$(dirname "$model")")
  mkdir -p "$work/repo_$name/$name"
  cp "$model" "$work/repo_$name/$name/model.onnx"
  w=$(weights_bytes "$model")
  read -r rss hwm < <(run_server "$work/repo_$name" "$name")
  delta=$(( (rss - base) * 1024 ))
  ratio=$(/usr/bin/python3 -c "print(f'{$delta / max($w, 1):.2f}')")
  echo "| $name | $((w / 1024)) KiB | $((rss / 1024)) MiB | $((delta / 1024)) KiB | $ratio | $((hwm / 1024)) MiB |"
done
