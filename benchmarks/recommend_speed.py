"""How fast is `recommend`? In-process ranking of the whole catalog × all quantizations, and the CLI from cold.

    python benchmarks/recommend_speed.py [--repeat 7]

Prints a table and writes benchmarks/results/recommend_speed.{md,json}. Times are wall-clock medians on
whatever machine runs it (note the load average printed with them: a shared 2-core box inflates them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results"

CASES = [
    ("no constraints", ""),
    ("use coding", "use coding"),
    ("min 20 tok/s, max 8GB", "min 20 tok/s, max 8GB"),
    ("context 32k, license apache-2.0", "context 32k, license apache-2.0"),
]
HARDWARE = [None, "RTX 4090", "M2 Max"]


def _median_ms(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def in_process(repeat: int) -> list[dict]:
    from llmfit_core.catalog import load_catalog
    from llmfit_core.constraints import parse_constraints
    from llmfit_core.recommend import recommend, resolve_hw
    from llmfit_core.recommend.arrays import model_arrays
    from llmfit_core.recommend.candidates import DEFAULT_LADDER

    t = time.perf_counter()
    cat = load_catalog()
    load_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    model_arrays(cat)
    arrays_ms = (time.perf_counter() - t) * 1000
    rows = [{"what": "load catalog (cold)", "hardware": "-", "median_ms": load_ms, "min_ms": load_ms, "pairs": len(cat)},
            {"what": "per-model arrays (once)", "hardware": "-", "median_ms": arrays_ms, "min_ms": arrays_ms,
             "pairs": len(cat.models)}]
    for hw_name in HARDWARE:
        hw = resolve_hw(hw_name)
        for label, text in CASES:
            c = parse_constraints(text)
            res = recommend(c, hardware=hw, catalog=cat, refine=False)  # warm-up (group bpw, correction model)
            med, best = _median_ms(lambda c=c, hw=hw: recommend(c, hardware=hw, catalog=cat, refine=False), repeat)
            rows.append({"what": f"rank: {label}", "hardware": hw.name, "median_ms": med, "min_ms": best,
                         "pairs": res.pairs_considered, "models": res.models_considered,
                         "pairs_all": len(cat.models) * len(DEFAULT_LADDER)})
        med, best = _median_ms(lambda hw=hw: recommend(parse_constraints(""), hardware=hw, catalog=cat, top=10), max(2, repeat // 2))
        rows.append({"what": "rank + full re-score of top 10", "hardware": hw.name, "median_ms": med, "min_ms": best})
    return rows


def cold_cli(repeat: int) -> list[dict]:
    rows = []
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for args in (["--help"], ["recommend", "--top", "5"], ["recommend", "min 20 tok/s, max 8GB", "use coding", "--hardware", "RTX 4090"]):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], capture_output=True, env=env, cwd=ROOT)
            times.append((time.perf_counter() - t) * 1000)
            if p.returncode != 0:
                raise SystemExit(f"llmfit {' '.join(args)} failed: {p.stderr.decode()[:300]}")
        rows.append({"what": "CLI cold: llmfit " + " ".join(args), "hardware": "this machine" if "--hardware" not in args else args[-1],
                     "median_ms": statistics.median(times), "min_ms": min(times)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = in_process(args.repeat) + cold_cli(max(3, args.repeat // 2))
    lines = ["| what | hardware | median ms | min ms | pairs ranked |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['hardware']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r.get('pairs', '')} |")
    head = (f"recommend speed — {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"load average {load:.2f} at start" if load is not None else "recommend speed")
    table = "\n".join(lines)
    print(head)
    print(table)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "recommend_speed.md").write_text(
        f"# {head}\n\nTargets: ranking < 100 ms in-process, CLI < 1 s from a cold start.\n"
        "'rank' = vectorised ranking of every catalog model that passes the model-level constraints × the "
        "quantization ladder (Q2_K..Q8_0), correction model applied to the 300 best; 'full re-score' adds "
        "api.fit_spec for the top 10 (what the CLI shows).\n\n" + table + "\n")
    (OUT / "recommend_speed.json").write_text(json.dumps({"load_average": load, "cpus": os.cpu_count(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
