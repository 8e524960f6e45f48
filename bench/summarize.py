#!/usr/bin/env python3
"""Summarizes Google Benchmark JSON results: the median of each benchmark's repetitions, the
spread of those repetitions, the memref bandwidth and concurrency tables, and the ratios teed's
targets are stated in (docs/performance.md, "Targets" in the design)."""
import json
import re
import statistics
import sys
from collections import defaultdict

SIZES = [(4096, "4 KiB"), (65536, "64 KiB"), (1048576, "1 MiB"), (16777216, "16 MiB")]
# Counters of BM_Teed_Concurrent that are not Google Benchmark's own fields.
CONCURRENCY_COUNTERS = ("clients", "calls", "calls_per_s", "p50_us", "p99_us")
# The concurrency benchmarks: back to back (saturating) or paced at 100 calls/s per client.
CONCURRENCY_MODES = [("BM_Teed_Concurrent", "D-Bus"), ("BM_Teed_ConcurrentChannel", "channel"),
                     ("BM_Teed_ConcurrentPaced", "D-Bus, paced"),
                     ("BM_Teed_ConcurrentPacedChannel", "channel, paced")]


def load(paths):
    runs = defaultdict(list)  # name -> [real_time in µs per repetition]
    rates = defaultdict(list)  # name -> [bytes per second]
    counters = defaultdict(lambda: defaultdict(list))  # name -> counter -> [value per repetition]
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "iteration" or b.get("error_occurred"):
                continue
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
            name = b["run_name"]
            runs[name].append(b["real_time"] * scale)
            if b.get("bytes_per_second"):
                rates[name].append(b["bytes_per_second"])
            for key in CONCURRENCY_COUNTERS:
                if key in b:
                    counters[name][key].append(b[key])
    return runs, rates, counters


def fmt_us(value):
    return f"{value:,.0f} µs" if value >= 1000 else f"{value:.1f} µs"


class Summary:
    def __init__(self, runs, rates, counters):
        self.runs, self.rates, self.counters = runs, rates, counters
        self.median = {name: statistics.median(times) for name, times in runs.items()}
        # transport -> clients -> {counter: median over repetitions}
        self.concurrent_by = {mode: {} for _, mode in CONCURRENCY_MODES}
        for name, values in counters.items():
            m = re.match(r"(BM_Teed_Concurrent\w*)/(\d+)/", name)
            modes = dict(CONCURRENCY_MODES)
            if m and m.group(1) in modes:
                self.concurrent_by[modes[m.group(1)]][int(m.group(2))] = {
                    k: statistics.median(v) for k, v in values.items()}

    def time(self, benchmark, arg):
        return self.median.get(f"{benchmark}/{arg}/real_time")

    def mbps(self, benchmark, size):
        """MB/s moved (size in + size out per call) at the median time."""
        t = self.time(benchmark, size)
        return 2 * size / t if t else None  # bytes per µs = MB/s

    def print_all(self):
        print("| benchmark | median | spread (min–max of repetitions) | MB/s moved |")
        print("|---|---:|---|---:|")
        for name in sorted(self.runs):
            if name in self.counters:
                continue  # the concurrency table below reads these
            times = self.runs[name]
            rate = f"{statistics.median(self.rates[name]) / 1e6:,.0f}" if self.rates.get(name) else ""
            print(f"| {name} | {fmt_us(self.median[name])} | {min(times):,.1f}–{max(times):,.1f} µs "
                  f"({len(times)} runs) | {rate} |")

    def print_bandwidth(self):
        columns = [("BM_Teed_TempMemref", "temporary memref"), ("BM_Teed_RegisteredShm", "registered shm"),
                   ("BM_Teed_AllocatedShm", "allocated shm"), ("BM_Floor_DbusRoundTrip", "D-Bus floor"),
                   ("BM_Floor_SocketPingPong", "socket ping-pong"), ("BM_Floor_Memcpy", "memcpy")]
        print()
        print("Memref bandwidth: median time per call, and MB/s counting the bytes in + the bytes out.")
        print()
        print("| size | " + " | ".join(label for _, label in columns) + " | registered / memcpy |")
        print("|---|" + "---:|" * (len(columns) + 1))
        for size, label in SIZES:
            cells = []
            for benchmark, _ in columns:
                t = self.time(benchmark, size)
                cells.append(f"{fmt_us(t)} ({self.mbps(benchmark, size):,.0f} MB/s)" if t else "")
            reg, mem = self.time("BM_Teed_RegisteredShm", size), self.time("BM_Floor_Memcpy", size)
            ratio = f"{mem / reg:.2f}" if reg and mem else ""
            print(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")

    def print_concurrency(self):
        if not any(self.concurrent_by.values()):
            return
        print()
        print("Concurrent null invokes (hello_world), one process, connection and session per client; "
              "medians over the repetitions.")
        print()
        print("| mode | clients | calls/s (all clients) | spread | p50 latency | p99 latency |")
        print("|---|---:|---:|---|---:|---:|")
        for prefix, transport in CONCURRENCY_MODES:
            results = self.concurrent_by[transport]
            for clients in sorted(results):
                c = results[clients]
                name = next(n for n in self.counters if n.startswith(f"{prefix}/{clients}/"))
                spread = self.counters[name]["calls_per_s"]
                print(f"| {transport} | {clients} | {c['calls_per_s']:,.0f} | "
                      f"{min(spread):,.0f}–{max(spread):,.0f} ({len(spread)} runs) | "
                      f"{fmt_us(c['p50_us'])} | {fmt_us(c['p99_us'])} |")

    def print_ratios(self):
        print()
        print("| ratio (medians, same run) | value | target |")
        print("|---|---:|---:|")

        def row(label, value, target=""):
            if value is not None:
                print(f"| {label} | {value:.2f} | {target} |")

        def over(a, b):
            return a / b if a and b else None

        hello, floor = self.time("BM_Teed_Invoke", 0), self.time("BM_Floor_DbusRoundTrip", 0)
        row("teed invoke / bare D-Bus round trip, hello_world", over(hello, floor), "≤ 1.3")
        for size, label in SIZES:
            row(f"teed temporary memref / bare D-Bus round trip, {label}",
                over(self.time("BM_Teed_TempMemref", size), self.time("BM_Floor_DbusRoundTrip", size)))
        row("teed invoke, hello_world / socket ping-pong, 1 byte",
            over(hello, self.time("BM_Floor_SocketPingPong", 1)))
        for arg, label in [(1, "1 byte")] + SIZES:
            row(f"teed channel / socket ping-pong, {label}",
                over(self.time("BM_Teed_Channel", arg), self.time("BM_Floor_SocketPingPong", arg)),
                "≤ 2" if arg == 1 else "")
        big = 16777216
        for benchmark, label in [("BM_Teed_RegisteredShm", "registered"), ("BM_Teed_AllocatedShm", "allocated")]:
            row(f"{label} shm bandwidth / memcpy bandwidth, 16 MiB",
                over(self.time("BM_Floor_Memcpy", big), self.time(benchmark, big)),
                "≥ 0.5" if label == "registered" else "")
        temp = self.mbps("BM_Teed_TempMemref", 1048576)
        if temp is not None:
            print(f"| temporary memref MB/s (in + out), 1 MiB | {temp:,.0f} | ≥ 500 |")
        # The single-client p50 is always the back-to-back one of the same transport: an idle
        # client's first call after a pause is slower, and would flatter the paced ratio.
        for mode, results in self.concurrent_by.items():
            baseline = self.concurrent_by["channel" if mode.startswith("channel") else "D-Bus"]
            one, many = baseline.get(1), results.get(64)
            if one and many:
                row(f"64 clients p99 / 1 client p50 (back to back), {mode}",
                    over(many["p99_us"], one["p50_us"]), "≤ 10")
            if results.get(1) and many and "paced" not in mode:
                row(f"throughput, 64 clients / 1 client, {mode}",
                    over(many["calls_per_s"], results[1]["calls_per_s"]))
        row("teed invoke / direct call on the simulated device, hello_world",
            over(hello, self.time("BM_Direct_SimulatedDevice", 0)))
        for size, label in [(1024, "1 KiB"), (1048576, "1 MiB")]:
            row(f"secure storage write / durable file replace, {label}",
                over(self.time("BM_Teed_SecureStorageWrite", size), self.time("BM_Floor_DurableReplace", size)))
            row(f"secure storage read / file read, {label}",
                over(self.time("BM_Teed_SecureStorageRead", size), self.time("BM_Floor_FileRead", size)))


def main(paths):
    summary = Summary(*load(paths))
    summary.print_all()
    summary.print_bandwidth()
    summary.print_concurrency()
    summary.print_ratios()


if __name__ == "__main__":
    main(sys.argv[1:])
