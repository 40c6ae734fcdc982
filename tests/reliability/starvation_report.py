#!/usr/bin/python3
"""Figures of tests/reliability/starvation.sh from bnserve-loadtest's --json-out files.

  starvation_report.py run FILE.json   one line: each workload's p99 and calls/s
  starvation_report.py summary DIR     per set-up (file name prefix up to the first '.'), per workload:
                                       median (min-max) of p99 and calls/s over the runs
"""
import glob
import json
import os
import statistics
import sys

SETUPS = ("shared-alone", "shared-heavy", "pool-alone", "pool-heavy")


def spread(values, digits):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def run_line(path):
    workloads = json.load(open(path))["workloads"]
    return "  ".join(
        "{}: p99 {:.2f} ms, {:.0f}/s".format(w["workload"], w["latency_us"]["p99"] / 1000, w["calls_per_s"])
        for w in workloads)


def summary(directory):
    runs = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        setup = os.path.basename(path).split(".")[0]
        for w in json.load(open(path))["workloads"]:
            runs.setdefault((setup, w["workload"]), []).append(w)
    print("| set-up | workload | runs | p99 ms, median (min-max) | p50 ms, median | calls/s, median (min-max) |")
    print("|---|---|---|---|---|---|")
    for setup in SETUPS:
        for (s, workload), ws in sorted(runs.items()):
            if s != setup:
                continue
            rate = ("{:.0f} samples/s".format(statistics.median(w["samples_per_s"] for w in ws))
                    if workload.startswith("heavy") else spread([w["calls_per_s"] for w in ws], 0))
            print("| {} | {} | {} | {} | {:.2f} | {} |".format(
                setup, workload, len(ws), spread([w["latency_us"]["p99"] / 1000 for w in ws], 2),
                statistics.median(w["latency_us"]["p50"] for w in ws) / 1000, rate))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        print(run_line(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        sys.exit(__doc__)
