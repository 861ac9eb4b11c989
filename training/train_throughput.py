"""Train the throughput correction, evaluate it leaving whole devices out, export ONNX + model card.

    python -m training.train_throughput [--extra rows.csv|records.jsonl ...] [--out weights/]

Deterministic: fixed seeds, sorted inputs; the same data gives the same ONNX outputs and card.
Writes weights/throughput_decode.onnx, weights/throughput_prefill.onnx, weights/MODEL_CARD.md and
weights/throughput_reference.json (fixed feature rows + the sklearn outputs, checked by the tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import GroupKFold

from llmfit_core.throughput.correction import (
    ARCH_BAND_WIDEN,
    DEPTH_BAND_WIDEN,
    HEADS,
    UNSEEN_CLASS_WIDEN,
    thin_data_widen,
)
from llmfit_core.throughput.features import FEATURES
from llmfit_core.throughput.roofline import BACKEND_KINDS
from training.breakdown import format_breakdown
from training.data import DATA_DIR, PUBLIC_FILES, REPO, load_rows
from training.table import Table, build_table
from training.threads_data import PI_HOST_WEIGHT

SEED = 0
N_FOLDS = 5
BAND_Q = (0.07, 0.93)  # residual quantiles: 10/90 covered only ~75% of left-out rows, 7/93 aims at 80%
BAND_MIN_DEVICES, BAND_MIN_ROWS = 4, 20  # a backend's own band needs this much left-out evidence
BAND_THIN_WIDEN = 1.5  # else: the wider of the pooled and its own band, times this (log units)
PRIMARY_MIN_WEIGHT = 0.5  # rows below this weight (unverified transcriptions) are not scored as primary
# Configurations (a fixed small grid). Every candidate uses:
# - gate: the correction of a backend is used only if, in an inner group CV on the TRAINING devices,
#   roofline x correction beats the roofline alone on that backend's rows (else: roofline only). This is
#   "shrinkage toward the roofline where data is thin" decided by the training data, never the test fold.
#   Where some of a backend's rows are priced at an assumed quant, the correction must also beat the roofline on
#   the rows whose quant is stated (`gate_row_sets`): the 2023 "unspecified" i9-13900K rows had opened the CPU
#   decode gate where the correction made the stated rows worse (this machine's decode 12% -> 27%).
# - shrink_k: the log correction of a backend is multiplied by n / (n + shrink_k), n = physical devices
#   with rows of that backend (0 = no shrinkage).
# - balance: sample weights divided by sqrt(rows of the row's device).
# - params: overrides of PARAMS (loss, row subsampling).
# The shipped model of each head uses the candidate chosen by a group CV over all devices (`choose_config`);
# `benchmarks/throughput_accuracy.py` scores that procedure NESTED (chosen by an inner group CV on the
# training devices of each outer fold, scored on the left-out devices). Round 2's grid (no gate, shrinkage
# n/(n+3), device-balanced weights) chose unstably and was not better than the gate alone; round 3's grid
# varies the GBR loss (huber / squared) and row subsampling (1.0 / 0.8, seeded).
# Round 7 (the llama-bench threads table: three repositories of one person's raw logs hold half its rows) weights
# every candidate by device: w / sqrt(rows of the device).
CANDIDATES = (
    {"shrink_k": 0.0, "balance": True, "gate": True, "params": {}},
    {"shrink_k": 0.0, "balance": True, "gate": True, "params": {"loss": "squared_error"}},
    {"shrink_k": 0.0, "balance": True, "gate": True, "params": {"subsample": 0.8}},
    {"shrink_k": 0.0, "balance": True, "gate": True, "params": {"loss": "squared_error", "subsample": 0.8}},
)
N_INNER = 3
# The gate closes only where the correction is clearly worse than the roofline in the inner CV: a tie within this
# factor is inner-CV noise (round 8: CUDA decode 0.176 vs 0.175 closed the gate of one outer fold with ~20 devices).
GATE_TOLERANCE = 1.02
GATE_FOLDS = 5  # inner group folds of the gate's comparison (3 folds flipped CUDA decode's gate in one outer fold)
# This project's own llama.cpp CPU runs (their own device group); the model card's training command adds them.
LOCAL_RECORDS = DATA_DIR / "local_amd_epyc_2c_llamacpp0336.jsonl"
NESTED_LABEL = "roofline+correction, nested selection"
STATED_LABEL = "nested selection, only rows whose source states the quant"
PARAMS = dict(n_estimators=100, max_depth=3, learning_rate=0.12, subsample=1.0, min_samples_leaf=8, loss="huber", alpha=0.9)


@dataclass
class HeadData:
    """The rows of one head: features, target, weights, device groups, backend codes, measured, roofline, primary."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    g: np.ndarray
    bk: np.ndarray
    meas: np.ndarray
    roof: np.ndarray
    prim: np.ndarray
    stated: np.ndarray | None = None  # the source states the row's quantization (None: every row does)

    def mape(self, idx: np.ndarray, log_corr: np.ndarray) -> float:
        """MAPE of roofline x exp(log_corr) over rows idx (primary rows when there are any)."""
        a = np.abs(self.roof[idx] * np.exp(log_corr) - self.meas[idx]) / self.meas[idx]
        p = self.prim[idx]
        return float(a[p].mean()) if p.any() else float(a.mean())


def head_data(t: Table, mask: np.ndarray) -> HeadData:
    return HeadData(t.X[mask], t.target[mask], t.weight[mask], t.groups[mask], t.inputs["backend_code"][mask],
                    t.measured[mask], t.roofline[mask], primary_mask(t)[mask],
                    None if t.quant_assumed is None else ~t.quant_assumed[mask])


def shrink_factors(backends: np.ndarray, groups: np.ndarray, k: float) -> dict[int, float]:
    """Per backend code: n_devices / (n_devices + k) over the given training rows (1.0 when k == 0)."""
    out = {}
    for b in sorted(set(int(x) for x in backends)):
        n = len(set(groups[backends == b]))
        out[b] = round(n / (n + k), 4)
    return out


def balanced_weights(w: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """w / sqrt(rows of the same device)."""
    _, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return w / np.sqrt(counts[inv])


def fit_config(cfg: dict, d: HeadData, tr: np.ndarray) -> tuple[GradientBoostingRegressor, dict[int, float]]:
    """Fit one configuration on rows `tr`: the model and its per-backend factors on the log correction."""
    wt = balanced_weights(d.w[tr], d.g[tr]) if cfg["balance"] else d.w[tr]
    m = make_model(cfg.get("params")).fit(d.X[tr], d.y[tr], sample_weight=wt)
    factors = shrink_factors(d.bk[tr], d.g[tr], cfg["shrink_k"])
    if cfg.get("gate") and len(set(d.g[tr])) >= N_INNER:
        inner = group_cv({**cfg, "gate": False}, d, tr, GATE_FOLDS)
        for b in factors:
            if any(d.mape(tr[rows], inner[rows]) > GATE_TOLERANCE * d.mape(tr[rows], np.zeros(int(rows.sum())))
                   for rows in gate_row_sets(d, tr, b)):
                factors[b] = 0.0  # on unseen devices of this backend the correction did not help: roofline only
    return m, factors


def gate_row_sets(d: HeadData, tr: np.ndarray, backend: int) -> list[np.ndarray]:
    """The row sets of `tr` the gate of `backend` judges the correction on: all of the backend's rows and, when the
    backend has primary rows priced at an assumed quantization (Ollama default tags, "unspecified"), also those whose
    source states it: an assumed quant puts the assumption's error into a row's residual, and a correction that only
    fits that error must not open the gate (the correction has to help on both sets)."""
    rows = d.bk[tr] == backend
    if d.stated is None:
        return [rows]
    stated = rows & d.stated[tr]
    return [rows, stated] if (stated & d.prim[tr]).any() and not stated[rows].all() else [rows]


def fit_predict(cfg: dict, d: HeadData, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """Fit one configuration on rows `tr`, return its (shrunk / gated) log corrections for rows `te`."""
    m, factors = fit_config(cfg, d, tr)
    return apply_shrink(m.predict(d.X[te]), d.bk[te], factors)


def group_cv(cfg: dict, d: HeadData, idx: np.ndarray, n_folds: int) -> np.ndarray:
    """Out-of-fold log corrections of `cfg` over rows `idx` (group K-fold by device)."""
    oof = np.zeros(len(idx))
    for tr, te in GroupKFold(n_splits=n_folds).split(idx, groups=d.g[idx]):
        oof[te] = fit_predict(cfg, d, idx[tr], idx[te])
    return oof


def choose_config(d: HeadData, idx: np.ndarray, n_folds: int) -> int:
    """Index of the CANDIDATES entry with the lowest group-CV MAPE (primary rows) over rows `idx`."""
    return int(np.argmin([d.mape(idx, group_cv(cfg, d, idx, n_folds)) for cfg in CANDIDATES]))


def apply_shrink(pred: np.ndarray, backends: np.ndarray, factors: dict[int, float]) -> np.ndarray:
    return pred * np.array([factors.get(int(b), 0.0) for b in backends])


def make_model(params: dict | None = None) -> GradientBoostingRegressor:
    """The GBR with PARAMS updated by `params` (a candidate's overrides), seeded."""
    return GradientBoostingRegressor(random_state=SEED, **{**PARAMS, **(params or {})})


def wquantile(x: np.ndarray, q: float, w: np.ndarray | None = None) -> float:
    """Weighted quantile (inverted CDF)."""
    x = np.asarray(x, float)
    w = np.ones_like(x) if w is None else np.asarray(w, float)
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, q * cw[-1])])


@dataclass
class HeadEval:
    oof_log: np.ndarray  # out-of-fold predicted log ratio (rows of this head), nested: chosen inside each fold
    covered: np.ndarray  # measured within the band built from the other folds' residuals
    band: tuple[float, float]  # final band from all out-of-fold residuals
    chosen: list[int] = None  # CANDIDATES index chosen in each outer fold
    final: int = 0  # CANDIDATES index chosen on all devices (the shipped model)
    backend_bands: dict | None = None  # backend code -> (lo, hi), band_rule


def cross_validate(t: Table, mask: np.ndarray, nested: bool = False) -> HeadEval:
    """Group K-fold by device on the rows in `mask` with the shipped configuration CANDIDATES[0]; with
    `nested`, in each outer fold the configuration is chosen among CANDIDATES by an inner group CV on
    the training devices only, then scored on the left-out devices."""
    d = head_data(t, mask)
    oof = np.zeros(len(d.y))
    fold_of = np.zeros(len(d.y), int)
    chosen = []
    for k, (tr, te) in enumerate(GroupKFold(n_splits=N_FOLDS).split(d.X, d.y, d.g)):
        c = choose_config(d, tr, N_INNER) if nested else 0
        chosen.append(c)
        oof[te] = fit_predict(CANDIDATES[c], d, tr, te)
        fold_of[te] = k
    resid = d.y - oof
    prim, w = d.prim, d.w  # the band describes the rows we predict for (llama-bench-like runs)
    widen = thin_data_widen(d.X)
    covered = np.zeros(len(d.y), bool)
    for k in range(N_FOLDS):  # bands for fold k from the other folds' residuals only, by the shipped rule
        other = (fold_of != k) & prim
        pooled, by_backend = band_rule(resid[other], w[other], d.bk[other], d.g[other])
        te = fold_of == k
        kcol = d.X[:, FEATURES.index("kernel_class")].astype(int)
        far = ~np.isin(kcol[te], sorted(set(kcol[fold_of != k])))
        lo, hi = row_band(d.bk[te], widen[te], pooled, by_backend, far)
        covered[te] = (resid[te] >= lo) & (resid[te] <= hi)
    band, bands = band_rule(resid[prim], w[prim], d.bk[prim], d.g[prim])
    return HeadEval(oof, covered, band, chosen, 0, bands)


def band_rule(resid, w, bk, groups) -> tuple[tuple[float, float], dict[int, tuple[float, float]]]:
    """The pooled band and one per backend: a backend's own residual quantiles where BAND_MIN_DEVICES devices
    and BAND_MIN_ROWS rows back them, else the wider of the pooled and its own band times BAND_THIN_WIDEN.
    Residuals are weighted by device like the training rows (w / sqrt(rows of the device)): the band is promised for
    a device not in the data, so one device with many rows must not set it."""
    w = balanced_weights(w, groups)
    pooled = tuple(wquantile(resid, q, w) for q in BAND_Q)
    out = {}
    for b in sorted(set(int(x) for x in bk)):
        m = bk == b
        own = tuple(wquantile(resid[m], q, w[m]) for q in BAND_Q)
        if len(set(groups[m])) >= BAND_MIN_DEVICES and m.sum() >= BAND_MIN_ROWS:
            out[b] = own
        else:
            out[b] = (min(own[0], pooled[0]) * BAND_THIN_WIDEN, max(own[1], pooled[1]) * BAND_THIN_WIDEN)
    return pooled, out


def row_band(bk, widen, pooled, by_backend, far=None) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per row as correction.Correction.row_bands builds it at inference (`widen`: thin_data_widen of the
    rows, `far`: kernel class unseen)."""
    lo = np.array([by_backend.get(int(b), (pooled[0] * BAND_THIN_WIDEN, 0))[0] for b in bk]) * widen
    hi = np.array([by_backend.get(int(b), (0, pooled[1] * BAND_THIN_WIDEN))[1] for b in bk]) * widen
    if far is not None:
        lo, hi = np.where(far, lo * UNSEEN_CLASS_WIDEN, lo), np.where(far, hi * UNSEEN_CLASS_WIDEN, hi)
    return lo, hi


def primary_mask(t: Table) -> np.ndarray:
    """Rows scored as primary: verified sources, and not the 2023 `./main` runs (unknown prompt, old build)."""
    return (t.weight >= PRIMARY_MIN_WEIGHT) & (t.inputs["bench_kind"] != 1)


def ape(pred, meas):
    return np.abs(pred - meas) / meas


def metrics_table(t: Table, evals: dict[str, HeadEval], nested: dict[str, HeadEval] | None = None) -> list[dict]:
    """Rows of the CV error table: per head and method, MAPE and median APE on primary and all rows."""
    out = []
    for head in HEADS:
        mask = t.is_decode if head == "decode" else ~t.is_decode
        ev = evals[head]
        meas, roof = t.measured[mask], t.roofline[mask]
        corr = roof * np.exp(ev.oof_log)
        prim = primary_mask(t)[mask]
        methods = {"roofline": roof, "roofline+correction": corr}
        if nested:
            methods[NESTED_LABEL] = roof * np.exp(nested[head].oof_log)
        if head == "decode":
            methods = {"heuristic bandwidth/model bytes": t.heuristic[mask], **methods}
        if nested and t.quant_assumed is not None and t.quant_assumed[mask][prim].any():
            # the same predictions, scored only where the source states the quantization (Ollama default tags
            # and "unspecified" rows are priced at an assumed quant): a breakdown, not another selection
            methods[STATED_LABEL] = methods[NESTED_LABEL]
        for name, pred in methods.items():
            a = ape(pred, meas)
            if name == STATED_LABEL:
                keep = ~t.quant_assumed[mask]
                cov = nested[head].covered[prim & keep]
                out.append({"head": head, "method": name, "mape_primary": float(np.mean(a[prim & keep])),
                            "mdape_primary": float(np.median(a[prim & keep])), "mape_all": float(np.mean(a[keep])),
                            "n_primary": int((prim & keep).sum()), "n_all": int(keep.sum()),
                            "coverage_primary": float(np.mean(cov))})
                continue
            out.append({
                "head": head, "method": name,
                "mape_primary": float(np.mean(a[prim])), "mdape_primary": float(np.median(a[prim])),
                "mape_all": float(np.mean(a)), "n_primary": int(prim.sum()), "n_all": int(len(a)),
                "coverage_primary": (float(np.mean(ev.covered[prim])) if name == "roofline+correction" else
                                     float(np.mean(nested[head].covered[prim])) if name == NESTED_LABEL else None),
            })
    return out


def per_source_table(t: Table, evals: dict[str, HeadEval]) -> list[dict]:
    """MAPE per data source and head (left-out devices): all rows and primary rows."""
    out = []
    prim_all = primary_mask(t)
    for head in HEADS:
        mask = t.is_decode if head == "decode" else ~t.is_decode
        pred = t.roofline[mask] * np.exp(evals[head].oof_log)
        a, r = ape(pred, t.measured[mask]), ape(t.roofline[mask], t.measured[mask])
        src, prim = t.sources[mask], prim_all[mask]
        for s in sorted(set(src)):
            m = src == s
            mp = m & prim
            out.append({"head": head, "source": s, "n": int(m.sum()), "mape_roofline": float(r[m].mean()),
                        "mape_corrected": float(a[m].mean()), "n_primary": int(mp.sum()),
                        "mape_roofline_primary": float(r[mp].mean()) if mp.any() else float("nan"),
                        "mape_corrected_primary": float(a[mp].mean()) if mp.any() else float("nan")})
    return out


def format_sources(rows: list[dict]) -> str:
    lines = ["| head | source | rows | MAPE roofline | MAPE corrected | primary rows | MAPE roofline (primary) | MAPE corrected (primary) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pr = (f"{r['mape_roofline_primary']:.1%} | {r['mape_corrected_primary']:.1%}" if r["n_primary"] else "– | –")
        lines.append(f"| {r['head']} | {r['source']} | {r['n']} | {r['mape_roofline']:.1%} | {r['mape_corrected']:.1%} | {r['n_primary']} | {pr} |")
    return "\n".join(lines)


def export_onnx(model: GradientBoostingRegressor, path: Path, head: str, band: tuple[float, float], n_rows: int,
                backends: list[int] | None = None, shrink: dict[int, float] | None = None,
                backend_bands: dict | None = None, kernel_classes: list[int] | None = None) -> None:
    """skl2onnx export with the feature list and the band in metadata_props."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, len(FEATURES)]))], target_opset=15)
    meta = {"feature_names": json.dumps(list(FEATURES)), "band_lo": repr(band[0]), "band_hi": repr(band[1]),
            "head": head, "target": "log(measured_tok_s / roofline_tok_s)", "train_rows": str(n_rows)}
    if backends is not None:
        meta["backends"] = json.dumps(sorted(int(b) for b in backends))
    if shrink is not None:
        meta["shrink"] = json.dumps({str(k): v for k, v in sorted(shrink.items())})
    if kernel_classes is not None:
        meta["kernel_classes"] = json.dumps(sorted(int(c) for c in kernel_classes))
    if backend_bands:
        meta["backend_bands"] = json.dumps({str(k): [round(float(v[0]), 6), round(float(v[1]), 6)]
                                            for k, v in sorted(backend_bands.items())})
    for k, v in sorted(meta.items()):
        p = onx.metadata_props.add()
        p.key, p.value = k, v
    onx.graph.name = f"llmfit_throughput_{head}"  # skl2onnx uses a random uuid: fixed for byte-identical output
    onx.producer_name = "llmfit-core training/train_throughput.py"
    onx.producer_version = "1"
    onx.doc_string = f"llmfit-core throughput correction ({head})"
    path.write_bytes(onx.SerializeToString())


def _rel(path) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else Path(path).name


def correction_rows(rows, report) -> list:
    """The rows the correction learns from: not layer splits between GPU and CPU (-ngl below the layer count, or 0
    beside a GPU). predict applies the correction taken at full offload to the GPU part of their time; their
    CPU part is roofline physics (counted in the skipped table)."""
    keep = []
    for r in rows:
        p = r.placement or {}
        gl, tl = p.get("gpu_layers"), p.get("total_layers")
        if r.backend not in ("llama.cpp-cpu", "mlx") and gl is not None and tl and gl < tl:
            report.skipped["partial offload (correction taken at full offload, roofline for the CPU part)"] += 1
            continue
        keep.append(r)
    return keep


def evaluate(extra: list[str] | None = None, nested: bool = False) -> tuple[Table, dict, dict]:
    """Load rows, cross-validate both heads; returns (table, evals per head, summary without files).
    With `nested`, the returned evals, per-source table and bands are those of the shipped procedure (the
    configuration chosen inside each outer fold); the fixed CANDIDATES[0] row stays in the table."""
    rows, report = load_rows(extra)
    rows = correction_rows(rows, report)
    t = build_table(rows)
    evals, nests = {}, {}
    for head in HEADS:
        mask = t.is_decode if head == "decode" else ~t.is_decode
        evals[head] = cross_validate(t, mask)
        if nested:
            nests[head] = cross_validate(t, mask, nested=True)
    shipped = nests or evals
    summary = {"table": metrics_table(t, evals, nests or None), "sources": per_source_table(t, shipped),
               "chosen": {h: [CANDIDATES[c] for c in nests[h].chosen] for h in nests},
               "bands": {h: shipped[h].band for h in HEADS},
               "used": dict(sorted(report.used.items())), "skipped": dict(sorted(report.skipped.items())),
               "n_rows": len(rows), "n_devices": len(set(t.groups)), "extra": [_rel(e) for e in extra or []]}
    summary.update(breakdowns(t, shipped))
    return t, shipped, summary


def breakdowns(t: Table, evals: dict) -> dict:
    """Left-out-device accuracy of the shipped procedure per backend, vendor, MoE vs dense, depth, multi-GPU and
    architecture (primary rows; the llama-bench threads table alone too), band coverage per backend, and the
    rows predicted more than 3x off with the reason the row is doubtful (training/threads_data.doubt_reason)."""
    from training.breakdown import FAR_OFF, Scored, breakdown, far_off, row_labels
    from training.threads_data import doubt_reason

    labels = row_labels(t.rows)
    prim = primary_mask(t)
    out = {"breakdown": {}, "coverage": {}, "far": []}
    for name, sel in (("all primary rows", prim), ("llama-bench threads table", prim & (t.sources == "llamabench_threads.csv"))):
        scored = []
        for head in HEADS:
            mask = t.is_decode if head == "decode" else ~t.is_decode
            pred = t.roofline[mask] * np.exp(evals[head].oof_log)
            m = sel[mask]
            scored.append(Scored(head, pred[m], t.measured[mask][m], {k: v[mask][m] for k, v in labels.items()}))
        out["breakdown"][name] = breakdown(scored)
    for head in HEADS:
        mask = t.is_decode if head == "decode" else ~t.is_decode
        cov, bk, pm = evals[head].covered, labels["backend"][mask], prim[mask]
        out["coverage"][head] = {b: (float(cov[pm & (bk == b)].mean()), int((pm & (bk == b)).sum()))
                                 for b in sorted(set(bk[pm]))}
        pred = t.roofline[mask] * np.exp(evals[head].oof_log)
        idx = np.flatnonzero(mask)
        for j in np.flatnonzero(far_off(pred, t.measured[mask])):
            r = t.rows[idx[j]]
            out["far"].append({"head": head, "device": r.device, "source": r.source, "backend": r.backend,
                               "model": getattr(r, "model_ref", "") or r.spec.ref, "quant": r.spec.quant,
                               "test": getattr(r, "test_label", "") or r.test, "measured": float(t.measured[idx[j]]),
                               "predicted": float(pred[j]), "reason": doubt_reason(r, t.rows)})
    out["far_limit"] = FAR_OFF
    return out


def format_coverage(cov: dict) -> str:
    lines = ["| head | " + " | ".join(sorted({b for c in cov.values() for b in c})) + " |"]
    backends = sorted({b for c in cov.values() for b in c})
    lines.append("|---|" + "---|" * len(backends))
    for head, c in cov.items():
        lines.append(f"| {head} | " + " | ".join(f"{c[b][0]:.0%} ({c[b][1]})" if b in c else "–" for b in backends) + " |")
    return "\n".join(lines)


def format_far(rows: list[dict]) -> str:
    lines = ["| head | device | backend | model | test | measured | predicted | why the row is doubtful |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['head']} | {r['device']} | {r['backend'].replace('llama.cpp-', '')} | {r['model']} {r['quant']} | "
                     f"{r['test']} | {r['measured']:.1f} | {r['predicted']:.1f} | {r['reason'] or 'no reason known: a model error'} |")
    return "\n".join(lines)


def train(extra: list[str] | None = None, out_dir: Path | None = None, quiet: bool = False) -> dict:
    """Full pipeline; returns the evaluation summary (also written into the model card)."""
    out_dir = Path(out_dir or REPO / "weights")
    out_dir.mkdir(parents=True, exist_ok=True)
    t, evals, summary = evaluate(extra, nested=True)  # evals: the shipped (nested-selection) procedure
    models = {}
    for head in HEADS:
        mask = t.is_decode if head == "decode" else ~t.is_decode
        d = head_data(t, mask)
        final = choose_config(d, np.arange(len(d.y)), N_INNER)  # same inner CV as the nested evaluation, all devices
        summary.setdefault("final", {})[head] = CANDIDATES[final]
        models[head], shrink = fit_config(CANDIDATES[final], d, np.arange(len(d.y)))
        seen = sorted(set(int(b) for b in t.inputs["backend_code"][mask]))  # the correction is not applied beyond these
        summary.setdefault("shrink", {})[head] = shrink
        classes = sorted(set(int(c) for c in t.inputs["kernel_class"][mask]))
        export_onnx(models[head], out_dir / f"throughput_{head}.onnx", head, evals[head].band, int(mask.sum()), seen, shrink,
                    evals[head].backend_bands, classes)
    # reference rows for the parity test: every 25th row of the table, outputs of the sklearn models
    idx = np.arange(0, len(t.X), 25)
    ref = {"features": list(FEATURES), "X": t.X[idx].astype(float).round(6).tolist()}
    Xr = np.asarray(ref["X"], np.float32)
    bcol = Xr[:, list(FEATURES).index("backend")]
    # what the shipped correction returns: model output x the backend's factor (0 where the gate closed)
    ref.update({h: apply_shrink(models[h].predict(Xr), bcol, summary["shrink"][h]).tolist() for h in HEADS})
    (out_dir / "throughput_reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(model_card(summary))
    if not quiet:
        print(format_table(summary["table"]))
    return summary


def format_table(table: list[dict]) -> str:
    lines = ["| head | method | MAPE (primary) | median APE (primary) | MAPE (all rows) | n primary / all | band coverage (primary) |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        cov = f"{r['coverage_primary']:.0%}" if r["coverage_primary"] is not None else "–"
        lines.append(f"| {r['head']} | {r['method']} | {r['mape_primary']:.1%} | {r['mdape_primary']:.1%} | {r['mape_all']:.1%} | "
                     f"{r['n_primary']} / {r['n_all']} | {cov} |")
    return "\n".join(lines)


TARGETS = {"decode": (0.15, 0.10), "prefill": (0.25, 0.15)}  # issue 11: MAPE, median APE on left-out devices


def targets_text(s: dict) -> str:
    """The issue-11 targets against the nested figures, said plainly (reached or not, per head and backend)."""
    nested = {r["head"]: r for r in s["table"] if r["method"] == NESTED_LABEL}
    lines = []
    for head, (mape_t, med_t) in TARGETS.items():
        r = nested[head]
        ok = r["mape_primary"] <= mape_t and r["mdape_primary"] <= med_t
        per = [x for x in s["breakdown"]["all primary rows"] if x["dim"] == "backend" and x[head]["n"]]
        miss = ", ".join(f"{x['label']} {x[head]['mape']:.0%}" for x in per if x[head]["mape"] > mape_t)
        lines.append(f"- Target {head} MAPE <= {mape_t:.0%} and median <= {med_t:.0%} on left-out devices: "
                     f"{r['mape_primary']:.1%} / {r['mdape_primary']:.1%} pooled, "
                     f"{'reached' if ok else 'NOT reached'}; backends above the MAPE target: {miss or 'none'}.")
    n_far = len(s["far"])
    named = sum(1 for r in s["far"] if r["reason"])
    lines.append(f"- Rows predicted more than {s['far_limit']:g}x off: {n_far} ({named} with a known reason in the table "
                 f"above, {n_far - named} without: model errors).")
    return "\n".join(lines)


def model_card(s: dict) -> str:
    used = "\n".join(f"| {k} | {v} | {PUBLIC_FILES.get(k, 1.0)} |" for k, v in s["used"].items())
    skipped = "\n".join(f"| {k} | {v} |" for k, v in s["skipped"].items())
    bands = ", ".join(f"{h}: x{np.exp(lo):.2f} .. x{np.exp(hi):.2f}" for h, (lo, hi) in s["bands"].items())
    gates = "; ".join(f"{h}: " + ", ".join(f"{BACKEND_KINDS[int(b)]} x{f:g}" for b, f in sorted(fs.items()))
                      for h, fs in s.get("shrink", {}).items())
    local = [r for r in s["sources"] if r["source"].startswith("bench:")]
    local_lines = "\n".join(f"| {r['head']} | {r['n']} | {r['mape_roofline']:.1%} | {r['mape_corrected']:.1%} |" for r in local)
    feats = ", ".join(f"`{f}`" for f in FEATURES)
    final = "; ".join(f"{h}: {c['params'] or 'base'}" for h, c in s.get("final", {}).items())
    grid = ", ".join(str(c["params"] or "base") for c in CANDIDATES)
    extra = f" --extra {' '.join(s['extra'])}" if s["extra"] else ""
    return f"""# Throughput correction — model card

Two gradient-boosted regressors (scikit-learn `GradientBoostingRegressor`, base parameters {PARAMS}, seed {SEED};
per head the overrides chosen by a {N_INNER}-fold group CV over all devices among a fixed grid: {final}),
exported with skl2onnx: `throughput_decode.onnx` and `throughput_prefill.onnx`. Each predicts
**log(measured tok/s / roofline tok/s)** for its phase; llmfit-core multiplies the roofline
(`llmfit_core/throughput/roofline.py`) by exp(prediction), clipped to e^±2. Metadata in each file:
feature names, band quantiles, head.

## Data
Public benchmark tables copied to `data/benchdata/` (sources and URLs: `data/benchdata/SOURCES.md`),
mapped to hardware facts (hardware.csv + CPU facts in `training/data.py`) and model architecture facts
(`training/model_configs.py`), plus `llmfit bench` records measured on this project's machine
(`data/benchdata/local_*.jsonl`, their own device group). {s['n_rows']} rows, {s['n_devices']} physical devices.

| file | rows used | weight |
|---|---|---|
{used}

Skipped rows:

| reason | rows |
|---|---|
{skipped}

## Features (physics only, no device or model names)
{feats}

## Training command
`python -m training.train_throughput{extra}` (regenerates both ONNX files, this card and
`throughput_reference.json`; deterministic).

## Cross-validated error (group {N_FOLDS}-fold by physical device: whole devices left out)
Shipped procedure: source weights, a per-backend GATE (the correction of a backend is used only where an
inner {GATE_FOLDS}-fold group CV on the training devices shows it beating the roofline alone on that backend's
rows, and, where some of them are priced at an assumed quant, also on the rows whose source states the quant;
elsewhere the roofline is used unchanged), and the GBR loss / row subsampling chosen from the grid
{grid} by an inner {N_INNER}-fold group CV. Factors of the shipped files ({{backend: factor}}):
{gates}.
The row "nested selection" scores exactly this procedure: in each outer fold the grid choice and the gate
are decided on the training devices only, then scored on the left-out devices; it is the figure to quote.
The row "roofline+correction" is the fixed first grid entry (round 2's procedure, huber loss, no subsampling).
Bands and the per-source table below come from the nested procedure. Selection caveat: the gate was adopted in
round 2 after seeing this CV, and the round-3 grid entries were picked after a plain-CV look at single GBR
changes, then preferred over a 2-entry grid (base / squared loss; nested 15.7% / 16.2%) after scoring both
nested, so even the nested figures are mildly optimistic.
Primary rows = llama-bench / Ollama / MLX rows of the verified sources (weight >= {PRIMARY_MIN_WEIGHT}); the unverified\nsecondary transcription, the Dec-2023 `./main` rows (unknown prompt length, old multi-GPU code) and the threads table's\neGPUs on Raspberry Pi / RISC-V hosts (weight {PI_HOST_WEIGHT}: PCIe x1 and a slow host CPU, not modelled) count only in \"all rows\".
The heuristic is "tok/s = bandwidth / model bytes" (decode only; no comparable prefill heuristic).
The row "nested selection, only rows whose source states the quant" scores the same nested predictions on the
primary rows whose source names the quantization (the geerlingguy Ollama table and the "unspecified" CPU rows are
priced at an assumed quant, see Limits): a breakdown of the row above it, not another model or selection.

{format_table(s['table'])}

Band: residual quantiles {BAND_Q[0]:.0%}/{BAND_Q[1]:.0%} of the out-of-fold (nested) log residuals of primary rows ({bands}).
Coverage is measured per fold with a band built from the other folds' residuals only.

### This machine (2-core AMD EPYC VM, llama.cpp CPU), left out

| head | rows | MAPE roofline | MAPE corrected |
|---|---|---|---|
{local_lines}

### Per source (left-out devices)

{format_sources(s['sources'])}

### Per backend, vendor, MoE vs dense, depth, layer split, architecture (left-out devices, primary rows)

Nested procedure as above; MAPE (median APE) and the rows predicted more than {s['far_limit']:g}x off.

{format_breakdown(s['breakdown']['all primary rows'])}

The llama-bench threads table alone (`llamabench_threads.csv`: MoE / hybrid models, ROCm / Vulkan / SYCL, contexts
filled to 32k; `python benchmarks/throughput_threads.py --cv` prints the same with the shipped predictor too):

{format_breakdown(s['breakdown']['llama-bench threads table'])}

Band coverage on left-out devices per backend (rows): the band of a backend is its own residual quantiles (rows
weighted by device, w / sqrt(rows of the device)) where {BAND_MIN_DEVICES}+ devices and {BAND_MIN_ROWS}+ rows back it, else the
wider of the pooled band and its own times {BAND_THIN_WIDEN}; MoE and recurrent models get it x{ARCH_BAND_WIDEN} wider and a filled
context (depth) x{DEPTH_BAND_WIDEN} (few rows, one or two devices per backend); a kernel class no training device had
x{UNSEEN_CLASS_WIDEN}; a backend without rows keeps the fallback band. Target about 80%.

{format_coverage(s['coverage'])}

### Rows predicted more than {s['far_limit']:g}x off (left-out devices)

{format_far(s['far'])}

## Limits
{targets_text(s)}
- Round 10 (issue 11, model kinds; physics read from llama.cpp, nothing fitted): routed experts a backend has no
  decode mat-vec kernel for run through its prompt tile kernels at one token per expert (MOE_DECODE_TILE_PATHS:
  Vulkan BF16, ggml_vk_use_mul_mat_vec_id), priced with the prompt path's small-expert-batch tile cost; the six
  Strix Halo Vulkan BF16 MoE decode rows were 1.2-2.9x over-predicted, now 0.9-2.1x. MLA attention is priced from
  the latent (kv_lora_rank + RoPE dims as K, kv_lora_rank as V, one row per layer) whatever head_dim a config.json or
  the catalog states (they state the uncompressed per-head widths: GLM-4.7-Flash's KV read was priced 3.7x too large
  and its attention FLOPs 5.6x too small when resolved from its config; GGUF specs and the training rows unchanged).
  Per-layer embedding tables (Gemma 3n, Gemma 4 E2B / E4B: per_layer_token_embd, filed with the token embedding) are
  a row lookup per token (gemma3n.cpp / gemma4.cpp ggml_get_rows), no longer read whole as part of a tied output head
  nor counted as multiply-adds (no rows of such models: not measured). `recommend`'s vectorised ranking now prices the
  MLA, recurrent-scan, sliding-window, expert-count and BF16 inputs fit's model_figures gives the same config (the
  catalog columns carry the recurrent layers and state fit's config reader gives each entry).
- Round 10, CPU / Apple (issue 11; physics read from ggml's source, constants fitted across >= 5 devices each):
  CPU decode pays a ggml_barrier chain per thread (one seq-cst atomic hand-over per thread, ~30 barriers per layer):
  6 us per layer and thread (was 1; a 3B model on 192 AmpereOne cores decoded 3x slower than predicted, the
  devices without it prefer >= 6 us too); a CPU mat-vec's loads and arithmetic overlap only in part (time = p-norm,
  p = 3, of the memory and compute times); AVX2 repacks Q4_K into 8-row blocks (repack.cpp q4_K_8x8_q8_K): x86
  K-quant decode 0.33 -> 0.40 of peak; Metal unpacks K-quant weights in float (no int8 dot; mul_mv.metal): its
  K-quant mat-vec runs at 7% of the quoted peak, compute-bound on Apple GPUs with little ALU per byte (M1 Max /
  M1 Ultra decode 0.6-0.7x of the bandwidth roofline). Measured on top of the model-kinds round: CPU decode 27% ->
  17%, Metal decode 9% -> 7%; roofline-alone decode 22.6% -> 21.1%, nested decode 14.8% (7.3%) -> 13.9% (8.0%),
  prefill 24.0% (12.8%) -> 24.3% (13.8%): the
  prefill head sees the decode roofline as a feature, and the GBR refit on the changed targets moves other devices
  up or down. Not fixed: CPU clocks (the table has none: x86 decode stays compute-bound at a 3.0 GHz default; the
  i9-13900K's 4- and 8-thread rows are 1.8x / 1.5x faster than predicted, and adding boost clocks made the CPU
  prompt rows worse, CPU prefill 22% -> 44%, without a refit of the prompt efficiency), the Raspberry Pi 400
  (Cortex-A72 without dotprod, 2.2x slower than predicted), Intel N150 (E-cores only, 1.6x faster than predicted).
- Round 10, AMD (issue 11): RDNA3/4 decode (ROCm WMMA and Vulkan KHR coopmat classes) streams dense weights and the
  KV cache at 0.85 of the bandwidth (Strix Halo's measured ~212 of 256 GB/s; large dense models decode at 0.85-0.90
  on Strix Halo's LPDDR5X and the R9700's GDDR6 alike) and pays a fixed 70 us per layer for its dependent kernels
  (HIP launches without graph replay, one Vulkan dispatch + barrier per node; the time left beyond the bytes on the
  dense rows of the R9700, RX 7900 XTX and Radeon 8060S): roofline.AMD_DECODE_STREAM. One fitted fraction (~0.65)
  with an 8-10 us layer cost had priced large dense models 1.3-1.5x too slow on every AMD device. Routed experts keep
  the class's fitted fraction (small matrices at scattered addresses). The fraction was pinned from the documented
  rate: fitted with the gap it went above 1 and every left-out device got worse. Nested decode 15.7% -> 15.3%
  (Radeon 8060S 28.8% -> 25.2%), prefill 24.3% -> 24.0% (measured before the model-kinds round above); landed on top
  of the board-power and CPU / Apple rounds: nested decode 13.9% (8.0%) -> 12.8% (6.7%), prefill 22.8% (12.8%) ->
  22.7% (12.3%). Not priced:
  the build-dependent HIP flash-attention kernel (no device has depth rows at two builds).
- Round 9, Vulkan / SYCL / Intel (issue 11): a slow host bounds decode: the GPU part of a token takes max(GPU time,
  host time), host time = layers x a per-layer graph-build cost by backend, scaled by the host core's speed
  (HOST_LAYER_S). With NVIDIA's driver eGPUs on a Pi CM5 decode at the roofline; with Mesa (AMD RADV, Intel ANV)
  small models on a Pi decode 2x slower than their bytes say: VULKAN_MESA_HOST_LAYER_S fitted on 7 devices.
  14B / 20B models on AMD eGPUs on a Pi stay 5x slower than any host cost explains (named above). The KHR coopmat
  (RDNA3/4) prompt fraction, with primary rows of one device, is the ROCm WMMA class's x the Vulkan / ROCm ratio on
  that GPU (0.93 over 19 pairs); Vulkan's small-expert-batch constant refitted with it (ROCm keeps 54). BF16
  experts decoded on Vulkan take the tile kernels (ggml_vk_use_mul_mat_vec_id excludes BF16): named doubtful,
  priced from round 10 on. SYCL: three rows of one device (Intel's IPEX-LLM fork): nothing fitted.
- Round 8 (issue 11, physics read from llama.cpp's kernels, constants never fitted to one device): BF16 decode
  reads like F16 on CUDA / HIP (ggml-cuda/mmvf.cu) and Vulkan (mul_mat_vec_bf16 shaders), BF16 prompts run at the
  F16 rate on HIP RDNA3+ / CDNA (bf16_mma_hardware_available); float (F16/BF16) experts in prompt batches on
  CUDA / HIP pay one BLAS GEMM per expert and two host syncs per expert matmul (ggml_cuda_mul_mat_id's fallback);
  ROCm's small-expert-batch constant is Vulkan's (the same tile passes; ROCm's own MoE prompt rows come from two
  devices); kernel constants refitted (`python -m training.fit_kernels`). Roofline-alone prefill MAPE 28.8% ->
  26.9% (ROCm 52% -> 39%). Bands: residual quantiles weighted by device (w / sqrt(rows)), a filled context
  x{DEPTH_BAND_WIDEN} wider. Gate: decided by a {GATE_FOLDS}-fold inner CV with a {GATE_TOLERANCE:g} tolerance (a 3-fold CV closed
  CUDA decode's gate in one outer fold on a 0.176 vs 0.175 tie, CUDA decode 8% -> 13% there); both were chosen
  after looking at this CV. The correction still hurts ROCm / Vulkan prefill in the outer folds where the inner
  CV opens their gate. Qwen3-Next rows of builds b7189-b7423 are named doubtful (pre-fused delta-net kernels).
- Round 9 (issue 11, ROCm / CPU): where a backend has rows priced at an assumed quant, the gate also asks the
  correction to beat the roofline on the rows whose quant is stated: the 2023 "unspecified" i9-13900K rows had opened
  the CPU decode gate while the correction made the stated rows worse (this machine's decode 12% -> 27% left out;
  now 12%); nested decode 16.7% -> 16.5%, CPU decode 33% -> 27% (median 26% -> 16%), Vulkan decode 48% -> 49% (Arc
  B580's 4 rows: its fold's Vulkan gate now closes). The breakdown "quant stated" scores each backend on its rows
  whose quant is stated. Why ROCm prefill is off (read per device, not fixed here): (1) the RX 7900 XTX tables (PRs
  #18537, #26284; the MI50's #27841 too) have no fa column, and llama-bench's default there is "auto" (on under HIP): read as flash
  attention off, their attention was priced 2.4x too dear (fixed in the architecture round below:
  threads_data.FA_AUTO_FROM_THREAD); (2) the R9700 rows at depth 16384 (build b7423, Dec 2025)
  run their extra attention FLOPs at ~6% of its quoted peak, the 7900 XTX at depth 4096 (a 2026 build) at ~29% of
  its own, as the WMMA flash-attention path of today's fattn.cu would: the build's flash-attention kernel, not the
  GPU generation, sets the cost, and two devices cannot fit it per generation; (3) the gate's inner CV is dominated
  by the two devices of one author's toolboxes (R9700, Strix Halo: 48 of the 72 scored ROCm prompt rows, the same
  scripts, -fa 1), which agree with each other and not with the other ROCm devices, so the ROCm prompt gate opens
  in the folds where it hurts and closes where it would help. Tried and not kept: ROCm's MMQ-or-hipBLAS choice per
  GPU generation and type (ggml_cuda_should_use_mmq: RDNA3 Q2_K / Q6_K / IQ2_XS+S above 128 tokens, CDNA1/2
  K-quants above 256, Vega 10 dense) priced as the F16 copy's traffic: right in direction on the 7900 XTX's Q2_K
  rows (0.66x its Q4_K speed measured, 0.83x priced) but their roofline error grows (the RDNA3 class constant
  under-prices that card): ROCm prompt roofline 39.0% -> 39.4%; a ROCm MoE prompt constant (2 devices); refitting
  the x86 CPU prompt efficiency (0.8 is the optimum on the modern rows; left-device-out refits were worse).
- Round 10 (issue 11, NVIDIA): a board whose quoted tensor TFLOPS need more power than its own board limit gives, at
  its generation's consumer reference board's TFLOPS per watt (RTX 2080 Ti, 3090, 4090, 5090; board powers from
  NVIDIA's product pages in hardware.power.BOARD_POWER_W), keeps (board W / needed W)^(1/3) of its compute, the cube
  law already used for a lowered power limit (RTX 6000 Ada x0.85, 5000 Ada x0.89, L40S x0.89, A6000 x0.92, A40 x0.93;
  datacenter dies and laptops x1). Physics only: the correction's features keep the quoted figures (as for a user's
  limit). Nested prefill 24.3% -> 22.9% (median 13.3% -> 12.5%), CUDA prefill 21% -> 18%, decode unchanged (15.7%);
  RTX 6000 Ada prefill 42% -> 24%. Round 6 had tried the same law with the features moved too (not kept).
  Tried and not kept: NVIDIA's Vulkan prompt path split by generation (ggml-vulkan takes VK_NV_cooperative_matrix2's
  mul_mm_cm2 shaders, FP16 accumulation, from Ampere on; Turing the KHR coopmat1 ones) with the coopmat2 fraction
  derived as the CUDA MMQ class's 0.47 x the Vulkan / CUDA pp512 ratio of the llama.cpp scoreboards (RTX 5090 0.74,
  4090 0.79, 3090 0.90: 0.38): right on the dense rows (RTX 3090 8B 1.9x -> 1.4x under-priced, RTX 4090 3B 2.0x ->
  1.5x), but the RTX 5090's MLA rows (DeepSeek-V2-Lite "before" runs, GLM-4.7-Flash at depth, whose MLA attention
  cost was fitted against 0.28) move the other way, Vulkan's roofline MAPE is unchanged (53% -> 54%), and the
  Vulkan prompt gate, a near-tie in every outer fold that the doubtful RTX 2070 first-run row tips, opens where the
  correction then halves Strix Halo's rows: nested Vulkan prefill 58% -> 66-82% over three variants. A test whose source calls it
  high-variance ("pp512 has huge variance") is named doubtful (that test only).
- Round 9 (issue 11, architectures and depth): llama-bench -ub / -b read from a row's note and priced (one
  micro-batch per batch leaves a layer split nothing to pipeline; experts see the micro-batch's tokens); a blank fa
  column in a llama.cpp thread from #17000 on is flash attention on (llama-bench's default "auto"); attention priced
  at the GPU's matrix rate whatever the weights' type, ROCm's flash-attention cost 2.5 -> 4.0 (HIP's SIMT tile kernel;
  3 devices); MLA absorbed in every batch (src/models/deepseek2.cpp), CUDA / HIP reading V from the K tile; hybrid
  prompt scans latency-bound (gated_delta_net.cu, ssm-scan.cu: 320 FLOP-equivalents per state element, 2 devices);
  expert offload corrected on its GPU part only. Nested prefill 26.1% -> 24.3%, ROCm prefill 45% -> 26%.
- Round 7 (issue 11) added the llama-bench threads table (`llamabench_threads.csv`: 2023-2026 GitHub threads
  and raw-log repositories; MoE and hybrid models, ROCm / Vulkan / SYCL, contexts filled to 32k) and moved
  architecture and backend knowledge into the roofline: depth and flash attention, sliding windows, MLA,
  recurrent scans, routed experts (per-layer routing cost in decode, small per-expert prompt batches, all experts
  a micro-batch touches), BF16 paths, kernel classes per backend x vendor x GPU generation (their efficiencies
  refitted by `python -m training.fit_kernels` on rows of >= 3 devices per class, never per device: roofline
  MAPE 30.3% -> 27.6% in-sample, 30.1% leaving each device out of that fit, so those constants are only mildly
  optimistic in the figures above), -ngl 0 prompt batches on the GPU and layer splits corrected on their GPU
  part only. New features: {", ".join("`" + f + "`" for f in FEATURES[-5:])}; every grid entry weights rows by
  device (w / sqrt(rows of the device)): one person's raw-log repositories (Strix Halo, R9700) hold half the
  new rows. Nemotron-3-Super (latent MoE) rows are skipped: its layer and expert shapes are not in our sources.
- Earlier rounds (targets then: decode <= 10%, prefill <= 15%): not reached pooled. Decode on the
  llama-bench GPU tables and the Apple table and prefill on the Apple table come close; the pooled figure
  is dominated by a few devices the features cannot explain: datacenter cards (A100/H100 PCIe decode at
  0.57-0.66x the roofline), Ollama/eGPU rows (geerlingguy: Raspberry-Pi-hosted GPUs, unstated quant and
  placement), the M1 Max GPU (cannot use its full bandwidth), AMD R9700 and Arc rows (one source each).
  How much of the error is the device's own (one factor per device) and how much a few local bench runs
  remove through `llmfit calibrate`: `benchmarks/results/throughput_calibration.md`
  (`python benchmarks/throughput_calibration.py`; it also gives the row-level noise of the tables).
- Round 2's nested selection among gate / shrinkage / device balancing was not better than the gate
  alone (the choice was unstable across folds with ~60 devices); round 3 replaced that grid with the
  loss / subsampling grid above. The choice still varies across outer folds (see the results file).
- Round 3 added `mem_class` (memory technology of the weights' memory: DDR / GDDR / HBM / unified LPDDR,
  from the device table's memory column, `roofline.gpu_memory_class`): nested decode 17.0% -> 15.9%,
  prefill 18.4% -> 17.3%, this machine's decode 17.2% -> 15.8%; then the loss/subsampling grid chosen by
  the inner CV: nested decode 15.9% -> 14.7%, prefill 17.3% -> 17.5%, this machine's decode -> 10.0%.
  Then the roofline counts Hopper's quoted tensor peak at 0.5 (`roofline.tensor_peak_fraction`: llama.cpp
  issues mma.sync, not wgmma): roofline-alone prefill 29.2% -> 23.1% (H100 PCIe prefill 105% -> 18%),
  nested corrected prefill 17.5% -> 16.7%, decode 14.7% -> 15.0% (noise: CPU rows are physically
  unchanged, yet this machine's decode moved 10.0% -> 12.0% through different tree splits). Before the
  grid it had scored nested prefill 18.3%: the correction had used H100 to learn "quoted TFLOPS
  overstated", which also fits the power-limited RTX 6000 / 5000 Ada (still 0.7x of their roofline).
  Tried and NOT kept (nested figure not better): a per-token launch-overhead feature (n_layers x 10 us /
  roofline token time), a host-CPU submission feature for Pi-hosted eGPUs (n_layers x roofline tok/s / host
  GFLOPS per core; nested decode 16.3%), HistGradientBoosting (squared and absolute loss), slower shrinkage
  (lr 0.06, 150 trees, leaf 15; nested 16.7% / 20.3%).
- Round 4 added `gpu_gen` (GPU architecture generation: NVIDIA compute capability, Apple 20 + M generation,
  `roofline.gpu_generation`; tensor-core kind decides how much of the quoted peak prefill reaches):
  nested prefill 16.7% -> 15.8%, decode 15.0% -> 14.5%, this machine's decode 12.0% -> 10.4% (prefill
  unchanged: CPU rows have gpu_gen 0 and the CPU gate stays closed). Tried with it and NOT kept: the
  attention share of prefill FLOPs at the row's prompt length (nested prefill 15.9%); with gpu_gen, the KV
  share of decode bytes at the row's position (log kv_bytes x pos / weight bytes; nested decode 14.8%,
  median 8.2%), a multi-GPU per-layer sync share ((n_gpus-1) x n_layers x 20 us x roofline tok/s; decode
  15.2%), AMD RDNA / Intel Arc generation codes in gpu_gen (decode 14.8%, prefill 16.9%), and
  device-balanced sample weights (w / sqrt(rows of the device)) in every grid entry (decode 14.9%, prefill
  16.8%, this machine's decode 16.0%).
- Round 5 (no change shipped): tried under the same nested CV and NOT kept: the GPU's board power (TDP from
  spec sheets) as log watts (nested decode 14.7%, prefill 15.6%) or as log quoted TFLOPS per watt (15.1% /
  17.4%), meant for the power-limited RTX 5000 / 6000 Ada prefill; a MAPE-optimal log shift chosen on the inner
  out-of-fold residuals (14.5% / 15.7%); quantile loss (alpha 0.45) as a fifth grid entry (14.5% / 16.9%).
  Row-level CV (rows of the same device seen in training) reaches decode 9.1% / prefill 11.5% with these
  features: the rows of one device disagree by about that much (benchmarks/results/throughput_calibration.md).
- Round 6 (no change shipped): board power as physics in the roofline instead of a feature: a card whose quoted
  TFLOPS need more power than its board limit at its architecture flagship's TFLOPS per W (RTX 3090, 4090, 5090,
  2080 Ti, A100 SXM, H100 SXM) keeps (needed / limit)^-1/3 of its compute (clock ~ power^1/3). Roofline-alone
  prefill 23.1% -> 20.0% (RTX 6000 / 5000 Ada, A40, A6000, A100 / H100 PCIe move toward their measurements),
  but nested corrected prefill 15.8% (unchanged within noise; 15.7% with the features left at the quoted
  TFLOPS) and decode 14.5% -> 15.0%; not kept. The same law serves a power limit its owner sets below the
  board default (llmfit_core/hardware/power.py), a case the training rows do not contain.
- CPU physics (roofline.py): decode = max(bytes / streaming-read bandwidth, dequantization ceiling from
  the ggml vec_dot kernels); prefill = FLOPs without the output head (only the last token's logits) at
  0.8 of the FMA peak on x86 (tinyBLAS / int8-dot kernels); AMD AVX-512 counts as 256-bit; E-cores
  count 0.3 for FLOPs. CPU devices are few (~10); the Aug-2023 i9-13900K rows predate llama.cpp's
  tinyBLAS prompt kernels (slower prefill), which is why a correction learned from them misleads on a
  2026 build (the gate then keeps the CPU roofline).
- Most rows are NVIDIA CUDA and Apple Metal with LLaMA-family dense models; Vulkan, ROCm, SYCL, MLX
  and MoE rows are few or absent, so corrections there lean on the roofline.
- Quantization of some rows is assumed (Ollama default tags = Q4_K_M, gpt-oss = MXFP4 experts,
  "unspecified" = Q4_0 at half weight). Multi-GPU rows are llama.cpp layer splits.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra", nargs="*", default=[], help="extra rows: public-schema CSV or llmfit bench records JSONL")
    ap.add_argument("--out", default=None, help="output directory (default: weights/)")
    args = ap.parse_args(argv)
    for p in args.extra:
        if not Path(p).is_file():
            print(f"error: extra rows file not found: {p}", file=sys.stderr)
            return 1
    train(args.extra, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
