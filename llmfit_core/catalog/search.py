"""Search and filter the catalog (`llmfit search`, `llmfit list`)."""

from __future__ import annotations

import re

import numpy as np

from llmfit_core.constraints import Constraints


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9.]+", text.lower()) if t]


def search_entries(entries, query: str) -> list:
    """Entries whose id/family/arch contain every query word, best matches first
    (exact short name, then name prefix, then models with more GGUF repos)."""
    q = query.strip().lower()
    if not q:
        return list(entries)
    words = _tokens(q) or [q]
    out = []
    for e in entries:
        hay = f"{e.id.lower()} {e.family} {e.arch.lower()} {' '.join(e.uses)}"
        if all(w in hay for w in words):
            short = e.short_name.lower()
            rank = (0 if short == q or e.id.lower() == q else 1 if short.startswith(q) else 2, -len(e.gguf), len(e.id))
            out.append((rank, e))
    out.sort(key=lambda t: t[0])
    return [e for _, e in out]


def filter_entries(entries, c: Constraints, hardware=None) -> list:
    """Entries meeting the model-level constraints (family, params, use, format, licence, context);
    with `c.fits`, only models with at least one quantization that fits `hardware` (None: this machine)."""
    from llmfit_core.recommend import _ladder, _model_mask, catalog_arrays, evaluate, resolve_hw

    entries = list(entries)
    if not entries:
        return []
    arr = catalog_arrays(entries)
    masks = _model_mask(arr, c)
    masks.pop("_text", None)  # listing shows embedding models too
    keep = np.ones(len(entries), bool)
    for m in masks.values():
        keep &= m
    if c.fits and keep.any():
        idx = np.nonzero(keep)[0]
        sub = arr.take(idx)
        ev = evaluate(sub, resolve_hw(hardware), Constraints(context=c.context, quants=c.quants), _ladder(c, sub))
        keep[idx] = (ev["fits"] & ev["allowed"]).any(axis=1)
    return [e for e, k in zip(entries, keep) if k]
