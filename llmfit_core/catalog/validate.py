"""Validation of catalog entries: architecture sanity, parameter count recomputed from the architecture.

Used by the catalog build script, private registries (LLMFIT_CATALOG_PATH) and `llmfit catalog validate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmfit_core.catalog.entry import ARCH_FIELDS, USES, CatalogEntry
from llmfit_core.catalog.facts import documented_for, is_publisher, name_context
from llmfit_core.errors import CatalogError
from llmfit_core.recurrent import NEMOTRON_H_30B_A3B_PATTERN

# Declared counts may differ this much from the architecture-derived count (norms, biases, position
# embeddings are not in the formula); a larger disagreement is replaced by the recomputed count and flagged.
PARAM_TOLERANCE = 0.03
# Beyond this ratio the architecture fields themselves are suspect (or the repo is not what its fields say):
# the entry is dropped instead of repaired, unless the declared count is a packed / far-too-small one.
PARAM_REPAIR_RANGE = (0.5, 2.0)
HYBRID_TOLERANCE = 0.05
# Parameter counts read from the weights themselves (trusted over the simple formula for hybrid models).
TRUSTED_PARAM_SOURCES = ("hub safetensors metadata", "gguf header (tensor infos)")
HYBRID_DECLARED = "declared (hybrid architecture: its layer mix is not in the catalog fields, not recomputable)"

# FFN with two matrices (up, down) instead of gated three (gate, up, down).
_NON_GATED = {
    "gpt2", "gpt_neox", "gptj", "bert", "roberta", "xlm-roberta", "bloom", "falcon", "phi", "opt",
    "gpt_bigcode", "starcoder2", "codegen", "mpt", "distilbert", "nomic_bert", "modernbert", "electra",
    "deberta", "deberta-v2", "mpnet", "stablelm_epoch",
}
# Architectures whose layers are not all attention+FFN blocks: the simple formula does not apply,
# so a disagreement there is not evidence of a wrong declared count.
_HYBRID = re.compile(r"mamba|jamba|nemotron_h|lfm2|qwen3_next|hybrid|falcon_h|rwkv|zamba|bamba|plamo|xlstm|recurrent|qwen3_5|qwen4_exp", re.I)
# Repos whose declared count was read from packed (quantized) tensors and is too small.
_PACKED = re.compile(r"(\d)bit|[-_]bit|nvfp4|mxfp4|fp8|int4|int8|awq|gptq|bnb|mlx|autoround|hqq|exl2|[-_]q\d|w4a16|w8a8|dwq|\boq\d", re.I)
_STUB_NAME = re.compile(r"tiny[-_]?random|dummy|[-_/]test[-_]|[-_]test$|^test[-_]|debug|[-_]stub|placeholder|hf-internal-testing", re.I)


@dataclass
class Recount:
    total: int
    active: int
    tied: bool
    layout_modelled: bool = False  # a hybrid whose layer mix is known (its count is as good as a dense one's)


def recompute_params(e: CatalogEntry) -> Recount | None:
    """Parameter count of a decoder/encoder stack from its architecture fields (None if incomplete).

    Per layer: attention q,o = hidden × heads·head_dim each, k,v = hidden × kv_heads·head_dim each;
    FFN gated 3·hidden·ffn (2× for non-gated archs); MoE: experts·3·hidden·expert_ffn + shared + router.
    Embeddings vocab·hidden, doubled when the output matrix is not tied (the closer of the two is chosen).
    """
    if not all(getattr(e, f) for f in ARCH_FIELDS):
        return None
    if e.arch == "nemotron_h":
        rc = nemotron_h_params(e)
        if rc is not None:
            return rc
    H, L = e.hidden_size, e.n_layers
    attn = 2 * H * e.n_heads * e.head_dim + 2 * H * e.n_kv_heads * e.head_dim
    mats = 2 if e.arch.lower() in _NON_GATED else 3
    if e.is_moe:
        if not e.expert_ffn_size:
            return None
        experts = e.n_experts * 3 * H * e.expert_ffn_size + 3 * H * e.shared_ffn_size + H * e.n_experts
        used = (e.n_experts_used or 1) * 3 * H * e.expert_ffn_size + 3 * H * e.shared_ffn_size + H * e.n_experts
        # dense layers (DeepSeek's first_k_dense_replace, Llama 4 Maverick's interleaving) carry a dense FFN
        n_dense = min(e.dense_layers, L) if e.ffn_size else 0
        dense = n_dense * (attn + mats * H * e.ffn_size)
        body, body_active = (L - n_dense) * (attn + experts) + dense, (L - n_dense) * (attn + used) + dense
    else:
        if not e.ffn_size:
            return None
        body = body_active = L * (attn + mats * H * e.ffn_size)
    return _with_embeddings(e, body, body_active)


def _with_embeddings(e: CatalogEntry, body: int, body_active: int) -> Recount:
    """Add the embedding (and the output head unless tied, whichever is closer to the declared count)."""
    emb = e.vocab_size * e.hidden_size
    best = None
    for tied in (True, False):
        total = body + emb * (1 if tied else 2)
        if best is None or abs(total - e.params) < abs(best.total - e.params):
            best = Recount(total, body_active + emb * (1 if tied else 2), tied)
    return best


# Nemotron-H Mamba-2 mixer sizes of the Nemotron-3-Nano-30B-A3B trunk (nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16
# config.json: mamba_num_heads 64, mamba_head_dim 64, ssm_state_size 128, n_groups 8, conv_kernel 4); its MoE
# experts and shared expert are squared-ReLU MLPs with two matrices (up, down).
_NEMOTRON_H_LAYOUTS = {(52, 2688): (NEMOTRON_H_30B_A3B_PATTERN, dict(heads=64, head_dim=64, state=128, groups=8, conv=4))}


def nemotron_h_params(e: CatalogEntry) -> Recount | None:
    """Parameters of a Nemotron-H hybrid (Mamba-2 / MoE / attention layers), for the layouts whose pattern is
    documented (None otherwise: the layer mix is not in the catalog fields)."""
    layout = _NEMOTRON_H_LAYOUTS.get((e.n_layers, e.hidden_size))
    if layout is None or not e.is_moe:
        return None
    pattern, m = layout
    H = e.hidden_size
    d_inner = m["heads"] * m["head_dim"]
    conv_dim = d_inner + 2 * m["groups"] * m["state"]
    mamba = H * (2 * d_inner + 2 * m["groups"] * m["state"] + m["heads"]) + conv_dim * (m["conv"] + 1) \
        + d_inner * H + 3 * m["heads"] + d_inner + H
    attn = 2 * H * e.n_heads * e.head_dim + 2 * H * e.n_kv_heads * e.head_dim + H
    expert, shared = 2 * H * e.expert_ffn_size, 2 * H * e.shared_ffn_size
    moe = e.n_experts * expert + shared + H * e.n_experts + H
    moe_active = e.n_experts_used * expert + shared + H * e.n_experts + H
    count = {c: pattern.count(c) for c in "ME*"}
    body = count["M"] * mamba + count["*"] * attn + count["E"] * moe + H
    body_active = count["M"] * mamba + count["*"] * attn + count["E"] * moe_active + H
    rc = _with_embeddings(e, body, body_active)
    rc.layout_modelled = True
    return rc


def check_arch(e: CatalogEntry) -> None:
    """Raise CatalogError when architecture fields are missing or impossible."""
    missing = [f for f in ARCH_FIELDS if not getattr(e, f)]
    if missing:
        raise CatalogError(f"{e.id}: missing architecture fields: {', '.join(missing)}")
    for f in ARCH_FIELDS + ("ffn_size", "n_experts", "n_experts_used", "expert_ffn_size", "params"):
        v = getattr(e, f)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise CatalogError(f"{e.id}: {f} must be a non-negative integer, got {v!r}")
    if not (1 <= e.n_layers <= 1000 and 1 <= e.n_heads <= 1024 and 1 <= e.n_kv_heads <= e.n_heads):
        raise CatalogError(f"{e.id}: impossible head/layer counts (layers {e.n_layers}, heads {e.n_heads}, kv {e.n_kv_heads})")
    if e.n_heads % e.n_kv_heads:
        raise CatalogError(f"{e.id}: {e.n_heads} attention heads not divisible by {e.n_kv_heads} KV heads")
    if not (16 <= e.head_dim <= 1024 and 64 <= e.hidden_size <= 65536 and e.max_context >= 128):
        raise CatalogError(f"{e.id}: implausible sizes (head_dim {e.head_dim}, hidden {e.hidden_size}, context {e.max_context})")
    if e.is_moe and not (1 <= e.n_experts_used <= e.n_experts):
        raise CatalogError(f"{e.id}: {e.n_experts_used} active experts of {e.n_experts}")


def is_stub(e: CatalogEntry) -> str | None:
    """Why this entry is a test stub / toy model, or None."""
    if _STUB_NAME.search(e.id):
        return "test stub (name)"
    if e.params and e.params < 10_000_000 and e.hidden_size < 256:
        return f"toy model ({e.params} parameters, hidden {e.hidden_size})"
    if e.n_layers < 2 or e.hidden_size < 128:
        return f"toy model (layers {e.n_layers}, hidden {e.hidden_size})"
    return None


def validate_entry(e: CatalogEntry) -> list[str]:
    """Check `e` in place; repair an obviously wrong declared parameter count.

    Returns the list of repairs made; raises CatalogError (with the reason) when the entry must be dropped.
    """
    if not e.id or "/" not in e.id and not e.id.startswith("local:"):
        raise CatalogError(f"{e.id!r}: id must be an HF repo id org/name (or local:NAME)")
    check_arch(e)
    stub = is_stub(e)
    if stub:
        raise CatalogError(f"{e.id}: {stub}")
    bad_uses = [u for u in e.uses if u not in USES]
    if bad_uses:
        raise CatalogError(f"{e.id}: unknown use tags {bad_uses} (known: {', '.join(USES)})")
    repairs: list[str] = check_documented(e)
    rc = recompute_params(e)
    if rc is None:
        raise CatalogError(f"{e.id}: cannot recompute parameters (FFN/expert size missing)")
    e.tied_embeddings = rc.tied
    declared = e.params
    ratio = rc.total / declared if declared > 0 else float("inf")
    hybrid = bool(_HYBRID.search(e.arch)) and not rc.layout_modelled
    stated = name_params(e.short_name)
    if hybrid and stated and declared > 0 and abs(declared / stated - 1) > 0.35 \
            and not (packed_name(e) and declared < stated) \
            and e.src.get("params") not in TRUSTED_PARAM_SOURCES:
        raise CatalogError(f"{e.id}: hybrid architecture not modelled: declared {declared:,} contradicts the "
                           f"{stated / 1e9:g}B in its name")
    # a hybrid's formula misses its recurrent layers: only a larger disagreement says anything about its count
    if abs(ratio - 1) > (HYBRID_TOLERANCE if hybrid else PARAM_TOLERANCE):
        packed = bool(_PACKED.search(e.id)) or e.format in ("mlx", "awq", "gptq")
        trusted = e.src.get("params") in TRUSTED_PARAM_SOURCES
        fields_suspect = bool(stated) and abs(declared / stated - 1) < 0.1 and abs(rc.total / stated - 1) > 0.25
        lo, hi = PARAM_REPAIR_RANGE
        if not hybrid and (declared < 0.01 * rc.total or (packed and ratio > 1)):
            why = "far too small" if declared < 0.01 * rc.total else "counted from packed quantized tensors"
            e.params = rc.total
            e.src["params"] = f"recomputed from architecture (declared {declared:,} was {why})"
            repairs.append(f"params {declared:,} -> {rc.total:,} ({why})")
        elif not hybrid and not fields_suspect and (lo < ratio < hi or (stated and abs(rc.total / stated - 1) < 0.25)):
            e.params = rc.total
            e.src["params"] = f"recomputed from architecture (declared {declared:,} disagreed by {1 / ratio - 1:+.1%})"
            repairs.append(f"params {declared:,} -> {rc.total:,} (declared disagreed with the architecture by more than 3%)")
        elif hybrid and (trusted or (not packed and 0.5 < ratio < 2)):
            # linear-attention/SSM layers are not in the catalog fields: keep a plausible declared count, say so
            if not trusted:
                e.src["params"] = HYBRID_DECLARED
            repairs.append("unverified: parameter count of a hybrid architecture kept as declared")
            if e.is_moe and not e.active_params:
                e.active_params = int(rc.active * declared / rc.total)
                e.src["active_params"] = "recomputed from architecture, scaled to the declared total"
            return repairs
        else:
            kind = "hybrid architecture not modelled" if hybrid else "declared count disagrees with architecture"
            raise CatalogError(f"{e.id}: {kind}: declared {declared:,}, architecture gives {rc.total:,} ({ratio - 1:+.0%})")
    if e.is_moe:
        if not e.active_params or abs(e.active_params / rc.active - 1) > 0.25:
            if e.active_params:
                repairs.append(f"active_params {e.active_params:,} -> {rc.active:,}")
            e.active_params = rc.active
            e.src["active_params"] = "recomputed from architecture"
    else:
        e.active_params = e.params
    if e.active_params > e.params:
        e.active_params = e.params
    return repairs


# A size stated in a repo name ("-8B", "-1.5B", "-270m"), not an "A3B" active count, an "8x7B" expert layout or
# a "17B-16E" per-expert size.
_NAME_SIZE = re.compile(r"(?:^|[-_.])(\d+(?:\.\d+)?)([bm])(?=$|[-_.])(?![-_.]?\d+e(?:$|[-_.]))", re.I)


def name_params(short: str) -> float | None:
    """The parameter count a repo name states, or None (no size, or a size form that is not a total)."""
    if re.search(r"\d+x\d+(?:\.\d+)?b", short, re.I):
        return None
    hits = list(_NAME_SIZE.finditer(short))  # "A3B" (active) never matches: the token must start with the digits
    if len(hits) != 1:
        return None
    num, unit = float(hits[0].group(1)), hits[0].group(2).lower()
    return num * (1e9 if unit == "b" else 1e6)


def packed_name(e: CatalogEntry) -> bool:
    """The repo holds packed quantized tensors (its declared count may be far too small)."""
    return bool(_PACKED.search(e.id)) or e.format in ("mlx", "awq", "gptq")


def check_documented(e: CatalogEntry) -> list[str]:
    """Facts of `e` against the documented facts of the official size it is (facts.DOCUMENTED): a context beyond
    the documented limit (unless the name states the longer context) is cut to it; a first-party entry's
    vocabulary / layer count that disagrees is replaced. Returns the repairs, each naming the evidence."""
    d = documented_for(e)
    if d is None:
        return []
    repairs = []
    if d.max_context and e.max_context > d.max_context and name_context(e.short_name) < e.max_context:
        repairs.append(f"max_context {e.max_context:,} -> {d.max_context:,} (documented limit of {d.name}: {d.source})")
        e.src["max_context"] = f"documented limit of {d.name} ({d.source}; the source list said {e.max_context:,})"
        e.max_context = d.max_context
    if is_publisher(e, d):
        for name in ("vocab_size", "n_layers"):
            want, have = getattr(d, name), getattr(e, name)
            if want and have and have != want:
                repairs.append(f"{name} {have:,} -> {want:,} (documented for {d.name}: {d.source})")
                e.src[name] = f"documented for {d.name} ({d.source}; the source list said {have:,})"
                setattr(e, name, want)
    return repairs

