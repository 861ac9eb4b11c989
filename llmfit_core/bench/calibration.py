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

Every factor corrects predictions made from particular inputs, so a calibration is saved with them
(`inputs`, a FittedInputs): the hardware fingerprint, the CPU bandwidth and where it came from, the CPU ISA,
each GPU's bandwidth and FP16 figures, and the version (hash) of the learned throughput correction. When any
of them changes (`llmfit system --measure-bandwidth` replaces an estimated bandwidth, a retrained correction
ships), the old factor would be applied on top of a prediction it was never fitted against: it is not
applied, and the prediction's reasons say so and ask for `llmfit calibrate` again. A file without `inputs`
(written before they were recorded) is read but never applied, for the same reason.

`calibrate` keeps only the factors that lower the left-out error: each (backend, test) table is scored by
leaving one model out (every record of that model at once) when the records cover two or more models, else
one record out, and a table whose left-out error is not lower than the uncalibrated error is not saved.

calibration.json keeps the CPU factors where the first version wrote them (`factors`, `counts`,
`n_records`), so a file written before GPU calibration existed still loads and means "CPU factors", and
a CPU-only reader of a new file still finds them; GPU backends are under `backends`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmfit_core.bench.fingerprint import bandwidth_source, fingerprint
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
    model: str = ""  # which model the record ran (leave-one-model-out groups by it)
    weight: float = 1.0  # how comparable the run is to a bench run (observed_weight); 1 for `llmfit bench`

    @property
    def log_ratio(self) -> float:
        return math.log(self.measured / self.predicted)


@dataclass
class FittedInputs:
    """What the predictions a calibration corrects were computed from; its factors apply only while these hold."""

    fingerprint: str
    cpu_bandwidth_gbs: float | None = None
    cpu_bandwidth_source: str | None = None  # measured | table | estimated | file | profile | ...
    cpu_isa: list[str] = field(default_factory=list)
    gpus: list[str] = field(default_factory=list)  # "name: B GB/s, F TFLOPS" per GPU
    correction: str = ""  # version of the learned throughput correction (hash of its weights; "none" without)

    @classmethod
    def of(cls, hw) -> "FittedInputs":
        """The inputs the predictor uses on `hw` today."""
        bw = hw.cpu.mem_bandwidth_gbs
        return cls(fingerprint=fingerprint(hw), cpu_bandwidth_gbs=None if bw is None else round(float(bw), 1),
                   cpu_bandwidth_source=bandwidth_source(hw), cpu_isa=sorted(hw.cpu.isa or []),
                   gpus=[f"{g.name}: {_num(g.bandwidth_gbs)} GB/s, {_num(g.fp16_tflops)} TFLOPS" for g in hw.gpus],
                   correction=correction_version())

    @classmethod
    def from_dict(cls, d: dict) -> "FittedInputs":
        bw = d.get("cpu_bandwidth_gbs")
        return cls(fingerprint=str(d["fingerprint"]), cpu_bandwidth_gbs=None if bw is None else float(bw),
                   cpu_bandwidth_source=d.get("cpu_bandwidth_source"), cpu_isa=[str(x) for x in d.get("cpu_isa") or []],
                   gpus=[str(x) for x in d.get("gpus") or []], correction=str(d.get("correction") or ""))

    def changes(self, now: "FittedInputs") -> list[str]:
        """What differs between these inputs and `now`, one phrase each (empty: the factors still apply)."""
        out = []
        if now.fingerprint != self.fingerprint:
            out.append("the hardware changed")
        if (now.cpu_bandwidth_gbs, now.cpu_bandwidth_source) != (self.cpu_bandwidth_gbs, self.cpu_bandwidth_source):
            out.append(f"RAM bandwidth was {_bw(self)}, now {_bw(now)}")
        if now.cpu_isa != self.cpu_isa:
            out.append("the CPU instruction sets changed")
        if now.gpus != self.gpus:
            out.append(f"GPU figures were {'; '.join(self.gpus) or 'none'}, now {'; '.join(now.gpus) or 'none'}")
        if now.correction != self.correction:
            out.append("the learned throughput correction changed (another llmfit-core version)")
        return out


def _num(v) -> str:
    return "?" if v is None else f"{float(v):g}"


def _bw(i: FittedInputs) -> str:
    return f"{_num(i.cpu_bandwidth_gbs)} GB/s ({i.cpu_bandwidth_source or 'unknown'})"


def correction_version() -> str:
    """A short hash of the learned throughput correction's weight files ("none" when it is not available)."""
    try:
        from llmfit_core.throughput.correction import HEADS, load_correction

        corr = load_correction()
        if not corr.ok:
            return "none"
        paths = [Path(corr.source) / f"throughput_{h}.onnx" for h in HEADS]
        return _hash_files(tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths))
    except Exception:  # the correction cannot be read: predictions are roofline-only, say so by the version
        return "none"


@functools.lru_cache(maxsize=8)
def _hash_files(files: tuple) -> str:
    h = hashlib.sha256()
    for path, _, _ in files:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


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
    inputs: FittedInputs | None = None  # what the factors were fitted against (None: an old file, never applied)

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
        inputs = FittedInputs.from_dict(d["inputs"]) if isinstance(d.get("inputs"), dict) else None
        return cls(fingerprint=str(d["fingerprint"]), factors=_factor_table(d.get("factors")),
                   counts=dict(d.get("counts") or {}), n_records=int(d.get("n_records", 0)),
                   prior=float(d.get("prior", PRIOR)), backends=backends, inputs=inputs)

    def stale_because(self, hw) -> list[str]:
        """Why the factors must not be applied on `hw` (empty: they apply)."""
        if self.inputs is None:
            return ["saved by an older llmfit without the inputs it was fitted against"]
        return self.inputs.changes(FittedInputs.of(hw))

    def without(self, backend: str, test: str) -> None:
        """Drop one (backend, test) table (a factor that did not lower the left-out error)."""
        factors, counts, _ = self.table(backend)
        factors.pop(test, None)
        counts.pop(test, None)
        b = self.backends.get(backend)
        if b is not None and not b.factors:
            del self.backends[backend]


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
    from llmfit_core.bench.fingerprint import summary

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


def stale_note(cal: Calibration, hw, backend: str | None = None) -> str | None:
    """The reason `cal` is not applied on `hw` (its inputs changed since it was fitted), or None."""
    stale = cal.stale_because(hw)
    if not stale:
        return None
    which = f"{backend} calibration" if backend else "calibration"
    return f"this machine's {which} is not applied ({'; '.join(stale)}): run `llmfit calibrate` again"


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
        note = stale_note(cal, hardware, be)
        if note:  # the factors were fitted against other predictions: applying them would stack corrections
            return _with_changes(prediction, {"reasons": list(getattr(prediction, "reasons", None) or []) + [note]})
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
        changes["reasons"] = list(getattr(prediction, "reasons", None) or []) + [note]
        return _with_changes(prediction, changes)
    except Exception:  # calibration is an improvement, never a failure of the pipeline
        return prediction


def _with_changes(prediction, changes: dict):
    """A copy of a (dataclass) prediction with `changes`; other objects are changed in place."""
    if not hasattr(prediction, "reasons"):
        changes.pop("reasons", None)
    if dataclasses.is_dataclass(prediction):
        return dataclasses.replace(prediction, **changes)
    for k, v in changes.items():
        setattr(prediction, k, v)
    return prediction


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
