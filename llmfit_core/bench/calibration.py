"""Per-machine calibration: a multiplicative factor per (backend, test, quant family) learned from local bench records.

factor = exp(sum(log(measured / predicted)) / (n + PRIOR)): the geometric mean of measured/predicted,
shrunk toward 1 when there are few records. A family without records falls back to the test's factor over
all families (itself shrunk toward 1). Each backend the bench ran on (llama.cpp-cpu, or the GPU backend of
a `llmfit bench --gpu-layers N` run: llama.cpp-cuda, -metal, -rocm, -vulkan, -sycl) gets its own factors,
and a prediction is only scaled by the factors of its own backend. Records only count for the hardware
fingerprint they were taken on; CPU records also only for the default thread count (the predictor assumes
all physical cores), while GPU records count whatever their thread count, since offloaded layers do not
run on the CPU threads. Runs of tiny models (< MIN_PARAMS) are left out because they time per-call
overhead, not throughput.

calibration.json keeps the CPU factors where the first version wrote them (`factors`, `counts`,
`n_records`), so a file written before GPU calibration existed still loads and means "CPU factors", and
a CPU-only reader of a new file still finds them; GPU backends are under `backends`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmfit_core.bench.fingerprint import fingerprint
from llmfit_core.bench.store import data_dir

CALIBRATION_NAME = "calibration.json"
PRIOR = 2.0  # pseudo-records at ratio 1
MAX_FACTOR = 20.0  # clamp: a factor beyond this means a broken record, not a machine trait
TESTS = ("pp", "tg")
CPU_BACKEND = "llama.cpp-cpu"  # the backend of records without runtime facts (every record before --gpu-layers)
# Below this size a run measures fixed per-call overhead, not throughput: not calibration data.
MIN_PARAMS = 50_000_000


def family_of(quant: str | None) -> str:
    """Kernel family of a quant (float | legacy | kquant | iq | ...): the throughput predictor's own grouping."""
    from llmfit_core.throughput.quantfamily import quant_family

    return quant_family(quant)


def backend_name(backend) -> str | None:
    """The canonical backend name of a name or Backend ("cpu" -> llama.cpp-cpu), None when unknown."""
    be = getattr(backend, "name", backend)
    if be is None:
        return None
    try:
        from llmfit_core.backends import get_backend

        return get_backend(str(be)).name
    except Exception:
        return None


@dataclass
class Sample:
    """One (test, family) observation on one backend: measured and predicted tok/s."""

    test: str
    family: str
    measured: float
    predicted: float
    backend: str = CPU_BACKEND

    @property
    def log_ratio(self) -> float:
        return math.log(self.measured / self.predicted)


@dataclass
class BackendFactors:
    """The factors of one GPU backend (same shape as the CPU factors of Calibration)."""

    factors: dict[str, dict[str, float]] = field(default_factory=dict)  # test -> family -> factor ("*" = all)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    n_records: int = 0


def _factor_table(d) -> dict[str, dict[str, float]]:
    return {str(t): {str(f): float(v) for f, v in dict(fs).items()} for t, fs in dict(d or {}).items()}


@dataclass
class Calibration:
    fingerprint: str
    factors: dict[str, dict[str, float]] = field(default_factory=dict)  # CPU: test -> family -> factor ("*" = all)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    n_records: int = 0
    prior: float = PRIOR
    backends: dict[str, BackendFactors] = field(default_factory=dict)  # GPU backend name -> its factors

    def table(self, backend: str = CPU_BACKEND) -> tuple[dict, dict, int]:
        """(factors, counts, n_records) of a backend; empty for a backend without records."""
        if backend == CPU_BACKEND:
            return self.factors, self.counts, self.n_records
        b = self.backends.get(backend)
        return (b.factors, b.counts, b.n_records) if b else ({}, {}, 0)

    def factor(self, test: str, family: str, backend: str = CPU_BACKEND) -> float:
        """The factor for a test and quant family on a backend (family fallback: the test's overall factor, then 1)."""
        per = self.table(backend)[0].get(test) or {}
        return float(per.get(family, per.get("*", 1.0)))

    def calibrated_backends(self) -> list[str]:
        """Backends with factors, CPU first."""
        return [b for b in [CPU_BACKEND, *sorted(self.backends)] if self.table(b)[0]]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        backends = {}
        for name, b in dict(d.get("backends") or {}).items():
            be = backend_name(name)
            if be and be != CPU_BACKEND and isinstance(b, dict):
                backends[be] = BackendFactors(_factor_table(b.get("factors")), dict(b.get("counts") or {}),
                                              int(b.get("n_records", 0)))
        return cls(fingerprint=str(d["fingerprint"]), factors=_factor_table(d.get("factors")),
                   counts=dict(d.get("counts") or {}), n_records=int(d.get("n_records", 0)),
                   prior=float(d.get("prior", PRIOR)), backends=backends)


def _shrunk(log_ratios: list[float], prior: float, center: float = 0.0) -> float:
    n = len(log_ratios)
    mean = (sum(log_ratios) + prior * center) / (n + prior)
    return max(-math.log(MAX_FACTOR), min(math.log(MAX_FACTOR), mean))


def _fit_table(samples: list[Sample], prior: float) -> tuple[dict, dict]:
    factors: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    for test in TESTS:
        ss = [s for s in samples if s.test == test]
        if not ss:
            continue
        overall = _shrunk([s.log_ratio for s in ss], prior)
        factors[test] = {"*": math.exp(overall)}
        counts[test] = {"*": len(ss)}
        for fam in sorted({s.family for s in ss}):
            lr = [s.log_ratio for s in ss if s.family == fam]
            factors[test][fam] = math.exp(_shrunk(lr, prior, center=overall))
            counts[test][fam] = len(lr)
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
    from llmfit_core.bench.fingerprint import this_machine
    from llmfit_core.bench.records import predict_for, spec_from_facts
    from llmfit_core.bench.runner import default_threads

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
                if spec is not None:
                    hw = hw or this_machine()
                    try:
                        pred = predict_for(spec, hw, int(st.get("n_ctx", 512)), int(st.get("pp", 512)),
                                           int(st.get("tg", 128)), backend=be, gpu_layers=ngl) or pred
                    except Exception:  # predictor refused this spec: keep the stored prediction
                        pass
            if not pred:
                continue
            fam = family_of((r.get("model") or {}).get("quant"))
            for test in TESTS:
                meas = ((r.get("results") or {}).get(test) or {}).get("tok_s")
                p = pred.get(f"{test}_tok_s")
                if meas and p and meas > 0 and p > 0 and math.isfinite(meas) and math.isfinite(p):
                    out.append(Sample(test, fam, float(meas), float(p), be))
        except (TypeError, ValueError, AttributeError):
            continue  # a malformed record is not calibration data
    return out


def mape(pairs: list[tuple[float, float]]) -> float | None:
    """Mean absolute percentage error of (predicted, measured) pairs."""
    if not pairs:
        return None
    return 100.0 * sum(abs(p - m) / m for p, m in pairs) / len(pairs)


def leave_one_out(samples: list[Sample], fp: str = "", prior: float = PRIOR) -> dict:
    """Before/after MAPE per test; 'after' predicts each sample with a calibration fitted without it.

    Give the samples of one backend to get that backend's error (`calibrate` reports per backend).
    """
    out = {}
    for test in TESTS:
        idx = [i for i, s in enumerate(samples) if s.test == test]
        if not idx:
            continue
        before = [(samples[i].predicted, samples[i].measured) for i in idx]
        after = []
        for i in idx:
            cal = fit_factors(samples[:i] + samples[i + 1:], fp, prior)
            s = samples[i]
            after.append((s.predicted * cal.factor(test, s.family, s.backend), s.measured))
        out[test] = {"n": len(idx), "mape_before": mape(before), "mape_after_loo": mape(after)}
    return out


def calibration_path(directory: Path | None = None, create: bool = True) -> Path:
    return (directory or data_dir(create=create)) / CALIBRATION_NAME


def save_calibration(cal: Calibration, directory: Path | None = None) -> Path:
    """Write the calibration atomically (temp file + fsync + rename)."""
    path = calibration_path(directory)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(cal.to_dict(), fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_calibration(directory: Path | None = None) -> Calibration | None:
    """The saved calibration, or None when there is none or it cannot be read."""
    path = calibration_path(directory, create=False)
    try:
        if path.stat().st_size > 1 << 20:
            return None
        return Calibration.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def apply_calibration(prediction, hardware, spec, backend=None):
    """Scale a ThroughputPrediction by this machine's calibration factors; unchanged if none applies.

    Only applies when `hardware` has the fingerprint the calibration was fitted on, and only the factors
    of the prediction's own backend (`backend` name or Backend; None = the hardware's default backend:
    its first GPU's, else CPU): CUDA factors never touch a CPU prediction and vice versa. Never raises.
    """
    try:
        if backend is None:
            from llmfit_core.backends import default_backend

            be = default_backend(hardware).name
        else:
            be = backend_name(backend)
        if be is None:
            return prediction
        cal = load_calibration()
        if cal is None or fingerprint(hardware) != cal.fingerprint or not cal.table(be)[0]:
            return prediction
        fam = family_of(getattr(spec, "quant", None))
        fp_, ft = cal.factor("pp", fam, be), cal.factor("tg", fam, be)
        if fp_ == 1.0 and ft == 1.0:
            return prediction
        n_records = cal.table(be)[2]
        changes = {"prefill_tok_s": prediction.prefill_tok_s * fp_, "decode_tok_s": prediction.decode_tok_s * ft}
        if getattr(prediction, "decode_range", None):
            changes["decode_range"] = tuple(v * ft for v in prediction.decode_range)
        if getattr(prediction, "prefill_range", None):
            changes["prefill_range"] = tuple(v * fp_ for v in prediction.prefill_range)
        note = f"calibrated on this machine from {n_records} {be} bench records (pp x{fp_:.2f}, tg x{ft:.2f}, {fam})"
        if hasattr(prediction, "reasons"):
            changes["reasons"] = list(prediction.reasons or []) + [note]
        if dataclasses.is_dataclass(prediction):
            return dataclasses.replace(prediction, **changes)
        for k, v in changes.items():
            setattr(prediction, k, v)
        return prediction
    except Exception:  # calibration is an improvement, never a failure of the pipeline
        return prediction


def calibrate(records: list[dict], hw, directory: Path | None = None, save: bool = True) -> tuple[Calibration, dict]:
    """Fit and (optionally) save this machine's calibration; returns it with the before/after report.

    The report is {backend: {test: {n, mape_before, mape_after_loo}}} for each backend with records.
    """
    fp = fingerprint(hw)
    samples = samples_from_records(records, fp, hw=hw)
    cal = fit_factors(samples, fp)
    cpu = [s for s in samples if s.backend == CPU_BACKEND]
    cal.n_records = max((sum(s.test == t for s in cpu) for t in TESTS), default=0)
    report = {}
    for be in cal.calibrated_backends():
        loo = leave_one_out([s for s in samples if s.backend == be], fp)
        if loo:
            report[be] = loo
    if save and samples:
        save_calibration(cal, directory)
    return cal, report
