"""Recurrent state of SSM / gated delta-net / short-conv / RWKV layers, sized the way llama.cpp sizes it.

Source: the vendored llama.cpp of llama-cpp-python 0.3.36.

* src/llama-hparams.cpp, `llama_hparams::n_embd_r()` (conv / token-shift state) and `n_embd_s()` (SSM /
  WKV state), elements per recurrent layer and sequence:

    RWKV (wkv.head_size > 0)      r = token_shift_count * n_embd          s = n_embd * wkv_head_size
    LFM2 short conv (l_cache > 0) r = n_embd * (l_cache - 1)              s = d_state * d_inner (0: no ssm keys)
    Kimi KDA (kda.head_dim > 0)   r = 3 * (d_conv - 1, or 3) * n_head * kda   s = kda * kda * n_head
    MiniMax-01 linear attention   r = 0 (no conv)                         s = la * la * n_head (la = key head dim)
    Mamba / Mamba2 / delta-net    r = (d_conv - 1) * (d_inner + 2 * n_group * d_state)
                                  s = d_state * d_inner

* src/llama-memory-recurrent.cpp: every recurrent layer gets one f32 tensor `cache_r_l{i}` of n_embd_r() x
  mem_size*(1 + n_rs_seq) and one `cache_s_l{i}` of n_embd_s() x the same rows, where (llama-model.cpp
  `create_memory`) mem_size = max(1, n_seq_max) and n_rs_seq is the rollback-snapshot count (0 by default).
  So the state grows with the number of parallel sequences, never with the context.

The hparams are uint32 in llama.cpp: a header that declares sizes beyond that is refused here with a clear
error instead of being multiplied into an absurd (or overflowing) figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llmfit_core.errors import HeaderTooLargeError

STATE_BYTES = 4  # GGML_TYPE_F32: llama-model.cpp create_memory passes F32 for type_r and type_s
TENSOR_ALIGN = 32  # ggml CPU buffer alignment (TENSOR_ALIGNMENT): each cache tensor is padded to it
MAX_HPARAM = 1 << 24  # any single SSM / conv / head size; real models use at most a few 10^4
MAX_STATE_ELEMS = (1 << 32) - 1  # n_embd_r() / n_embd_s() are uint32_t
# config.json model types whose layer layout llama.cpp fixes even without the SSM sizes: every Nth layer is full
# attention (src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp: full_attention_interval, default 4)
FULL_ATTENTION_INTERVAL = {"qwen3_next": 4, "qwen3_5": 4, "qwen3_5_text": 4, "qwen3_5_moe": 4, "qwen3_5_moe_text": 4}
# the same default as llama.cpp's loaders apply it to a GGUF without attention.recurrent_layers (GGUF arch names):
# qwen3next.cpp / qwen35*.cpp 4, minimax-01.cpp 8 (conversion/minimax.py writes neither key)
GGUF_FULL_ATTENTION_INTERVAL = {"qwen3next": 4, "qwen35": 4, "qwen35moe": 4, "minimax-01": 8}


# --- layer layouts assumed from the model type -----------------------------------------------------------------
# A hybrid's config.json names which layers are attention (layer_types, hybrid_override_pattern, attn_layer_period
# + offset, full_attn_layers, ...) and the readers use that. The catalog's configs carry only model_type and sizes,
# so without this table every layer would be charged a KV cache. Each row is a sourced fact; a family whose
# layout depends on the size is matched on the size its source describes, and other sizes keep full KV.
# Deliberately absent (no layout in transformers 5.24's config defaults nor in llama.cpp for the catalog's sizes):
# lfm2 / lfm2_moe / lfm2_vl (default: attention in every layer), granitemoehybrid (default: no attention layer;
# the dense granite-4.0-micro / -1b / -350m share the type), bamba (default: no attention layer), nemotron_h other
# than the 52-layer 30B-A3B trunk, kimi_linear (KimiLinearConfig's every-4th-from-layer-4 is only its fallback
# when linear_attn_config is absent; the checkpoint's own full_attn_layers list is in neither source), zamba2 (the default describes the 54-layer 2.7B only; the catalog has the 7B),
# bailing_hybrid other than the 42-layer Ling-3.0-flash, jamba other than the 32-layer Jamba-v0.1 size.
# Falcon-H1 is a PARALLEL hybrid: attention and mamba run side by side in every layer, so its KV cache stays in
# every layer (llama-model.cpp create_memory: FALCON_H1 filter_attn and filter_recr both return true; the
# transformers FalconH1Config.layers_block_type is "hybrid" for every layer): no row.


def attention_every(n_layers: int, interval: int, at_least_one: bool = False) -> list[bool]:
    """Attention flags: every `interval`-th layer (1-based), optionally at least the last one."""
    attn = [(i + 1) % interval == 0 for i in range(n_layers)]
    if at_least_one and n_layers and not any(attn):
        attn[-1] = True
    return attn


def attention_group_ends(n_layers: int, size: int) -> list[bool]:
    """Attention flags: the last layer of each group of `size`, and every layer past the last whole group."""
    # conversion/bailingmoe3.py is_full_attention: the last layer of each group, and every layer past the last
    # whole group
    return [(i + 1) % size == 0 or i >= n_layers // size * size for i in range(n_layers)]


def attention_periodic(n_layers: int, period: int, offset: int) -> list[bool]:
    """Attention flags: layers i with i % period == offset."""
    return [i % period == offset for i in range(n_layers)]


def attention_plamo2(n_layers: int, step: int) -> list[bool]:
    """Attention flags of PLaMo-2 with mamba_step `step`."""
    # conversion/plamo.py Plamo2Model: mamba unless i % mamba_step == mamba_step // 2 (a model of at most
    # step // 2 layers keeps only its last layer as attention)
    if n_layers <= step // 2:
        return [i == n_layers - 1 for i in range(n_layers)]
    return [i % step == step // 2 for i in range(n_layers)]


# Nemotron-3-Nano-30B-A3B trunk: transformers models/nemotron3_5_transcribe/configuration_nemotron3_5_transcribe.py,
# the default text_config (model_type nemotron_h, hidden_size 2688, 128 experts, 6 per token, 2 KV heads).
# M: mamba2 (recurrent), *: attention (KV cache), E: MoE FFN (neither), as conversion/nemotron.py maps it.
NEMOTRON_H_30B_A3B_PATTERN = "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME"


@dataclass(frozen=True)
class AssumedLayout:
    """A model type's layer layout when its config names none: which layers keep a KV cache."""

    model_types: tuple[str, ...]
    describe: str  # what the note says, e.g. "every 4th layer full attention"
    attention: Callable[[int], list[bool]]  # n_layers -> attention flags
    source: str
    n_layers: int | None = None  # only this size (None: any)
    hidden: int | None = None
    pattern: str | None = None  # per-layer string: recurrent = "M", attention = "*", others neither

    def flags(self, n_layers: int) -> tuple[list[bool], list[bool]]:
        """(recurrent flags, attention flags)."""
        if self.pattern:
            return [c == "M" for c in self.pattern], [c == "*" for c in self.pattern]
        attn = self.attention(n_layers)
        return [not a for a in attn], attn


ASSUMED_LAYOUTS: tuple[AssumedLayout, ...] = (
    AssumedLayout(tuple(FULL_ATTENTION_INTERVAL), "every 4th layer full attention",
                  lambda n: attention_every(n, 4),
                  "llama.cpp src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp: full_attention_interval, default 4"),
    AssumedLayout(("minimax_text_01", "minimax_m1", "minimax_vl_01"), "every 8th layer softmax attention",
                  lambda n: attention_every(n, 8),
                  "llama.cpp src/models/minimax-01.cpp: without attention.recurrent_layers, full_attn_interval 8 "
                  "(conversion/minimax.py writes neither key)"),
    AssumedLayout(("minimax",), "every 8th layer softmax attention", lambda n: attention_every(n, 8),
                  "the 80-layer MiniMax-Text-01 (-hf) is llama.cpp's minimax-01 (LLM_TYPE_456B): interval 8 as above; "
                  "other sizes of this model type (MiniMax-M2 re-uploads) are full attention", n_layers=80),
    AssumedLayout(("bailing_hybrid",), "the last layer of every 6 full attention (MLA)", lambda n: attention_group_ends(n, 6),
                  "transformers BailingHybridConfig (checkpoint inclusionAI/Ling-3.0-Flash, 42 layers): "
                  "layer_group_size 6; llama.cpp conversion/bailingmoe3.py is_full_attention", n_layers=42, hidden=2560),
    AssumedLayout(("jamba",), "attention in every 8th layer from layer 4", lambda n: attention_periodic(n, 8, 4),
                  "transformers JambaConfig defaults (checkpoint ai21labs/Jamba-v0.1, 32 layers): attn_layer_period 8, "
                  "attn_layer_offset 4; llama.cpp conversion/jamba.py", n_layers=32, hidden=4096),
    AssumedLayout(("nemotron_h",), "6 attention layers of 52 (mamba2 + MoE otherwise)", lambda n: [],
                  "transformers Nemotron3_5TranscribeConfig default text_config (nemotron_h, 52 layers, "
                  "hidden 2688): hybrid_override_pattern " + NEMOTRON_H_30B_A3B_PATTERN,
                  n_layers=52, hidden=2688, pattern=NEMOTRON_H_30B_A3B_PATTERN),
    AssumedLayout(("olmo_hybrid",), "every 4th layer full attention", lambda n: attention_every(n, 4, at_least_one=True),
                  "transformers OlmoHybridConfig default layer_types (checkpoint allenai/Olmo-Hybrid-7B): "
                  "full attention where i % 4 == 3, at least the last layer"),
    AssumedLayout(("plamo2",), "attention in every other layer", lambda n: attention_plamo2(n, 2),
                  "llama.cpp conversion/plamo.py Plamo2Model: mamba_step 2, mamba_enabled true by default"),
)


def assumed_layout(model_type: str | None, n_layers: int, hidden: int | None = None) -> AssumedLayout | None:
    """The table's row for a model type of this size, or None (every layer keeps a KV cache)."""
    mt = (model_type or "").lower()
    n = int(n_layers or 0)
    for row in ASSUMED_LAYOUTS:
        if mt not in row.model_types or n <= 0:
            continue
        if row.n_layers is not None and row.n_layers != n:
            continue
        if row.hidden is not None and hidden and int(hidden) != row.hidden:
            continue
        if row.pattern is not None and len(row.pattern) != n:
            continue
        return row
    return None


def kv_layer_fraction(model_type: str | None, n_layers: int, hidden: int | None = None) -> float:
    """Share of a model type's layers that keep a KV cache when its config names no layer layout (1.0: all)."""
    row = assumed_layout(model_type, n_layers, hidden)
    if row is None:
        return 1.0
    return sum(row.flags(int(n_layers))[1]) / int(n_layers)


def _check(where: str, name: str, value) -> int:
    v = int(value or 0)
    if v < 0 or v > MAX_HPARAM:
        raise HeaderTooLargeError(f"{where}: recurrent-state size {name}={value} is beyond any real model "
                                  f"(limit {MAX_HPARAM})")
    return v


def state_sizes(n_embd: int, *, d_conv: int = 0, d_inner: int = 0, d_state: int = 0, n_group: int = 0,
                l_cache: int = 0, wkv_head_size: int = 0, token_shift_count: int = 2, kda_head_dim: int = 0,
                n_head: int = 0, la_head_dim: int = 0, where: str = "model") -> tuple[int, int]:
    """(n_embd_r, n_embd_s): f32 elements of the conv and SSM state of one recurrent layer and sequence."""
    n_embd, d_conv, d_inner, d_state, n_group, l_cache, wkv, shift, kda, n_head, la = (
        _check(where, k, v) for k, v in (("n_embd", n_embd), ("conv_kernel", d_conv), ("inner_size", d_inner),
                                         ("state_size", d_state), ("group_count", n_group), ("l_cache", l_cache),
                                         ("wkv_head_size", wkv_head_size), ("token_shift_count", token_shift_count),
                                         ("kda_head_dim", kda_head_dim), ("head_count", n_head),
                                         ("la_head_dim", la_head_dim)))
    if wkv:
        r, s = shift * n_embd, n_embd * wkv
    elif l_cache:
        r, s = n_embd * (l_cache - 1), d_state * d_inner
    elif kda:
        r = 3 * ((d_conv - 1) if d_conv > 0 else 3) * n_head * kda
        s = kda * kda * n_head
    else:
        r = (d_conv - 1 if d_conv > 0 else 0) * (d_inner + 2 * n_group * d_state)
        s = la * la * n_head if la else d_state * d_inner
    for name, v in (("n_embd_r", r), ("n_embd_s", s)):
        if v > MAX_STATE_ELEMS:
            raise HeaderTooLargeError(f"{where}: recurrent state {name} of {v} elements per layer overflows "
                                      "llama.cpp's uint32 sizes")
    return r, s


def _padded(nbytes: int) -> int:
    return (nbytes + TENSOR_ALIGN - 1) // TENSOR_ALIGN * TENSOR_ALIGN


def layer_state_bytes(r: int, s: int, n_seq: int = 1, n_rs_seq: int = 0) -> int:
    """Bytes of one recurrent layer's r + s cache tensors for `n_seq` parallel sequences."""
    rows = max(int(n_seq), 1) * (1 + max(int(n_rs_seq), 0))
    return _padded(int(r) * rows * STATE_BYTES) + _padded(int(s) * rows * STATE_BYTES)


def recurrent_flags(spec) -> list[bool]:
    """Per-layer recurrent flags of a ModelSpec (spread evenly when only the count is known)."""
    n = int(spec.n_layers)
    flags = spec.recurrent_layers
    if flags and len(flags) == n:
        return [bool(x) for x in flags]
    k = max(0, min(int(spec.n_recurrent_layers or 0), n))
    if k == n:
        return [True] * n
    keep = {int(i * n / k) for i in range(k)} if k else set()
    return [i in keep for i in range(n)]


def state_layer_bytes(spec, n_seq: int = 1, n_rs_seq: int = 0) -> list[int]:
    """Recurrent-state bytes of each layer (0 for layers without one, and when the sizes are unknown)."""
    if not spec.n_recurrent_layers or not (spec.recurrent_r or spec.recurrent_s):
        return [0] * int(spec.n_layers)
    per = layer_state_bytes(spec.recurrent_r, spec.recurrent_s, n_seq, n_rs_seq)
    return [per if f else 0 for f in recurrent_flags(spec)]
