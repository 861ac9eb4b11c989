"""Bits per weight of each tensor group per quantization, as llama.cpp stores a model (from quant.apply_quant on
reference shapes), for the vectorised weight sizes; precomputed into data/catalog_group_bpw.json by
training/build_catalog.py (the same computation, ~150 ms saved per process)."""

from __future__ import annotations

import json
from importlib import resources

from llmfit_core.catalog.entry import CatalogEntry
from llmfit_core.catalog.sizes import _base_spec
from llmfit_core.quant import apply_quant

GROUP_BPW_FILE = "catalog_group_bpw.json"
_GROUP_BPW: dict[str, dict[str, float]] = {}


def group_bpw(quant: str, odd: bool = False) -> dict[str, float]:
    """Bits per weight of each tensor group when llama.cpp stores a model as `quant` (from quant.apply_quant
    on reference shapes: a Llama-3-8B-like dense model and a Qwen3-30B-A3B-like MoE). `odd`: rows not a
    multiple of 256 (e.g. hidden 2880), where llama.cpp falls back from K-quants to legacy types;
    "token_embd_tied" is the embedding of a tied model (quantized as the output head)."""
    key = f"{quant}@odd" if odd else quant
    if key in _GROUP_BPW:
        return _GROUP_BPW[key]
    if not _GROUP_BPW:
        try:
            _GROUP_BPW.update(json.loads((resources.files("llmfit_core") / "data" / GROUP_BPW_FILE).read_text()))
            if key in _GROUP_BPW:
                return _GROUP_BPW[key]
        except (OSError, ValueError):
            pass
    _GROUP_BPW[key] = compute_group_bpw(quant, odd)
    return _GROUP_BPW[key]


def compute_group_bpw(quant: str, odd: bool = False) -> dict[str, float]:
    """group_bpw computed now with quant.apply_quant (what the precomputed file holds)."""
    h, f, ef = (2880, 7680, 2880) if odd else (4096, 14336, 768)
    hm = 2880 if odd else 2048
    dense = CatalogEntry(id="ref/dense", family="ref", arch="llama", params=1, active_params=0, n_layers=32,
                         hidden_size=h, n_heads=32, n_kv_heads=8, head_dim=128, vocab_size=128256, max_context=8192,
                         ffn_size=f)
    tied = CatalogEntry(**{**dense.__dict__, "id": "ref/tied", "tied_embeddings": True})
    moe = CatalogEntry(id="ref/moe", family="ref", arch="qwen3moe", params=1, active_params=0, n_layers=48,
                       hidden_size=hm, n_heads=32, n_kv_heads=4, head_dim=128, vocab_size=151936, max_context=8192,
                       n_experts=128, n_experts_used=8, expert_ffn_size=ef)
    out: dict[str, float] = {}
    for ref in (dense, moe, tied):
        base = _base_spec(ref)
        q = apply_quant(base, quant) if quant != "BF16" else base
        for g, b in q.group_bytes.items():
            n = base.group_bytes.get(g, 0) / 2  # BF16: 2 bytes per weight
            if not n:
                continue
            if ref is tied and g == "token_embd":
                out["token_embd_tied"] = 8.0 * b / n
            elif g not in out or ref is dense:
                out[g] = 8.0 * b / n
    return out


