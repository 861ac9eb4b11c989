"""Measured CPU memory bandwidth: multi-threaded streaming READ of arrays far beyond L3, cached per CPU model.

What llama.cpp decode needs is the rate at which all cores together can stream weights from RAM, so the
figure is a read test: one thread per physical core, each reducing its own slice of a large float64 array
(numpy releases the GIL inside large reductions), best of N passes. A copy test (read + write) is also
reported for information; it is not the figure used for predictions.

The cache is a JSON file in `platformdirs.user_cache_dir("llmfit")` (or `$LLMFIT_CACHE_DIR`):
{"<cpu model>": {"gbs": 33.4, "method": "read", "threads": 2, "array_mb": 256, "measured_at": "..."}}
Entries of older versions (method missing: max of copy and scan) are ignored.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from llmfit_core import dirs
from llmfit_core.hardware.cpu import read_linux_cpu

MIB = 1024 * 1024
METHOD = "read"  # what `gbs` in the cache means (multi-threaded streaming read)


@dataclass
class BandwidthResult:
    """One measurement: the best figure over the runs (GB/s = 1e9 bytes/s); `gbs` is the read figure."""

    gbs: float
    copy_gbs: float
    scan_gbs: float
    threads: int
    array_mb: int
    runs: int


def cache_file() -> Path:
    return dirs.cache_dir() / "bandwidth.json"


def _load_cache() -> dict:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached_bandwidth(cpu_model: str) -> float | None:
    """The cached measured bandwidth (GB/s) for this CPU model, or None."""
    entry = _load_cache().get(cpu_model)
    if not isinstance(entry, dict) or entry.get("method") != METHOD:
        return None  # missing, or measured by an older, different test
    if isinstance(entry.get("gbs"), (int, float)) and not isinstance(entry["gbs"], bool) and 0 < entry["gbs"] < 1e5:
        return float(entry["gbs"])
    return None


def store_bandwidth(cpu_model: str, result: BandwidthResult) -> Path:
    """Record a measurement in the cache file (atomic replace) and return its path."""
    data = _load_cache()
    data[cpu_model] = {
        "gbs": round(result.gbs, 2),
        "method": METHOD,
        "copy_gbs": round(result.copy_gbs, 2),
        "scan_gbs": round(result.scan_gbs, 2),
        "threads": result.threads,
        "array_mb": result.array_mb,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _array_bytes(l3_kb: int | None, available_bytes: int | None) -> int:
    """Arrays well beyond the last-level cache (8x L3, at least 128 MiB), bounded by 1/8 of free RAM and 1 GiB."""
    want = max(128 * MIB, 8 * (l3_kb or 32 * 1024) * 1024)
    cap = 1024 * MIB
    if available_bytes:
        cap = min(cap, max(16 * MIB, available_bytes // 8))
    return int(min(want, cap))


def run_bandwidth_test(seconds: float = 1.0, threads: int | None = None, array_bytes: int | None = None,
                       l3_kb: int | None = None) -> BandwidthResult:
    """Measure streaming read (the figure) and copy bandwidth with `threads` workers; best of the passes that fit in `seconds`."""
    import psutil  # lazy: start-up: psutil (~20 ms), only when measuring

    threads = max(1, threads or psutil.cpu_count(logical=False) or 1)
    nbytes = array_bytes or _array_bytes(l3_kb, psutil.virtual_memory().available)
    n = max(threads * 1024, nbytes // 8)
    src = np.ones(n, dtype=np.float64)  # touch all pages up front
    bounds = np.linspace(0, n, threads + 1).astype(int)
    chunks = [(bounds[i], bounds[i + 1]) for i in range(threads)]
    # the copy test writes a smaller destination: it is informational, the read test is what counts
    m = max(threads * 1024, n // 4)
    dst = np.zeros(m, dtype=np.float64)
    cb = np.linspace(0, m, threads + 1).astype(int)
    copy_chunks = [(cb[i], cb[i + 1]) for i in range(threads)]

    def read_part(se):
        s, e = se
        return float(np.add.reduce(src[s:e]))  # releases the GIL: threads stream in parallel

    def copy_part(se):
        s, e = se
        np.copyto(dst[s:e], src[s:e])

    best_read = best_copy = 0.0
    runs = 0
    deadline = time.perf_counter() + max(0.05, seconds)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(read_part, chunks))  # warm-up: threads started, pages mapped
        while True:
            t0 = time.perf_counter()
            list(pool.map(read_part, chunks))
            t1 = time.perf_counter()
            best_read = max(best_read, n * 8 / max(t1 - t0, 1e-9) / 1e9)
            if runs % 3 == 0:
                t1 = time.perf_counter()
                list(pool.map(copy_part, copy_chunks))
                t2 = time.perf_counter()
                best_copy = max(best_copy, 2 * m * 8 / max(t2 - t1, 1e-9) / 1e9)
            runs += 1
            if runs >= 3 and time.perf_counter() >= deadline:
                break
            if runs >= 250:
                break
    return BandwidthResult(gbs=best_read, copy_gbs=best_copy, scan_gbs=best_read, threads=threads,
                           array_mb=int(n * 8 // MIB), runs=runs)


def measure_bandwidth(seconds: float = 1.0, cpu_model: str | None = None, store: bool = True) -> float:
    """Measure this machine's streaming read bandwidth (GB/s, all physical cores) and cache it under the CPU model."""
    cpu = read_linux_cpu()
    model = cpu_model or (cpu.model if cpu else None)
    if model is None:
        model = platform.processor() or "unknown CPU"
    result = run_bandwidth_test(seconds, threads=cpu.cores if cpu else None, l3_kb=cpu.l3_cache_kb if cpu else None)
    if store:
        try:
            store_bandwidth(model, result)
        except OSError as exc:  # an unwritable cache dir must not lose the measurement
            print(f"llmfit: warning: measured {result.gbs:.1f} GB/s but could not cache it ({exc.strerror or exc})",
                  file=sys.stderr)
    return result.gbs
