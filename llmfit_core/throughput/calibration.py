"""Applying this machine's calibration: per-(backend, test, quant family) factors on the throughput prediction.

`llmfit calibrate` (llmfit_core.bench.calibration) fits the factors from local bench records and writes them to
calibration.json in the data dir; this module reads that file (once per version of it) and scales a prediction by
the factors of its own backend. Factors apply only on the machine (fingerprint) they were fitted on and only while
the inputs they were fitted against hold (FittedInputs: CPU bandwidth and its source, ISA, GPU figures, the learned
correction's version); otherwise the prediction is left alone and its reasons say why. A file without `inputs`
(written before they were recorded) is read but never applied.

calibration.json keeps the CPU factors where the first version wrote them (`factors`, `counts`, `n_records`), so a
file written before GPU calibration existed still loads and means "CPU factors"; GPU backends are under `backends`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmfit_core.backends import default_backend, get_backend
from llmfit_core.dirs import data_dir
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.fingerprint import bandwidth_source, fingerprint
from llmfit_core.throughput.correction import HEADS, load_correction
from llmfit_core.throughput.quantfamily import quant_family

CALIBRATION_NAME = "calibration.json"
PRIOR = 2.0  # pseudo-records at ratio 1 (the fit's shrinkage; saved with the factors)
CPU_BACKEND = "llama.cpp-cpu"  # the backend of records without runtime facts (every record before --gpu-layers)
MAX_FILE_BYTES = 1 << 20  # a calibration file is a few KB; anything this big is not one


def family_of(quant: str | None) -> str:
    """Kernel family of a quant (float | legacy | kquant | iq | ...): the throughput predictor's own grouping."""
    return quant_family(quant)


def backend_name(backend) -> str | None:
    """The canonical backend name of a name or Backend ("cpu" -> llama.cpp-cpu), None when unknown."""
    be = getattr(backend, "name", backend)
    if be is None:
        return None
    try:
        return get_backend(str(be)).name
    except LlmfitError:
        return None


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


def calibration_path(directory: Path | None = None, create: bool = True) -> Path:
    return (directory or data_dir(create=create)) / CALIBRATION_NAME


def load_calibration(directory: Path | None = None) -> Calibration | None:
    """The saved calibration, or None when there is none or it cannot be read.

    Read once per version of the file (its inode, size and modification time); the object is shared by every
    caller until the file changes: do not modify it."""
    path = calibration_path(directory, create=False)
    try:
        st = path.stat()
    except OSError:
        return None
    return _read_calibration(str(path), st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_calibration(path: str, inode: int, size: int, mtime_ns: int) -> Calibration | None:
    try:
        if size > MAX_FILE_BYTES:
            return None
        return Calibration.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def forget_loaded() -> None:
    """Drop the calibrations read so far (after writing a new file: its timestamp may not have moved)."""
    _read_calibration.cache_clear()


def machine_calibration(hardware) -> Calibration | None:
    """The saved calibration when it was fitted on `hardware` (same fingerprint), else None."""
    cal = load_calibration()
    return cal if cal is not None and cal.fingerprint == fingerprint(hardware) else None


def stale_note(cal: Calibration, hw, backend: str | None = None) -> str | None:
    """The reason `cal` is not applied on `hw` (its inputs changed since it was fitted), or None."""
    stale = cal.stale_because(hw)
    if not stale:
        return None
    which = f"{backend} calibration" if backend else "calibration"
    return f"this machine's {which} is not applied ({'; '.join(stale)}): run `llmfit calibrate` again"


def apply_calibration(prediction, calibration: Calibration | None, hardware, spec, backend=None):
    """Scale a ThroughputPrediction by this machine's calibration factors; unchanged if none applies.

    `calibration`: this machine's (machine_calibration), loaded once by the caller; None = no calibration. Only
    applies when `hardware` has the fingerprint the calibration was fitted on, and only the factors of the
    prediction's own backend (`backend` name or Backend; None = the hardware's default backend: its first GPU's,
    else CPU): CUDA factors never touch a CPU prediction and vice versa. Never raises.
    """
    cal = calibration
    try:
        be = default_backend(hardware).name if backend is None else backend_name(backend)
        if be is None:
            return prediction
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
