"""Learned correction: ONNX models predicting log(measured / roofline) for decode and prefill.

Files: `weights/throughput_decode.onnx` and `weights/throughput_prefill.onnx` (written by
training/train_throughput.py). Each carries its metadata (feature names, cross-validated residual
quantiles for the uncertainty band) in the ONNX metadata_props. Loaded lazily, once per process and
directory; a missing or corrupt file gives a `Correction` with `ok=False` and a reason, never an error.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llmfit_core.throughput.features import FEATURES

_BACKEND_COL = FEATURES.index("backend")
_REC_COL = FEATURES.index("rec_share")
_MOE_COL = FEATURES.index("moe_flop_frac")
# MoE and recurrent architectures have few public rows (a few devices each): their band is this much wider
# (log units), a prior; the model card reports the coverage it gives on left-out devices.
ARCH_BAND_WIDEN = 1.3
_CLASS_COL = FEATURES.index("kernel_class")
UNSEEN_CLASS_WIDEN = 1.5  # a kernel class (backend x GPU generation) without training rows
_DEPTH_COL = FEATURES.index("log_depth")
# A filled context (llama-bench -d): the public rows at depth come from one or two devices per backend (flash-attention
# kernels differ by backend, GPU generation and build), so the band there is this much wider (log units), a prior.
DEPTH_BAND_WIDEN = 1.3

HEADS = ("decode", "prefill")
LOG_CLIP = 2.0  # never move the roofline by more than e^2 (x7.4) either way
# Band around the plain roofline when no correction is available (log units, round priors).
FALLBACK_BAND = {"decode": (-0.9, 0.1), "prefill": (-1.2, 0.2)}


def weights_dirs() -> list[Path]:
    """Where the ONNX files are looked for: the checkout's `weights/`, then the installed package data."""
    pkg = Path(__file__).resolve().parent.parent  # llmfit_core/
    return [pkg.parent / "weights", pkg / "data" / "weights"]


@dataclass
class Head:
    session: object
    input_name: str
    band: tuple[float, float]  # residual quantiles in log units (lo, hi)
    backends: frozenset[int] | None = None  # backend codes with training rows (None: all)
    shrink: dict[int, float] | None = None  # backend code -> factor on the log correction (thin data -> toward roofline)
    backend_bands: dict[int, tuple[float, float]] | None = None  # backend code -> band (wider where data is thin)
    kernel_classes: frozenset[int] | None = None  # roofline.KERNEL_CLASSES codes with training rows


@dataclass
class Correction:
    """Both heads, or ok=False with the reason the roofline is used alone."""

    heads: dict[str, Head] = field(default_factory=dict)
    ok: bool = False
    reason: str = ""
    source: str = ""

    def apply(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """log-ratio per head for the feature matrix X (rows x len(FEATURES)); 0 for rows of a backend
        the correction has no training rows for (see `trained`)."""
        out = {}
        for name, head in self.heads.items():
            y = head.session.run(None, {head.input_name: X.astype(np.float32, copy=False)})[0]
            y = np.clip(np.asarray(y, dtype=np.float64).reshape(-1), -LOG_CLIP, LOG_CLIP)
            if head.shrink:
                codes = X[:, _BACKEND_COL].astype(int)
                y = y * _shrink_lookup(head.shrink)[np.clip(codes, 0, 63)]
            out[name] = np.where(self.trained(X, name), y, 0.0)
        return out

    def trained(self, X: np.ndarray, head: str) -> np.ndarray:
        """Rows whose backend had training rows for `head` (the correction is not extrapolated beyond them)."""
        seen = self.heads[head].backends
        col = X[:, _BACKEND_COL]
        return np.ones(len(col), bool) if seen is None else np.isin(col.astype(int), sorted(seen))

    def band(self, head: str) -> tuple[float, float]:
        if self.ok:
            return self.heads[head].band
        return FALLBACK_BAND[head]

    def row_bands(self, X: np.ndarray, head: str) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) log band per row: the band of the row's backend (measured on left-out devices, wider where
        the backend has few devices), widened where the public rows are few (thin_data_widen) and for kernel classes
        no training device had (UNSEEN_CLASS_WIDEN)."""
        lo0, hi0 = self.band(head)
        lo, hi = np.full(len(X), lo0), np.full(len(X), hi0)
        bands = self.heads[head].backend_bands if self.ok else None
        if bands:
            codes = X[:, _BACKEND_COL].astype(int)
            for code, (blo, bhi) in bands.items():
                m = codes == code
                lo[m], hi[m] = blo, bhi
        widen = thin_data_widen(X)
        lo, hi = lo * widen, hi * widen
        seen = self.heads[head].kernel_classes if self.ok else None
        if seen is not None:  # a GPU generation / backend pair no training device had: further from the data
            far = ~np.isin(X[:, _CLASS_COL].astype(int), sorted(seen))
            lo, hi = np.where(far, lo * UNSEEN_CLASS_WIDEN, lo), np.where(far, hi * UNSEEN_CLASS_WIDEN, hi)
        return lo, hi


def thin_data_widen(X: np.ndarray) -> np.ndarray:
    """Per row, the factor on its backend's band for inputs with few public rows: MoE / recurrent architectures
    (ARCH_BAND_WIDEN) and a filled context (DEPTH_BAND_WIDEN); 1 elsewhere."""
    thin = (X[:, _REC_COL] > 0) | (X[:, _MOE_COL] > 0)
    return np.where(thin, ARCH_BAND_WIDEN, 1.0) * np.where(X[:, _DEPTH_COL] > 0, DEPTH_BAND_WIDEN, 1.0)


@functools.lru_cache(maxsize=16)
def _shrink_table(items: tuple) -> np.ndarray:
    table = np.ones(64)
    for code, factor in items:
        if 0 <= code < 64:
            table[code] = factor
    return table


def _shrink_lookup(shrink: dict[int, float]) -> np.ndarray:
    return _shrink_table(tuple(sorted(shrink.items())))


def _load_head(path: Path) -> Head:
    import onnxruntime as ort  # lazy: start-up: onnxruntime (~70 ms) loads at the first prediction

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    names = json.loads(meta.get("feature_names", "[]"))
    if tuple(names) != FEATURES:
        raise ValueError("feature list differs from this version of llmfit-core")
    band = (float(meta["band_lo"]), float(meta["band_hi"]))
    seen = frozenset(int(b) for b in json.loads(meta["backends"])) if "backends" in meta else None
    shrink = {int(k): float(v) for k, v in json.loads(meta["shrink"]).items()} if "shrink" in meta else None
    bands = ({int(k): (float(v[0]), float(v[1])) for k, v in json.loads(meta["backend_bands"]).items()}
             if "backend_bands" in meta else None)
    classes = frozenset(int(c) for c in json.loads(meta["kernel_classes"])) if "kernel_classes" in meta else None
    inp = sess.get_inputs()[0]
    return Head(session=sess, input_name=inp.name, band=band, backends=seen, shrink=shrink, backend_bands=bands,
                kernel_classes=classes)


@functools.lru_cache(maxsize=8)
def _load(directory: str | None) -> Correction:
    dirs = [Path(directory)] if directory else weights_dirs()
    missing = []
    for d in dirs:
        paths = {h: d / f"throughput_{h}.onnx" for h in HEADS}
        if not all(p.is_file() for p in paths.values()):
            missing.append(str(d))
            continue
        try:
            heads = {h: _load_head(p) for h, p in paths.items()}
        except Exception as exc:  # onnxruntime raises its own types for corrupt files
            msg = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            return Correction(ok=False, reason=f"learned correction unusable ({msg}): roofline only", source=str(d))
        return Correction(heads=heads, ok=True, source=str(d))
    return Correction(ok=False, reason="learned correction not found (weights/throughput_*.onnx): roofline only")


def load_correction(directory: str | Path | None = None) -> Correction:
    """The correction models from `directory` (default: weights_dirs()), loaded once per process."""
    return _load(str(directory) if directory else None)
