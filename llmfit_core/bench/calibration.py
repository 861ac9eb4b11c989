"""Per-machine calibration: a multiplicative factor per (test, quant family) learned from local bench records.

factor = exp(sum(log(measured / predicted)) / (n + PRIOR)): the geometric mean of measured/predicted,
shrunk toward 1 when there are few records. A family without records falls back to the test's factor over
all families (itself shrunk toward 1). Records only count for the hardware fingerprint they were taken on
and for the default thread count (the predictor assumes all physical cores); runs of tiny models
(< MIN_PARAMS) are left out because they time per-call overhead, not throughput.
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
CALIBRATED_BACKENDS = ("llama.cpp-cpu", "cpu")  # `llmfit bench` runs with n_gpu_layers=0
# Below this size a run measures fixed per-call overhead, not throughput: not calibration data.
MIN_PARAMS = 50_000_000


def family_of(quant: str | None) -> str:
    """Kernel family of a quant (float | legacy | kquant | iq | ...): the throughput predictor's own grouping."""
    from llmfit_core.throughput.quantfamily import quant_family

    return quant_family(quant)


@dataclass
class Sample:
    """One (test, family) observation: measured and predicted tok/s."""

    test: str
    family: str
    measured: float
    predicted: float

    @property
    def log_ratio(self) -> float:
        return math.log(self.measured / self.predicted)


@dataclass
class Calibration:
    fingerprint: str
    factors: dict[str, dict[str, float]] = field(default_factory=dict)  # test -> family -> factor ("*" = all)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    n_records: int = 0
    prior: float = PRIOR

    def factor(self, test: str, family: str) -> float:
        """The factor for a test and quant family (family fallback: the test's overall factor, then 1)."""
        per = self.factors.get(test) or {}
        return float(per.get(family, per.get("*", 1.0)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        return cls(fingerprint=str(d["fingerprint"]), factors={t: {f: float(v) for f, v in fs.items()}
                                                               for t, fs in dict(d.get("factors") or {}).items()},
                   counts=dict(d.get("counts") or {}), n_records=int(d.get("n_records", 0)),
                   prior=float(d.get("prior", PRIOR)))


def _shrunk(log_ratios: list[float], prior: float, center: float = 0.0) -> float:
    n = len(log_ratios)
    mean = (sum(log_ratios) + prior * center) / (n + prior)
    return max(-math.log(MAX_FACTOR), min(math.log(MAX_FACTOR), mean))


def fit_factors(samples: list[Sample], fp: str, prior: float = PRIOR) -> Calibration:
    """Fit the per-(test, family) factors from samples (pure function, no I/O)."""
    cal = Calibration(fingerprint=fp, prior=prior)
    for test in TESTS:
        ss = [s for s in samples if s.test == test]
        if not ss:
            continue
        overall = _shrunk([s.log_ratio for s in ss], prior)
        cal.factors[test] = {"*": math.exp(overall)}
        cal.counts[test] = {"*": len(ss)}
        for fam in sorted({s.family for s in ss}):
            lr = [s.log_ratio for s in ss if s.family == fam]
            cal.factors[test][fam] = math.exp(_shrunk(lr, prior, center=overall))
            cal.counts[test][fam] = len(lr)
    return cal


def samples_from_records(records: list[dict], fp: str, repredict: bool = True) -> list[Sample]:
    """(test, family, measured, predicted) samples of the records taken on hardware `fp`.

    With `repredict`, the current (uncalibrated) predictor is re-run on the stored model facts so the
    correction is relative to today's predictor; otherwise the prediction stored with the record is used.
    """
    from llmfit_core.bench.fingerprint import this_machine
    from llmfit_core.bench.records import predict_for, spec_from_facts
    from llmfit_core.bench.runner import default_threads

    hw = None
    out: list[Sample] = []
    for r in records:
        try:
            if r.get("hardware_fingerprint") != fp:
                continue
            st = r.get("settings") or {}
            if int(st.get("threads", -1)) != default_threads():
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
                                           int(st.get("tg", 128))) or pred
                    except Exception:  # predictor refused this spec: keep the stored prediction
                        pass
            if not pred:
                continue
            fam = family_of((r.get("model") or {}).get("quant"))
            for test in TESTS:
                meas = ((r.get("results") or {}).get(test) or {}).get("tok_s")
                p = pred.get(f"{test}_tok_s")
                if meas and p and meas > 0 and p > 0 and math.isfinite(meas) and math.isfinite(p):
                    out.append(Sample(test, fam, float(meas), float(p)))
        except (TypeError, ValueError, AttributeError):
            continue  # a malformed record is not calibration data
    return out


def mape(pairs: list[tuple[float, float]]) -> float | None:
    """Mean absolute percentage error of (predicted, measured) pairs."""
    if not pairs:
        return None
    return 100.0 * sum(abs(p - m) / m for p, m in pairs) / len(pairs)


def leave_one_out(samples: list[Sample], fp: str = "", prior: float = PRIOR) -> dict:
    """Before/after MAPE per test; 'after' predicts each sample with a calibration fitted without it."""
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
            after.append((s.predicted * cal.factor(test, s.family), s.measured))
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

    Only applies when `hardware` has the fingerprint the calibration was fitted on and the prediction is
    for the CPU backend the bench measured (`backend` name or Backend; None = CPU unless the hardware has
    a GPU). Never raises.
    """
    try:
        be = getattr(backend, "name", backend)
        if (be is not None and be not in CALIBRATED_BACKENDS) or (be is None and getattr(hardware, "gpus", None)):
            return prediction
        cal = load_calibration()
        if cal is None or fingerprint(hardware) != cal.fingerprint:
            return prediction
        fam = family_of(getattr(spec, "quant", None))
        fp_, ft = cal.factor("pp", fam), cal.factor("tg", fam)
        if fp_ == 1.0 and ft == 1.0:
            return prediction
        changes = {"prefill_tok_s": prediction.prefill_tok_s * fp_, "decode_tok_s": prediction.decode_tok_s * ft}
        if getattr(prediction, "decode_range", None):
            changes["decode_range"] = tuple(v * ft for v in prediction.decode_range)
        if getattr(prediction, "prefill_range", None):
            changes["prefill_range"] = tuple(v * fp_ for v in prediction.prefill_range)
        note = f"calibrated on this machine from {cal.n_records} bench records (pp x{fp_:.2f}, tg x{ft:.2f}, {fam})"
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
    """Fit and (optionally) save this machine's calibration; returns it with the before/after report."""
    fp = fingerprint(hw)
    samples = samples_from_records(records, fp)
    cal = fit_factors(samples, fp)
    cal.n_records = max((sum(s.test == t for s in samples) for t in TESTS), default=0)
    report = leave_one_out(samples, fp)
    if save and samples:
        save_calibration(cal, directory)
    return cal, report
