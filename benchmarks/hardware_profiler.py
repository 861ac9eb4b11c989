"""Hardware profiler benchmark: detection time (target < 200 ms), device look-up speed, and the
numpy bandwidth test (threads x array size, copy vs scan) on this machine.

Run: python benchmarks/hardware_profiler.py [--seconds 1.0]
Prints a table and writes benchmarks/results/hardware_profiler.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from llmfit_core.hardware import bandwidth, detect, devices, registry

RESULTS = Path(__file__).parent / "results" / "hardware_profiler.md"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    lines = [f"# Hardware profiler on {platform.node()} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]

    t0 = time.perf_counter()
    prof = detect.detect_hardware(run_hooks=False)
    first = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        detect.detect_hardware(run_hooks=False)
        times.append((time.perf_counter() - t0) * 1000)
    lines += ["## Detection", "", "| what | ms |", "|---|---:|",
              f"| first detect_hardware() (incl. imports) | {first:.1f} |",
              f"| detect_hardware() median of 10 | {statistics.median(times):.1f} |",
              f"| detect_hardware() max of 10 | {max(times):.1f} |"]
    queries = ["NVIDIA GeForce RTX 4090", "Apple M3 Max", "AMD Ryzen 9 7950X 16-Core Processor", "NVIDIA A100-SXM4-80GB", "AMD EPYC"]
    t0 = time.perf_counter()
    for _ in range(100):
        for q in queries:
            devices.lookup_device(q)
    per = (time.perf_counter() - t0) * 1000 / (100 * len(queries))
    t0 = time.perf_counter()
    for d in devices.all_devices():
        devices.device_profile(d.name)
    per_prof = (time.perf_counter() - t0) * 1000 / len(devices.all_devices())
    lines += [f"| lookup_device() fuzzy, mean | {per:.3f} |", f"| device_profile(), mean over the table | {per_prof:.3f} |", ""]

    lines += ["## Bandwidth test (numpy, GB/s = 1e9 B/s; copy counts read + write)", "",
              f"CPU: {prof.cpu.model}, {prof.cpu.cores} cores, L3 {prof.cpu.l3_cache_kb} KiB; "
              f"table/estimate before measuring: {registry.fill_missing(prof).cpu.mem_bandwidth_gbs} GB/s "
              f"({prof.sources.get('cpu.mem_bandwidth_gbs')})", "",
              "| threads | array MiB | runs | copy GB/s | scan GB/s | best |", "|---:|---:|---:|---:|---:|---:|"]
    for threads in sorted({1, prof.cpu.cores}):
        for mib in (64, 256):
            r = bandwidth.run_bandwidth_test(args.seconds, threads=threads, array_bytes=mib * 1024 * 1024)
            lines.append(f"| {threads} | {r.array_mb} | {r.runs} | {r.copy_gbs:.1f} | {r.scan_gbs:.1f} | {r.gbs:.1f} |")
    lines += ["", "The machine is shared with other jobs: figures vary run to run; the cached figure is the best of the runs."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
