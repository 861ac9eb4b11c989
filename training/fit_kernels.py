"""Fit the roofline's kernel-efficiency constants on the benchmark rows, by class and backend (never per device).

    python -m training.fit_kernels [--loo]

Fitted (each only where its rows come from at least MIN_DEVICES physical devices; else the documented starting
value in roofline.py stays): per KERNEL_CLASSES entry the prefill fraction of the quoted FP16 peak and the decode
fraction of the bandwidth; per backend the MoE half-efficiency batch (MOE_HALF_BATCH), the MoE per-layer decode
cost (MOE_LAYER_OVERHEAD_S) and the BF16 factors; globally the recurrent-scan cost and the per-layer host cost of
Vulkan's Mesa drivers (VULKAN_MESA_HOST_LAYER_S, binding only on slow hosts). Loss: robust (soft-L1) log
residuals of the roofline alone against the measured tok/s of the primary rows, each device's rows weighted
1/sqrt(rows) so that a few devices with many rows do not dominate, plus a weak pull (sigma = log 3) toward the
documented starting value. Prints the fitted tables (pasted into roofline.py with this command named) and, with
--loo, the leave-one-device-out check: every device scored with constants fitted without it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import numpy as np
from scipy.optimize import least_squares

from llmfit_core.throughput.predict import _OPTIONAL_KEYS, _ROOF_KEYS
from training.data import load_rows
from training.table import build_table
from training.train_throughput import LOCAL_RECORDS, primary_mask

R = importlib.import_module("llmfit_core.throughput.roofline")  # the module (the package exports a function of that name)
MIN_DEVICES = 3
PRIOR_SIGMA = np.log(3.0)
BK = R.BACKEND_CODE


def parameters(t, use):
    """[(array name, index, rows it touches)] of the constants with enough devices behind them."""
    kc = t.inputs["kernel_class"].astype(int)
    bk = t.inputs["backend_code"].astype(int)
    moe = t.inputs["n_moe_layers"] > 0
    bf = t.inputs["bf16"] > 0
    rec = t.inputs["n_rec_layers"] > 0
    dec = t.is_decode
    cand = []
    for c in range(1, len(R.KERNEL_CLASSES)):
        cand.append(("CLASS_PREFILL_EFF", c, (kc == c) & ~dec))
        cand.append(("CLASS_DECODE_EFF", c, (kc == c) & dec))
    for name, b in BK.items():
        if name == "cpu":
            continue
        cand.append(("MOE_HALF_BATCH", b, (bk == b) & moe & ~dec))
        cand.append(("MOE_LAYER_OVERHEAD_S", b, (bk == b) & moe & dec))
        cand.append(("BF16_PREFILL_EFF", b, (bk == b) & bf & ~dec))
        cand.append(("BF16_DECODE_EFF", b, (bk == b) & bf & dec))
    cand.append(("RECURRENT_FLOPS_PER_STATE", None, rec & ~dec))
    cand.append(("VULKAN_MESA_HOST_LAYER_S", None, np.isin(kc, R.MESA_KERNEL_CLASSES) & dec))
    out = []
    for name, i, rows in cand:
        m = rows & use
        if len(set(t.groups[m])) >= MIN_DEVICES:
            out.append((name, i, m))
    return out


def _get(name, i):
    v = getattr(R, name)
    return float(v) if i is None else float(v[i])


def _set(name, i, value):
    if i is None:
        setattr(R, name, float(value))
    else:
        getattr(R, name)[i] = value


def predict_log(t):
    roof_in = {**{k: t.inputs[k] for k in _ROOF_KEYS}, **{k: t.inputs[k] for k in _OPTIONAL_KEYS if k in t.inputs}}
    out = R.roofline_arrays(**{**roof_in, "gpu_tflops": t.inputs["gpu_tflops"] * t.inputs["gpu_power_keep"]})  # as table.py
    return np.log(np.where(t.is_decode, out["decode_tok_s"], out["prefill_tok_s"]))


def fit(t, use, params):
    """Fit `params` on rows `use`; returns the fitted values (the module constants are left at them)."""
    prior = np.array([_get(n, i) for n, i, _ in params])
    _, inv, counts = np.unique(t.groups, return_inverse=True, return_counts=True)
    w = np.sqrt(t.weight / np.sqrt(counts[inv]))[use]
    y = np.log(t.measured[use])

    def resid(z):
        for (n, i, _), v in zip(params, prior * np.exp(z)):
            _set(n, i, v)
        return np.concatenate([w * (predict_log(t)[use] - y), z / PRIOR_SIGMA])

    sol = least_squares(resid, np.zeros(len(params)), loss="soft_l1", f_scale=0.3, max_nfev=60)
    vals = prior * np.exp(sol.x)
    for (n, i, _), v in zip(params, vals):
        _set(n, i, v)
    return vals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loo", action="store_true", help="leave-one-device-out check of the fitted constants")
    args = ap.parse_args(argv)
    rows, _ = load_rows([str(LOCAL_RECORDS)], threads=True)
    t = build_table(rows)
    use = primary_mask(t) & (t.inputs["gpu_frac"] >= 1.0) | (primary_mask(t) & (t.inputs["backend_code"] == BK["cpu"]))
    params = parameters(t, use)
    start = {(n, i): _get(n, i) for n, i, _ in params}
    before = np.abs(np.exp(predict_log(t)) / t.measured - 1)
    vals = fit(t, use, params)
    after = np.abs(np.exp(predict_log(t)) / t.measured - 1)
    print(f"rows used {int(use.sum())}, devices {len(set(t.groups[use]))}; roofline MAPE {before[use].mean():.1%} -> {after[use].mean():.1%}")
    for (n, i, m), v in zip(params, vals):
        label = R.KERNEL_CLASSES[i][0] if n.startswith("CLASS") else (R.BACKEND_KINDS[i] if i is not None else "-")
        print(f"{n}[{label}] {start[(n, i)]:.4g} -> {v:.4g}  ({int(m.sum())} rows, {len(set(t.groups[m]))} devices)")
    if args.loo:
        loo = np.full(len(t.measured), np.nan)
        for dev in sorted(set(t.groups[use])):
            for (n, i), v in start.items():
                _set(n, i, v)
            keep = use & (t.groups != dev)
            fit(t, keep, [p for p in parameters(t, keep)])
            m = use & (t.groups == dev)
            loo[m] = np.abs(np.exp(predict_log(t))[m] / t.measured[m] - 1)
        print(f"leave-one-device-out roofline MAPE {np.nanmean(loo[use]):.1%} (in-sample {after[use].mean():.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
