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

from llmfit_core.errors import HeaderTooLargeError

STATE_BYTES = 4  # GGML_TYPE_F32: llama-model.cpp create_memory passes F32 for type_r and type_s
TENSOR_ALIGN = 32  # ggml CPU buffer alignment (TENSOR_ALIGNMENT): each cache tensor is padded to it
MAX_HPARAM = 1 << 24  # any single SSM / conv / head size; real models use at most a few 10^4
# config.json model types whose layer layout llama.cpp fixes even without the SSM sizes: every Nth layer is full
# attention (src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp: full_attention_interval, default 4)
FULL_ATTENTION_INTERVAL = {"qwen3_next": 4, "qwen3_5": 4, "qwen3_5_text": 4, "qwen3_5_moe": 4, "qwen3_5_moe_text": 4}
# the same default as llama.cpp's loaders apply it to a GGUF without attention.recurrent_layers (GGUF arch names):
# qwen3next.cpp / qwen35*.cpp 4, minimax-01.cpp 8 (conversion/minimax.py writes neither key)
GGUF_FULL_ATTENTION_INTERVAL = {"qwen3next": 4, "qwen35": 4, "qwen35moe": 4, "minimax-01": 8}


def kv_layer_fraction(model_type: str | None) -> float:
    """Share of a model type's layers that keep a KV cache when its config names no layer layout (1.0: all)."""
    interval = FULL_ATTENTION_INTERVAL.get((model_type or "").lower())
    return 1.0 / interval if interval else 1.0
MAX_STATE_ELEMS = (1 << 32) - 1  # n_embd_r() / n_embd_s() are uint32_t


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
