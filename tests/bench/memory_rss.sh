#!/usr/bin/env bash
# Resident memory of a running bnserve (issue 5, target 5), next to the
# model's weight bytes (float initializers, counted as float32):
#   - no model; the model loaded; after 500 sequential batch-1 Predicts;
#   - after a recalibration stream (dry run) of 10 batches of 8, then after
#     one of 10,000 (VmHWM = peak RSS so far: the second stream must not
#     raise it beyond noise).
# Usage: [STREAM_MODELS="mlp cnn"] tests/bench/memory_rss.sh BUILD_DIR MODEL.onnx [MODEL.onnx ...]
# The streams run only for the models named in STREAM_MODELS (default: mlp;
# 10,000 resnet18 batches would take most of an hour).
# Needs bnserve, bnctl and bnserve-bench in BUILD_DIR. Prints markdown tables;
# sizes in KiB. Not part of ctest (it streams ~250 MB per model over loopback).
set -euo pipefail
build=${1:?build dir}; shift
bnserve="$build/server/bnserve"
bnctl="$build/client/bnctl"
bench="$build/tests/bench/loadgen/bnserve-bench"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))

weights_bytes() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
print(sum(numpy_helper.to_array(t).size * 4 for t in m.graph.initializer
          if numpy_helper.to_array(t).dtype.kind == 'f'))
PY
}

field_kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }

start_server() {  # REPO [MODEL]
  "$bnserve" --listen "127.0.0.1:$port" --model-repository "$1" --log-level warn --worker-threads 2 \
    >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    if "$bnctl" -s "127.0.0.1:$port" health ${2:-} >/dev/null 2>&1; then sleep 1; return; fi
    sleep 0.1
  done
  echo "server did not become ready" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

mkdir -p "$work/empty"
start_server "$work/empty"
base=$(field_kb VmRSS); base_anon=$(field_kb RssAnon)
stop_server
echo "No model: RSS $base KiB (anonymous $base_anon KiB)"
echo
echo "| model | weights | RSS loaded | - no-model RSS | / weights | after 500 Predicts | after 10-batch stream (peak) | after 10,000-batch stream (peak) |"
echo "|---|---|---|---|---|---|---|---|"
for model in "$@"; do
  name=$(basename "$model" .onnx)
  [ "$name" = model ] && name=$(basename "$(dirname "$model")")
  mkdir -p "$work/repo_$name/$name"
  cp "$model" "$work/repo_$name/$name/model.onnx"
  w=$(weights_bytes "$model")
  start_server "$work/repo_$name" "$name"
  loaded=$(field_kb VmRSS)
  "$bench" --server "127.0.0.1:$port" --model "$name" --batch 1 --calls 500 --warmup 0 >/dev/null
  predicted=$(field_kb VmRSS)
  s10=-; h10=-; s10k=-; h10k=-
  if [[ " ${STREAM_MODELS:-mlp} " == *" $name "* ]]; then
    "$bench" --server "127.0.0.1:$port" --rpc recalibrate --dry-run --model "$name" --batch 8 --batches 10 \
      --calls 1 --warmup 0 >/dev/null
    s10=$(field_kb VmRSS); h10=$(field_kb VmHWM)
    "$bench" --server "127.0.0.1:$port" --rpc recalibrate --dry-run --model "$name" --batch 8 --batches 10000 \
      --calls 1 --warmup 0 --timeout 600 >/dev/null
    s10k=$(field_kb VmRSS); h10k=$(field_kb VmHWM)
  fi
  stop_server
  delta=$((loaded - base))
  ratio=$(/usr/bin/python3 -c "print(f'{$delta * 1024 / max($w, 1):.2f}')")
  echo "| $name | $((w / 1024)) | $loaded | $delta | $ratio | $predicted | $s10 ($h10) | $s10k ($h10k) |"
done
