"""Hugging Face config.json -> ModelSpec, by rebuilding the model's tensor list the way llama.cpp names it.

Parameter count = the sum of the elements of that tensor list:
  token_embd (vocab x hidden) [+ output (hidden x vocab) unless tied] + output_norm
  + per layer: attention (q, k, v, o projections; fused qkv for phi3; MLA low-rank q_a/q_b/kv_a/kv_b for
    deepseek; biases where the family has them; q/k norms for qwen3/gemma3) + norms
    + feed-forward: dense gate/up/down (hidden x ffn), or MoE router (hidden x experts) + experts
    x (gate, up, down at the expert ffn size) + shared experts, dense for deepseek's first_k_dense_replace layers.
Active parameters (MoE) = total - (experts - experts_used) x one expert's weights, per MoE layer.
Vision towers of multimodal configs (gemma3, ...) are not counted (llama.cpp keeps them in an mmproj file).
Checked against published sizes: Llama-3.1-8B 8.03B, Qwen2.5-7B 7.62B, Mixtral-8x7B 46.7B/12.9B,
gemma-2-9b 9.24B, DeepSeek-V3 671B/37B (tests/test_readers_config.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from llmfit_core.errors import HeaderTooLargeError, UnknownArchitectureError, UnknownQuantizationError
from llmfit_core.model_spec import ModelSpec, RopeScaling
from llmfit_core.quant import apply_quant, normalize_quant, quant_fact, quantizable, tensor_nbytes
from llmfit_core.recurrent import (
    FULL_ATTENTION_INTERVAL,
    assumed_layout,
    attention_every,
    attention_group_ends,
    attention_periodic,
    attention_plamo2,
    state_sizes,
)
from llmfit_core.tensor_layout import (
    MAX_HIDDEN,
    MAX_LAYERS,
    Layout,
    checkpoint_type,
    group_and_layer_bytes,
    layout_tensors,
    n_params,
    tensor_group,
)

# HF model_type -> llama.cpp architecture name (what convert_hf_to_gguf writes)
_ARCH = {
    "llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
    "qwen2_moe": "qwen2moe", "qwen3_moe": "qwen3moe", "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3",
    "gemma3_text": "gemma3", "phi3": "phi3", "deepseek_v2": "deepseek2", "deepseek_v3": "deepseek2",
    "gpt_oss": "gpt-oss", "llama4": "llama4", "llama4_text": "llama4", "granite": "granite", "olmo2": "olmo2", "smollm3": "smollm3", "cohere2": "cohere2",
    "starcoder2": "starcoder2", "internlm2": "internlm2", "exaone": "exaone", "phimoe": "phimoe",
    "gemma4": "gemma4", "gemma4_text": "gemma4", "gemma4_unified": "gemma4",  # conversion/gemma.py: MODEL_ARCH.GEMMA4
}
_KNOWN = {"llama4", "llama4_text", "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "gemma", "gemma2", "gemma3",
          "gemma3_text", "phi3", "deepseek_v2", "deepseek_v3", "gpt_oss",
          # hybrids and sliding-window families priced by their own terms (recurrent state and scans, windows)
          "qwen3_next", "qwen3_5", "qwen3_5_text", "qwen3_5_moe", "qwen3_5_moe_text", "gemma4", "gemma4_text",
          "nemotron_h"}
# model types llama.cpp converts with DeepseekV2Model (conversion/deepseek.py, conversion/glm.py's Glm4MoeLiteModel
# subclasses it): MLA attention and DeepSeek-V3's routed + shared experts with a selection bias
_DEEPSEEK_LIKE = {"kimi_k2": "deepseek_v3", "glm4_moe_lite": "deepseek_v3"}
_DTYPES = {"bfloat16": "BF16", "float16": "F16", "half": "F16", "float32": "F32", "float": "F32"}


# the names config.json files of different model types give the same size (first found wins)
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model", "dim")
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
HEAD_KEYS = ("num_attention_heads", "n_head", "num_heads", "n_heads")


def _model_type(cfg: dict, top: dict) -> str:
    """The lower-case model_type of the text config, else of the top-level config ("" when neither says)."""
    return str(cfg.get("model_type") or top.get("model_type") or "").lower()


def _get(cfg: dict, *names, default=None):
    for n in names:
        v = cfg.get(n)
        if v is not None:
            return v
    return default


def _rope_scaling(cfg: dict) -> RopeScaling | None:
    """config.json's rope_scaling (transformers 5: rope_parameters) when it declares a type and a factor."""
    rs = _get(cfg, "rope_scaling", "rope_parameters")
    if not isinstance(rs, dict):
        return None
    kind, factor = rs.get("rope_type", rs.get("type")), rs.get("factor")
    if not isinstance(kind, str) or isinstance(factor, bool) or not isinstance(factor, (int, float)):
        return None
    if not math.isfinite(factor):
        return None
    return RopeScaling(kind.lower(), float(factor), _int(rs.get("original_max_position_embeddings")))


def _int(v, default=0) -> int:
    if isinstance(v, bool) or v is None:
        return default
    if isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v < 1 << 40:
        return int(v)
    return default


def _text_config(config: dict) -> dict:
    """The language-model part of a (possibly multimodal) config."""
    tc = config.get("text_config")
    if isinstance(tc, dict):
        merged = dict(tc)
        for k in ("torch_dtype", "dtype", "quantization", "quantization_config", "tie_word_embeddings"):
            if k not in merged and k in config:
                merged[k] = config[k]
        if "model_type" not in tc and config.get("model_type"):
            merged["model_type"] = config["model_type"]
        return merged
    return config


@dataclass(frozen=True)
class Gemma4Attention:
    """Gemma 4's per-layer attention as llama.cpp's converter writes it (conversion/gemma.py Gemma4Model
    .set_gguf_parameters): key_length = the global layers' head dim (global_head_dim, else the first full-attention
    entry of per_layer_config), key_length_swa = head_dim; head_count_kv per layer (num_key_value_heads for sliding,
    num_global_key_value_heads for global layers) when both are given; shared_kv_layers = num_kv_shared_layers;
    embedding_length_per_layer_input = hidden_size_per_layer_input."""

    swa: tuple[bool, ...]  # per layer (layer_types)
    head_dim: int  # global layers'
    head_dim_swa: int  # sliding layers'
    layer_kv_heads: tuple[int, ...]
    n_kv_shared_layers: int
    per_layer_embd: int


def gemma4_attention(cfg: dict, n_layers: int, n_kv: int, head_dim: int) -> Gemma4Attention | None:
    """The Gemma 4 facts of a gemma4* config with layer_types (None otherwise)."""
    layer_types = cfg.get("layer_types")
    if not (isinstance(layer_types, list) and len(layer_types) == n_layers):
        return None
    swa = tuple(t == "sliding_attention" for t in layer_types)
    per_layer = cfg.get("per_layer_config") if isinstance(cfg.get("per_layer_config"), dict) else {}

    def first_full(key: str) -> int:
        for idx, layer in per_layer.items():
            i = int(idx) if str(idx).isdigit() else -1  # JSON object keys are strings
            if 0 <= i < n_layers and not swa[i] and isinstance(layer, dict) and _int(layer.get(key)):
                return _int(layer.get(key))
        return 0

    hd_full = _int(cfg.get("global_head_dim")) or first_full("head_dim") or head_dim
    kv_full = _int(cfg.get("num_global_key_value_heads")) or first_full("num_key_value_heads") or n_kv
    return Gemma4Attention(swa=swa, head_dim=hd_full, head_dim_swa=head_dim,
                           layer_kv_heads=tuple(n_kv if f else kv_full for f in swa),
                           n_kv_shared_layers=min(_int(cfg.get("num_kv_shared_layers")), n_layers),
                           per_layer_embd=_int(cfg.get("hidden_size_per_layer_input")))


def spec_from_config(config: dict, ref: str, quant: str | None = None) -> ModelSpec:
    """ModelSpec from a config.json dict (weights as the repo stores them, or as `quant` what-if).

    Raises UnknownArchitectureError when not even hidden size and layer count can be found.
    """
    if not isinstance(config, dict):
        raise UnknownArchitectureError(f"{ref}: config.json is not a JSON object")
    top = config
    cfg = _text_config(config)
    notes: list[str] = []
    mt = _model_type(cfg, top)
    if mt in _DEEPSEEK_LIKE:
        notes.append(f"model_type {mt}: converted by llama.cpp as {_DEEPSEEK_LIKE[mt]} (deepseek2: MLA, routed experts)")
        mt = _DEEPSEEK_LIKE[mt]
    if cfg is not top:
        notes.append("multimodal config: language model only (vision tower not counted)")

    hidden = _int(_get(cfg, *HIDDEN_KEYS))
    n_layers = _int(_get(cfg, *LAYER_KEYS))
    if not hidden or not n_layers:
        raw = {k: cfg[k] for k in ("hidden_size", "num_hidden_layers") if k in cfg}
        bad = "; ".join(f"{k}={v!r}"[:60] for k, v in raw.items() if not _int(v))
        raise UnknownArchitectureError(
            f"{ref}: cannot estimate model_type {mt or '?'}: config.json has no hidden size or layer count"
            + (f" (not a positive integer: {bad})" if bad else "")
        )
    # the tensor list below grows with the layer count: a hostile config must not make it unbounded
    if n_layers > MAX_LAYERS or hidden > MAX_HIDDEN:
        raise HeaderTooLargeError(f"{ref}: config.json declares {n_layers} layers of width {hidden} "
                                  f"(limits {MAX_LAYERS} and {MAX_HIDDEN})")
    if mt not in _KNOWN:
        notes.append(f"model_type {mt or '?'} not modelled exactly: estimated as a llama-like decoder")
    n_heads = _int(_get(cfg, *HEAD_KEYS))
    if not n_heads:
        n_heads = max(1, hidden // 128)
        notes.append(f"attention heads guessed: {n_heads}")
    n_kv = _int(_get(cfg, "num_key_value_heads", "n_head_kv", "num_kv_heads", "n_kv_heads"), n_heads)
    if cfg.get("multi_query"):
        n_kv = 1
    head_dim = _int(cfg.get("head_dim")) or hidden // n_heads
    ffn = _int(_get(cfg, "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"))
    if not ffn:
        ffn = 4 * hidden
        notes.append("feed-forward size guessed: 4 x hidden")
    vocab = _int(_get(cfg, "vocab_size", "padded_vocab_size"))
    if not vocab:
        vocab = 32000
        notes.append("vocabulary size guessed: 32000")
    max_ctx = _int(_get(cfg, "max_position_embeddings", "n_positions", "seq_length", "max_seq_len",
                        "max_sequence_length"))
    if not max_ctx:
        max_ctx = 4096
        notes.append("context length guessed: 4096")
    rope = _rope_scaling(cfg)  # declared: the context may be extended to factor x original (settings_check)
    tied = cfg.get("tie_word_embeddings")
    if tied is None:
        tied = mt in ("gemma", "gemma2", "gemma3", "gemma3_text")
    tied = bool(tied)
    if mt.startswith("gemma"):
        tied = True

    dtype_raw = str(_get(cfg, "torch_dtype", "dtype", default="") or "").lower().replace("torch.", "")
    dtype = _DTYPES.get(dtype_raw)
    if dtype is None:
        dtype = "BF16"
        notes.append(f"weights dtype {dtype_raw or 'missing'}: assumed BF16")

    # --- MoE facts
    n_exp = _int(_get(cfg, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"))
    n_used = _int(_get(cfg, "num_experts_per_tok", "experts_per_token", "num_experts_per_token", "moe_top_k"))
    exp_ff = _int(_get(cfg, "moe_intermediate_size", "expert_intermediate_size")) or (ffn if n_exp else 0)
    n_shared = _int(cfg.get("n_shared_experts"))
    shared_ff = _int(cfg.get("shared_expert_intermediate_size")) or (exp_ff * n_shared if n_shared else 0)
    if shared_ff and not n_shared:
        n_shared = 1
    dense_lead = _int(cfg.get("first_k_dense_replace"))
    moe_freq = _int(_get(cfg, "moe_layer_freq", "decoder_sparse_step", "interleave_moe_layer_step"), 1) or 1
    dense_ffn = ffn
    if mt in ("llama4", "llama4_text"):
        # experts and the always-on shared expert use intermediate_size, dense layers intermediate_size_mlp
        exp_ff = shared_ff = ffn
        n_shared = 1
        dense_ffn = _int(cfg.get("intermediate_size_mlp")) or ffn
    mlp_only = set(cfg.get("mlp_only_layers") or []) if isinstance(cfg.get("mlp_only_layers"), list) else set()

    def is_moe_layer(i: int) -> bool:
        if n_exp <= 1 or i < dense_lead or i in mlp_only:
            return False
        if mt in ("qwen2_moe", "llama4", "llama4_text"):
            return (i + 1) % moe_freq == 0
        return (i - dense_lead) % moe_freq == 0

    # --- attention details
    family = mt
    mla = family in ("deepseek_v2", "deepseek_v3") and _int(cfg.get("kv_lora_rank")) > 0
    qkv_bias = bool(cfg.get("attention_bias")) or family in ("qwen2", "qwen2_moe")
    o_bias = bool(cfg.get("attention_bias")) and family not in ("qwen2", "qwen2_moe")
    qk_norm = family in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2")
    post_norms = family in ("gemma2", "gemma3", "gemma3_text")
    fused = family == "phi3"
    gpt_oss = family == "gpt_oss"

    kv_lora = q_lora = rope_dim = nope_dim = v_dim = 0
    if mla:
        kv_lora = _int(cfg.get("kv_lora_rank"))
        q_lora = _int(cfg.get("q_lora_rank"))
        rope_dim = _int(cfg.get("qk_rope_head_dim"), 64)
        nope_dim = _int(cfg.get("qk_nope_head_dim"), 128)
        v_dim = _int(cfg.get("v_head_dim"), 128)
    g4 = gemma4_attention(cfg, n_layers, n_kv, head_dim) if mt.startswith("gemma4") else None
    g4_layout = {} if g4 is None else dict(  # gemma4.cpp load_arch_tensors: q/k norms, post norms, rope_freqs
        layer_head_dims=tuple(g4.head_dim_swa if f else g4.head_dim for f in g4.swa),
        layer_kv_heads=g4.layer_kv_heads, per_layer_embd=g4.per_layer_embd, rope_freqs=g4.head_dim // 2)
    if g4 is not None:
        qk_norm = post_norms = True
    layout = Layout(
        **g4_layout,
        n_layers=n_layers, hidden=hidden, vocab=vocab, n_heads=n_heads, n_kv_heads=n_kv, head_dim=head_dim,
        ffn=ffn if fused else dense_ffn, tied=tied, fused_qkv=fused, qkv_bias=qkv_bias, out_bias=o_bias,
        qk_norm=qk_norm, post_norms=post_norms, gpt_oss=gpt_oss, kv_lora=kv_lora, q_lora=q_lora, rope_dim=rope_dim,
        nope_dim=nope_dim, v_dim=v_dim, n_experts=n_exp if n_exp > 1 else 0, expert_ffn=exp_ff, shared_ffn=shared_ff,
        moe_layers=tuple(is_moe_layer(i) for i in range(n_layers)), expert_probs_bias=family == "deepseek_v3",
        shared_gate=family == "qwen2_moe",
    )
    T = [(name, shape, checkpoint_type(name, shape, dtype)) for name, shape in layout_tensors(layout)]
    if _int(cfg.get("num_nextn_predict_layers")):
        notes.append("multi-token-prediction layers not counted (llama.cpp does not load them)")

    # --- sliding window
    sliding = _int(cfg.get("sliding_window")) or None
    swa = None
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list) and len(layer_types) == n_layers and sliding:
        swa = [str(t).startswith("sliding") for t in layer_types]
    elif sliding and family == "gemma2":
        swa = [i % 2 == 0 for i in range(n_layers)]
    elif sliding and family in ("gemma3", "gemma3_text", "cohere2", "gemma4", "gemma4_text", "gemma4_unified"):
        pat = _int(_get(cfg, "sliding_window_pattern", "_sliding_window_pattern"), 6 if "gemma" in family else 4)
        swa = [pat == 0 or i % pat < pat - 1 for i in range(n_layers)]
    elif family in ("llama4", "llama4_text") and _int(cfg.get("attention_chunk_size")):
        sliding = _int(cfg.get("attention_chunk_size"))
        swa = [i % 4 < 3 for i in range(n_layers)]  # llama.cpp: 3 chunked layers, then 1 global
        notes.append(f"llama4 chunked attention: 3 of 4 layers attend within {sliding}-token chunks")
    elif sliding and gpt_oss:
        swa = [i % 2 == 0 for i in range(n_layers)]
    elif sliding and cfg.get("use_sliding_window", True) is not False and family in ("mistral", "mixtral", "qwen2"):
        notes.append(f"sliding_window {sliding} in config is ignored by llama.cpp for {family}")
    if swa is not None and not any(swa):
        swa = None

    # --- recurrent layers (SSM / delta-net / short conv / RWKV) and the KV layers of hybrids, as
    # convert_hf_to_gguf.py maps them (then sized like llama.cpp, llmfit_core/recurrent.py)
    rec = recurrent_from_config(cfg, mt, n_layers, hidden, n_heads, ref)
    layer_kv_heads = None
    n_kv_layers = None
    if rec is not None:
        rec_flags, attn_flags, rec_r, rec_s, assumed = rec
        if attn_flags is not None and not all(attn_flags):
            layer_kv_heads = [n_kv if a else 0 for a in attn_flags]
            n_kv_layers = sum(attn_flags)
        if assumed is not None:
            # the sourced row is in recurrent.ASSUMED_LAYOUTS; the KV / state split is the memory estimate's note
            notes.append(f"layer layout assumed from model_type {mt}: {assumed.describe}")
        # the layer split and the state's figure (or that it is unknown) are the memory estimate's note
        notes.append(f"weights of the {sum(rec_flags)} recurrent layers estimated as attention layers (config.json)")
    else:
        rec_flags, rec_r, rec_s = None, 0, 0
    if rec is None and isinstance(layer_types, list) and len(layer_types) == n_layers:
        attn = sum(1 for t in layer_types if _full_attention(t))
        if attn < n_layers:
            n_kv_layers = attn
            notes.append(f"hybrid model: {attn} of {n_layers} layers use attention with a KV cache "
                         "(other layers' weights estimated as attention layers)")

    # --- MLA KV layout as llama.cpp stores it: one latent "head" of kv_lora + rope dims
    if mla:
        kv_heads, hd_k, hd_v = 1, kv_lora + rope_dim, kv_lora
    else:
        kv_heads, hd_k, hd_v = n_kv, head_dim, None
    g4_spec = {}
    if g4 is not None:  # priced as llama.cpp prices the converted GGUF (readers.gguf reads the same keys)
        kv_heads, hd_k = max(g4.layer_kv_heads), g4.head_dim
        layer_kv_heads = list(g4.layer_kv_heads) if len(set(g4.layer_kv_heads)) > 1 else layer_kv_heads
        own_swa = g4.head_dim_swa if g4.head_dim_swa != g4.head_dim and swa else None  # key/value_length_swa
        g4_spec = dict(head_dim_swa=own_swa, head_dim_v_swa=own_swa, n_kv_shared_layers=g4.n_kv_shared_layers)
        if g4.per_layer_embd:
            g4_spec["metadata"] = {"gemma4.embedding_length_per_layer_input": g4.per_layer_embd}

    params = n_params(T)
    expert_params = n_params(t for t in T if tensor_group(t[0]) == "ffn_experts")
    active = params
    if n_exp > 1 and expert_params:
        active = params - expert_params * max(0, n_exp - max(n_used, 1)) // n_exp

    spec = ModelSpec(
        ref=ref,
        arch=_ARCH.get(family, family or "unknown"),
        params=params,
        active_params=active,
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=kv_heads,
        head_dim=hd_k,
        head_dim_v=hd_v,
        vocab_size=vocab,
        max_context=max_ctx,
        rope_scaling=rope,
        ffn_size=ffn,
        sliding_window=sliding if swa else None,
        swa_layers=swa,
        layer_kv_heads=layer_kv_heads if not mla else None,
        n_kv_layers=n_kv_layers,
        n_recurrent_layers=sum(rec_flags) if rec_flags else 0,
        recurrent_r=rec_r,
        recurrent_s=rec_s,
        recurrent_layers=rec_flags,
        n_experts=n_exp if n_exp > 1 else 0,
        n_experts_used=n_used if n_exp > 1 else 0,
        expert_ffn_size=exp_ff if n_exp > 1 else 0,
        n_shared_experts=n_shared,
        shared_expert_ffn_size=shared_ff,
        n_dense_layers=dense_lead,
        kv_lora_rank=kv_lora,
        tied_embeddings=tied,
        format="safetensors",
        quant=dtype,
        source="config",
        exact=False,
        notes=notes,
        metadata={"hf_model_type": mt, "torch_dtype": dtype, **g4_spec.pop("metadata", {})},
        tensors=T,
        **g4_spec,
    )
    _fill_sizes(spec, [tensor_nbytes(t, s) for _, s, t in T])

    stored = _stored_quant(top, cfg, spec)
    if stored is not None:
        spec = stored
    if quant:
        spec = apply_quant(spec, quant)
    return spec


def recurrent_of_config(config: dict, ref: str = "config") -> tuple[int, int, int]:
    """(recurrent layers, n_embd_r, n_embd_s) that spec_from_config reads from `config` (0, 0, 0 for a model without
    recurrent layers): the same model type, size and head normalisation, then recurrent_from_config."""
    cfg = _text_config(config)
    mt = _model_type(cfg, config)
    mt = _DEEPSEEK_LIKE.get(mt, mt)
    hidden = _int(_get(cfg, *HIDDEN_KEYS))
    n_layers = _int(_get(cfg, *LAYER_KEYS))
    if not hidden or not n_layers or n_layers > MAX_LAYERS or hidden > MAX_HIDDEN:
        return 0, 0, 0
    n_heads = _int(_get(cfg, *HEAD_KEYS)) or max(1, hidden // 128)
    rec = recurrent_from_config(cfg, mt, n_layers, hidden, n_heads, ref)
    if rec is None:
        return 0, 0, 0
    return sum(rec[0]), int(rec[2]), int(rec[3])


def _full_attention(layer_type) -> bool:
    """A config's layer_types entry names a softmax-attention layer ("full_attention", "attention"; not "linear_attention")."""
    return "attention" in str(layer_type) and "linear" not in str(layer_type)


def _find(cfg: dict, keys, prefixes=(), default=None):
    """convert_hf_to_gguf's find_hparam: the first key present, trying `keys`, then each prefix + "_" + key."""
    for k in list(keys) + [f"{p}_{k}" for p in prefixes for k in keys]:
        if k in cfg and cfg[k] is not None:
            return cfg[k]
    return default


def _pattern_flags(pattern, n_layers: int, rec_types, attn_types) -> tuple[list[bool], list[bool]] | None:
    """(recurrent, attention) flags from a per-layer pattern string ("M*-") or list of type names."""
    if isinstance(pattern, (str, list)) and len(pattern) == n_layers:
        return [p in rec_types for p in pattern], [p in attn_types for p in pattern]
    return None


# config.json keys that name a hybrid's layer layout (or that it has none): with any of them present, the
# model type's assumed layout (recurrent.ASSUMED_LAYOUTS) is never used
_LAYOUT_KEYS = ("layer_types", "layers_block_type", "hybrid_override_pattern", "attn_layer_period", "attn_layer_offset",
                "attn_layer_indices", "full_attn_idxs", "linear_attn_config", "full_attention_interval",
                "layer_group_size", "mamba_step", "mamba_enabled")


def recurrent_from_config(cfg: dict, mt: str, n_layers: int, hidden: int, n_heads: int, ref: str = "config"):
    """(recurrent flags, attention flags or None, n_embd_r, n_embd_s, assumed layout or None) of a recurrent /
    hybrid config, else None.

    Follows llama.cpp's conversion (vendor/llama.cpp/conversion/{mamba,granite,nemotron,falcon_h1,jamba,lfm2,
    qwen,rwkv,minimax,bailingmoe3}.py) for the GGUF keys it writes, and llama.cpp's load_arch_hparams for which
    layers are recurrent. A config that names its layout is read as it says. A bare model_type (the catalog's
    configs) gets the layout of recurrent.ASSUMED_LAYOUTS when the table has a sourced row for the type and size
    (the state's size then unknown, 0, unless the sizes the config has fix it); otherwise every layer keeps a KV
    cache as before.
    """

    rec = _recurrent_named(cfg, mt, n_layers, hidden, n_heads, ref)
    if rec is not None:
        return (*rec, None)
    if any(k in cfg for k in _LAYOUT_KEYS):
        return None  # the config names its layout (all attention, or one the generic layer_types path reads)
    row = assumed_layout(mt, n_layers, hidden)
    if row is None:
        return None
    rec_flags, attn_flags = row.flags(n_layers)
    r = s = 0
    if mt.startswith("minimax") and n_heads:  # lightning attention: s = key_length^2 x heads (minimax-01.cpp)
        la = _int(cfg.get("head_dim")) or hidden // n_heads
        r, s = state_sizes(hidden, la_head_dim=la, n_head=n_heads, where=ref)
    return rec_flags, attn_flags, r, s, row


def _recurrent_named(cfg: dict, mt: str, n_layers: int, hidden: int, n_heads: int, ref: str = "config"):
    """recurrent_from_config's facts as the config names them: (rec flags, attn flags, r, s), else None."""

    def I(v, default=0):  # noqa: E743
        return _int(v, default)

    everything = [True] * n_layers
    sz = dict(where=ref)
    if mt in ("mamba", "falcon_mamba"):
        if not any(k in cfg for k in ("state_size", "d_state", "conv_kernel", "d_conv", "intermediate_size", "d_inner")):
            return None
        d_inner = I(_find(cfg, ["intermediate_size", "d_inner"])) or 2 * hidden
        r, s = state_sizes(hidden, d_conv=I(_find(cfg, ["conv_kernel", "d_conv"])) or 4, d_inner=d_inner,
                           d_state=I(_find(cfg, ["state_size", "d_state"])) or 16, **sz)
        return everything, [False] * n_layers, r, s
    if mt == "mamba2":
        if not any(k in cfg for k in ("state_size", "d_state", "conv_kernel", "n_groups", "expand")):
            return None
        expand = I(_find(cfg, ["mamba_expand", "expand"])) or 2
        d_inner = I(_find(cfg, ["mamba_d_ssm", "intermediate_size", "d_inner"])) or expand * hidden
        r, s = state_sizes(hidden, d_conv=I(_find(cfg, ["conv_kernel", "d_conv"])) or 4, d_inner=d_inner,
                           d_state=I(_find(cfg, ["state_size", "d_state"])) or 128,
                           n_group=I(_find(cfg, ["n_groups"])) or 1, **sz)
        return everything, [False] * n_layers, r, s
    if mt in ("granitemoehybrid", "bamba", "nemotron_h"):  # conversion/granite.py GraniteHybridModel (+ Bamba)
        pre = ("mamba",)
        if mt == "nemotron_h":
            flags = _pattern_flags(cfg.get("hybrid_override_pattern") or cfg.get("layers_block_type"), n_layers,
                                   ("M", "mamba", "linear_attention"), ("*", "attention", "full_attention"))
        else:
            lt = cfg.get("layer_types")
            if isinstance(lt, list):
                flags = _pattern_flags(lt, n_layers, (), ("attention",))
            elif isinstance(cfg.get("attn_layer_indices"), list):
                idx = set(cfg["attn_layer_indices"])
                flags = ([], [i in idx for i in range(n_layers)])
            else:
                period, offset = I(cfg.get("attn_layer_period")), cfg.get("attn_layer_offset")
                flags = ([], attention_periodic(n_layers, period, I(offset))) if period and offset is not None else None
            if flags is not None:
                flags = ([not a for a in flags[1]], flags[1])
        if flags is None or not any(flags[0]):
            return None
        d_model = I(_find(cfg, ["mamba_head_dim", "hidden_size", "d_model"], pre)) or hidden
        mult = I(_find(cfg, ["num_heads"] if mt == "nemotron_h" else ["expand", "num_heads"], pre))
        r, s = state_sizes(hidden, d_conv=I(_find(cfg, ["conv_kernel", "d_conv"], pre)), d_inner=mult * d_model,
                           d_state=I(_find(cfg, ["state_size", "d_state", "state_dim", "ssm_state_size"], pre)),
                           n_group=I(_find(cfg, ["n_groups", "num_groups"], pre)), **sz)
        return flags[0], flags[1], r, s
    if mt == "falcon_h1":
        if "mamba_d_ssm" not in cfg:
            return None
        pre = ("mamba",)
        r, s = state_sizes(hidden, d_conv=I(_find(cfg, ["conv_kernel", "d_conv"], pre)) or 4,
                           d_inner=I(cfg.get("mamba_d_ssm")),
                           d_state=I(_find(cfg, ["state_size", "d_state"], pre)) or 128,
                           n_group=I(_find(cfg, ["n_groups"], pre)), **sz)
        return everything, None, r, s  # every layer runs attention and an SSM side by side
    if mt == "jamba":
        period, offset = I(cfg.get("attn_layer_period")), cfg.get("attn_layer_offset")
        if not period or offset is None:
            return None
        attn = [i >= I(offset) and (i - I(offset)) % period == 0 for i in range(n_layers)]
        d_model = I(_find(cfg, ["hidden_size", "mamba_d_model"])) or hidden
        r, s = state_sizes(hidden, d_conv=I(cfg.get("mamba_d_conv")) or 4, d_inner=I(cfg.get("mamba_expand"), 2) * d_model,
                           d_state=I(cfg.get("mamba_d_state")) or 16, **sz)
        return [not a for a in attn], attn, r, s
    if mt in ("lfm2", "lfm2_moe"):
        flags = _pattern_flags(cfg.get("layer_types"), n_layers, ("conv",), ())
        idx = cfg.get("full_attn_idxs")
        if flags is None and isinstance(idx, list) and "layer_types" not in cfg:
            # transformers Lfm2Config: layer_types from full_attn_idxs, every other layer "conv"
            full = {I(i, -1) for i in idx}
            flags = ([i not in full for i in range(n_layers)], [])
        elif "conv_L_cache" not in cfg:
            return None  # layer_types without the conv size: the generic layer_types count
        if flags is None or not any(flags[0]):
            return None
        # conversion/lfm2.py needs conv_L_cache for the state; without it the layout stands, the state is unknown
        r, s = state_sizes(hidden, l_cache=I(cfg.get("conv_L_cache")), **sz) if "conv_L_cache" in cfg else (0, 0)
        return flags[0], [not f for f in flags[0]], r, s
    if mt in FULL_ATTENTION_INTERVAL:
        lt = cfg.get("layer_types")
        if isinstance(lt, list) and len(lt) == n_layers:
            rec = [t == "linear_attention" for t in lt]
        elif "full_attention_interval" in cfg or "linear_num_value_heads" in cfg:
            # llama.cpp's loader (models/qwen35*.cpp, qwen3next.cpp): every 4th layer full attention by default
            interval = I(cfg.get("full_attention_interval"), FULL_ATTENTION_INTERVAL[mt]) or FULL_ATTENTION_INTERVAL[mt]
            rec = [not a for a in attention_every(n_layers, interval)]
        else:
            return None  # a bare config: the layout is the model type's (recurrent.ASSUMED_LAYOUTS)
        if "linear_num_value_heads" not in cfg or "linear_key_head_dim" not in cfg:
            # a bare config (the catalog's): the layer layout is the architecture's, the state size is not known
            return rec, [not f for f in rec], 0, 0
        r, s = state_sizes(hidden, d_conv=I(cfg.get("linear_conv_kernel_dim")), d_state=I(cfg.get("linear_key_head_dim")),
                           n_group=I(cfg.get("linear_num_key_heads")),
                           d_inner=I(cfg.get("linear_value_head_dim")) * I(cfg.get("linear_num_value_heads")), **sz)
        return rec, [not f for f in rec], r, s
    if mt in ("minimax_text_01", "minimax_m1", "minimax_vl_01", "minimax"):
        # transformers' MiniMaxConfig (the -hf repos) names layer_types; the original configs' own per-layer list
        # is not what llama.cpp reads (conversion/minimax.py writes no layout, minimax-01.cpp then takes every 8th
        # layer), so those get recurrent.ASSUMED_LAYOUTS. Lightning layers keep a key_length^2 x heads state.
        lt = cfg.get("layer_types")
        if isinstance(lt, list) and len(lt) == n_layers:
            attn = [_full_attention(t) for t in lt]
        else:
            return None
        if all(attn) or not n_heads:
            return None
        r, s = state_sizes(hidden, la_head_dim=I(cfg.get("head_dim")) or hidden // n_heads, n_head=n_heads, **sz)
        return [not a for a in attn], attn, r, s
    if mt == "bailing_hybrid":  # conversion/bailingmoe3.py: KDA layers, MLA in the last layer of each group
        lt = cfg.get("layer_types")
        if isinstance(lt, list) and len(lt) == n_layers:
            attn = [_full_attention(t) for t in lt]
        elif I(cfg.get("layer_group_size")) > 0:
            size = I(cfg.get("layer_group_size"))
            attn = attention_group_ends(n_layers, size)
        else:
            return None
        if all(attn):
            return None
        r = s = 0
        if "short_conv_kernel_size" in cfg:  # transformers BailingHybridConfig: KDA head dim = head_dim
            r, s = state_sizes(hidden, d_conv=I(cfg.get("short_conv_kernel_size")), kda_head_dim=I(cfg.get("head_dim")),
                               n_head=n_heads, **sz)
        return [not a for a in attn], attn, r, s
    if mt == "kimi_linear":  # conversion/kimi_linear.py: KDA layers are those not in full_attn_layers (1-based)
        lac = cfg.get("linear_attn_config")
        if not isinstance(lac, dict) or not isinstance(lac.get("full_attn_layers"), list):
            return None
        full = set(lac["full_attn_layers"])
        attn = [i + 1 in full for i in range(n_layers)]
        r, s = state_sizes(hidden, d_conv=I(lac.get("short_conv_kernel_size")), kda_head_dim=I(lac.get("head_dim")),
                           n_head=n_heads, **sz)
        return [not a for a in attn], attn, r, s
    if mt == "plamo2":  # conversion/plamo.py Plamo2Model: mamba every other layer (mamba_step)
        if not any(k.startswith("mamba_") for k in cfg):
            return None
        step = I(cfg.get("mamba_step"), 2) or 2
        if cfg.get("mamba_enabled", True) is False:
            rec = [False] * n_layers
        else:
            rec = [not a for a in attention_plamo2(n_layers, step)]
        if not any(rec):
            return None
        r, s = state_sizes(hidden, d_conv=I(cfg.get("mamba_d_conv"), 4),
                           d_inner=I(cfg.get("mamba_num_heads"), 64) * I(cfg.get("hidden_size_per_head"), 128),
                           d_state=I(cfg.get("mamba_d_state"), 64), **sz)
        return rec, [not f for f in rec], r, s
    if mt in ("rwkv6", "rwkv7"):
        head = I(_find(cfg, ["head_size", "head_dim"]))
        if not head:
            return None
        r, s = state_sizes(hidden, wkv_head_size=head, token_shift_count=2, **sz)
        return everything, [False] * n_layers, r, s
    return None


def _fill_sizes(spec: ModelSpec, sizes: list[int]) -> None:
    spec.group_bytes, spec.layer_bytes = group_and_layer_bytes(
        ((name, size) for (name, _, _), size in zip(spec.tensors, sizes, strict=True)), spec.n_layers)
    spec.weight_bytes = sum(sizes)


# --------------------------------------------------------------------------------------------------
# quantized checkpoints: MLX `quantization`, `quantization_config` (GPTQ/AWQ/bitsandbytes/fp8/mxfp4)

# llama.cpp tensor name -> HF module path (for MLX per-layer overrides)
_HF_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_qkv": "self_attn.qkv_proj", "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "ffn_gate_inp": "mlp.gate",
    "ffn_gate_exps": "mlp.switch_mlp.gate_proj", "ffn_up_exps": "mlp.switch_mlp.up_proj",
    "ffn_down_exps": "mlp.switch_mlp.down_proj", "ffn_gate_shexp": "mlp.shared_expert.gate_proj",
    "ffn_up_shexp": "mlp.shared_expert.up_proj", "ffn_down_shexp": "mlp.shared_expert.down_proj",
}


def hf_module_name(name: str) -> str | None:
    """llama.cpp tensor name -> the HF module path MLX uses for per-layer quantization overrides."""
    if name.startswith("token_embd."):
        return "model.embed_tokens"
    if name.startswith("output."):
        return "lm_head"
    m = re.match(r"^blk\.(\d+)\.([a-z_]+)\.weight$", name)
    if m and m.group(2) in _HF_NAMES:
        return f"model.layers.{m.group(1)}.{_HF_NAMES[m.group(2)]}"
    return None


def _mlx_bytes(n: int, bits: int, group: int, mode: str) -> int:
    if mode in ("mxfp4", "mxfp8"):  # one uint8 scale per group of 32, no bias
        return n * bits // 8 + n // group
    return n * bits // 8 + (n // group) * 4  # fp16 scale + fp16 bias per group


def _stored_quant(top: dict, cfg: dict, spec: ModelSpec) -> ModelSpec | None:
    q = top.get("quantization") or top.get("quantization_config") or cfg.get("quantization")
    qc = top.get("quantization_config") or cfg.get("quantization_config")
    if isinstance(top.get("quantization"), dict) and "bits" in top["quantization"]:
        return _mlx(top["quantization"], spec)
    if isinstance(q, dict) and "bits" in q and "quant_method" not in q:
        return _mlx(q, spec)
    if not isinstance(qc, dict):
        return None
    method = str(qc.get("quant_method", "")).lower()
    if method in ("gptq", "awq"):
        bits = _int(qc.get("bits") or qc.get("w_bit"), 4)
        group = _int(qc.get("group_size") or qc.get("q_group_size"), 128)
        label = f"{method.upper()}-{bits}bit" + ("" if group in (128, 0) else f"-g{group}")
        if group <= 0:  # per-channel
            label = f"{method.upper()}-{bits}bit"
        try:
            return _requant(spec, normalize_quant(label), "safetensors")
        except UnknownQuantizationError:
            spec.notes.append(f"{method} with {bits} bits not modelled; sizes as {spec.quant}")
            return None
    if method == "bitsandbytes":
        if qc.get("load_in_4bit"):
            return _requant(spec, "BNB-4bit", "safetensors")
        if qc.get("load_in_8bit"):
            return _requant(spec, "BNB-8bit", "safetensors")
        return None
    if method in ("fp8", "fbgemm_fp8", "compressed-tensors") and method != "compressed-tensors":
        return _requant(spec, "FP8", "safetensors")
    if method == "mxfp4":
        sizes = []
        for name, shape, dt in spec.tensors:
            n = math.prod(shape)
            sizes.append(n // 2 + n // 32 if tensor_group(name) == "ffn_experts" and len(shape) == 3
                         else tensor_nbytes(dt, shape))
        _fill_sizes(spec, sizes)
        spec.quant = "MXFP4"
        spec.notes.append("MoE experts stored as MXFP4 (4.25 bits per weight), the rest in " +
                          spec.metadata.get("torch_dtype", "BF16"))
        return spec
    spec.notes.append(f"quantization method {method or '?'} not modelled; sizes as {spec.quant}")
    return None


def _requant(spec: ModelSpec, label: str, fmt: str) -> ModelSpec:
    out = apply_quant(spec, label)
    out.format = fmt
    out.source = "config"
    out.notes = [n for n in out.notes if "re-computed" not in n] + [f"stored as {label} (from config.json)"]
    return out


def _mlx(q: dict, spec: ModelSpec) -> ModelSpec:
    bits = _int(q.get("bits"), 4)
    group = _int(q.get("group_size"), 64) or 64
    mode = str(q.get("mode", "affine"))
    if bits not in (2, 3, 4, 5, 6, 8):
        raise UnknownQuantizationError(f"{spec.ref}: MLX quantization with {bits} bits")
    sizes = []
    overridden = 0
    for name, shape, dt in spec.tensors:
        n = math.prod(shape)
        hf = hf_module_name(name)
        b, g = bits, group
        ov = q.get(hf) if hf else None
        if ov is False:
            sizes.append(n * 2)
            overridden += 1
            continue
        if isinstance(ov, dict):
            b, g = _int(ov.get("bits"), bits), _int(ov.get("group_size"), group) or group
            overridden += 1
        if quantizable(name, len(shape)) and "ffn_gate_inp" not in name and shape[0] % g == 0:
            sizes.append(_mlx_bytes(n, b, g, mode))
        else:
            sizes.append(n * 2 if dt != "F32" else n * 2)  # MLX keeps norms/biases in the model dtype
    _fill_sizes(spec, sizes)
    spec.quant = f"MLX-{bits}bit"
    spec.format = "mlx"
    spec.metadata["mlx_group_size"] = group
    spec.notes.append(f"MLX {mode} quantization: {bits} bits, group {group}"
                      + (f", {overridden} per-layer overrides" if overridden else ""))
    return spec


def quant_label_from_config(config: dict) -> str | None:
    """The stored quantization of a config.json ("MLX-4bit", "GPTQ-4bit", ...), or None for plain weights."""
    try:
        return spec_from_config(config, "config").quant if (
            config.get("quantization") or config.get("quantization_config")) else None
    except Exception:
        return None


__all__ = ["spec_from_config", "hf_module_name", "quant_label_from_config", "quant_fact"]
