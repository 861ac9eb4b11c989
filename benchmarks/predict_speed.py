"""Speed of the throughput predictor: one in-process prediction (incl. the ONNX correction) and a
vectorised batch of 10,000 model x quant pairs. Targets: < 5 ms and < 100 ms.

    python benchmarks/predict_speed.py     (writes benchmarks/results/throughput_predict_speed.md)
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llmfit_core.backends import BACKENDS  # noqa: E402
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo  # noqa: E402
from llmfit_core.throughput import (  # noqa: E402
    hardware_arrays,
    hardware_figures,
    load_correction,
    model_arrays,
    model_figures,
    predict,
    predict_batch,
)
from training.model_configs import ARCHS, build_spec  # noqa: E402

QUANTS = ["Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16", "Q3_K_S"]


def timeit(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> int:
    hw = HardwareProfile(name="bench", cpu=CPUInfo(cores=16, threads=32, isa=["avx2"], mem_bandwidth_gbs=83), memory=MemoryInfo(64),
                         gpus=[GPUInfo("nvidia", "RTX 4090", 24, bandwidth_gbs=1008, fp16_tflops=330)])
    spec = build_spec("llama-3-8b", "Q4_K_M")
    t0 = time.perf_counter()
    corr = load_correction()
    load_ms = (time.perf_counter() - t0) * 1000
    assert corr.ok, corr.reason
    predict(spec, hw)  # warm-up
    single = timeit(lambda: predict(spec, hw), 300)

    pairs = [model_figures(build_spec(m, q)) for m in sorted(ARCHS) for q in QUANTS]
    reps = -(-10_000 // len(pairs))
    figs = (pairs * reps)[:10_000]
    hf = hardware_figures(hw, BACKENDS["llama.cpp-cuda"], None)
    inputs = {**model_arrays(figs), **hardware_arrays(hf), "prompt_tokens": 512, "decode_pos": 576.0}
    inputs["gpu_frac"] = np.where(inputs["weight_bytes"] < 22e9, 1.0, 22e9 / inputs["weight_bytes"])  # per-pair placement
    predict_batch(inputs)
    batch = timeit(lambda: predict_batch(inputs), 30)
    figs2 = (pairs * 2 * reps)[:20_000]
    inputs2 = {**model_arrays(figs2), **hardware_arrays(hf), "prompt_tokens": 512, "decode_pos": 576.0}
    batch2 = timeit(lambda: predict_batch(inputs2), 10)
    prep = timeit(lambda: model_arrays(figs), 5)

    rows = [
        ("ONNX load (first call, once per process)", load_ms, None),
        ("predict(): one pair incl. ONNX, median", statistics.median(single), 5.0),
        ("predict(): one pair, p95", sorted(single)[int(0.95 * len(single))], 5.0),
        ("predict_batch(): 10,000 pairs, median", statistics.median(batch), 100.0),
        ("predict_batch(): 10,000 pairs, max", max(batch), 100.0),
        ("predict_batch(): 20,000 pairs (catalog size), median", statistics.median(batch2), 100.0),
        ("model_arrays(): stacking 10,000 ModelFigures (caller side)", statistics.median(prep), None),
    ]
    lines = [f"# Throughput predictor speed ({platform.processor() or platform.machine()}, python {platform.python_version()}, "
             f"shared 2-core box)", "", "| measurement | ms | target ms | ok |", "|---|---|---|---|"]
    for name, ms, target in rows:
        ok = "" if target is None else ("yes" if ms < target else "NO")
        lines.append(f"| {name} | {ms:.3f} | {target if target else '–'} | {ok} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = REPO / "benchmarks" / "results" / "throughput_predict_speed.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
