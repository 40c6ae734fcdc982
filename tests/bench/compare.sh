#!/usr/bin/env bash
# Issue 5's comparison in one command: bnserve's engine and serving path next
# to their references (ONNX Runtime, PyTorch, a bare gRPC echo server, a
# read-once pass), each figure the median of 3 runs with the spread, printed
# as ONE markdown table with the date and machine.
#
#   tests/bench/compare.sh [--quick] [--threads "1 2"] [--build-dir DIR]
#
# --quick: shorter runs (about 5 minutes in all); the default runs each
# measurement longer. Regenerates tests/bench/models/ when a model is missing
# (needs torch in /usr/bin/python3), builds bnserve, bnserve-echo,
# bnserve-bench, engine_bench and moments_bench, runs everything on loopback
# and stops every process it started on exit. The raw results stay in the
# printed results directory. Timings on a shared machine are noisy: read the
# spread before the ratio.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build"
threads_list="1 2"
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --threads) threads_list="$2"; shift ;;
    --build-dir) build="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (expected --quick, --threads LIST, --build-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  seconds=1; warmup=0.3; bm_min_time=0.2; recal_batches=5; recal_calls=3
else
  seconds=5; warmup=1; bm_min_time=1; recal_batches=20; recal_calls=5
fi
reps=3

results="$(mktemp -d "${TMPDIR:-/tmp}/bnserve_compare.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$results/repository"
}
trap cleanup EXIT
note() { echo "compare.sh: $*" >&2; }

# --- models ---------------------------------------------------------------
models_dir="$here/models"
# Issue 12's rows: torchvision architectures, batch 1 only.
torchvision_models="mobilenet_v3_large efficientnet_b0 deeplabv3_mobilenet_v3_large"
missing=0
for m in mlp cnn tiny identity; do [ -f "$models_dir/$m.onnx" ] || missing=1; done
# The torchvision rows need torchvision; without it they show n/a.
if /usr/bin/python3 -c 'import torchvision' 2>/dev/null; then
  for m in $torchvision_models; do [ -f "$models_dir/$m.onnx" ] || missing=1; done
fi
if [ "$missing" = 1 ]; then
  if /usr/bin/python3 -c 'import torch, onnx' 2>/dev/null; then
    note "generating the bench models"
    /usr/bin/python3 "$here/gen_bench_models.py" >&2
  else
    note "bench models missing and torch/onnx not importable from /usr/bin/python3: model figures skipped"
  fi
fi

# --- build ----------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
note "building (-j2)"
cmake --build "$build" --target bnserve bnserve-echo bnserve-bench engine_bench moments_bench -j2 >&2
bnserve="$build/server/bnserve"
echo_server="$build/tests/bench/loadgen/bnserve-echo"
bench="$build/tests/bench/loadgen/bnserve-bench"

# --- moments (Google Benchmark, 3 repetitions) ------------------------------
have_model() { [ -f "$models_dir/$1.onnx" ]; }
note "moments_bench"
"$build/tests/bench/moments_bench" --benchmark_filter='^BM_(ReadOnceSum|MomentsNhwc|MomentsNchw)$' \
  --benchmark_repetitions=$reps --benchmark_min_time=$bm_min_time --benchmark_format=json \
  >"$results/moments.json" 2>"$results/moments.log" || note "moments_bench failed (see $results/moments.log)"

# --- engine (Google Benchmark) and ONNX Runtime (node), interleaved ---------
# Each repetition of a figure runs the engine, then ONNX Runtime, back to
# back: this VM's speed drifts by a quarter over minutes (its neighbours),
# and measuring all of one side first and all of the other later put that
# drift into the ratios.
: >"$results/ort.jsonl"
ort_dir="$here/ort"
have_ort=0
if command -v node >/dev/null; then
  if [ ! -d "$ort_dir/node_modules" ]; then
    note "installing onnxruntime-node"
    (cd "$ort_dir" && npm install --ignore-scripts >&2) || note "npm install failed: ONNX Runtime figures skipped"
  fi
  [ -d "$ort_dir/node_modules" ] && have_ort=1
else
  note "node not found: ONNX Runtime figures skipped"
fi
for t in $threads_list; do
  # resnet18 runs at batch 1 and 16, the torchvision architectures at batch
  # 1, the others at 1 and 64; the Identity model (ONNX Runtime only) at
  # every batch, for the binding overhead subtracted from each.
  for batch in 1 16 64; do
    for m in mlp cnn resnet18 $torchvision_models identity; do
      have_model "$m" || continue
      case "$m/$batch" in mlp/16 | cnn/16 | resnet18/64) continue ;; esac
      case " $torchvision_models " in *" $m "*) [ "$batch" = 1 ] || continue ;; esac
      note "engine and onnxruntime: $m batch $batch, $t thread(s)"
      for rep in $(seq $reps); do
        if [ "$m" != identity ]; then
          "$build/tests/bench/engine_bench" --benchmark_filter="^predict/$m/batch:$batch/threads:$t/" \
            --benchmark_min_time=$bm_min_time --benchmark_format=json \
            >"$results/engine_${m}_${batch}_${t}_${rep}.json" 2>>"$results/engine.log" ||
            note "engine_bench failed (see $results/engine.log)"
        fi
        if [ "$have_ort" = 1 ]; then
          node "$ort_dir/ort_bench.js" "$models_dir/$m.onnx" "$batch" "$t" "$seconds" >>"$results/ort.jsonl" \
            2>>"$results/ort.log" || note "ort_bench $m failed (see $results/ort.log)"
        fi
      done
    done
  done
done

# --- PyTorch ---------------------------------------------------------------
: >"$results/torch.jsonl"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  for t in $threads_list; do
    for spec in "mlp 1 eval" "cnn 1 eval" "resnet18 1 eval" "cnn 64 train" "mobilenet_v3_large 1 eval" \
                "efficientnet_b0 1 eval" "deeplabv3_mobilenet_v3_large 1 eval"; do
      set -- $spec
      have_model "$1" || continue
      note "pytorch $1 batch $2 $3, $t thread(s)"
      /usr/bin/python3 "$here/torch_bench.py" "$1" "$2" "$t" "$3" "$seconds" "$reps" >>"$results/torch.jsonl" \
        2>>"$results/torch.log" || note "torch_bench $spec failed (see $results/torch.log)"
    done
  done
else
  note "torch not importable from /usr/bin/python3: PyTorch figures skipped"
fi

# --- serving ---------------------------------------------------------------
# wait_port LOG SED_PATTERN: the port a server printed, waiting up to 30 s.
wait_port() {
  local port
  for _ in $(seq 300); do
    port="$(sed -n "s/$2/\1/p" "$1" | head -n 1)"
    if [ -n "$port" ]; then echo "$port"; return 0; fi
    sleep 0.1
  done
  return 1
}
# stop PID: SIGTERM one of our servers and reap it.
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

mkdir -p "$results/repository"
for m in mlp tiny cnn identity; do
  if have_model "$m"; then mkdir -p "$results/repository/$m" && cp "$models_dir/$m.onnx" "$results/repository/$m/model.onnx"; fi
done
: >"$results/serving.jsonl"
# run_pair KEY T BNSERVE_ARGS... -- ECHO_ARGS...: 3 alternating runs of each
# side, tagged with KEY and the thread count.
run_pair() {
  local key="$1" t="$2"; shift 2
  local bn_args=() echo_args=()
  while [ "$1" != "--" ]; do bn_args+=("$1"); shift; done
  shift
  echo_args=("$@")
  note "serving: $key, $t worker thread(s)"
  for _ in $(seq $reps); do
    for side in bnserve echo; do
      local out
      if [ "$side" = bnserve ]; then
        out="$("$bench" --server "127.0.0.1:$bn_port" "${bn_args[@]}" --warmup "$warmup" --json)" || true
      else
        out="$("$bench" --server "127.0.0.1:$echo_port" --rpc echo "${echo_args[@]}" --warmup "$warmup" --json)" || true
      fi
      [ -n "$out" ] && echo "{\"key\": \"$key\", \"side\": \"$side\", \"threads\": $t, \"run\": $out}" >>"$results/serving.jsonl"
    done
  done
}
# json_field JSON EXPR
json_field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# start_bnserve LOG_NAME FLAGS...: starts bnserve on the results' repository
# with FLAGS and waits until it serves the MLP; sets started_pid and
# started_port. Per-call logs are at debug level, so the default (info)
# costs nothing per call.
start_bnserve() {
  local name="$1"; shift
  "$bnserve" --listen 127.0.0.1:0 --model-repository "$results/repository" "$@" >"$results/$name.log" 2>&1 &
  started_pid=$!; pids+=("$started_pid")
  started_port="$(wait_port "$results/$name.log" '.*event=server_started.* port=\([0-9]*\).*')" ||
    { note "bnserve did not start (see $results/$name.log)"; exit 1; }
  for _ in $(seq 300); do
    "$bench" --server "127.0.0.1:$started_port" --model mlp --calls 1 --warmup 0 --json >/dev/null 2>&1 && break
    sleep 0.1
  done
}

for t in $threads_list; do
  start_bnserve "bnserve_$t" --worker-threads "$t"
  bn_pid="$started_pid"; bn_port="$started_port"
  "$echo_server" --listen 127.0.0.1:0 --worker-threads "$t" >"$results/echo_$t.log" 2>&1 &
  echo_pid=$!; pids+=("$echo_pid")
  # The same echo always hopping to its worker pool: for 600 KB payloads it
  # measured faster than answering inline here, so it is the stricter floor
  # for the 224x224x3 figure.
  "$echo_server" --listen 127.0.0.1:0 --worker-threads "$t" --inline-predict-us 0 >"$results/echo_pool_$t.log" 2>&1 &
  echo_pool_pid=$!; pids+=("$echo_pool_pid")
  echo_port="$(wait_port "$results/echo_$t.log" '.*listening on port \([0-9]*\).*')" ||
    { note "bnserve-echo did not start (see $results/echo_$t.log)"; exit 1; }
  echo_pool_port="$(wait_port "$results/echo_pool_$t.log" '.*listening on port \([0-9]*\).*')" ||
    { note "bnserve-echo did not start (see $results/echo_pool_$t.log)"; exit 1; }

  d="--duration $seconds"
  if have_model mlp; then
    probe="$("$bench" --server "127.0.0.1:$bn_port" --model mlp --batch 1 --calls 1 --warmup 0 --json)"
    mlp_seq=(--model mlp --batch 1 --concurrency 1 $d --
      --payload-bytes "$(json_field "$probe" 'd["request_bytes"]')" --reply-bytes "$(json_field "$probe" 'd["reply_bytes"]')"
      --concurrency 1 $d)
    run_pair mlp_b1_seq "$t" "${mlp_seq[@]}"
    if [ "$t" -gt 1 ]; then
      # The same calls on a server whose predictions use $t threads each
      # (--intra-op-threads), against the forward pass on $t threads.
      start_bnserve "bnserve_intra_$t" --worker-threads "$t" --intra-op-threads "$t"
      plain_port="$bn_port"; bn_port="$started_port"
      run_pair mlp_b1_seq_intra "$t" "${mlp_seq[@]}"
      bn_port="$plain_port"
      stop "$started_pid"
    fi
  fi
  if have_model tiny; then
    probe="$("$bench" --server "127.0.0.1:$bn_port" --model tiny --batch 1 --calls 1 --warmup 0 --json)"
    run_pair tiny_64 "$t" --model tiny --batch 1 --concurrency 64 $d -- \
      --payload-bytes "$(json_field "$probe" 'd["request_bytes"]')" --reply-bytes "$(json_field "$probe" 'd["reply_bytes"]')" \
      --concurrency 64 $d
  fi
  if have_model identity; then
    # 224x224x3 floats = 150,528 = 192 x 784: the Identity model (input
    # [batch, 784]) at batch 192 moves exactly one such image each way, with
    # no compute besides the copy.
    inline_echo_port="$echo_port"; echo_port="$echo_pool_port"
    run_pair image_224 "$t" --model identity --batch 192 --concurrency 1 $d -- \
      --payload-bytes 602112 --reply-bytes 602112 --concurrency 1 $d
    echo_port="$inline_echo_port"
  fi
  if have_model cnn; then
    note "serving: recalibrate cnn, $t worker thread(s)"
    for _ in $(seq $reps); do
      out="$("$bench" --server "127.0.0.1:$bn_port" --rpc recalibrate --model cnn --batch 64 \
        --batches "$recal_batches" --calls "$recal_calls" --warmup 0 --json)" || true
      [ -n "$out" ] && echo "{\"key\": \"recal_cnn\", \"side\": \"bnserve\", \"threads\": $t, \"run\": $out}" >>"$results/serving.jsonl"
    done
  fi
  stop "$bn_pid"; stop "$echo_pid"; stop "$echo_pool_pid"
done

# --- the table ---------------------------------------------------------------
note "raw results in $results"
python3 "$here/compare_table.py" "$results" --threads "$threads_list"
