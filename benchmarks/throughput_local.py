"""Predicted vs measured tok/s on THIS machine for synthetic models (shapes x quants).

    python benchmarks/throughput_local.py [--shapes llama-0.1b,...] [--quants F16,Q8_0,Q4_K_M]
                                          [--pp 256] [--tg 64] [--repeats 2] [--record]

Generates (or reuses from the cache) random-weight GGUFs with synth.py, benches each in a child process
like llama-bench (repack off), runs the uncalibrated predictor for the same settings, and writes
benchmarks/results/throughput_local.{md,json,jsonl,csv}: the table, the raw records, and the rows in
the public CSV schema (training data). The error summary gives the plain predictor's MAPE and the
leave-one-out MAPE after the per-machine calibration `llmfit calibrate` would fit from these runs.
`--record` also appends the runs to the local bench store.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

from llmfit_core.bench.calibration import Sample, leave_one_out, mape
from llmfit_core.bench.exchange import CSV_FIELDS, anonymise, to_public_rows
from llmfit_core.bench.fingerprint import summary, this_machine
from llmfit_core.bench.records import make_record, predict_for
from llmfit_core.bench.runner import BenchSettings, check_memory, run_bench
from llmfit_core.bench.store import append_record
from llmfit_core.bench.synthetic import synthetic_model, synthetic_spec
from llmfit_core.hardware.fingerprint import fingerprint
from llmfit_core.throughput.calibration import family_of

SHAPES = ("llama-0.1b", "gemma2-0.3b", "llama-0.5b", "qwen2-0.5b", "qwen3moe-0.5b", "llama-1b")
QUANTS = ("F16", "Q8_0", "Q4_K_M")
OUT = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--quants", default=",".join(QUANTS))
    ap.add_argument("--pp", type=int, default=256)
    ap.add_argument("--tg", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--record", action="store_true", help="also append the runs to the local bench store")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--max-load", type=float, default=None,
                    help="before each run wait (up to --max-wait s) until the 1-minute load average is below this "
                         "(default: physical cores + 0.5; shared machines)")
    ap.add_argument("--max-wait", type=float, default=60.0)
    a = ap.parse_args(argv)

    hw = this_machine()
    records, rows = [], []
    t_start = time.time()
    for shape in a.shapes.split(","):
        for quant in a.quants.split(","):
            ref = f"{shape}:{quant}"
            _wait_for_quiet(a.max_load if a.max_load is not None else BenchSettings().threads + 0.5, a.max_wait)
            t0 = time.time()
            load_before = round(os.getloadavg()[0], 2)
            try:
                path = synthetic_model(ref)
                spec = synthetic_spec(ref, path)
                settings = BenchSettings(pp=a.pp, tg=a.tg, repeats=a.repeats)
                mem_est = check_memory(spec, settings)
                res = run_bench(path, settings)
            except Exception as exc:  # one failed config must not lose the others
                print(f"{ref}: FAILED {type(exc).__name__}: {exc}", flush=True)
                rows.append({"shape": shape, "quant": quant, "error": f"{type(exc).__name__}: {exc}"})
                continue
            try:
                pred = predict_for(spec, hw, settings.context, a.pp, a.tg)
            except Exception as exc:
                print(f"{ref}: predictor failed: {type(exc).__name__}: {exc}", flush=True)
                pred = None
            rec = make_record(res, hw, spec, pred, source="synthetic", memory_estimate_bytes=mem_est)
            records.append(rec)
            if a.record:
                append_record(rec)
            row = {"shape": shape, "quant": quant, "params_m": spec.params / 1e6, "file_mib": path.stat().st_size / 2**20,
                   "peak_rss_mib": res.peak_rss_bytes / 2**20,
                   "model_rss_mib": (res.peak_rss_bytes - res.baseline_rss_bytes) / 2**20,
                   "mem_estimate_mib": mem_est / 2**20 if mem_est else None, "load_1m": rec["load_avg"][0],
                   "load_before": load_before}
            for k in ("pp", "tg"):
                r = rec["results"][k]
                row[f"{k}_meas"], row[f"{k}_std"] = r["tok_s"], r["tok_s_std"]
                row[f"{k}_pred"] = (pred or {}).get(f"{k}_tok_s")
            rows.append(row)
            print(f"{ref:>22}: pp{a.pp} {row['pp_meas']:8.1f} (pred {_f(row['pp_pred'])})  tg{a.tg} {row['tg_meas']:7.1f} "
                  f"(pred {_f(row['tg_pred'])})  rss {row['peak_rss_mib']:.0f} MiB  [{time.time() - t0:.0f} s]", flush=True)

    samples = [Sample(k, family_of(r["quant"]), r[f"{k}_meas"], r[f"{k}_pred"])
               for r in rows if "error" not in r for k in ("pp", "tg") if r.get(f"{k}_pred")]
    loo = leave_one_out(samples, fingerprint(hw))
    by_family = {}
    for k in ("pp", "tg"):
        for fam in sorted({s.family for s in samples}):
            ss = [s for s in samples if s.test == k and s.family == fam]
            by_family[f"{k}/{fam}"] = {"n": len(ss), "mape": mape([(s.predicted, s.measured) for s in ss]),
                                       "median_ratio": _median([s.measured / s.predicted for s in ss])}
    meta = {"hardware": summary(hw), "hardware_fingerprint": fingerprint(hw), "pp": a.pp, "tg": a.tg,
            "repeats": a.repeats, "threads": BenchSettings().threads, "repack": False,
            "llama_cpp_python": records[0]["runtime"]["llama_cpp_python"] if records else None,
            "python": platform.python_version(), "wall_s": round(time.time() - t_start, 1),
            "date": time.strftime("%Y-%m-%d", time.gmtime()), "calibration_loo": loo, "by_family": by_family}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput_local.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    with open(out / "throughput_local.jsonl", "w") as fh:
        for r in records:
            fh.write(json.dumps(anonymise(r), sort_keys=True) + "\n")
    with open(out / "throughput_local.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in records:
            w.writerows(to_public_rows(anonymise(r)))
    md = _markdown(rows, meta)
    (out / "throughput_local.md").write_text(md)
    print(md)
    return 0


def _wait_for_quiet(max_load: float, max_wait: float) -> None:
    """Sleep until the 1-minute load average drops below `max_load`, at most `max_wait` seconds."""
    end = time.time() + max_wait
    while os.getloadavg()[0] > max_load and time.time() < end:
        time.sleep(5)


def _f(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def _median(xs):
    xs = sorted(xs)
    return None if not xs else (xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2)


def _markdown(rows, meta) -> str:
    pp, tg = meta["pp"], meta["tg"]
    hw = meta["hardware"]
    lines = [
        "# Throughput on this machine: predicted vs measured (synthetic models)", "",
        f"{hw['cpu_model']}, {hw['cpu_cores']} cores, {hw['ram_gb']} GB RAM, ISA {', '.join(hw['cpu_isa'])}; "
        f"llama-cpp-python {meta['llama_cpp_python']} (CPU, repack off, {meta['threads']} threads); "
        f"pp{pp} / tg{tg}, {meta['repeats']} repeats after a warm-up; {meta['date']}; run took {meta['wall_s']:.0f} s.",
        "The machine's cores are shared with other jobs: the load column is the 1-minute load average before and after "
        "each run (our own run adds up to the thread count; well above the core count, other work competed for the "
        "CPU and the measurement is low).", "",
        f"| shape | quant | params (M) | file (MiB) | peak RSS (MiB) | RSS above baseline (MiB) | memory estimate (MiB) | pp{pp} measured | pp{pp} predicted | ratio "
        f"| tg{tg} measured | tg{tg} predicted | ratio | load before / after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['shape']} | {r['quant']} | failed: {r['error'][:80]} |||||||||||")
            continue
        cells = [r["shape"], r["quant"], f"{r['params_m']:.0f}", f"{r['file_mib']:.0f}", f"{r['peak_rss_mib']:.0f}",
                 f"{r['model_rss_mib']:.0f}", _f(r["mem_estimate_mib"])]
        for k in ("pp", "tg"):
            p = r[f"{k}_pred"]
            cells += [f"{r[f'{k}_meas']:.1f} ± {r[f'{k}_std']:.1f}", _f(p), f"{r[f'{k}_meas'] / p:.2f}" if p else "-"]
        cells.append(f"{r['load_before']:.1f} / {r['load_1m']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Error on this machine", "",
              "| test | n | MAPE uncalibrated | MAPE calibrated (leave-one-out) |", "|---|---:|---:|---:|"]
    for k, v in meta["calibration_loo"].items():
        lines.append(f"| {k} | {v['n']} | {v['mape_before']:.1f}% | {v['mape_after_loo']:.1f}% |")
    if not meta["calibration_loo"]:
        lines.append("| - | 0 | no predictor available | - |")
    lines += ["", "| test / quant family | n | MAPE | median measured/predicted |", "|---|---:|---:|---:|"]
    for k, v in meta["by_family"].items():
        if v["n"]:
            lines.append(f"| {k} | {v['n']} | {v['mape']:.1f}% | {v['median_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
