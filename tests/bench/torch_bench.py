#!/usr/bin/python3
"""PyTorch peer benchmark for tests/bench/compare.sh: median latency of one forward pass of a bench model
(tests/bench/bench_models.py, the same weights bnserve serves) at a batch size and thread count.

    /usr/bin/python3 tests/bench/torch_bench.py MODEL BATCH THREADS eval|train [SECONDS [REPETITIONS]]

eval:  model.eval() under torch.no_grad() - the inference peer.
train: model.train() under torch.no_grad() - BN uses batch statistics and updates its running statistics,
       the work of one recalibration step (torch.optim.swa_utils.update_bn's loop body).
Prints one JSON line per repetition (each SECONDS long, 2 by default), with the BLAS library torch loaded
(read from /proc/self/maps).
"""
import json
import math
import os
import sys
import time

# OpenBLAS (pthread build) sizes its own thread pool from the environment when it is loaded, i.e. at
# "import torch"; torch.set_num_threads does not reach it, and an oversubscribed pool makes a batch-1
# matvec two orders of magnitude slower. So the thread count goes into the environment first.
# OpenMP's default (active) waiting spins; on a machine shared with other work, 2 spinning threads on 2
# busy cores made a CNN batch-1 forward 100x slower here, so passive waiting is the default (override by
# setting OMP_WAIT_POLICY).
if len(sys.argv) > 3:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[3]
    os.environ["OMP_NUM_THREADS"] = sys.argv[3]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_models  # noqa: E402


def loaded_blas():
    """Shared libraries with 'blas' in their name mapped into this process."""
    names = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in os.path.basename(path).lower():
                names.add(os.path.realpath(path))
    return sorted(names)


def main():
    name, batch, threads, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
    repetitions = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    if mode not in ("eval", "train"):
        sys.exit(f"mode: expected eval or train, got {mode!r}")
    torch.set_num_threads(threads)
    model, x = bench_models.build(name)
    sample_shape = tuple(x.shape[1:])
    x = torch.sin(0.37 * torch.arange(batch * math.prod(sample_shape), dtype=torch.float32)).mul_(0.5)
    x = x.reshape((batch,) + sample_shape)
    model.train(mode == "train")
    with torch.no_grad():
        for _ in range(10):  # warm-up
            model(x)
        for _ in range(repetitions):
            report(name, batch, threads, mode, time_forward(model, x, seconds))


def time_forward(model, x, seconds):
    """Sorted latencies (µs) of forward passes for `seconds` (at least 10 passes)."""
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 10:
        t0 = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    return times


def report(name, batch, threads, mode, times):
    def q(p):
        return times[min(len(times) - 1, int(p * len(times)))]

    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "model": name, "batch": batch,
                      "threads": threads, "mode": mode, "runs": len(times), "median_us": q(0.5),
                      "p10_us": q(0.1), "p90_us": q(0.9), "samples_per_s": batch / (q(0.5) * 1e-6),
                      "blas": loaded_blas(),
                      "omp_wait_policy": os.environ["OMP_WAIT_POLICY"]}), flush=True)

if __name__ == "__main__":
    main()
