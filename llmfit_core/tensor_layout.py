"""llama.cpp's tensor layout: the GGUF tensors of an architecture (names, ggml shapes), their groups and layers.

Names come from gguf-py's tables (gguf/constants.py: MODEL_TENSOR, TENSOR_NAMES; MODEL_TENSORS lists the tensors
each architecture may have), loaded without the `gguf` package (gguf_constants: start-up time). Shapes are ggml's
(ne0 first), as convert_hf_to_gguf.py writes them and llama.cpp's load_tensors (src/llama-model.cpp) expects them.
One `Layout` of architecture facts gives the tensor list; the config reader (readers/hf_config), the quantization
mix of a model without tensor infos (quant.apply_quant), the synthetic-model writer (synth) and the test fakes all
build their tensors here. Recurrent layers follow src/models/lfm2.cpp (short convolution) and mamba2.cpp (SSM).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from llmfit_core.errors import HeaderTooLargeError
from llmfit_core.gguf_constants import MODEL_TENSOR, TENSOR_NAMES

M = MODEL_TENSOR
Tensor = tuple[str, tuple[int, ...], str]  # GGUF name, ggml shape (ne0 first), stored type

TENSOR_GROUPS = ("token_embd", "output", "attn", "ffn", "ffn_experts", "norm", "other")
MAX_LAYERS = 4096  # real models have at most a few hundred: a tensor list is bounded
MAX_HIDDEN = 1 << 20
ATTENTION, SHORTCONV, SSM = "attention", "shortconv", "ssm"  # layer kinds

_BLK_RE = re.compile(r"^blk\.(\d+)\.")


def tensor_name(kind: MODEL_TENSOR, layer: int | None = None, suffix: str | None = "weight") -> str:
    """The GGUF name of a tensor kind (in layer `layer`), e.g. (ATTN_Q, 3) -> blk.3.attn_q.weight."""
    base = TENSOR_NAMES[kind].format(bid=layer)
    return f"{base}.{suffix}" if suffix else base


def tensor_group(name: str) -> str:
    """Sort a llama.cpp tensor name into one of TENSOR_GROUPS."""
    if name.startswith(("token_embd.", "per_layer_token_embd.")):
        return "token_embd"
    if name.startswith("output.") or name == "output":
        return "output"
    base = name.rsplit(".", 1)[0] if name.endswith((".weight", ".bias", ".scale")) else name
    if "norm" in base:
        return "norm"
    if "_exps" in base or "_exp." in name:
        return "ffn_experts"
    if "attn" in base:
        return "attn"
    if "ffn" in base:
        return "ffn"
    return "other"


def tensor_layer(name: str) -> int | None:
    """Layer index of a `blk.N.` tensor name, else None."""
    m = _BLK_RE.match(name)
    return int(m.group(1)) if m else None


def group_and_layer_bytes(tensors: Iterable[tuple[str, int]], n_layers: int) -> tuple[dict[str, int], list[int]]:
    """Bytes per tensor group (only the groups present) and per repeating block, from (name, bytes) pairs."""
    groups = dict.fromkeys(TENSOR_GROUPS, 0)
    layers = [0] * max(n_layers, 0)
    for name, size in tensors:
        groups[tensor_group(name)] += size
        li = tensor_layer(name)
        if li is not None and 0 <= li < len(layers):
            layers[li] += size
    return {g: b for g, b in groups.items() if b}, layers


# Tensor kinds convert_hf_to_gguf.py always writes in F32 (conversion/base.py, prepare_tensors: "Some tensor types
# are always in float32"; the vision / audio / KDA / indexer ones of that list do not occur in our layouts)
ALWAYS_F32 = (M.FFN_GATE_INP, M.FFN_GATE_INP_SHEXP, M.POS_EMBD, M.TOKEN_TYPES, M.SSM_CONV1D, M.SHORTCONV_CONV,
              M.TIME_MIX_FIRST, M.TIME_MIX_W1, M.TIME_MIX_W2, M.TIME_MIX_DECAY_W1, M.TIME_MIX_DECAY_W2,
              M.TIME_MIX_LERP_FUSED, M.POSNET_NORM1, M.POSNET_NORM2, M.ALTUP_CORRECT_COEF, M.ALTUP_PREDICT_COEF)
_ALWAYS_F32_NAMES = frozenset(TENSOR_NAMES[k] for k in ALWAYS_F32)


def gguf_float_type(name: str, shape: tuple[int, ...], dtype: str = "F16") -> str:
    """The type convert_hf_to_gguf.py writes a float tensor in (conversion/base.py): 1-D tensors, norms, the
    ALWAYS_F32 kinds and tensors without a .weight suffix in F32, the rest in `dtype`."""
    base, _, suffix = name.rpartition(".")
    f32 = (len(shape) <= 1 or name.endswith("_norm.weight") or suffix != "weight"
           or _BLK_RE.sub("blk.{bid}.", base) in _ALWAYS_F32_NAMES)
    return "F32" if f32 else dtype


def checkpoint_type(name: str, shape: tuple[int, ...], dtype: str) -> str:
    """The type a Hugging Face checkpoint stores a tensor in: `dtype`, except the MoE router and the expert biases,
    which are F32."""
    return "F32" if len(shape) > 1 and name.endswith(("ffn_gate_inp.weight", "_exps.bias")) else dtype


@dataclass(frozen=True)
class Layout:
    """The architecture facts llama.cpp's tensor list follows."""

    n_layers: int
    hidden: int
    vocab: int
    n_heads: int = 0
    n_kv_heads: int = 0
    head_dim: int = 0
    ffn: int = 0  # dense feed-forward width
    tied: bool = False  # no output.weight: llama.cpp reuses token_embd
    fused_qkv: bool = False  # phi3: one attn_qkv; ffn_up is 2 x ffn wide, no ffn_gate
    qkv_bias: bool = False  # qwen2: q, k, v biases
    out_bias: bool = False  # attn_output bias
    qk_norm: bool = False  # qwen3, gemma3, olmo2: per-head q/k norms
    post_norms: bool = False  # gemma2/3: post_attention_norm and post_ffw_norm
    gpt_oss: bool = False  # attention sinks, q/k/v/output biases, router and expert biases
    # MLA (deepseek2): the compressed KV latent (kv_lora > 0) and low-rank q (q_lora 0: a full attn_q)
    kv_lora: int = 0
    q_lora: int = 0
    rope_dim: int = 0
    nope_dim: int = 0
    v_dim: int = 0
    # MoE: routed experts in the layers `moe_layers` marks (empty: every layer), shared experts beside them
    n_experts: int = 0
    expert_ffn: int = 0
    shared_ffn: int = 0
    moe_layers: tuple[bool, ...] = ()
    expert_probs_bias: bool = False  # deepseek_v3: exp_probs_b
    shared_gate: bool = False  # qwen2moe: ffn_gate_inp_shexp
    # recurrent layers: per layer ATTENTION | SHORTCONV (lfm2) | SSM (mamba2); empty: every layer attention
    layer_kinds: tuple[str, ...] = ()
    conv_l_cache: int = 0  # lfm2 shortconv.l_cache
    ssm_d_conv: int = 0
    ssm_d_inner: int = 0
    ssm_d_state: int = 0
    ssm_n_group: int = 0
    ssm_dt_rank: int = 0  # number of SSM heads
    embd_norm: bool = False  # lfm2: a token_embd_norm where others have output_norm
    # per-layer attention where layers differ (src/models/gemma4.cpp: sliding layers have their own head dim and KV
    # heads); empty = head_dim / n_kv_heads in every layer. 0 KV heads: no K/V projections (gemma4.cpp makes them
    # optional in the layers that read an earlier layer's KV cache)
    layer_head_dims: tuple[int, ...] = ()
    layer_kv_heads: tuple[int, ...] = ()
    per_layer_embd: int = 0  # gemma4.cpp E2B/E4B: per-layer input embeddings of this width (n_embd_per_layer)
    rope_freqs: int = 0  # gemma4.cpp: one rope_freqs tensor of this many elements (global layers' proportional RoPE)

    def is_moe_layer(self, i: int) -> bool:
        return self.n_experts > 1 and (not self.moe_layers or self.moe_layers[i])

    def kind(self, i: int) -> str:
        return self.layer_kinds[i] if self.layer_kinds else ATTENTION

    def head_dim_of(self, i: int) -> int:
        return self.layer_head_dims[i] if self.layer_head_dims else self.head_dim

    def kv_heads_of(self, i: int) -> int:
        return self.layer_kv_heads[i] if self.layer_kv_heads else self.n_kv_heads


def layout_tensors(lay: Layout) -> list[tuple[str, tuple[int, ...]]]:
    """(GGUF name, ggml shape) of every tensor of `lay`, in file order. Raises HeaderTooLargeError past the
    MAX_LAYERS / MAX_HIDDEN bounds (the list grows with them)."""
    if lay.n_layers > MAX_LAYERS or lay.hidden > MAX_HIDDEN:
        raise HeaderTooLargeError(f"{lay.n_layers} layers of width {lay.hidden} (limits {MAX_LAYERS} and {MAX_HIDDEN})")
    H, P = lay.hidden, lay.per_layer_embd
    out = [(tensor_name(M.ROPE_FREQS), (lay.rope_freqs,))] if lay.rope_freqs else []
    out.append((tensor_name(M.TOKEN_EMBD), (H, lay.vocab)))
    if P:
        out += [(tensor_name(M.PER_LAYER_TOKEN_EMBD), (P * lay.n_layers, lay.vocab)),
                (tensor_name(M.PER_LAYER_MODEL_PROJ), (H, P * lay.n_layers)), (tensor_name(M.PER_LAYER_PROJ_NORM), (P,))]
    for i in range(lay.n_layers):
        out.append((tensor_name(M.ATTN_NORM, i), (H,)))
        kind = lay.kind(i)
        if kind == SSM:
            out += _ssm(lay, i)
            continue
        out += _shortconv(lay, i) if kind == SHORTCONV else _attention(lay, i)
        if lay.post_norms:
            out.append((tensor_name(M.ATTN_POST_NORM, i), (H,)))
        # gpt-oss names its pre-FFN norm post_attention_norm (llama.cpp src/models/openai-moe.cpp: attn_post_norm)
        out.append((tensor_name(M.ATTN_POST_NORM if lay.gpt_oss else M.FFN_NORM, i), (H,)))
        out += _feed_forward(lay, i)
        if lay.post_norms:
            out.append((tensor_name(M.FFN_POST_NORM, i), (H,)))
        if P:
            out += [(tensor_name(M.PER_LAYER_INP_GATE, i), (H, P)), (tensor_name(M.PER_LAYER_PROJ, i), (P, H)),
                    (tensor_name(M.PER_LAYER_POST_NORM, i), (H,))]
    out.append((tensor_name(M.TOKEN_EMBD_NORM if lay.embd_norm else M.OUTPUT_NORM), (H,)))
    if not lay.tied:
        out.append((tensor_name(M.OUTPUT), (H, lay.vocab)))
    return out


def n_params(tensors: Iterable[tuple]) -> int:
    """Elements of a tensor list ((name, shape, ...) entries)."""
    return sum(math.prod(t[1]) for t in tensors)


def _attention(lay: Layout, i: int) -> list[tuple[str, tuple[int, ...]]]:
    H, nh, nkv, hd = lay.hidden, lay.n_heads, lay.kv_heads_of(i), lay.head_dim_of(i)
    t = lambda kind, shape, suffix="weight": (tensor_name(kind, i, suffix), shape)  # noqa: E731
    if nkv == 0 and not (lay.kv_lora or lay.fused_qkv):  # reads an earlier layer's KV cache: Q and output only
        return [t(M.ATTN_Q, (H, nh * hd)), t(M.ATTN_OUT, (nh * hd, H))] + ([t(M.ATTN_Q_NORM, (hd,))] if lay.qk_norm else [])
    if lay.kv_lora:
        qk = lay.nope_dim + lay.rope_dim
        q = ([t(M.ATTN_Q_A, (H, lay.q_lora)), t(M.ATTN_Q_A_NORM, (lay.q_lora,)), t(M.ATTN_Q_B, (lay.q_lora, nh * qk))]
             if lay.q_lora else [t(M.ATTN_Q, (H, nh * qk))])
        out = q + [t(M.ATTN_KV_A_MQA, (H, lay.kv_lora + lay.rope_dim)), t(M.ATTN_KV_A_NORM, (lay.kv_lora,)),
                   t(M.ATTN_KV_B, (lay.kv_lora, nh * (lay.nope_dim + lay.v_dim))), t(M.ATTN_OUT, (nh * lay.v_dim, H))]
    elif lay.fused_qkv:
        out = [t(M.ATTN_QKV, (H, (nh + 2 * nkv) * hd)), t(M.ATTN_OUT, (nh * hd, H))]
    else:
        out = [t(M.ATTN_Q, (H, nh * hd)), t(M.ATTN_K, (H, nkv * hd)), t(M.ATTN_V, (H, nkv * hd)),
               t(M.ATTN_OUT, (nh * hd, H))]
        if lay.qkv_bias or lay.gpt_oss:
            out += [t(M.ATTN_Q, (nh * hd,), "bias"), t(M.ATTN_K, (nkv * hd,), "bias"), t(M.ATTN_V, (nkv * hd,), "bias")]
        if lay.out_bias or lay.gpt_oss:
            out.append(t(M.ATTN_OUT, (H,), "bias"))
        if lay.gpt_oss:
            out.append(t(M.ATTN_SINKS, (nh,)))
    if lay.qk_norm:
        out += [t(M.ATTN_Q_NORM, (hd,)), t(M.ATTN_K_NORM, (hd,))]
    return out


def _feed_forward(lay: Layout, i: int) -> list[tuple[str, tuple[int, ...]]]:
    H = lay.hidden
    t = lambda kind, shape, suffix="weight": (tensor_name(kind, i, suffix), shape)  # noqa: E731
    if lay.is_moe_layer(i):
        E, F, S = lay.n_experts, lay.expert_ffn, lay.shared_ffn
        out = [t(M.FFN_GATE_INP, (H, E))]
        if lay.gpt_oss:
            out.append(t(M.FFN_GATE_INP, (E,), "bias"))
        if lay.expert_probs_bias:
            out.append(t(M.FFN_EXP_PROBS_B, (E,), "bias"))
        out += [t(M.FFN_GATE_EXP, (H, F, E)), t(M.FFN_UP_EXP, (H, F, E)), t(M.FFN_DOWN_EXP, (F, H, E))]
        if lay.gpt_oss:
            out += [t(M.FFN_GATE_EXP, (F, E), "bias"), t(M.FFN_UP_EXP, (F, E), "bias"), t(M.FFN_DOWN_EXP, (H, E), "bias")]
        if S:
            out += [t(M.FFN_GATE_SHEXP, (H, S)), t(M.FFN_UP_SHEXP, (H, S)), t(M.FFN_DOWN_SHEXP, (S, H))]
            if lay.shared_gate:
                out.append(t(M.FFN_GATE_INP_SHEXP, (H,)))
        return out
    if lay.fused_qkv:
        return [t(M.FFN_UP, (H, 2 * lay.ffn)), t(M.FFN_DOWN, (lay.ffn, H))]
    return [t(M.FFN_GATE, (H, lay.ffn)), t(M.FFN_UP, (H, lay.ffn)), t(M.FFN_DOWN, (lay.ffn, H))]


def _shortconv(lay: Layout, i: int) -> list[tuple[str, tuple[int, ...]]]:
    """lfm2's gated short-convolution block (src/models/lfm2.cpp)."""
    H = lay.hidden
    return [(tensor_name(M.SHORTCONV_CONV, i), (lay.conv_l_cache, H)), (tensor_name(M.SHORTCONV_INPROJ, i), (H, 3 * H)),
            (tensor_name(M.SHORTCONV_OUTPROJ, i), (H, H))]


def _ssm(lay: Layout, i: int) -> list[tuple[str, tuple[int, ...]]]:
    """A mamba2 block (src/models/mamba2.cpp): no attention and no feed-forward."""
    H, inner, heads = lay.hidden, lay.ssm_d_inner, lay.ssm_dt_rank
    conv_dim = inner + 2 * lay.ssm_n_group * lay.ssm_d_state
    return [(tensor_name(M.SSM_IN, i), (H, inner + conv_dim + heads)),
            (tensor_name(M.SSM_CONV1D, i), (lay.ssm_d_conv, conv_dim)),
            (tensor_name(M.SSM_CONV1D, i, "bias"), (conv_dim,)), (tensor_name(M.SSM_DT, i, "bias"), (heads,)),
            (tensor_name(M.SSM_A, i, None), (1, heads)), (tensor_name(M.SSM_D, i, None), (1, heads)),
            (tensor_name(M.SSM_NORM, i), (inner // lay.ssm_n_group, lay.ssm_n_group)),
            (tensor_name(M.SSM_OUT, i), (inner, H))]


def spec_layout(spec) -> Layout | None:
    """A llama-style (Mixtral-style for MoE) Layout from a ModelSpec's architecture fields, for a model without
    tensor infos (catalog, Ollama API); None without hidden size or layers, or past the bounds."""
    if not spec.hidden_size or not spec.n_layers or spec.n_layers > MAX_LAYERS or spec.hidden_size > MAX_HIDDEN:
        return None
    H = spec.hidden_size
    n_heads = spec.n_heads or max(1, H // 128)
    ffn = spec.ffn_size or spec.expert_ffn_size or 4 * H
    moe = spec.n_experts > 1
    expert_ffn = spec.expert_ffn_size or ffn if moe else 0
    shared = spec.shared_expert_ffn_size or expert_ffn * (spec.n_shared_experts or 0) if moe else 0
    return Layout(n_layers=spec.n_layers, hidden=H, vocab=spec.vocab_size or 32000, n_heads=n_heads,
                  n_kv_heads=spec.n_kv_heads or n_heads, head_dim=spec.head_dim or H // n_heads, ffn=ffn,
                  tied=bool(spec.tied_embeddings), n_experts=spec.n_experts if moe else 0, expert_ffn=expert_ffn,
                  shared_ffn=shared,
                  moe_layers=tuple(i >= spec.n_dense_layers for i in range(spec.n_layers)) if moe else ())


def tensors_from_spec(spec, dtype: str = "F16") -> list[Tensor]:
    """The tensor list of spec_layout(spec), stored as a checkpoint in `dtype` would be (empty when not enough
    architecture facts)."""
    lay = spec_layout(spec)
    return [] if lay is None else [(n, s, checkpoint_type(n, s, dtype)) for n, s in layout_tensors(lay)]
