"""Per-model columns of the catalog as numpy arrays: the architecture figures the vectorised estimate needs and the
per-model rank terms (points.py), one row per model, built once per catalog."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from llmfit_core.catalog.entry import uses_from_name
from llmfit_core.catalog.publishers import visible
from llmfit_core.catalog.validate import _PACKED
from llmfit_core.defaults import LLAMACPP_DEFAULT_QUANT, default_quant
from llmfit_core.recommend.points import (
    GENERAL_USES,
    availability_points,
    context_points,
    generation_points,
    size_points,
)
from llmfit_core.recurrent import kv_layer_fraction

# Share of layers with sliding-window attention (readers.hf_config's patterns): gemma2 and gpt-oss every
# other layer, gemma3 five of six, cohere2 three of four.
SWA_FRACTION = {"gemma2": 0.5, "gpt_oss": 0.5, "gemma3": 5 / 6, "gemma3_text": 5 / 6, "cohere2": 0.75}
_PACKED_HINTS = ("bit", "fp4", "fp8", "int4", "int8", "awq", "gptq", "bnb", "mlx", "autoround", "hqq", "exl2", "w4a16",
                 "w8a8", "dwq", "q2", "q3", "q4", "q5", "q6", "q8")


@dataclass
class CatalogArrays:
    """One row per model (`entries[i]` is row i)."""

    entries: list
    params: np.ndarray
    active: np.ndarray
    layers: np.ndarray
    kv_heads: np.ndarray
    heads: np.ndarray
    head_dim: np.ndarray
    hidden: np.ndarray
    vocab: np.ndarray
    ffn: np.ndarray  # dense FFN, or active experts' FFN width for the compute buffer
    max_ctx: np.ndarray
    emb: np.ndarray  # token embedding params
    out: np.ndarray  # output head params (0 when tied)
    dense_layer: np.ndarray  # attention + dense FFN + shared expert params
    experts: np.ndarray  # routed expert params (all experts)
    expert_frac: np.ndarray  # fraction of experts used per token
    quality: np.ndarray  # size + generation points
    size_pts: np.ndarray
    gen_pts: np.ndarray
    ctx_pts: np.ndarray  # context term of the rank
    first_party: np.ndarray  # 1.0: the publisher's own release, a listed well-known tune or a private entry
    name_uses: list  # uses the model's own name marks it as made for (a "Coder" is made for coding)
    modified: np.ndarray  # uncensored / abliterated / merged / pruned uploads (publishers.modification)
    id_order: np.ndarray  # position of each id in sorted order: the last tie-breaker
    native_quant: list  # the publisher's own GGUF quantization (defaults.default_quant, e.g. gpt-oss MXFP4_MOE) or ""
    uses: list
    has_gguf: np.ndarray
    kv_swa_frac: np.ndarray  # fraction of KV layers using a sliding window
    kv_layer_frac: np.ndarray  # fraction of layers with a KV cache (hybrids: the rest keep a recurrent state)
    window: np.ndarray  # sliding-window size (0: none)
    instruct: np.ndarray  # 1.0 for instruction-tuned (chat) models
    avail: np.ndarray  # availability points: 2 per known GGUF repo (max 3) + 1 per merged re-upload (max 3)
    packed: np.ndarray  # repo id looks like a quantized re-upload (MLX/NVFP4/bnb/...) without GGUF repos

    def __len__(self) -> int:
        return len(self.entries)

    def take(self, idx: np.ndarray) -> CatalogArrays:
        """The arrays of the models at `idx`."""
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
        return CatalogArrays(**kw)


def native_quant(e) -> str:
    """The publisher's own GGUF quantization of `e` when it was released as one (defaults.default_quant), else ""."""
    dq = default_quant(e.id, e.arch).quant
    return "" if dq == LLAMACPP_DEFAULT_QUANT else dq


def looks_packed(model_id: str) -> bool:
    """validate._PACKED, with a cheap substring pre-check (the regex is slow over thousands of ids)."""
    low = model_id.lower()
    return any(h in low for h in _PACKED_HINTS) and bool(_PACKED.search(model_id))


_ARRAYS: dict[int, CatalogArrays] = {}


def catalog_arrays(entries) -> CatalogArrays:
    """Per-model numpy arrays of a list of catalog entries (cached by list identity)."""
    key = id(entries)
    if key in _ARRAYS and _ARRAYS[key].entries is entries:
        return _ARRAYS[key]
    n = len(entries)

    def f(name):
        return np.fromiter((getattr(e, name) or 0 for e in entries), dtype=np.float64, count=n)

    params, active = f("params"), f("active_params")
    active = np.where(active > 0, active, params)
    H, V, L = f("hidden_size"), f("vocab_size"), f("n_layers")
    nh, kv, hd = f("n_heads"), f("n_kv_heads"), f("head_dim")
    E, Eu, eF, sF, F = f("n_experts"), f("n_experts_used"), f("expert_ffn_size"), f("shared_ffn_size"), f("ffn_size")
    tied = np.array([bool(e.tied_embeddings) for e in entries])
    emb = V * H
    out = np.where(tied, 0.0, V * H)
    attn = L * (2 * H * nh * hd + 2 * H * kv * hd)
    moe = E > 1
    experts = np.where(moe, L * E * 3 * H * eF, 0.0)
    dense_ffn = np.where(moe, L * 3 * H * sF, L * 3 * H * F)
    rest = np.maximum(params - emb - out, 1.0)
    scale = rest / np.maximum(attn + dense_ffn + experts, 1.0)  # match the validated declared count
    size_pts = size_points(params, active, moe)
    gen_pts = np.array([generation_points(e.released, e.family) for e in entries], float)
    max_ctx = f("max_context")
    arr = CatalogArrays(
        entries=entries, params=params, active=active, layers=L, kv_heads=kv, heads=nh, head_dim=hd, hidden=H, vocab=V,
        ffn=np.where(moe, np.maximum(Eu, 1) * eF + sF, F), max_ctx=max_ctx, emb=emb, out=out,
        dense_layer=(attn + dense_ffn) * scale, experts=experts * scale,
        expert_frac=np.where(moe, Eu / np.maximum(E, 1), 1.0),
        quality=size_pts + gen_pts, size_pts=size_pts, gen_pts=gen_pts, ctx_pts=context_points(max_ctx),
        first_party=np.array([visible(e) for e in entries]).astype(float),
        modified=np.array([bool(e.modified) for e in entries]),
        id_order=np.argsort(np.argsort(np.array([e.id for e in entries], dtype=object), kind="stable"), kind="stable"),
        uses=[set(e.uses) for e in entries],
        name_uses=[set(uses_from_name(e.short_name)) - GENERAL_USES for e in entries],
        native_quant=[native_quant(e) for e in entries], has_gguf=np.array([bool(e.gguf) for e in entries]),
        kv_swa_frac=np.array([SWA_FRACTION.get(e.arch, 0.0) if e.sliding_window else 0.0 for e in entries]),
        kv_layer_frac=np.array([kv_layer_fraction(e.arch, e.n_layers, e.hidden_size) for e in entries]),
        window=f("sliding_window"),
        instruct=np.array([1.0 if "chat" in e.uses else 0.0 for e in entries]),
        avail=availability_points(np.array([len(e.gguf) for e in entries], float),
                                  np.array([len(e.mirrors) for e in entries], float)),
        packed=np.array([not e.gguf and looks_packed(e.id) for e in entries]),
    )
    _ARRAYS.clear()
    _ARRAYS[key] = arr
    return arr
