#!/usr/bin/env python3
"""Summarizes Google Benchmark JSON results: the median of each benchmark's repetitions, the
spread of those repetitions, and the ratios teed's targets are stated in (docs/performance.md)."""
import json
import statistics
import sys
from collections import defaultdict


def load(paths):
    runs = defaultdict(list)  # name -> [real_time in µs per repetition]
    rates = defaultdict(list)  # name -> [bytes per second]
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "iteration":
                continue
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
            name = b["run_name"]
            runs[name].append(b["real_time"] * scale)
            if b.get("bytes_per_second"):
                rates[name].append(b["bytes_per_second"])
    return runs, rates


def main(paths):
    runs, rates = load(paths)
    median = {name: statistics.median(times) for name, times in runs.items()}
    print("| benchmark | median | spread (min–max of repetitions) | MB/s moved |")
    print("|---|---:|---|---:|")
    for name in sorted(runs):
        times = runs[name]
        rate = f"{statistics.median(rates[name]) / 1e6:.0f}" if rates.get(name) else ""
        print(f"| {name} | {median[name]:.1f} µs | {min(times):.1f}–{max(times):.1f} µs "
              f"({len(times)} runs) | {rate} |")

    def ratio(a, b, label):
        if a in median and b in median and median[b] > 0:
            print(f"| {label} | {median[a] / median[b]:.2f} |")

    print()
    print("| ratio (medians, same run) | value |")
    print("|---|---:|")
    for size, label in [("0", "hello_world"), ("4096", "4 KiB echo"), ("65536", "64 KiB echo"),
                        ("1048576", "1 MiB echo")]:
        ratio(f"BM_Teed_Invoke/{size}/real_time", f"BM_Floor_DbusRoundTrip/{size}/real_time",
              f"teed invoke / bare D-Bus round trip, {label}")
    for size, label in [("4096", "4 KiB"), ("1048576", "1 MiB"), ("16777216", "16 MiB")]:
        for kind in ("RegisteredShm", "AllocatedShm"):
            a, b = f"BM_Teed_{kind}/{size}/real_time", f"BM_Floor_Memcpy/{size}/real_time"
            if a in median and b in median and median[a] > 0:
                print(f"| {kind} echo bandwidth / memcpy bandwidth, {label} | {median[b] / median[a]:.2f} |")
    for size, label in [("0", "hello_world"), ("1048576", "1 MiB echo")]:
        ratio(f"BM_Teed_Invoke/{size}/real_time", f"BM_Direct_SimulatedDevice/{size}/real_time",
              f"teed invoke / direct call on the simulated device, {label}")


if __name__ == "__main__":
    main(sys.argv[1:])
