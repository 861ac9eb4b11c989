"""Recommendations: rank every catalog model × quantization for one hardware profile under constraints.

Vectorised: per-model arrays are built once per catalog (`catalog_arrays`), then memory
(`memory.estimate_totals`), a layer-split placement (or, for MoE models that do not fit in VRAM, llama.cpp's
expert offload --n-cpu-moe N when its decode is faster, as `fit` picks) and speed (`throughput.predict_batch`)
are computed for all model × quant pairs in numpy. The top N are then re-scored one by one with the full pipeline
(`api.fit_spec`), so what is shown is exactly what `llmfit fit --json` would say.

Rank points (higher is better; `rank_points` in --json, also under the older key `rank_score`; not fit's 0-100
`score`), documented term by term (`rank_terms`, printed by `recommend --explain`):
    size         = 30 + 12·log2(effective params in billions); MoE: total^0.8 · active^0.2 (fine-grained MoE models
                   score near dense models of their total size: Qwen3 report, 30B-A3B vs 32B)
    generation   = 10 per year since 2024-01 from the release date, clamped to [-10, 25] (newer models are better at
                   the same size); undated entries: FAMILY_BONUS
    quant loss   = −10 × perplexity increase over F16 (llama.cpp quantize table, quant_quality.py)
    speed        = 20 × clamp(ln(decode tok/s ÷ 5) ÷ ln(200 ÷ 5), 0, 1)
    fit          = runs +5, tight −5, offload −10
    context      = 2 × clamp(log2(trained context ÷ 8k) ÷ 4, 0, 1) (long-context models: up to +2 at 128k)
    first-party  = +4 for the publisher's own release (or a listed well-known tune, or your private entry)
    instruct     = +3 for instruction-tuned (chat) models: what people run interactively
    specialist   = +3 when the model's own name says it is made for an asked-for use (a Coder for "use coding")
    availability = 2 per known GGUF repo (max 3) + 1 per merged re-upload (max 3): models people actually run
                   (the source list has no download counts; GGUF conversions by the big publishers are the proxy)
Ties (same points to 0.1) go to more available models, then to the id (deterministic). `sort=` reorders by speed,
quality (size + generation − quant loss), memory or context instead.
For each model the chosen quantization is the best-scoring one among those meeting every constraint
(the highest quality unless a bigger one would offload to the CPU or decode much slower); the next better
quantization is named with the constraint it broke, or the figures that made it score lower.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from llmfit_core.catalog.entry import uses_from_name
from llmfit_core.catalog.publishers import visible
from llmfit_core.constraints import Constraints, describe_field, fmt_gib
from llmfit_core.defaults import LLAMACPP_DEFAULT_QUANT, default_quant
from llmfit_core.errors import ConstraintError
from llmfit_core.catalog.validate import _PACKED
from llmfit_core.quant_quality import GGUF_LADDER, quality_penalty
from llmfit_core.recurrent import kv_layer_fraction
from llmfit_core.placement import MOE_TIE

DEFAULT_CONTEXT = 4096
# Without a speed constraint, prefer models that generate at least reading speed; dropped (with a note)
# when nothing on this machine reaches it.
DEFAULT_MIN_TPS = 5.0
DEFAULT_LADDER = tuple(q for q in GGUF_LADDER if q != "F16")  # F16 only when asked: Q8_0 has the same quality
TIGHT_FRACTION = 0.9  # more than 90% of the budget used: "tight"
# Newer generations beat older ones at the same size (published benchmark standings); small, documented nudges.
FAMILY_BONUS = {
    "qwen-3": 6, "qwen-3.5": 7, "gpt-oss": 6, "gemma-3": 5, "gemma-4": 7, "phi-4": 5, "llama-3.3": 4, "llama-3.1": 3,
    "llama-3.2": 3, "llama-3": 2, "qwen-2.5": 3, "deepseek": 4, "mistral": 0, "llama-2": -8, "llama": 0,
    "gpt2": -20, "opt": -15, "bloom": -15, "pythia": -15,
}


# ------------------------------------------------------------------------------------------------
# hardware


def resolve_hw(hardware=None):
    """HardwareProfile for None (this machine), a device/profile name, a JSON path or a profile."""
    from llmfit_core.hardware.profile import HardwareProfile

    if isinstance(hardware, HardwareProfile):
        return hardware
    from llmfit_core.hardware.registry import resolve_hardware

    return resolve_hardware(hardware)


def budgets(hw, mlx: bool = False) -> dict:
    """Memory budgets (bytes) of a profile: GPU VRAM (discrete), and the system RAM usable by a model.
    `mlx`: the models are MLX quantizations (run with MLX on Apple Silicon, like `fit` chooses)."""
    from llmfit_core.backends import default_backend, get_backend

    be = default_backend(hw)
    if mlx and any(g.vendor == "apple" for g in hw.gpus):
        be = get_backend("mlx")
    ram = hw.memory.available_bytes if hw.memory.available_gb else hw.memory.total_bytes
    apple = any(g.vendor == "apple" for g in hw.gpus)
    if hw.unified_memory:
        # Metal's recommended working set is about 75% of unified memory
        ram = int(hw.memory.total_bytes * (0.75 if apple else 0.9))
        vram = ram if be.gpu else 0
    else:
        vram = sum(g.vram_bytes for g in hw.gpus) if be.gpu else 0
    return {"backend": be, "vram": int(vram), "ram": int(ram), "unified": bool(hw.unified_memory)}


# ------------------------------------------------------------------------------------------------
# per-catalog arrays


@dataclass
class CatalogArrays:
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


    def take(self, idx: np.ndarray) -> "CatalogArrays":
        """The arrays of the models at `idx`."""
        kw = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            kw[name] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
        return CatalogArrays(**kw)


_ARRAYS: dict[int, CatalogArrays] = {}
MOE_TOTAL_WEIGHT = 0.8  # MoE effective size = total^0.8 · active^0.2
GENERATION_PER_YEAR = 10.0
GENERATION_RANGE = (-10.0, 25.0)
FIRST_PARTY_POINTS = 4.0
SPECIALIST_POINTS = 3.0
QUANT_SLACK = 3.0  # rank points a higher-quality quantization may trail the model's best-ranked one and still be chosen
SPEED_POINTS, SPEED_FLOOR, SPEED_TOP = 20.0, 5.0, 200.0
SORTS = ("rank", "speed", "quality", "memory", "context")


def _native_quant(e) -> str:
    """The publisher's own GGUF quantization of `e` when it was released as one (defaults.default_quant), else ""."""
    dq = default_quant(e.id, e.arch).quant
    return "" if dq == LLAMACPP_DEFAULT_QUANT else dq


def generation_points(e) -> float:
    """Generation term: 10 points per year since 2024-01 (release date), clamped; undated: the family bonus."""
    rel = e.released or ""
    if len(rel) >= 7 and rel[:4].isdigit() and rel[5:7].isdigit():
        years = int(rel[:4]) - 2024 + (int(rel[5:7]) - 1) / 12
        return float(min(max(GENERATION_PER_YEAR * years, GENERATION_RANGE[0]), GENERATION_RANGE[1]))
    return float(FAMILY_BONUS.get(e.family, FAMILY_BONUS.get(e.family.split("-")[0], 0)))
# Share of layers with sliding-window attention (readers.hf_config's patterns): gemma2 and gpt-oss every
# other layer, gemma3 five of six, cohere2 three of four.
_SWA_FRACTION = {"gemma2": 0.5, "gpt_oss": 0.5, "gemma3": 5 / 6, "gemma3_text": 5 / 6, "cohere2": 0.75}
_PACKED_HINTS = ("bit", "fp4", "fp8", "int4", "int8", "awq", "gptq", "bnb", "mlx", "autoround", "hqq", "exl2", "w4a16",
                 "w8a8", "dwq", "q2", "q3", "q4", "q5", "q6", "q8")


def _looks_packed(model_id: str) -> bool:
    """validate._PACKED, with a cheap substring pre-check (the regex is slow over thousands of ids)."""
    low = model_id.lower()
    return any(h in low for h in _PACKED_HINTS) and bool(_PACKED.search(model_id))


def catalog_arrays(entries) -> CatalogArrays:
    """Per-model numpy arrays of a list of catalog entries (cached by list identity)."""
    key = id(entries)
    if key in _ARRAYS and _ARRAYS[key].entries is entries:
        return _ARRAYS[key]
    n = len(entries)
    f = lambda name: np.fromiter((getattr(e, name) or 0 for e in entries), dtype=np.float64, count=n)  # noqa: E731
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
    eff = np.where(moe, params ** MOE_TOTAL_WEIGHT * active ** (1 - MOE_TOTAL_WEIGHT), params) / 1e9
    size_pts = 30.0 + 12.0 * np.log2(np.maximum(eff, 0.01))
    gen_pts = np.array([generation_points(e) for e in entries], float)
    first_party = np.array([visible(e) for e in entries])
    quality = size_pts + gen_pts
    arr = CatalogArrays(
        entries=entries, params=params, active=active, layers=L, kv_heads=kv, heads=nh, head_dim=hd, hidden=H, vocab=V,
        ffn=np.where(moe, np.maximum(Eu, 1) * eF + sF, F), max_ctx=f("max_context"), emb=emb, out=out,
        dense_layer=(attn + dense_ffn) * scale, experts=experts * scale, expert_frac=np.where(moe, Eu / np.maximum(E, 1), 1.0),
        quality=quality, size_pts=size_pts, gen_pts=gen_pts,
        ctx_pts=2.0 * np.clip(np.log2(np.maximum(f("max_context"), 1.0) / 8192) / 4, 0.0, 1.0),
        first_party=first_party.astype(float), modified=np.array([bool(e.modified) for e in entries]),
        id_order=np.argsort(np.argsort(np.array([e.id for e in entries], dtype=object), kind="stable"), kind="stable"),
        uses=[set(e.uses) for e in entries],
        name_uses=[set(uses_from_name(e.short_name)) - {"chat", "tool-use"} for e in entries],
        native_quant=[_native_quant(e) for e in entries], has_gguf=np.array([bool(e.gguf) for e in entries]),
        kv_swa_frac=np.array([_SWA_FRACTION.get(e.arch, 0.0) if e.sliding_window else 0.0 for e in entries]),
        kv_layer_frac=np.array([kv_layer_fraction(e.arch, e.n_layers, e.hidden_size) for e in entries]),
        window=f("sliding_window"),
        instruct=np.array([1.0 if "chat" in e.uses else 0.0 for e in entries]),
        avail=np.array([2.0 * min(len(e.gguf), 3) + min(len(e.mirrors), 3) for e in entries]),
        packed=np.array([not e.gguf and _looks_packed(e.id) for e in entries]),
    )
    _ARRAYS.clear()
    _ARRAYS[key] = arr
    return arr


_GROUP_BPW: dict[str, dict[str, float]] = {}


def group_bpw(quant: str, odd: bool = False) -> dict[str, float]:
    """Bits per weight of each tensor group when llama.cpp stores a model as `quant` (from quant.apply_quant
    on reference shapes: a Llama-3-8B-like dense model and a Qwen3-30B-A3B-like MoE). `odd`: rows not a
    multiple of 256 (e.g. hidden 2880), where llama.cpp falls back from K-quants to legacy types;
    "token_embd_tied" is the embedding of a tied model (quantized as the output head)."""
    key = f"{quant}@odd" if odd else quant
    if key in _GROUP_BPW:
        return _GROUP_BPW[key]
    if not _GROUP_BPW:  # precomputed by training/build_catalog.py (same computation, saves ~150 ms per process)
        try:
            import json
            from importlib import resources

            _GROUP_BPW.update(json.loads((resources.files("llmfit_core") / "data" / GROUP_BPW_FILE).read_text()))
            if key in _GROUP_BPW:
                return _GROUP_BPW[key]
        except (OSError, ValueError):
            pass
    _GROUP_BPW[key] = compute_group_bpw(quant, odd)
    return _GROUP_BPW[key]


GROUP_BPW_FILE = "catalog_group_bpw.json"


def compute_group_bpw(quant: str, odd: bool = False) -> dict[str, float]:
    """group_bpw computed now with quant.apply_quant (what the precomputed file holds)."""
    from llmfit_core.catalog.entry import CatalogEntry
    from llmfit_core.catalog.sizes import _base_spec
    from llmfit_core.quant import apply_quant

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


# ------------------------------------------------------------------------------------------------
# results


@dataclass
class Recommendation:
    """One recommended model with its chosen quantization."""

    entry: object  # CatalogEntry
    quant: str
    rank_score: float
    quality: float
    total_bytes: int
    gpu_bytes: int
    cpu_bytes: int
    verdict: str
    fits: bool
    decode_tok_s: float
    prefill_tok_s: float
    context: int
    rejected_better: str | None = None  # why the next better quantization was not chosen
    similar: list[str] = field(default_factory=list)  # same architecture and size, same figures (fine-tunes)
    report: object | None = None  # FitReport from the full pipeline (top N)
    n_cpu_moe: int = 0  # MoE expert offload: llama.cpp --n-cpu-moe N (vectorised estimate)
    rank_terms: dict = field(default_factory=dict)  # the terms rank_score is the sum of (module doc)

    vector_hw: tuple | None = None  # (hardware, backend) of a vectorised row: its max_context is computed when asked

    @property
    def max_context(self) -> int | None:
        """The largest context that fits here with this quant (context_fit: fit's report, or computed on first use
        for a row the full pipeline did not estimate, so ranking stays fast)."""
        if self.vector_hw is not None and self.report is not None:
            self.report.max_context = _max_context(self, *self.vector_hw)
            self.vector_hw = None
        return getattr(self.report, "max_context", None)

    def to_dict(self) -> dict:
        """FitReport.to_dict() (the `fit --json` contract) plus the catalog id and ranking facts."""
        d = self.report.to_dict() if self.report is not None else {}
        d.update({
            "model_id": self.entry.id,
            "family": self.entry.family,
            "license": self.entry.license,
            "uses": list(self.entry.uses),
            "rank_score": round(self.rank_score, 2),  # kept for existing scripts: the same value as rank_points
            "rank_points": round(self.rank_score, 2),
            "rank_terms": {k: round(v, 2) for k, v in self.rank_terms.items()},
            "publisher": self.entry.publisher or "private",
            "quality": round(self.quality, 2),
            "rejected_better": self.rejected_better,
            "similar_models": list(self.similar),
            "max_context": self.max_context,
        })
        return d


@dataclass
class RecommendResult:
    hardware_name: str
    backend: str
    context: int | None
    constraints: Constraints
    items: list[Recommendation] = field(default_factory=list)
    models_considered: int = 0
    pairs_considered: int = 0
    pairs_passing: int = 0
    rank_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "hardware": self.hardware_name,
            "backend": self.backend,
            "constraints": dict(self.constraints.describe()),
            "models_considered": self.models_considered,
            "pairs_considered": self.pairs_considered,
            "pairs_passing": self.pairs_passing,
            "recommendations": [r.to_dict() for r in self.items],
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------------------
# the vectorised core


def _ladder(c: Constraints, arr: CatalogArrays | None = None) -> tuple[str, ...]:
    """The quantizations to evaluate: the asked-for ones, the format's, or the GGUF ladder plus the publishers' own
    GGUF quantizations of the models in `arr` (gpt-oss's MXFP4_MOE), which only those models are priced as."""
    if c.quants:
        return tuple(c.quants)
    if c.formats and all(f in ("mlx",) for f in c.formats):
        return ("MLX-3bit", "MLX-4bit", "MLX-6bit", "MLX-8bit")
    if c.formats and all(f in ("awq", "gptq") for f in c.formats):
        fam = c.formats[0].upper()
        return (f"{fam}-4bit", f"{fam}-8bit")
    natives = sorted({q for q in (arr.native_quant if arr is not None else ()) if q and q not in DEFAULT_LADDER})
    return DEFAULT_LADDER + tuple(natives)


def _native_pairs(arr: CatalogArrays, ladder: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(allowed, native) pair masks [models, quants]: a model released in its own GGUF quantization is priced only as
    that file (its K-quant uploads keep those tensors anyway), other models never as another model's own format."""
    natives = {q for q in arr.native_quant if q}
    lad = np.array(ladder, dtype=object)[None, :]
    own = np.array(arr.native_quant, dtype=object)[:, None]
    native = own == lad
    allowed = np.where(own != "", native, ~np.isin(lad, list(natives)) if natives else True)
    return np.broadcast_to(allowed, native.shape), native


def _model_mask(arr: CatalogArrays, c: Constraints) -> dict[str, np.ndarray]:
    """Per-model constraint masks (name -> bool array over models)."""
    n = len(arr.entries)
    masks: dict[str, np.ndarray] = {}
    if not c.uses or "embedding" not in c.uses:
        masks["_text"] = np.array([not (u == {"embedding"} or "embedding" in u and "chat" not in u) for u in arr.uses])
    if c.uses:
        masks["uses"] = np.array([all(x in u for x in c.uses) for u in arr.uses])
    if c.licenses:
        lic = [(e.license or "").lower() for e in arr.entries]
        masks["licenses"] = np.array([any(l == x or l.startswith(x) for x in c.licenses) for l in lic])
    if c.families:
        masks["families"] = np.array([any(e.family.startswith(x) or x in e.id.lower() for x in c.families) for e in arr.entries])
    if c.formats:
        masks["formats"] = np.array([any(x in e.formats for x in c.formats) for e in arr.entries])
    if c.min_params:
        masks["min_params"] = arr.params >= c.min_params
    if c.max_params:
        masks["max_params"] = arr.params <= c.max_params
    if c.context:
        masks["context"] = arr.max_ctx >= c.context
    if not masks:
        masks["_all"] = np.ones(n, bool)
    return masks


def specialist_points(arr: CatalogArrays, c: Constraints) -> np.ndarray:
    """+3 for a model made for an asked-for use (its own name says so: a Coder when coding is asked for)."""
    return np.array([_specialist(u, c) for u in arr.name_uses]) if c.uses else np.zeros(len(arr.entries))


def _specialist(name_uses: set, c: Constraints) -> float:
    return SPECIALIST_POINTS if name_uses & (set(c.uses) - {"chat", "tool-use"}) else 0.0


def speed_pts(decode):
    """Speed term of the rank: 20 × clamp(ln(tok/s ÷ 5) ÷ ln(200 ÷ 5), 0, 1)."""
    return SPEED_POINTS * np.clip(np.log(np.maximum(decode, 1e-9) / SPEED_FLOOR) / math.log(SPEED_TOP / SPEED_FLOOR), 0.0, 1.0)


def _select_rows(inputs: dict, sel, n: int) -> dict:
    """predict_batch inputs for the rows `sel` (mask or indices) of n: per-row arrays indexed, scalars kept."""
    return {k: (v[sel] if isinstance(v, np.ndarray) and v.shape == (n,) else v) for k, v in inputs.items()}


def _speed(inputs: dict, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """decode/prefill tok/s: learned correction for `rows` (candidates), plain roofline for the rest."""
    from llmfit_core.throughput.predict import predict_batch

    n = rows.size
    dec, pre = np.empty(n), np.empty(n)
    for want, corr in ((rows, True), (~rows, False)):
        if not want.any():
            continue
        if want.all():
            sub = inputs
        else:
            sub = _select_rows(inputs, want, n)
        out = predict_batch(sub, apply_correction=corr)
        dec[want] = np.asarray(out["decode_tok_s"]).reshape(-1)
        pre[want] = np.asarray(out["prefill_tok_s"]).reshape(-1)
    return dec, pre


CORRECT_MODELS = 300
INSTRUCT_POINTS = 3.0  # instruction-tuned models are what people run interactively; base models rank a little lower
REFINE_MAX = 25  # items re-scored with the full pipeline; further ones keep the vectorised figures


def evaluate(arr: CatalogArrays, hw, c: Constraints, ladder: tuple[str, ...], correct_models: int = CORRECT_MODELS) -> dict:
    """Memory, placement, speed and score for every model × quant (arrays shaped [models, quants])."""
    from llmfit_core.memory import RUNTIME_OVERHEAD, estimate_totals
    from llmfit_core.throughput.predict import hardware_arrays
    from llmfit_core.throughput.quantfamily import FAMILY_CODE, quant_family
    from llmfit_core.throughput.roofline import hardware_figures

    b = budgets(hw, mlx=all(q.startswith("MLX") for q in ladder))
    be = b["backend"]
    nq = len(ladder)
    col = lambda x: np.asarray(x, dtype=np.float64)[:, None]  # noqa: E731
    ctx = np.minimum(col(arr.max_ctx), c.context or DEFAULT_CONTEXT) if not c.context else np.full((len(arr.entries), 1), float(c.context))
    odd = col(arr.hidden % 256 != 0)  # llama.cpp falls back to legacy types for such rows
    tables = {flag: [group_bpw(q, flag) for q in ladder] for flag in (False, True)}

    def row(key, default):
        plain, fallback = ([g.get(key, g.get(default, 16.0)) for g in tables[flag]] for flag in (False, True))
        return np.where(odd, np.array(fallback)[None, :], np.array(plain)[None, :])

    tied = col(arr.out) == 0  # a tied embedding is stored like the output head
    emb_b = col(arr.emb) * np.where(tied, row("token_embd_tied", "output"), row("token_embd", "ffn")) / 8
    out_b = col(arr.out) * row("output", "ffn") / 8
    # attention and dense FFN share one effective rate (weighted by the reference model's mix)
    dense_rate = (row("attn", "ffn") * 0.2 + row("ffn", "attn") * 0.8)
    layer_b = col(arr.dense_layer) * dense_rate / 8
    exp_b = col(arr.experts) * row("ffn_experts", "ffn") / 8
    weights = emb_b + out_b + layer_b + exp_b
    overhead = RUNTIME_OVERHEAD.get(be.device if be.runtime != "mlx" else "mlx", 100 << 20)
    # sliding-window layers cache min(context, window + ubatch) cells (memory.swa_cells); the rest the context
    f = col(arr.kv_swa_frac)
    swa_cells = np.minimum(ctx, np.ceil((col(arr.window) + 512) / 256) * 256)
    kv_layers = col(arr.layers * arr.kv_layer_frac) * ((1 - f) + f * swa_cells / np.maximum(ctx, 1))
    total = estimate_totals(weights, kv_layers, col(arr.kv_heads), col(arr.head_dim), col(arr.hidden), col(arr.vocab),
                            col(arr.ffn), col(arr.heads), ctx, overhead=overhead)
    # placement: all on the GPU if it fits, else layers split GPU/CPU, else CPU only (budget: RAM)
    vram, ram = float(b["vram"]), float(b["ram"])
    if b["unified"] or vram <= 0:
        gpu_frac = np.full(total.shape, 1.0 if vram > 0 else 0.0)
        gpu_bytes = total * gpu_frac
        cpu_bytes = total - gpu_bytes
        budget = vram if vram > 0 else ram
        fits = total <= budget
        verdict = np.where(fits, np.where(total > TIGHT_FRACTION * budget, "tight", "runs"), "no-fit")
    else:
        gpu_frac = np.clip(vram / np.maximum(total, 1.0), 0.0, 1.0)
        gpu_frac = np.where(gpu_frac >= 1.0, 1.0, np.floor(gpu_frac * col(arr.layers)) / col(arr.layers))
        gpu_bytes = np.minimum(total, total * gpu_frac)
        cpu_bytes = total - gpu_bytes
        fits = (gpu_frac >= 1.0) | (cpu_bytes <= ram)
        verdict = np.where(gpu_frac >= 1.0, np.where(total > TIGHT_FRACTION * vram, "tight", "runs"),
                           np.where(fits, "offload", "no-fit"))
    # speed
    hfig = hardware_figures(hw, be, None, n_layers=32)
    per_tok = (np.where(col(arr.out) > 0, 0.0, emb_b) + out_b + layer_b + exp_b * col(arr.expert_frac))
    n_cpu_moe = np.zeros(total.shape)
    fam_codes = np.array([FAMILY_CODE[quant_family(q)] for q in ladder])[None, :]
    inputs = dict(hardware_arrays(hfig))
    shape = total.shape
    inputs.update({
        "weight_bytes": per_tok.ravel(),
        "kv_bytes_per_pos": np.broadcast_to(col(arr.layers * arr.kv_layer_frac * arr.kv_heads * arr.head_dim * 2 * 2),
                                            shape).ravel(),
        "active_params": np.broadcast_to(col(arr.active), shape).ravel(),
        # embedding + output head (counted once when tied): prefill does not run the head per prompt token
        "head_params": np.broadcast_to(col(np.minimum(arr.emb + arr.out, 0.5 * arr.active)), shape).ravel(),
        "attn_dim_layers": np.broadcast_to(col(arr.layers * arr.heads * arr.head_dim), shape).ravel(),
        "n_layers": np.broadcast_to(col(arr.layers), shape).ravel(),
        "qfam_code": np.broadcast_to(fam_codes, shape).ravel(),
        "bits_per_weight": (weights * 8 / np.maximum(col(arr.params), 1)).ravel(),
        "gpu_frac": gpu_frac.ravel() if hfig.backend_kind != "cpu" else np.zeros(total.size),
    })
    # MoE physics as throughput.model_figures prices it for fit: routed-expert bytes (a micro-batch touches all of
    # them; a layer split streams the CPU layers' ones), k / E, MoE layers and their share of the FLOPs
    moe = exp_b > 0
    inputs["moe_expert_bytes"] = np.where(moe, exp_b, 0.0).ravel()
    inputs["expert_used_ratio"] = np.broadcast_to(np.where(moe, col(arr.expert_frac), 0.0), shape).ravel()
    inputs["n_moe_layers"] = np.broadcast_to(np.where(moe, col(arr.layers), 0.0), shape).ravel()
    inputs["moe_flop_frac"] = np.broadcast_to(np.where(moe, np.minimum(col(arr.experts) * col(arr.expert_frac)
                                                                       / np.maximum(col(arr.active), 1.0), 0.95), 0.0),
                                              shape).ravel()
    if not b["unified"] and vram > 0 and be.runtime == "llama.cpp" and hfig.backend_kind != "cpu":
        # MoE expert offload (llama.cpp -ngl 999 --n-cpu-moe N, placement.place_expert_offload): the experts of
        # the first N layers in RAM, the GPU keeps the rest plus one layer's experts (the op-offload copy).
        # Kept where its roofline decode beats the layer split (or only it fits), like fit's pick.
        L = col(arr.layers)
        x_layer = exp_b / np.maximum(L, 1.0)  # routed experts per layer, an even split
        n_x = np.clip(np.ceil((total + x_layer - vram) / np.maximum(x_layer, 1.0)), 1.0, L)
        x_ram = n_x * x_layer
        can = (exp_b > 0) & (gpu_frac < 1.0) & (total - x_ram + x_layer <= vram)
        if can.any():
            idx = np.nonzero(can.ravel())[0]
            sub = _select_rows(inputs, idx, total.size)
            ratio = np.broadcast_to(col(arr.expert_frac), shape).ravel()[idx]
            xin = {**sub, "gpu_frac": np.ones(idx.size), "expert_cpu_bytes": x_ram.ravel()[idx],
                   "expert_cpu_frac": np.minimum(x_ram.ravel()[idx] * ratio / np.maximum(per_tok.ravel()[idx], 1.0), 1.0),
                   "expert_cpu_layers": n_x.ravel()[idx], "expert_used_ratio": ratio}
            dec_x = _speed(xin, np.zeros(idx.size, bool))[0]
            dec_l = _speed(sub, np.zeros(idx.size, bool))[0]
            fits_x = (x_ram <= ram).ravel()[idx]
            fits_l = fits.ravel()[idx]
            tie = np.abs(dec_x - dec_l) <= MOE_TIE * np.maximum(dec_x, dec_l)
            pick = np.where(fits_x != fits_l, fits_x, np.where(tie, x_ram.ravel()[idx] < cpu_bytes.ravel()[idx], dec_x > dec_l))
            if pick.any():
                sel = idx[pick]
                for k in ("expert_cpu_bytes", "expert_cpu_frac", "expert_cpu_layers"):
                    full = np.zeros(total.size)
                    full[sel] = xin[k][pick]
                    inputs[k] = full
                inputs["gpu_frac"] = inputs["gpu_frac"].copy()
                inputs["gpu_frac"][sel] = 1.0
                flat = lambda a: np.array(a, dtype=a.dtype).ravel()  # noqa: E731
                gb, cb, ft, vd, nm = flat(gpu_bytes), flat(cpu_bytes), flat(fits), flat(verdict), n_cpu_moe.ravel()
                gb[sel] = (total - x_ram + x_layer).ravel()[sel]
                cb[sel] = x_ram.ravel()[sel]
                ft[sel] = fits_x[pick]
                vd[sel] = np.where(fits_x[pick], "offload", "no-fit")
                nm[sel] = n_x.ravel()[sel]
                gpu_bytes, cpu_bytes, fits, verdict = gb.reshape(shape), cb.reshape(shape), ft.reshape(shape), vd.reshape(shape)
                n_cpu_moe = nm.reshape(shape)
    allowed, native = _native_pairs(arr, ladder)
    cand = (fits if c.fits else np.ones(shape, bool)) & allowed
    if c.max_memory_bytes:
        cand = cand & (total <= c.max_memory_bytes)
    if c.max_vram_bytes:
        cand = cand & (gpu_bytes <= c.max_vram_bytes)
    # a model's own released quantization loses nothing against the release
    penalty = np.where(native, 0.0, np.array([quality_penalty(q) for q in ladder])[None, :])
    quality = col(arr.quality) - penalty
    head_pts = np.select([verdict == "runs", verdict == "tight", verdict == "offload"], [5.0, -5.0, -10.0], -100.0)
    base_rank = (quality + head_pts + col(arr.avail) + INSTRUCT_POINTS * col(arr.instruct) + col(arr.ctx_pts)
                 + FIRST_PARTY_POINTS * col(arr.first_party) + col(specialist_points(arr, c)))

    # 1) roofline speeds for every pair; 2) the learned correction for the pairs of the `correct_models`
    # best candidates by that provisional rank (it moves speeds by tens of percent: a model far below
    # cannot climb into the top N, and the full pipeline re-scores the top N anyway).
    dec, pre = _speed(inputs, np.zeros(total.size, bool))
    decode, prefill = dec.reshape(shape), pre.reshape(shape)
    if correct_models:
        prov = np.where(cand, base_rank + speed_pts(decode), -np.inf).max(axis=1)
        k = min(correct_models, int(np.isfinite(prov).sum()))
        if k:
            top_models = np.argpartition(-prov, k - 1)[:k]
            rows = np.zeros(shape, bool)
            rows[top_models] = True
            rows &= cand
            dec, pre = _speed(inputs, rows.ravel())
            decode, prefill = dec.reshape(shape), pre.reshape(shape)
    kv = 2.0 * kv_layers * np.ceil(ctx / 256) * 256 * col(arr.kv_heads) * col(arr.head_dim) * 2  # f16 K+V, as estimate_totals
    return {"total": total, "weights": weights, "kv": np.broadcast_to(kv, shape), "overhead": float(overhead),
            "gpu_bytes": gpu_bytes, "cpu_bytes": cpu_bytes, "fits": fits, "verdict": verdict, "n_cpu_moe": n_cpu_moe,
            "decode": decode, "prefill": prefill, "quality": quality, "rank": base_rank + speed_pts(decode),
            "quant_loss": np.broadcast_to(penalty, shape), "fit_pts": head_pts, "allowed": allowed,
            "ctx": np.broadcast_to(ctx, shape), "budget_ram": ram, "budget_vram": vram, "backend": be}


def _pair_masks(ev: dict, c: Constraints) -> dict[str, np.ndarray]:
    masks = {"_native": ev["allowed"]}
    if c.fits:
        masks["fits"] = ev["fits"]
    if c.max_memory_bytes:
        masks["max_memory_bytes"] = ev["total"] <= c.max_memory_bytes
    if c.max_vram_bytes:
        masks["max_vram_bytes"] = ev["gpu_bytes"] <= c.max_vram_bytes
    if c.min_tps:
        masks["min_tps"] = ev["decode"] >= c.min_tps
    if c.min_prefill_tps:
        masks["min_prefill_tps"] = ev["prefill"] >= c.min_prefill_tps
    return masks


def _why_rejected(ev: dict, c: Constraints, i: int, j: int, quant: str) -> str:
    """First constraint quant j of model i breaks, in words ("Q6_K needs 9.1 GB > 8.0 GB")."""
    t = ev["total"][i, j]
    if c.max_memory_bytes and t > c.max_memory_bytes:
        return f"{quant} needs {fmt_gib(t)} > {fmt_gib(c.max_memory_bytes)}"
    if c.fits and not ev["fits"][i, j]:
        avail = ev["budget_vram"] + ev["budget_ram"] if ev["budget_vram"] and ev["budget_ram"] != ev["budget_vram"] else ev["budget_ram"]
        return f"{quant} needs {fmt_gib(t)}, does not fit ({fmt_gib(avail)} usable)"
    if c.max_vram_bytes and ev["gpu_bytes"][i, j] > c.max_vram_bytes:
        return f"{quant} needs {fmt_gib(ev['gpu_bytes'][i, j])} VRAM > {fmt_gib(c.max_vram_bytes)}"
    if c.min_tps and ev["decode"][i, j] < c.min_tps:
        return f"{quant} decodes at {ev['decode'][i, j]:.1f} tok/s < {c.min_tps:g}"
    if c.min_prefill_tps and ev["prefill"][i, j] < c.min_prefill_tps:
        return f"{quant} prefills at {ev['prefill'][i, j]:.0f} tok/s < {c.min_prefill_tps:g}"
    return (f"{quant} scores lower: {ev['verdict'][i, j]}, {ev['decode'][i, j]:.1f} tok/s, "
            f"{fmt_gib(t)}")


def _explain_empty(model_masks: dict, pair_masks: dict, ev: dict | None, c: Constraints) -> str:
    """Which constraint excluded everything (ConstraintError text). Masks are [models, 1] or [models, quants]."""
    allm = {**model_masks, **pair_masks}
    shape = np.broadcast_shapes(*(m.shape for m in allm.values()))
    allm = {k: np.broadcast_to(v, shape) for k, v in allm.items()}
    names = [k for k in allm if not k.startswith("_")]
    base = np.ones(shape, bool)
    for k in allm:
        if k.startswith("_"):
            base &= allm[k]

    def label(k):
        return "fits this hardware" if k == "fits" else describe_field(k, getattr(c, k))

    def hint(k):
        if ev is None:
            return ""
        fit = base & ev["fits"]
        if k == "min_tps" and fit.any():
            return f" (fastest model that fits: {ev['decode'][fit].max():.1f} tok/s)"
        if k == "min_prefill_tps" and fit.any():
            return f" (fastest prefill that fits: {ev['prefill'][fit].max():.0f} tok/s)"
        if k in ("max_memory_bytes", "fits") and base.any():
            return f" (smallest candidate needs {fmt_gib(ev['total'][base].min())})"
        if k == "max_vram_bytes" and base.any():
            return f" (smallest GPU share needed: {fmt_gib(ev['gpu_bytes'][base].min())})"
        return ""

    for k in names:  # a constraint that alone leaves nothing
        if not (base & allm[k]).any():
            return f"no model meets the constraints: '{label(k)}' alone excludes every model{hint(k)}"
    culprits = []
    for k in names:
        rest = base.copy()
        for o in names:
            if o != k:
                rest &= allm[o]
        if rest.any():
            culprits.append(f"'{label(k)}' (without it: {int(rest.any(axis=1).sum())} models)")
    if culprits:
        return "no model meets all constraints together; excluded by " + " or ".join(culprits)
    return "no model meets all constraints together (" + ", ".join(label(k) for k in names) + ")"


def recommend(constraints: Constraints | None = None, hardware=None, top: int = 10, catalog=None,
              refine: bool = True, distinct: bool = True, community: bool = False, modified: bool = False,
              sort: str = "rank") -> RecommendResult:
    """Best models × quantizations for `hardware` under `constraints` (see module doc for the rank points).

    `distinct`: fine-tunes with the same architecture and size as a model already listed (same figures)
    are counted in its `similar` list instead of taking a row each. By default only first-party models, the
    listed well-known tunes and private entries are considered; `community` adds other unmodified uploads,
    `modified` also uncensored / abliterated / merged / pruned ones. `sort`: rank, speed, quality, memory, context.

    Raises ConstraintError naming the constraint that excluded everything.
    """
    from llmfit_core.catalog import load_catalog

    c = constraints or Constraints()
    if top < 1 or top > 1000:
        raise ConstraintError(f"--top must be between 1 and 1000, got {top}")
    if sort not in SORTS:
        raise ConstraintError(f"unknown sort {sort!r} (valid: {', '.join(SORTS)})")
    hw = resolve_hw(hardware)
    cat = catalog or load_catalog()
    t0 = time.perf_counter()
    models = cat.models
    full = catalog_arrays(models)
    mmask = _model_mask(full, c)
    if c.formats == [] and not c.quants:
        # quantized re-uploads (MLX/NVFP4/bnb... repos) are not what one downloads as GGUF
        mmask["_not_packed"] = ~full.packed
    if not modified:
        mmask["_publisher"] = ~full.modified if community else full.first_party > 0
    sel = np.ones(len(models), bool)
    for m in mmask.values():
        sel &= m
    res = RecommendResult(hardware_name=hw.name, backend="", context=c.context, constraints=c, models_considered=int(sel.sum()))
    if not sel.any():
        raise ConstraintError(_explain_empty({k: v[:, None] for k, v in mmask.items()}, {}, None, c))
    idx = np.nonzero(sel)[0]
    arr = full.take(idx)
    models = [models[i] for i in idx]
    ladder = _ladder(c, arr)
    ev = evaluate(arr, hw, c, ladder)
    res.backend = ev["backend"].name
    pmask = _pair_masks(ev, c)
    ok = np.ones(ev["total"].shape, bool)
    for m in pmask.values():
        ok &= m
    res.pairs_considered, res.pairs_passing = int(ev["total"].size), int(ok.sum())
    if not ok.any():  # explain over the whole catalog: a model-level constraint may be the culprit
        ev_all = evaluate(full, hw, c, ladder, correct_models=0)
        raise ConstraintError(_explain_empty({k: v[:, None] for k, v in mmask.items()}, _pair_masks(ev_all, c), ev_all, c))
    rc = c
    if not c.min_tps:
        fast = ok & (ev["decode"] >= DEFAULT_MIN_TPS)
        if fast.any():
            ok = fast
            rc = replace(c, min_tps=DEFAULT_MIN_TPS)
            res.notes.append(f"no speed constraint given: showing models that generate at least {DEFAULT_MIN_TPS:g} tok/s "
                             "(add e.g. 'min 1 tok/s' to see slower, larger ones)")
        else:
            res.notes.append(f"nothing reaches {DEFAULT_MIN_TPS:g} tok/s here: showing the best that fits, however slow")
        res.pairs_passing = int(ok.sum())
    # per model: the highest-quality passing quant (ladder order = quality order, ties -> earlier = smaller)
    # per model: the quantization with the best score among those meeting every constraint (quality first,
    # but a quant that would spill to the CPU or crawl loses to a smaller one that runs fast)
    rounded = np.round(np.where(ok, ev["rank"], -np.inf), 1)
    # per model: the highest-quality quantization whose rank is within QUANT_SLACK of the model's best (a bigger one
    # that offloads or crawls loses; one that is merely a little slower than a smaller one does not)
    near_best = ok & (rounded >= rounded.max(axis=1, keepdims=True) - QUANT_SLACK)
    best_j = np.argmax(np.where(near_best, ev["quality"], -np.inf), axis=1)
    has = ok.any(axis=1)
    rows = np.nonzero(has)[0]
    order = _order(ev, arr, rows, best_j[rows], sort)
    res.rank_ms = (time.perf_counter() - t0) * 1000
    dropped: list[str] = []
    shown: dict[tuple, Recommendation] = {}
    tried = 0
    for i in order:
        if len(res.items) >= top or tried >= max(top * 3, top + 5):
            break
        e = models[i]
        key = (e.arch, e.n_layers, e.hidden_size, round(e.params / 1e8), ladder[int(best_j[i])])
        if distinct and key in shown:
            shown[key].similar.append(e.id)
            continue
        tried += 1
        # the model's passing quantizations, best first: when the full estimate of one breaks a constraint the
        # vectorised one met (the default speed floor included), the next one is tried
        js = [int(best_j[i])] + [j for j in sorted(np.nonzero(ok[i])[0], key=lambda j: (-rounded[i, j], j))
                                 if j != best_j[i]][:2]
        rec = None
        for j in js:
            rec = _recommendation(ev, rc, ladder, e, int(i), int(j), arr)
            if refine and len(res.items) < REFINE_MAX:
                if _apply_report(rec, _full_report(e, ladder[j], hw, rec.context)):
                    why = _broken_by_report(rec.report, rc)
                    if why:
                        dropped.append(f"{e.id} {ladder[j]}: {why}")
                        rec = None
                        continue
            break
        if rec is None:
            continue
        if rec.report is None:
            parts = (int(ev["weights"][i, ladder.index(rec.quant)]), int(ev["kv"][i, 0]), int(ev["overhead"]))
            rec.report = _vector_report(rec, hw, ev["backend"].name, parts)
            rec.vector_hw = (hw, ev["backend"].name)
        shown[key] = rec
        res.items.append(rec)
    if dropped:
        res.notes.append(f"{len(dropped)} candidate(s) dropped after the full per-model estimate, e.g. {dropped[0]}")
    if not res.items:
        cons = ", ".join(t for _, t in c.describe()) or "fits this hardware"
        raise ConstraintError(f"no model meets '{cons}' once estimated in full: the best candidates fall short, e.g. "
                              + "; ".join(dropped[:2]))
    return res


def _order(ev: dict, arr: CatalogArrays, rows: np.ndarray, js: np.ndarray, sort: str) -> np.ndarray:
    """Candidates `rows` (at their chosen quants `js`) in display order: the sort's figure, then rank points,
    availability, id (deterministic)."""
    rank = -np.round(ev["rank"][rows, js], 1)
    figure = {"rank": np.zeros(rows.size), "speed": -np.round(ev["decode"][rows, js], 1),
              "quality": -np.round(ev["quality"][rows, js], 1), "memory": np.round(ev["total"][rows, js] / 2**20),
              "context": -arr.max_ctx[rows]}[sort]
    return rows[np.lexsort((arr.id_order[rows], -arr.avail[rows], rank, figure))]


def _recommendation(ev: dict, c: Constraints, ladder, e, i: int, j: int, arr: CatalogArrays) -> Recommendation:
    """The vectorised figures of model i at quant j, with the rank's terms and why the next better quant lost."""
    better = [k for k in range(len(ladder)) if ev["allowed"][i, k] and ev["quality"][i, k] > ev["quality"][i, j] + 0.05]
    nb = min(better, key=lambda k: ev["quality"][i, k]) if better else None
    rej = _why_rejected(ev, c, i, nb, ladder[nb]) if nb is not None else None
    terms = {
        "size": float(arr.size_pts[i]), "generation": float(arr.gen_pts[i]), "quant_loss": -float(ev["quant_loss"][i, j]),
        "speed": float(speed_pts(ev["decode"][i, j])), "fit": float(ev["fit_pts"][i, j]), "context": float(arr.ctx_pts[i]),
        "first_party": FIRST_PARTY_POINTS * float(arr.first_party[i]), "instruct": INSTRUCT_POINTS * float(arr.instruct[i]),
        "availability": float(arr.avail[i]), "specialist": _specialist(arr.name_uses[i], c),
    }
    return Recommendation(entry=e, quant=ladder[j], rank_score=float(ev["rank"][i, j]), quality=float(ev["quality"][i, j]),
                          total_bytes=int(ev["total"][i, j]), gpu_bytes=int(ev["gpu_bytes"][i, j]),
                          cpu_bytes=int(ev["cpu_bytes"][i, j]), verdict=str(ev["verdict"][i, j]), fits=bool(ev["fits"][i, j]),
                          decode_tok_s=float(ev["decode"][i, j]), prefill_tok_s=float(ev["prefill"][i, j]),
                          context=int(ev["ctx"][i, 0]), rejected_better=rej, n_cpu_moe=int(ev["n_cpu_moe"][i, j]),
                          rank_terms=terms)


def _apply_report(rec: Recommendation, report) -> bool:
    """Take the full pipeline's figures (FitReport) into `rec`; False when there is no report."""
    if report is None:
        return False
    rec.report = report
    rec.total_bytes, rec.verdict, rec.fits = report.memory.total_bytes, report.verdict, report.fits
    rec.gpu_bytes, rec.cpu_bytes = report.memory.gpu_bytes, report.memory.cpu_bytes
    rec.decode_tok_s, rec.prefill_tok_s = report.decode_tok_s, report.prefill_tok_s
    return True


def _broken_by_report(r, c: Constraints) -> str | None:
    if c.fits and not r.fits:
        return f"does not fit ({fmt_gib(r.memory.total_bytes)})"
    if c.max_memory_bytes and r.memory.total_bytes > c.max_memory_bytes:
        return f"needs {fmt_gib(r.memory.total_bytes)} > {fmt_gib(c.max_memory_bytes)}"
    if c.max_vram_bytes and r.memory.gpu_bytes > c.max_vram_bytes:
        return f"needs {fmt_gib(r.memory.gpu_bytes)} VRAM > {fmt_gib(c.max_vram_bytes)}"
    if c.min_tps and r.decode_tok_s < c.min_tps:
        return f"{r.decode_tok_s:.1f} tok/s < {c.min_tps:g}"
    if c.min_prefill_tps and r.prefill_tok_s < c.min_prefill_tps:
        return f"prefill {r.prefill_tok_s:.0f} tok/s < {c.min_prefill_tps:g}"
    return None


def _full_report(entry, quant, hw, context):
    """FitReport from the full per-model pipeline, or None when a stage is not available."""
    try:
        from llmfit_core.api import fit_spec
    except ImportError:
        return None
    try:
        return fit_spec(entry.to_spec(quant), hardware=hw, context=context)
    except ImportError:
        return None


def _vector_report(rec: Recommendation, hw, backend: str, parts: tuple[int, int, int]):
    """FitReport from the vectorised figures (items beyond REFINE_MAX, or when a pipeline stage is missing)."""
    from llmfit_core.report import FitReport, MemoryBreakdown
    from llmfit_core.scoring import fit_score

    e = rec.entry
    return FitReport(
        model_ref=e.id, arch=e.arch, params=e.params, active_params=e.active_params or e.params, quant=rec.quant,
        file_bytes=e.gguf_size(rec.quant), hardware_name=hw.name, backend=backend, context=rec.context,
        memory=MemoryBreakdown(weights_bytes=parts[0], kv_cache_bytes=parts[1], overhead_bytes=parts[2],
                               compute_bytes=max(0, rec.total_bytes - sum(parts)), gpu_bytes=rec.gpu_bytes, cpu_bytes=rec.cpu_bytes),
        gpu_layers=e.n_layers if (rec.gpu_bytes >= rec.total_bytes and rec.gpu_bytes) or rec.n_cpu_moe else 0,
        total_layers=e.n_layers, n_cpu_moe=rec.n_cpu_moe,
        fits=rec.fits, verdict=rec.verdict, score=fit_score(rec.verdict, rec.decode_tok_s),
        prefill_tok_s=rec.prefill_tok_s, decode_tok_s=rec.decode_tok_s, decode_tok_s_range=(rec.decode_tok_s * 0.7, rec.decode_tok_s * 1.3),
        reasons=[f"vectorised catalog estimate (the full per-model estimate covers the first {REFINE_MAX} results)"],
    )


def _max_context(rec: Recommendation, hw, backend: str) -> int | None:
    """context_fit's largest context for a row the full pipeline did not estimate, holding its placement kind
    (all layers on the GPU, or MoE expert offload) as fit's report does (None when unavailable)."""
    try:
        from llmfit_core.context_fit import max_context
    except ImportError:
        return None
    e = rec.entry
    on_gpu = bool(rec.gpu_bytes) and rec.gpu_bytes >= rec.total_bytes
    return max_context(e.to_spec(rec.quant), hw, backend, cpu_moe=bool(rec.n_cpu_moe),
                       gpu_layers=e.n_layers + 1 if on_gpu and not rec.n_cpu_moe else None)  # + the output layer


def recommend_quants(ref: str, constraints: Constraints | None = None, hardware=None, catalog=None,
                     sort: str = "rank") -> RecommendResult:
    """Which quantization of THIS model: every quantization of the ladder for one catalog model, the passing ones
    best first (by `sort`), then the ones breaking a constraint with the constraint they break."""
    from llmfit_core.catalog import load_catalog
    from llmfit_core.errors import ResolveError

    c = constraints or Constraints()
    if sort not in SORTS:
        raise ConstraintError(f"unknown sort {sort!r} (valid: {', '.join(SORTS)})")
    cat = catalog or load_catalog()
    e = cat.find(ref.strip()) if isinstance(ref, str) and ref.strip() else None
    if e is None:
        raise ResolveError(f"{ref!r} is not in the catalog (try `llmfit search {str(ref).split('/')[-1]}`)")
    hw = resolve_hw(hardware)
    arr = catalog_arrays([e])
    ladder = tuple(q for q, a in zip(_ladder(c, arr), _native_pairs(arr, _ladder(c, arr))[0][0]) if a)
    ev = evaluate(arr, hw, c, ladder)
    ok = np.ones(ev["total"].shape, bool)
    for m in _pair_masks(ev, c).values():
        ok &= m
    res = RecommendResult(hardware_name=hw.name, backend=ev["backend"].name, context=c.context, constraints=c,
                          models_considered=1, pairs_considered=len(ladder), pairs_passing=int(ok.sum()))
    recs = []
    for j in range(len(ladder)):
        rec = _recommendation(ev, c, ladder, e, 0, j, arr)
        rec.rejected_better = None
        if _apply_report(rec, _full_report(e, ladder[j], hw, rec.context)):
            broken = _broken_by_report(rec.report, c)
        else:
            parts = (int(ev["weights"][0, j]), int(ev["kv"][0, j]), int(ev["overhead"]))
            rec.report = _vector_report(rec, hw, ev["backend"].name, parts)
            rec.vector_hw = (hw, ev["backend"].name)
            broken = None if ok[0, j] else _why_rejected(ev, c, 0, j, ladder[j])
        rec.rejected_better = f"breaks: {broken}" if broken else None
        recs.append(rec)
    figure = {"rank": lambda r: -r.rank_score, "speed": lambda r: -r.decode_tok_s, "quality": lambda r: -r.quality,
              "memory": lambda r: r.total_bytes, "context": lambda r: -r.rank_score}[sort]
    res.items = sorted(recs, key=lambda r: (r.rejected_better is not None, round(figure(r), 1), ladder.index(r.quant)))
    res.pairs_passing = sum(1 for r in recs if r.rejected_better is None)
    if not res.pairs_passing:
        res.notes.append(f"no quantization of {e.id} meets every constraint here")
    return res
