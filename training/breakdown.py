"""Accuracy breakdowns of throughput predictions over training rows: MAPE / median APE per backend, vendor,
MoE vs dense, at depth vs not, multi-GPU, and the rows more than 3x off. Shared by
benchmarks/throughput_threads.py and the model card (training/train_throughput.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAR_OFF = 3.0  # a prediction more than 3x off its measurement (either way) is named


@dataclass
class Scored:
    """Per-row predictions of one head next to the measurement, with the row's labels."""

    head: str
    pred: np.ndarray
    meas: np.ndarray
    labels: dict[str, np.ndarray]  # dimension -> label per row


def row_labels(rows) -> dict[str, np.ndarray]:
    """Breakdown labels of training rows."""
    def vendor(r):
        if r.backend == "llama.cpp-cpu" or not r.hardware.gpus:
            return "cpu"
        return r.hardware.gpus[0].vendor

    def backend(r):
        return {"mlx": "mlx"}.get(r.backend, r.backend.replace("llama.cpp-", ""))

    def arch(r):
        s = r.spec
        if getattr(s, "n_recurrent_layers", 0):
            return "hybrid (recurrent)"
        if getattr(s, "kv_lora_rank", 0):
            return "MLA"
        if s.swa_layers and any(s.swa_layers):
            return "sliding window"
        return "full attention"

    return {
        "all": np.array(["all"] * len(rows)),
        "backend": np.array([backend(r) for r in rows]),
        "vendor": np.array([vendor(r) for r in rows]),
        "moe": np.array(["MoE" if r.spec.is_moe else "dense" for r in rows]),
        "depth": np.array(["at depth" if getattr(r, "depth", 0) else "empty context" for r in rows]),
        "gpus": np.array(["multi-GPU" if len(r.hardware.gpus) > 1 and r.backend != "llama.cpp-cpu" else "one device" for r in rows]),
        "arch": np.array([arch(r) for r in rows]),
        # rows priced at an assumed quantization (Ollama default tags, "unspecified") apart, the others per backend
        "quant stated": np.array(["assumed (any backend)" if getattr(r, "quant_assumed", False) else backend(r) for r in rows]),
        "device": np.array([r.device for r in rows]),
    }


def ape(pred, meas):
    return np.abs(np.asarray(pred, float) - meas) / meas


def far_off(pred, meas) -> np.ndarray:
    ratio = np.asarray(pred, float) / meas
    return (ratio > FAR_OFF) | (ratio < 1.0 / FAR_OFF)


def breakdown(scored: list[Scored], dims=("all", "backend", "vendor", "moe", "depth", "gpus", "arch", "quant stated")) -> list[dict]:
    """One dict per (dimension, label): rows, MAPE and median APE per head, rows > 3x off."""
    out = []
    for dim in dims:
        labels = sorted(set().union(*[set(s.labels[dim]) for s in scored]))
        for lab in labels:
            row = {"dim": dim, "label": lab}
            for s in scored:
                m = s.labels[dim] == lab
                a = ape(s.pred[m], s.meas[m])
                row[s.head] = {"n": int(m.sum()), "mape": float(a.mean()) if m.any() else None,
                               "mdape": float(np.median(a)) if m.any() else None,
                               "far": int(far_off(s.pred[m], s.meas[m]).sum())}
            out.append(row)
    return out


def format_breakdown(rows: list[dict], heads=("decode", "prefill")) -> str:
    lines = ["| rows | " + " | ".join(f"{h} n | {h} MAPE (median) | {h} >3x" for h in heads) + " |",
             "|---|" + "---|---|---|" * len(heads)]
    for r in rows:
        cells = []
        for h in heads:
            c = r.get(h) or {"n": 0}
            if not c["n"]:
                cells.append("0 | – | –")
            else:
                cells.append(f"{c['n']} | {c['mape']:.0%} ({c['mdape']:.0%}) | {c['far']}")
        name = r["label"] if r["dim"] in ("all",) else f"{r['dim']}: {r['label']}"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
