"""This machine's stored llama.cpp runs vs the throughput predictor, before and after the CPU physics fixes.

    python benchmarks/throughput_local_compare.py [--records data/benchdata/local_amd_epyc_2c_llamacpp0336.jsonl]
                                                  [--measured-gbs 55] [--no-cv]

Reuses the measurements (no new runs): each record carries what it measured and what the predictor
of its day said ("prediction": 24 GB/s class guess, old CPU physics). Columns:
- old: the stored prediction;
- roofline (estimate): today's roofline with the bandwidth llmfit estimates for this CPU when nothing is measured;
- roofline (measured): today's roofline with the measured streaming-read bandwidth (`--measured-gbs`);
- corrected (left out): roofline x learned correction from the leave-devices-out CV of the shipped training
  procedure, i.e. trained WITHOUT this machine's rows (skip with --no-cv).
Writes benchmarks/results/throughput_local_vs_prediction.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llmfit_core.bench.records import spec_from_facts  # noqa: E402
from llmfit_core.hardware.profile import CPUInfo, HardwareProfile, MemoryInfo  # noqa: E402
from llmfit_core.hardware.registry import estimate_cpu_bandwidth  # noqa: E402
from llmfit_core.throughput import predict  # noqa: E402

DEFAULT_RECORDS = REPO / "data" / "benchdata" / "local_amd_epyc_2c_llamacpp0336.jsonl"
OUT = REPO / "benchmarks" / "results" / "throughput_local_vs_prediction.md"


def _hw(rec: dict, gbs: float, source: str) -> HardwareProfile:
    h = rec["hardware"]
    cpu = CPUInfo(model=h["cpu_model"], cores=int(h["cpu_cores"]), threads=int(h["cpu_threads"]), arch=h["cpu_arch"],
                  isa=list(h["cpu_isa"]), mem_bandwidth_gbs=gbs, vendor=h.get("cpu_vendor"))
    hw = HardwareProfile(name=h["cpu_model"], cpu=cpu, memory=MemoryInfo(float(h["ram_gb"])))
    hw.sources["cpu.mem_bandwidth_gbs"] = source
    return hw


def _mape(pred, meas) -> float:
    pred, meas = np.asarray(pred, float), np.asarray(meas, float)
    return float(np.mean(np.abs(pred - meas) / meas))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", default=str(DEFAULT_RECORDS))
    ap.add_argument("--measured-gbs", type=float, default=55.0)
    ap.add_argument("--no-cv", action="store_true")
    a = ap.parse_args(argv)
    recs = [json.loads(x) for x in Path(a.records).read_text().splitlines() if x.strip()]
    first = recs[0]["hardware"]
    est = estimate_cpu_bandwidth(CPUInfo(model=first["cpu_model"], cores=int(first["cpu_cores"]), isa=list(first["cpu_isa"]),
                                         arch=first["cpu_arch"]))
    cv = {}
    if not a.no_cv:
        from training.train_throughput import evaluate

        t, evals, _ = evaluate([a.records], nested=True)  # the shipped procedure (grid choice + gate inside each fold)
        for head, test in (("decode", "tg"), ("prefill", "pp")):
            mask = t.is_decode if head == "decode" else ~t.is_decode
            local = np.array([s.startswith("bench:") for s in t.sources[mask]])
            cv[test] = (t.roofline[mask] * np.exp(evals[head].oof_log))[local]
    rows, cols = [], {k: [] for k in ("pp", "tg")}
    for i, r in enumerate(recs):
        spec = spec_from_facts(r["model"])
        threads = r["settings"]["threads"]
        p_est = predict(spec, _hw(r, est, "estimated"), "llama.cpp-cpu", prompt_tokens=512, gen_tokens=128, threads=threads,
                        apply_correction=False)
        p_mea = predict(spec, _hw(r, a.measured_gbs, "measured"), "llama.cpp-cpu", prompt_tokens=512, gen_tokens=128,
                        threads=threads, apply_correction=False)
        line = [f"{r['model']['arch']}-{r['model']['params'] / 1e6:.0f}M", r["model"]["quant"]]
        for test, new_e, new_m in (("pp", p_est.prefill_tok_s, p_mea.prefill_tok_s), ("tg", p_est.decode_tok_s, p_mea.decode_tok_s)):
            meas = r["results"][test]["tok_s"]
            old = r["prediction"][f"{test}_tok_s"]
            c = float(cv[test][i]) if test in cv else float("nan")
            cols[test].append((meas, old, new_e, new_m, c))
            line += [f"{meas:.1f}", f"{old:.1f} ({meas / old:.2f})", f"{new_e:.1f} ({meas / new_e:.2f})",
                     f"{new_m:.1f} ({meas / new_m:.2f})", f"{c:.1f} ({meas / c:.2f})" if c == c else "–"]
        line.append(p_mea.bound)
        rows.append(line)
    out = [
        "# This machine: measured llama.cpp vs predicted (stored runs, no new measurements)", "",
        f"Records: `{Path(a.records).relative_to(REPO) if Path(a.records).is_relative_to(REPO) else a.records}` "
        f"({len(recs)} runs, pp512/tg128, {recs[0]['settings']['threads']} threads, llama-cpp-python "
        f"{recs[0]['runtime'].get('llama_cpp_python')}). Generated by `python benchmarks/throughput_local_compare.py`.",
        f"Cells: tok/s (measured / predicted). Bandwidth: old = 24 GB/s class guess; estimate = {est:g} GB/s "
        f"(`estimate_cpu_bandwidth`); measured = {a.measured_gbs:g} GB/s streaming read (best of runs, load < 1).",
        "'corrected (left out)' = roofline x correction from the CV fold that did NOT train on this machine "
        "(shipped procedure: the per-backend gate keeps the roofline where the correction does not help).", "",
        "| model | quant | pp measured | pp old | pp roofline (estimate) | pp roofline (measured) | pp corrected (left out) "
        "| tg measured | tg old | tg roofline (estimate) | tg roofline (measured) | tg corrected (left out) | decode bound |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    out += ["| " + " | ".join(x) + " |" for x in rows]
    out += ["", "| test | MAPE old | MAPE roofline (estimate) | MAPE roofline (measured) | MAPE corrected (left out) |",
            "|---|---:|---:|---:|---:|"]
    for test in ("pp", "tg"):
        arr = np.array(cols[test])
        cells = [f"{_mape(arr[:, k], arr[:, 0]):.1%}" for k in (1, 2, 3)]
        cells.append(f"{_mape(arr[:, 4], arr[:, 0]):.1%}" if not np.isnan(arr[:, 4]).any() else "–")
        out.append(f"| {test} | " + " | ".join(cells) + " |")
    # effective bandwidth implied by the F16 decode runs (memory-bound): bytes read per token x tok/s
    from llmfit_core.throughput.roofline import model_figures

    out += ["", "## Effective bandwidth implied by the F16 decode runs", "",
            "bytes per token = weights read per token (token embedding excluded, output head included) + KV cache at the "
            "mean position (576); effective GB/s = bytes x measured tok/s. Compare: measured streaming read "
            f"{a.measured_gbs:g} GB/s (35-59 GB/s across runs on this shared host), estimate {est:g} GB/s, old guess 24 GB/s.", "",
            "| model | MB per token | tg128 tok/s | effective GB/s | share of measured read |", "|---|---:|---:|---:|---:|"]
    for r in recs:
        if r["model"]["quant"] != "F16":
            continue
        mf = model_figures(spec_from_facts(r["model"]))
        b = mf.weight_bytes + mf.kv_bytes_per_pos * 576.0
        tg = r["results"]["tg"]["tok_s"]
        out.append(f"| {r['model']['arch']}-{r['model']['params'] / 1e6:.0f}M | {b / 1e6:.0f} | {tg:.1f} | {b * tg / 1e9:.1f} | "
                   f"{b * tg / 1e9 / a.measured_gbs:.0%} |")
    text = "\n".join(out) + "\n"
    OUT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
