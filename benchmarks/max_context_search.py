"""Cost of the largest-context search (context_fit): estimates and CPU time per search, the headroom-guided search
against plain bisection (SECANT_ROUNDS = 0), on the models `recommend --top 10` shows on each profile and on a sample
of catalog models, with the settings recommend and fit hold. Only searches count (a trained context that fits needs
two estimates either way). Both must give the same answer (tests/test_context_fit.py checks it too).

    python benchmarks/max_context_search.py [--models 60]

Writes benchmarks/results/max_context_search.md.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from llmfit_core import context_fit as cf
from llmfit_core.backends import default_backend
from llmfit_core.catalog import load_catalog
from llmfit_core.hardware.registry import resolve_hardware
from llmfit_core.recommend import recommend
from llmfit_core.settings import RunSettings

RESULTS = Path(__file__).resolve().parent / "results"
PROFILES = ("workstation-4090", "laptop-rtx4060", "dual-3090", "macbook-pro-m3-max", "cpu-only-16gb", "raspberry-pi-5")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=60)
    args = ap.parse_args()
    cat = load_catalog()
    models = [cat.entries[int(i)] for i in cat.model_rows]
    random.Random(7).shuffle(models)
    real = cf.estimate_and_place
    count = [0]

    def counted(*a, **kw):
        count[0] += 1
        return real(*a, **kw)

    cf.estimate_and_place = counted
    guided_rounds = cf.SECANT_ROUNDS
    rows = []
    for name in PROFILES:
        hw = resolve_hardware(name)
        be = default_backend(hw)
        shown = [(r.entry, r.quant) for r in recommend(hardware=hw, top=10, catalog=cat).items]
        sample = [(e, "Q4_K_M") for e in models[:args.models]]
        for label, pairs in (("recommend --top 10", shown), (f"{args.models} catalog models", sample)):
            stats = {"searches": 0, "guided": 0, "bisection": 0, "guided_s": 0.0, "bisection_s": 0.0}
            for e, quant in pairs:
                spec = e.to_spec(quant)
                settings = [RunSettings(), RunSettings(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)]
                if be.gpu and not hw.unified_memory:
                    settings.append(RunSettings(cpu_moe=True) if spec.n_experts > 1 else
                                    RunSettings(gpu_layers=spec.n_layers + 1))
                for s in settings:
                    cf.context_fit(spec, hw, be, s)  # warm-up: the first estimate of a spec pays for its caches
                    found = {}
                    for method, rounds in (("guided", guided_rounds), ("bisection", 0)):
                        cf.SECANT_ROUNDS = rounds
                        count[0] = 0
                        t = time.process_time()
                        found[method] = cf.context_fit(spec, hw, be, s).max_context
                        spent = time.process_time() - t
                        if found[method] is not None and found[method] < cf.context_cap(spec)[0]:
                            stats[f"{method}_s"] += spent
                            stats[method] += count[0]
                    cf.SECANT_ROUNDS = guided_rounds
                    if found["guided"] != found["bisection"]:
                        raise SystemExit(f"different answers: {name} {e.id} {s}: {found}")
                    if found["guided"] is not None and found["guided"] < cf.context_cap(spec)[0]:
                        stats["searches"] += 1
            rows.append((name, label, stats))
    lines = ["| profile | models | searches | estimates, bisection | estimates, guided | CPU ms/search, bisection | guided |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, label, s in rows:
        n = max(s["searches"], 1)
        lines.append(f"| {name} | {label} | {s['searches']} | {s['bisection'] / n:.1f} | {s['guided'] / n:.1f} | "
                     f"{1000 * s['bisection_s'] / n:.2f} | {1000 * s['guided_s'] / n:.2f} |")
    text = (f"# Largest-context search, same answers; load average {os.getloadavg()[0]:.1f}\n\n"
            "Per search whose answer is below the trained context (its two end probes included).\n\n"
            + "\n".join(lines) + "\n")
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "max_context_search.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
