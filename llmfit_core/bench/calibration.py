"""Fitting this machine's calibration (`llmfit calibrate`): a multiplicative factor per (backend, test, quant
family) learned from local bench records. Applying it to predictions is llmfit_core.throughput.calibration.

factor = exp(sum(log(measured / predicted)) / (n + PRIOR)): the geometric mean of measured/predicted,
shrunk toward 1 when there are few records. A family without records falls back to the test's factor over
all families (itself shrunk toward 1). Each backend the bench ran on (llama.cpp-cpu, or the GPU backend of
a `llmfit bench --gpu-layers N` run: llama.cpp-cuda, -metal, -rocm, -vulkan, -sycl) gets its own factors,
and a prediction is only scaled by the factors of its own backend. Records only count for the hardware
fingerprint they were taken on; CPU records also only for the default thread count (the predictor assumes
all physical cores), while GPU records count whatever their thread count, since offloaded layers do not
run on the CPU threads. Runs of tiny models (< MIN_PARAMS) are left out because they time per-call
overhead, not throughput.

Every factor corrects predictions made from particular inputs, so a calibration is saved with them
(`inputs`, a FittedInputs): when any of them changes (`llmfit system --measure-bandwidth` replaces an estimated
bandwidth, a retrained correction ships) the factors are not applied until `llmfit calibrate` runs again.

`calibrate` keeps only the factors that lower the left-out error: each (backend, test) table is scored by
leaving one model out (every record of that model at once) when the records cover two or more models, else
one record out, and a table whose left-out error is not lower than the uncalibrated error is not saved.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from llmfit_core.bench.fingerprint import summary, this_machine
from llmfit_core.bench.records import predict_for, spec_from_facts
from llmfit_core.bench.runner import default_threads
from llmfit_core.hardware.fingerprint import fingerprint
from llmfit_core.throughput.calibration import (
    CPU_BACKEND,
    PRIOR,
    BackendFactors,
    Calibration,
    FittedInputs,
    backend_name,
    calibration_path,
    family_of,
    forget_loaded,
)

MAX_FACTOR = 20.0  # clamp: a factor beyond this means a broken record, not a machine trait
TESTS = ("pp", "tg")
# Below this size a run measures fixed per-call overhead, not throughput: not calibration data.
MIN_PARAMS = 50_000_000


@dataclass
class Sample:
    """One (test, family) observation on one backend: measured and predicted tok/s."""

    test: str
    family: str
    measured: float
    predicted: float
    backend: str = CPU_BACKEND
    model: str = ""  # which model the record ran (leave-one-model-out groups by it)
    weight: float = 1.0  # how comparable the run is to a bench run (observed_weight); 1 for `llmfit bench`

    @property
    def log_ratio(self) -> float:
        return math.log(self.measured / self.predicted)


def _shrunk(samples: list[Sample], prior: float, center: float = 0.0) -> float:
    n = sum(s.weight for s in samples)
    mean = (sum(s.weight * s.log_ratio for s in samples) + prior * center) / (n + prior)
    return max(-math.log(MAX_FACTOR), min(math.log(MAX_FACTOR), mean))


# an observed run (a normal generation timed by llama.cpp's counters under the guard) counts at most this much
# of a bench run: other work shares the machine, and prompts are cut by the reused cache
OBSERVED_WEIGHT = 0.5
BENCH_TOKENS = {"pp": 512, "tg": 128}  # a bench run's default lengths: shorter runs time more fixed cost


def observed_weight(record: dict, test: str, n_tokens) -> float:
    """Weight of one test of a record: 1 for bench records; for "observed" ones OBSERVED_WEIGHT x its length
    relative to a bench run's (a 20-token prompt says little about pp512)."""
    if record.get("source") != "observed":
        return 1.0
    try:
        share = min(float(n_tokens) / BENCH_TOKENS[test], 1.0)
    except (TypeError, ValueError):
        return 0.0
    return OBSERVED_WEIGHT * max(share, 0.0)


def _fit_table(samples: list[Sample], prior: float) -> tuple[dict, dict]:
    factors: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    for test in TESTS:
        ss = [s for s in samples if s.test == test]
        if not ss:
            continue
        overall = _shrunk(ss, prior)
        factors[test] = {"*": math.exp(overall)}
        counts[test] = {"*": len(ss)}
        for fam in sorted({s.family for s in ss}):
            fs = [s for s in ss if s.family == fam]
            factors[test][fam] = math.exp(_shrunk(fs, prior, center=overall))
            counts[test][fam] = len(fs)
    return factors, counts


def fit_factors(samples: list[Sample], fp: str, prior: float = PRIOR) -> Calibration:
    """Fit the per-(backend, test, family) factors from samples (pure function, no I/O)."""
    cal = Calibration(fingerprint=fp, prior=prior)
    for be in sorted({s.backend for s in samples}):
        ss = [s for s in samples if s.backend == be]
        factors, counts = _fit_table(ss, prior)
        n = max((sum(s.test == t for s in ss) for t in TESTS), default=0)
        if be == CPU_BACKEND:
            cal.factors, cal.counts = factors, counts
        else:
            cal.backends[be] = BackendFactors(factors, counts, n)
    return cal


def record_backend(r: dict) -> tuple[str | None, int | None]:
    """(backend, offloaded layers) of a bench record: llama.cpp-cpu and 0 for records without runtime facts.

    None as backend for a runtime that is not llama.cpp (e.g. MLX timing records): not `llmfit bench` data.
    Layers None = every layer (a negative -ngl, as llama.cpp reads it).
    """
    name = (r.get("runtime") or {}).get("name") or CPU_BACKEND
    be = backend_name(name)
    if be is None or not be.startswith("llama.cpp-"):
        return None, None
    if be == CPU_BACKEND:
        return be, 0
    ngl = (r.get("settings") or {}).get("n_gpu_layers")
    ngl = None if ngl is None else int(ngl)
    if ngl is not None and ngl == 0:  # a GPU backend that offloaded nothing is a CPU run
        return CPU_BACKEND, 0
    return be, (None if ngl is None or ngl < 0 else ngl)


def samples_from_records(records: list[dict], fp: str, repredict: bool = True, hw=None) -> list[Sample]:
    """(test, family, measured, predicted, backend) samples of the records taken on hardware `fp`.

    With `repredict`, the current (uncalibrated) predictor is re-run on the stored model facts, for the
    record's backend and offloaded layers, on `hw` (default: this machine), so the correction is relative
    to today's predictor; otherwise the prediction stored with the record is used. CPU records count only
    at the default thread count; GPU records at any thread count (offloaded layers do not use them).
    """
    out: list[Sample] = []
    for r in records:
        try:
            if r.get("hardware_fingerprint") != fp:
                continue
            st = r.get("settings") or {}
            be, ngl = record_backend(r)
            if be is None:
                continue
            if be == CPU_BACKEND and int(st.get("threads", -1)) != default_threads():
                continue
            params = (r.get("model") or {}).get("params")
            if params is not None and params < MIN_PARAMS:
                continue
            pred = r.get("prediction")
            if repredict:
                spec = spec_from_facts(r.get("model") or {})
                hw = hw or this_machine()
                try:
                    pred = predict_for(spec, hw, int(st.get("n_ctx", 512)), int(st.get("pp", 512)),
                                       int(st.get("tg", 128)), backend=be, gpu_layers=ngl) if spec else None
                except Exception:  # predictor refused this spec
                    pred = None
                if pred is None and not _same_figures(r.get("hardware") or {}, hw):
                    continue  # the stored prediction used other bandwidth figures than today's predictor
                pred = pred or r.get("prediction")
            if not pred:
                continue
            m = r.get("model") or {}
            fam = family_of(m.get("quant"))
            model = f"{m.get('arch')}|{m.get('params') or m.get('file_bytes')}|{m.get('quant')}"
            for test in TESTS:
                res = (r.get("results") or {}).get(test) or {}
                meas = res.get("tok_s")
                p = pred.get(f"{test}_tok_s")
                weight = observed_weight(r, test, res.get("n_tokens"))
                if meas and p and meas > 0 and p > 0 and math.isfinite(meas) and math.isfinite(p) and weight > 0:
                    out.append(Sample(test, fam, float(meas), float(p), be, model, weight))
        except (TypeError, ValueError, AttributeError):
            continue  # a malformed record is not calibration data
    return out


def _same_figures(recorded: dict, hw) -> bool:
    """Were a record's prediction inputs (its hardware summary) the bandwidth figures `hw` has today?"""
    now = summary(hw)
    return (recorded.get("mem_bandwidth_gbs") == now["mem_bandwidth_gbs"]
            and [g.get("bandwidth_gbs") for g in recorded.get("gpus") or []] == [g["bandwidth_gbs"] for g in now["gpus"]])


def mape(pairs: list[tuple[float, float]]) -> float | None:
    """Mean absolute percentage error of (predicted, measured) pairs."""
    if not pairs:
        return None
    return 100.0 * sum(abs(p - m) / m for p, m in pairs) / len(pairs)


def leave_one_out(samples: list[Sample], fp: str = "", prior: float = PRIOR) -> dict:
    """Before/after MAPE per test; 'after' predicts each sample with a calibration fitted without it.

    Left out together: every sample of one model when the test's samples cover two or more models (a factor
    must carry over to a model it has not seen), else one sample at a time. `method` says which ("model" or
    "record"). Give the samples of one backend to get that backend's error (`calibrate` reports per backend).
    """
    out = {}
    for test in TESTS:
        idx = [i for i, s in enumerate(samples) if s.test == test]
        if not idx:
            continue
        by_model = len({samples[i].model for i in idx}) >= 2
        before = [(samples[i].predicted, samples[i].measured) for i in idx]
        after = []
        for i in idx:
            s = samples[i]
            rest = [x for j, x in enumerate(samples) if (x.model != s.model if by_model else j != i)]
            cal = fit_factors(rest, fp, prior)
            after.append((s.predicted * cal.factor(test, s.family, s.backend), s.measured))
        out[test] = {"n": len(idx), "mape_before": mape(before), "mape_after_loo": mape(after),
                     "method": "model" if by_model else "record"}
    return out


def save_calibration(cal: Calibration, directory: Path | None = None) -> Path:
    """Write the calibration atomically (temp file + fsync + rename)."""
    path = calibration_path(directory)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(cal.to_dict(), fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    forget_loaded()
    return path


def calibrate(records: list[dict], hw, directory: Path | None = None, save: bool = True) -> tuple[Calibration, dict]:
    """Fit this machine's calibration, keep the factors that lower the left-out error, and (optionally) save.

    Returns the kept calibration (tied to today's inputs) and the report {backend: {test: {n, mape_before,
    mape_after_loo, method, kept}}} for each backend with records. A (backend, test) table whose left-out error
    is not below the uncalibrated error is dropped (`kept` False). With `save`, the file is written whenever
    there were samples, also when nothing was kept: it then says "no correction" instead of leaving an older
    calibration in force.
    """
    fp = fingerprint(hw)
    samples = samples_from_records(records, fp, hw=hw)
    cal = fit_factors(samples, fp)
    cal.inputs = FittedInputs.of(hw)
    cpu = [s for s in samples if s.backend == CPU_BACKEND]
    cal.n_records = max((sum(s.test == t for s in cpu) for t in TESTS), default=0)
    report = {}
    for be in cal.calibrated_backends():
        loo = leave_one_out([s for s in samples if s.backend == be], fp)
        for test, r in loo.items():
            r["kept"] = r["mape_after_loo"] < r["mape_before"]
            if not r["kept"]:
                cal.without(be, test)
        if loo:
            report[be] = loo
    if save and samples:
        save_calibration(cal, directory)
    return cal, report
