"""Per-model arrays for the vectorised estimate: the architecture figures it needs and the per-model rank terms
(points.py), one row per model, made from the catalog's columns (catalog.columns) in a few milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from llmfit_core.catalog.columns import CatalogColumns, use_bits
from llmfit_core.catalog.entry import CatalogEntry
from llmfit_core.catalog.reference_configs import reference_window
from llmfit_core.catalog.sizes import MLA_ATTENTION
from llmfit_core.catalog.store import Catalog
from llmfit_core.recommend.points import (
    FAMILY_BONUS,
    GENERATION_PER_YEAR,
    GENERATION_RANGE,
    availability_points,
    context_points,
    size_points,
)

# Share of layers with sliding-window attention (readers.hf_config's patterns): gemma2 and gpt-oss every
# other layer, gemma3 five of six, cohere2 three of four.
SWA_FRACTION = {"gemma2": 0.5, "gpt_oss": 0.5, "gemma3": 5 / 6, "gemma3_text": 5 / 6, "cohere2": 0.75, "gemma4": 5 / 6,
                "gemma4_text": 5 / 6, "gemma4_unified": 5 / 6}
CHAT_BIT = use_bits({"chat"})


@dataclass
class CatalogArrays:
    """One row per model; row i is the catalog entry `entries[rows[i]]` (made when asked for: `entry(i)`)."""

    entries: Sequence[CatalogEntry]
    rows: np.ndarray
    ids: list[str]
    families: list[str]
    licenses: list[str]  # "" when unknown
    native_quant: list[str]  # the publisher's own GGUF quantization (defaults.default_quant, e.g. gpt-oss MXFP4_MOE) or ""
    uses: np.ndarray  # bit masks over entry.USES (catalog.columns)
    name_uses: np.ndarray  # uses the model's own name marks it as made for (a "Coder" is made for coding)
    formats: np.ndarray  # bit masks over entry.FORMATS
    params: np.ndarray
    active: np.ndarray
    layers: np.ndarray
    kv_heads: np.ndarray
    cache_heads: np.ndarray  # K/V heads of head_dim the KV cache holds per layer: kv_heads, or an MLA latent's width
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
    n_experts: np.ndarray  # routed experts per MoE layer (0: dense)
    experts_used: np.ndarray  # of them, used per token
    expert_ffn: np.ndarray  # one expert's FFN width
    arch_names: list[str]  # model_type
    quality: np.ndarray  # size + generation points
    size_pts: np.ndarray
    gen_pts: np.ndarray
    ctx_pts: np.ndarray  # context term of the rank
    first_party: np.ndarray  # 1.0: the publisher's own release, a listed well-known tune or a private entry
    modified: np.ndarray  # uncensored / abliterated / merged / pruned uploads (publishers.modification)
    id_order: np.ndarray  # position of each id in sorted order: the last tie-breaker
    has_gguf: np.ndarray
    kv_swa_frac: np.ndarray  # fraction of KV layers using a sliding window
    kv_layer_frac: np.ndarray  # fraction of layers with a KV cache (hybrids: the rest keep a recurrent state)
    window: np.ndarray  # sliding-window size (0: none)
    rec_layers: np.ndarray  # recurrent layers (hybrids, SSMs), as fit reads the config
    rec_state: np.ndarray  # their state elements per sequence (0: size not known)
    mla_k: np.ndarray  # MLA: the latent row attention reads as K (kv_lora_rank + RoPE dims); 0: not MLA
    mla_v: np.ndarray  # MLA: its first kv_lora_rank, read as V
    instruct: np.ndarray  # 1.0 for instruction-tuned (chat) models
    avail: np.ndarray  # availability points: 2 per known GGUF repo (max 3) + 1 per merged re-upload (max 3)
    packed: np.ndarray  # repo id looks like a quantized re-upload (MLX/NVFP4/bnb/...) without GGUF repos

    def __len__(self) -> int:
        return len(self.rows)

    def entry(self, i: int) -> CatalogEntry:
        return self.entries[int(self.rows[i])]

    def take(self, idx: np.ndarray) -> CatalogArrays:
        """The arrays of the models at `idx`."""
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "entries":
                kw[f.name] = v
            else:
                kw[f.name] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
        return CatalogArrays(**kw)


def generation_points(year: np.ndarray, month: np.ndarray, families: list[str]) -> np.ndarray:
    """Generation term (points.py): 10 points per year since 2024-01 from the release date, clamped; undated
    entries: the family bonus."""
    dated = ~np.isnan(year)
    pts = np.clip(GENERATION_PER_YEAR * ((year - 2024) + (month - 1) / 12), *GENERATION_RANGE)
    for i in np.nonzero(~dated)[0]:
        fam = families[i]
        pts[i] = float(FAMILY_BONUS.get(fam, FAMILY_BONUS.get(fam.split("-")[0], 0)))
    return pts


def arrays_of(cols: CatalogColumns, entries: Sequence[CatalogEntry], rows: np.ndarray) -> CatalogArrays:
    """The arrays of the entries at `rows` of `entries`, whose columns are `cols`."""
    params, active = cols.params, cols.active_params
    active = np.where(active > 0, active, params)
    H, V, L = cols.hidden_size, cols.vocab_size, cols.n_layers
    nh, kv, hd = cols.n_heads, cols.n_kv_heads, cols.head_dim
    E, Eu, eF, sF, F = cols.n_experts, cols.n_experts_used, cols.expert_ffn_size, cols.shared_ffn_size, cols.ffn_size
    emb = V * H
    out = np.where(cols.tied_embeddings, 0.0, V * H)
    attn = L * (2 * H * nh * hd + 2 * H * kv * hd)
    moe = E > 1
    experts = np.where(moe, L * E * 3 * H * eF, 0.0)
    dense_ffn = np.where(moe, L * 3 * H * sF, L * 3 * H * F)
    rest = np.maximum(params - emb - out, 1.0)
    scale = rest / np.maximum(attn + dense_ffn + experts, 1.0)  # match the validated declared count
    size_pts = size_points(params, active, moe)
    gen_pts = generation_points(cols.released_year, cols.released_month, cols.family)
    # the catalog keeps no window for some families (Gemma 4): their reference config's, as catalog.sizes prices them
    windows = {a: reference_window(a) for a in set(cols.arch)}
    window = np.where(cols.sliding_window > 0, cols.sliding_window, [windows[a] for a in cols.arch])
    has_window = window > 0
    # MLA caches one latent row (kv_lora_rank + RoPE dims) as K and no V per token and layer (memory.kv_cache_layers):
    # the K+V heads of head_dim that hold the same bytes
    mla_width = np.array([sum(MLA_ATTENTION.get(a, (0, 0))) for a in cols.arch], dtype=np.float64)
    cache_heads = np.where(mla_width > 0, mla_width / (2.0 * np.maximum(hd, 1)), kv)
    return CatalogArrays(
        entries=entries, rows=np.asarray(rows, dtype=np.intp), ids=cols.id, families=cols.family,
        licenses=cols.license, native_quant=cols.native_quant, uses=cols.uses, name_uses=cols.name_uses,
        formats=cols.formats, params=params, active=active, layers=L, kv_heads=kv, cache_heads=cache_heads, heads=nh, head_dim=hd, hidden=H,
        vocab=V, ffn=np.where(moe, np.maximum(Eu, 1) * eF + sF, F), max_ctx=cols.max_context, emb=emb, out=out,
        dense_layer=(attn + dense_ffn) * scale, experts=experts * scale,
        expert_frac=np.where(moe, Eu / np.maximum(E, 1), 1.0),
        n_experts=np.where(moe, E, 0.0), experts_used=np.where(moe, Eu, 0.0), expert_ffn=np.where(moe, eF, 0.0), arch_names=cols.arch,
        quality=size_pts + gen_pts, size_pts=size_pts, gen_pts=gen_pts, ctx_pts=context_points(cols.max_context),
        first_party=cols.first_party.astype(float), modified=cols.modified,
        id_order=np.argsort(np.argsort(np.array(cols.id, dtype=object), kind="stable"), kind="stable"),
        has_gguf=cols.n_gguf > 0,
        kv_swa_frac=np.array([SWA_FRACTION.get(a, 0.0) for a in cols.arch]) * has_window,
        kv_layer_frac=cols.kv_layer_fraction, window=window,
        rec_layers=cols.recurrent_layers, rec_state=cols.recurrent_state,
        mla_k=mla_width, mla_v=np.array([MLA_ATTENTION.get(a, (0, 0))[0] for a in cols.arch], dtype=np.float64),
        instruct=np.where(cols.uses & CHAT_BIT, 1.0, 0.0),
        avail=availability_points(cols.n_gguf, cols.n_mirrors), packed=cols.packed,
    )


def catalog_arrays(entries: list[CatalogEntry]) -> CatalogArrays:
    """The arrays of a list of entries (their name facts derived now: ~50 µs an entry)."""
    # start-up time: columnize brings the name regexes and the fact tables (~60 ms), which the shipped catalog's
    # stored columns do not need
    from llmfit_core.catalog.columnize import columns_of  # lazy: start-up: regexes, for unstored entries

    return arrays_of(columns_of(entries), entries, np.arange(len(entries)))


_MODEL_ARRAYS: dict[int, tuple[Catalog, CatalogArrays]] = {}


def model_arrays(cat: Catalog) -> CatalogArrays:
    """The arrays of a catalog's models (entries that are not a quantized copy of another), cached per catalog."""
    hit = _MODEL_ARRAYS.get(id(cat))
    if hit is not None and hit[0] is cat:
        return hit[1]
    rows = cat.model_rows
    arr = arrays_of(cat.columns.take(rows), cat.entries, rows)
    _MODEL_ARRAYS.clear()
    _MODEL_ARRAYS[id(cat)] = (cat, arr)
    return arr
