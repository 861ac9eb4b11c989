"""`llmfit list` / `llmfit search` filters: catalog entries meeting the model-level constraints and, with `fits`, the
ones with a quantization that fits the hardware (the vectorised estimate)."""

from __future__ import annotations

import numpy as np

from llmfit_core.constraints import Constraints
from llmfit_core.recommend.arrays import catalog_arrays
from llmfit_core.recommend.budgets import resolve_hw
from llmfit_core.recommend.candidates import model_masks, quant_ladder
from llmfit_core.recommend.evaluation import evaluate


def filter_entries(entries, c: Constraints, hardware=None) -> list:
    """Entries meeting the model-level constraints (family, params, use, format, licence, context);
    with `c.fits`, only models with at least one quantization that fits `hardware` (None: this machine)."""
    entries = list(entries)
    if not entries:
        return []
    arr = catalog_arrays(entries)
    masks = model_masks(arr, c)
    masks.pop("_text", None)  # listing shows embedding models too
    keep = np.ones(len(entries), bool)
    for m in masks.values():
        keep &= m
    if c.fits and keep.any():
        idx = np.nonzero(keep)[0]
        sub = arr.take(idx)
        ev = evaluate(sub, resolve_hw(hardware), Constraints(context=c.context, quants=c.quants), quant_ladder(c, sub))
        keep[idx] = (ev.fits & ev.allowed).any(axis=1)
    return [e for e, k in zip(entries, keep) if k]
