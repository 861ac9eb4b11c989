"""Synthetic GGUF models: random weights in the exact tensor layout of real architectures.

`write_synthetic_gguf(path, "llama-0.1b", quant="Q4_K_M")` writes a file llama.cpp loads and runs
(random weights, a byte-level vocabulary), so memory and speed can be measured without downloads.
F16/F32 are written with `gguf.GGUFWriter` (streamed tensor by tensor, so a 1 GB file needs little
RAM); other quantizations are produced by llama.cpp's own quantizer (`llama_model_quantize`) run in
a subprocess, so a crash in native code becomes a `BenchError`.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import gguf
import numpy as np

from llmfit_core.errors import BenchError, LlmfitError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import MixContext, llamacpp_tensor_types, tensor_nbytes
from llmfit_core.recurrent import state_sizes
from llmfit_core.tensor_layout import (
    ATTENTION,
    SHORTCONV,
    SSM,
    Layout,
    gguf_float_type,
    group_and_layer_bytes,
    layout_tensors,
    n_params,
)


@dataclass(frozen=True)
class SynthShape:
    """The architecture facts of one synthetic model (names follow llama.cpp's GGUF keys)."""

    arch: str  # GGUF general.architecture: llama | qwen2 | gemma2 | qwen3moe | phi3
    n_layers: int
    n_embd: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    n_ff: int
    vocab: int
    ctx_train: int = 8192
    tied: bool = False  # no output.weight: llama.cpp reuses token_embd
    qkv_bias: bool = False  # qwen2
    qk_norm: bool = False  # qwen3moe
    fused_qkv: bool = False  # phi3: attn_qkv, ffn_up is 2*n_ff wide, no ffn_gate
    sliding_window: int = 0  # gemma2: every other layer (pattern 2) uses the window
    swa_pattern: int = 0
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ff: int = 0
    real: str = ""  # the real model this shape copies, if any
    # recurrent layers (llama.cpp src/models/lfm2.cpp, mamba2.cpp): lfm2 short-conv layers are those not in
    # attn_layers; mamba2 has no attention at all (head counts 0) and an SSM in every layer
    attn_layers: tuple[int, ...] | None = None  # lfm2: the layers with attention (head_count_kv > 0)
    conv_l_cache: int = 0  # lfm2 shortconv.l_cache
    ssm_d_conv: int = 0  # mamba2 ssm.conv_kernel
    ssm_d_inner: int = 0
    ssm_d_state: int = 0
    ssm_n_group: int = 0
    ssm_dt_rank: int = 0  # mamba2: number of SSM heads (d_inner / head_dim)
    # gemma4 (src/models/gemma4.cpp, conversion/gemma.py Gemma4Model): head_dim / n_kv_heads are the global
    # (full-attention) layers', these the sliding layers'; the last kv_shared_layers layers read an earlier layer's
    # KV cache (no K/V projections written); per_layer_embd: per-layer input embeddings (E2B/E4B)
    head_dim_swa: int = 0
    n_kv_heads_swa: int = 0
    kv_shared_layers: int = 0
    per_layer_embd: int = 0


# Small shapes keep tests fast; real-scale shapes (marked by `real`) copy published configs.
SHAPES: dict[str, SynthShape] = {
    "llama-tiny": SynthShape("llama", 4, 256, 4, 2, 64, 768, 4096, ctx_train=4096),
    "llama-0.1b": SynthShape("llama", 12, 768, 12, 4, 64, 2048, 32000),
    "llama-0.5b": SynthShape("llama", 24, 1024, 16, 4, 64, 4096, 32000),
    "llama-1b": SynthShape("llama", 16, 2048, 32, 8, 64, 8192, 128256, ctx_train=131072, tied=True, real="Llama-3.2-1B"),
    "llama-3b": SynthShape("llama", 28, 3072, 24, 8, 128, 8192, 128256, ctx_train=131072, tied=True, real="Llama-3.2-3B"),
    "llama-8b": SynthShape("llama", 32, 4096, 32, 8, 128, 14336, 128256, ctx_train=131072, real="Llama-3.1-8B"),
    "qwen2-tiny": SynthShape("qwen2", 4, 256, 4, 2, 64, 768, 4096, ctx_train=4096, tied=True, qkv_bias=True),
    "qwen2-0.5b": SynthShape("qwen2", 24, 896, 14, 2, 64, 4864, 151936, ctx_train=32768, tied=True, qkv_bias=True, real="Qwen2.5-0.5B"),
    "qwen2-1.5b": SynthShape("qwen2", 28, 1536, 12, 2, 128, 8960, 151936, ctx_train=32768, tied=True, qkv_bias=True, real="Qwen2.5-1.5B"),
    "gemma2-tiny": SynthShape("gemma2", 4, 256, 4, 2, 64, 768, 4096, ctx_train=4096, tied=True, sliding_window=256, swa_pattern=2),
    "gemma2-0.3b": SynthShape("gemma2", 12, 1024, 8, 4, 128, 4096, 32000, tied=True, sliding_window=512, swa_pattern=2),
    "gemma2-2b": SynthShape("gemma2", 26, 2304, 8, 4, 256, 9216, 256000, tied=True, sliding_window=4096, swa_pattern=2, real="gemma-2-2b"),
    "qwen3moe-tiny": SynthShape("qwen3moe", 4, 256, 4, 2, 64, 768, 4096, ctx_train=4096, qk_norm=True, n_experts=8, n_experts_used=2, expert_ff=256),
    "qwen3moe-0.5b": SynthShape("qwen3moe", 12, 1024, 16, 4, 64, 3072, 32000, qk_norm=True, n_experts=16, n_experts_used=4, expert_ff=512),
    "qwen3moe-30b": SynthShape("qwen3moe", 48, 2048, 32, 4, 128, 6144, 151936, ctx_train=40960, qk_norm=True, n_experts=128, n_experts_used=8, expert_ff=768, real="Qwen3-30B-A3B"),
    "lfm2-tiny": SynthShape("lfm2", 6, 256, 4, 2, 64, 768, 4096, ctx_train=4096, tied=True, attn_layers=(2, 5),
                            conv_l_cache=3),
    "mamba2-tiny": SynthShape("mamba2", 4, 256, 0, 0, 0, 0, 4096, ctx_train=4096, tied=True, ssm_d_conv=4,
                              ssm_d_inner=512, ssm_d_state=64, ssm_n_group=2, ssm_dt_rank=8),
    # 8 layers (3 sliding, 1 global) x 2; the last 4 read layer 2's (sliding) or layer 3's (global) KV cache
    "gemma4-tiny": SynthShape("gemma4", 8, 256, 4, 2, 128, 768, 4096, ctx_train=8192, tied=True, sliding_window=256,
                              swa_pattern=4, head_dim_swa=64, n_kv_heads_swa=1, kv_shared_layers=4, per_layer_embd=32),
    "phi3-mini": SynthShape("phi3", 32, 3072, 32, 32, 96, 8192, 32064, ctx_train=4096, fused_qkv=True, real="Phi-3-mini-4k"),
}

# llama.cpp file types (enum llama_ftype) the quantizer accepts by name.
# llama.h LLAMA_FTYPE_MOSTLY_*: the file types llama.cpp's quantizer makes without an importance matrix
QUANT_FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
                "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18,
                "IQ4_NL": 25, "IQ4_XS": 30, "BF16": 32}


def get_shape(shape: str | SynthShape) -> SynthShape:
    """Look a shape up by name (or pass a SynthShape through)."""
    if isinstance(shape, SynthShape):
        return shape
    try:
        return SHAPES[shape]
    except KeyError:
        raise LlmfitError(f"unknown synthetic shape {shape!r}; choose one of: {', '.join(SHAPES)}") from None


def _swa_flags(s: SynthShape) -> list[bool] | None:
    """Sliding-window layers of a shape: the first swa_pattern - 1 of every swa_pattern layers (llama.cpp's
    set_swa_pattern), None without a window."""
    if not s.sliding_window:
        return None
    return [bool(s.swa_pattern) and (i % s.swa_pattern) < (s.swa_pattern - 1) for i in range(s.n_layers)]


def _gemma4_attention(s: SynthShape) -> tuple[list[int], list[int]]:
    """(head dim, KV heads) of each layer of a gemma4 shape (KV heads 0 past the layers that keep a KV cache)."""
    swa = _swa_flags(s) or [False] * s.n_layers
    dims = [s.head_dim_swa if f else s.head_dim for f in swa]
    heads = [(s.n_kv_heads_swa if f else s.n_kv_heads) if i < s.n_layers - s.kv_shared_layers else 0
             for i, f in enumerate(swa)]
    return dims, heads


def shape_layout(s: SynthShape) -> Layout:
    """The tensor_layout.Layout of a shape."""
    if s.arch == "gemma4":
        dims, heads = _gemma4_attention(s)
        return Layout(n_layers=s.n_layers, hidden=s.n_embd, vocab=s.vocab, n_heads=s.n_heads, n_kv_heads=s.n_kv_heads,
                      head_dim=s.head_dim, ffn=s.n_ff, tied=s.tied, qk_norm=True, post_norms=True,
                      layer_head_dims=tuple(dims), layer_kv_heads=tuple(heads), per_layer_embd=s.per_layer_embd,
                      rope_freqs=s.head_dim // 2)
    kinds = ()
    if s.arch == "mamba2":
        kinds = (SSM,) * s.n_layers
    elif s.arch == "lfm2":
        kinds = tuple(ATTENTION if i in (s.attn_layers or ()) else SHORTCONV for i in range(s.n_layers))
    return Layout(n_layers=s.n_layers, hidden=s.n_embd, vocab=s.vocab, n_heads=s.n_heads, n_kv_heads=s.n_kv_heads,
                  head_dim=s.head_dim, ffn=s.n_ff, tied=s.tied, fused_qkv=s.fused_qkv, qkv_bias=s.qkv_bias,
                  qk_norm=s.qk_norm or s.arch == "lfm2", post_norms=s.arch == "gemma2", n_experts=s.n_experts,
                  expert_ffn=s.expert_ff, layer_kinds=kinds, conv_l_cache=s.conv_l_cache, ssm_d_conv=s.ssm_d_conv,
                  ssm_d_inner=s.ssm_d_inner, ssm_d_state=s.ssm_d_state, ssm_n_group=s.ssm_n_group,
                  ssm_dt_rank=s.ssm_dt_rank, embd_norm=s.arch == "lfm2")


def shape_tensors(shape: SynthShape) -> list[tuple[str, tuple[int, ...]]]:
    """(GGUF tensor name, ggml shape ne[0..]) for every tensor the architecture needs, in file order."""
    return layout_tensors(shape_layout(shape))


def shape_params(shape: str | SynthShape) -> int:
    """Total parameter count of a shape."""
    return n_params(shape_tensors(get_shape(shape)))


def _vocab(size: int) -> tuple[list[str], list[float], list[int]]:
    if size < 259:
        raise LlmfitError("a synthetic vocabulary needs at least 259 tokens (3 specials + 256 byte tokens)")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    tokens += [f"tok{i}" for i in range(size - len(tokens))]
    types += [gguf.TokenType.NORMAL] * (size - len(types))
    scores = [0.0] * 259 + [-float(i) for i in range(size - 259)]
    return tokens, scores, [int(x) for x in types]


def _write_float_gguf(path: Path, s: SynthShape, name: str, dtype: str, seed: int) -> None:
    w = gguf.GGUFWriter(str(path), s.arch)
    w.add_name(name)
    w.add_file_type(QUANT_FTYPES[dtype])
    w.add_context_length(s.ctx_train)
    w.add_embedding_length(s.n_embd)
    w.add_block_count(s.n_layers)
    w.add_feed_forward_length(s.n_ff)
    w.add_head_count(s.n_heads)
    if s.arch == "lfm2":  # per-layer KV heads: 0 marks a short-conv (recurrent) layer
        w.add_head_count_kv([s.n_kv_heads if i in (s.attn_layers or ()) else 0 for i in range(s.n_layers)])
        w.add_shortconv_l_cache(s.conv_l_cache)
    elif s.arch == "gemma4":  # conversion/gemma.py Gemma4Model.set_gguf_parameters
        w.add_head_count_kv([s.n_kv_heads_swa if f else s.n_kv_heads for f in _swa_flags(s)])
        w.add_key_length_swa(s.head_dim_swa)
        w.add_value_length_swa(s.head_dim_swa)
        w.add_rope_dimension_count(s.head_dim)
        w.add_rope_dimension_count_swa(s.head_dim_swa)
        w.add_shared_kv_layers(s.kv_shared_layers)
        w.add_embedding_length_per_layer_input(s.per_layer_embd)
    else:
        w.add_head_count_kv(s.n_kv_heads)
    if s.arch == "mamba2":
        w.add_ssm_conv_kernel(s.ssm_d_conv)
        w.add_ssm_inner_size(s.ssm_d_inner)
        w.add_ssm_state_size(s.ssm_d_state)
        w.add_ssm_time_step_rank(s.ssm_dt_rank)
        w.add_ssm_group_count(s.ssm_n_group)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    if s.n_heads and (s.head_dim != s.n_embd // s.n_heads or s.arch == "gemma4"):
        w.add_key_length(s.head_dim)
        w.add_value_length(s.head_dim)
    if s.sliding_window:
        w.add_sliding_window(s.sliding_window)
        w.add_sliding_window_pattern(_swa_flags(s) if s.arch == "gemma4" else s.swa_pattern)
    if s.arch == "gemma2":
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
    if s.n_experts:
        w.add_expert_count(s.n_experts)
        w.add_expert_used_count(s.n_experts_used)
        w.add_expert_feed_forward_length(s.expert_ff)
    tokens, scores, types = _vocab(s.vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    tensors = shape_tensors(s)
    np_type = np.float16 if dtype == "F16" else np.float32
    for tname, ne in tensors:
        t_dtype = np.float32 if gguf_float_type(tname, ne) == "F32" else np_type
        nbytes = int(np.prod(ne)) * np.dtype(t_dtype).itemsize
        w.add_tensor_info(tname, tuple(reversed(ne)), np.dtype(t_dtype), nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    # A pool of random values reused at random offsets: real-looking data at disk speed.
    rng = np.random.default_rng(seed)
    pool = (rng.standard_normal(1 << 22, dtype=np.float32) * 0.02).astype(np.float32)
    for tname, ne in tensors:
        count = int(np.prod(ne))
        if len(ne) == 1 or tname.endswith("_norm.weight"):
            data = np.ones(count, dtype=np.float32)  # norms / biases: harmless values
        else:
            start = int(rng.integers(0, pool.size))
            data = np.resize(np.roll(pool, -start), count)
            data = data.astype(np.float32 if gguf_float_type(tname, ne) == "F32" else np_type)
        w.write_tensor_data(data.reshape(tuple(reversed(ne))))
    w.close()


_QUANTIZE_CHILD = """
import sys, llama_cpp
src, dst, ftype, nthread = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = ftype
p.nthread = nthread
rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), p)
sys.exit(0 if rc == 0 else 2)
"""


def quantize_gguf(src: str | os.PathLike, dst: str | os.PathLike, quant: str, n_threads: int | None = None,
                  timeout: float = 1800) -> Path:
    """Quantize a GGUF with llama.cpp's quantizer in a subprocess; returns `dst`."""
    q = quant.upper()
    if q not in QUANT_FTYPES:
        raise LlmfitError(f"cannot quantize to {quant!r}; choose one of: {', '.join(QUANT_FTYPES)}")
    nthread = n_threads or min(os.cpu_count() or 1, 4)
    try:
        res = subprocess.run([sys.executable, "-c", _QUANTIZE_CHILD, str(src), str(dst), str(QUANT_FTYPES[q]), str(nthread)],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"llama.cpp quantizer timed out after {timeout:.0f} s on {src}") from None
    if res.returncode != 0 or not Path(dst).exists():
        tail = (res.stderr or "").strip().splitlines()[-1:] or [f"exit code {res.returncode}"]
        raise BenchError(f"llama.cpp quantizer failed for {quant} ({tail[0]})")
    return Path(dst)


def write_synthetic_gguf(path: str | os.PathLike, shape: str | SynthShape, quant: str = "F16",
                         vocab: int | None = None, seed: int = 0, n_threads: int | None = None) -> Path:
    """Write a random-weight GGUF of `shape` (a name in SHAPES or a SynthShape) at `path`.

    `quant`: F16 or F32 are written directly; Q8_0, Q4_0, Q4_K_M, ... go through llama.cpp's
    quantizer (an F16 temporary beside `path`). `vocab` overrides the shape's vocabulary size.
    """
    s = get_shape(shape)
    if vocab is not None:
        s = replace(s, vocab=int(vocab))
    name = shape if isinstance(shape, str) else s.arch
    path = Path(path)
    q = quant.upper()
    if q in ("F16", "F32"):
        _write_float_gguf(path, s, f"synthetic {name}", q, seed)
        return path
    tmp = path.with_name(path.name + ".f16.tmp")
    try:
        _write_float_gguf(tmp, s, f"synthetic {name}", "F16", seed)
        return quantize_gguf(tmp, path, q, n_threads=n_threads)
    finally:
        tmp.unlink(missing_ok=True)


def shape_spec(shape: str | SynthShape, vocab: int | None = None) -> ModelSpec:
    """The ModelSpec of an F16 synthetic model (exact bytes: 2-D tensors F16, 1-D F32)."""
    s = get_shape(shape)
    if vocab is not None:
        s = replace(s, vocab=int(vocab))
    tensors = shape_tensors(s)
    sizes = [(name, math.prod(ne) * (4 if gguf_float_type(name, ne) == "F32" else 2)) for name, ne in tensors]
    groups, layer_bytes = group_and_layer_bytes(sizes, s.n_layers)
    total = sum(b for _, b in sizes)
    total_params = n_params(tensors)
    active = total_params
    if s.n_experts:
        per_expert = 3 * s.n_embd * s.expert_ff
        active -= s.n_layers * per_expert * (s.n_experts - s.n_experts_used)
    swa = _swa_flags(s)
    rec_flags, rec_r, rec_s, layer_kv = None, 0, 0, None
    if s.arch == "gemma4":
        layer_kv = [s.n_kv_heads_swa if f else s.n_kv_heads for f in swa]
    if s.arch in ("lfm2", "mamba2"):
        rec_flags = [s.arch == "mamba2" or i not in (s.attn_layers or ()) for i in range(s.n_layers)]
        rec_r, rec_s = state_sizes(s.n_embd, d_conv=s.ssm_d_conv, d_inner=s.ssm_d_inner, d_state=s.ssm_d_state,
                                   n_group=s.ssm_n_group, l_cache=s.conv_l_cache)
        layer_kv = [0 if f else s.n_kv_heads for f in rec_flags]
    return ModelSpec(
        ref=shape if isinstance(shape, str) else s.arch, arch=s.arch, params=total_params, active_params=active,
        n_layers=s.n_layers, hidden_size=s.n_embd, n_heads=s.n_heads, n_kv_heads=max(layer_kv or [s.n_kv_heads]),
        head_dim=s.head_dim,
        vocab_size=s.vocab, max_context=s.ctx_train, ffn_size=s.n_ff, sliding_window=s.sliding_window or None,
        swa_layers=swa, layer_kv_heads=layer_kv, n_kv_layers=rec_flags.count(False) if rec_flags else None,
        n_recurrent_layers=sum(rec_flags) if rec_flags else 0, recurrent_r=rec_r, recurrent_s=rec_s,
        recurrent_layers=rec_flags, head_dim_swa=s.head_dim_swa or None, head_dim_v_swa=s.head_dim_swa or None,
        n_kv_shared_layers=s.kv_shared_layers, n_experts=s.n_experts, n_experts_used=s.n_experts_used, expert_ffn_size=s.expert_ff,
        tied_embeddings=s.tied, format="gguf", quant="F16", weight_bytes=total, group_bytes=groups,
        layer_bytes=layer_bytes, source="synthetic-shape", exact=True,
        metadata={f"{s.arch}.embedding_length_per_layer_input": s.per_layer_embd} if s.per_layer_embd else {},
    )


def header_gguf_writer(path: str | os.PathLike, spec: ModelSpec, quant: str):
    """A GGUFWriter for a header-only copy of `spec` stored as llama.cpp's `quant` file type, with the architecture
    keys llama.cpp and our reader need set, and the tensor list (name, ggml dims, type) the quantizer would write
    (llama-quant.cpp mix). Add tokenizer keys, then `finish_sparse_gguf(writer, path, tensors)`."""
    types = llamacpp_tensor_types(spec.tensors, quant, MixContext(spec.n_layers, max(1, spec.n_heads // max(spec.n_kv_heads, 1)),
                                                                  spec.n_experts, arch=spec.arch))
    w = gguf.GGUFWriter(str(path), spec.arch)
    w.add_block_count(spec.n_layers)
    w.add_context_length(spec.max_context)
    w.add_embedding_length(spec.hidden_size)
    w.add_feed_forward_length(spec.ffn_size)
    w.add_head_count(spec.n_heads)
    w.add_head_count_kv(spec.n_kv_heads)
    # the keys convert_hf_to_gguf.py writes when the shape is not the default (head_dim != n_embd / n_head), for
    # MoE models (llama.cpp refuses an MoE file without n_expert_used) and sliding-window attention
    if spec.head_dim and spec.head_dim * spec.n_heads != spec.hidden_size:
        w.add_key_length(spec.head_dim)
        w.add_value_length(spec.head_dim_v or spec.head_dim)
    if spec.n_experts:
        w.add_expert_count(spec.n_experts)
        w.add_expert_used_count(spec.n_experts_used)
        if spec.expert_ffn_size:
            w.add_expert_feed_forward_length(spec.expert_ffn_size)
    if spec.sliding_window:
        w.add_sliding_window(spec.sliding_window)
    w.add_file_type(int(getattr(gguf.LlamaFileType, f"MOSTLY_{quant.upper()}")))
    return w, [(name, shape, t) for (name, shape, _), t in zip(spec.tensors, types)]


def finish_sparse_gguf(writer, path: str | os.PathLike, tensors) -> int:
    """Declare `tensors` on a GGUFWriter whose metadata is set, write a real header and zero tensor data.

    `tensors`: (name, ggml dims (ne order, innermost first), ggml type name or GGMLQuantizationType).
    The data region is a hole made by truncate(): a multi-GB file costs no disk and no memory, which is
    what header readers and download checks need. Returns the header size in bytes.
    """
    total = 0
    for name, dims, qtype in tensors:
        qt = gguf.GGMLQuantizationType[qtype] if isinstance(qtype, str) else gguf.GGMLQuantizationType(int(qtype))
        nbytes = tensor_nbytes(qt, dims)
        writer.add_tensor_info(name, tuple(reversed(dims)), np.float32, nbytes, raw_dtype=qt)
        total += -(-nbytes // writer.data_alignment) * writer.data_alignment
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    with open(path, "r+b") as f:
        f.seek(0, 2)
        head = f.tell()
        f.truncate(head + (-head % writer.data_alignment) + total)
    return head


@dataclass(frozen=True)
class VisionShape:
    """A SigLIP-style vision encoder as a gemma3 projector (clip.cpp PROJECTOR_TYPE_GEMMA3); defaults: Gemma 3's."""

    n_embd: int = 1152
    n_ff: int = 4304
    n_head: int = 16
    image_size: int = 896
    patch_size: int = 14
    blocks: int = 27
    text_embd: int = 2560  # the text model's n_embd (mtmd refuses a projector whose output width differs)


def write_synthetic_mmproj(path: str | os.PathLike, shape: VisionShape = VisionShape(), dtype: str = "F16") -> Path:
    """A gemma3 vision projector GGUF with zero weights that libmtmd loads (tools/mtmd/clip.cpp load_hparams /
    load_tensors: the keys and tensors it requires); the data region is a hole like finish_sparse_gguf's."""

    s, path = shape, Path(path)
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_string("clip.projector_type", "gemma3")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.use_gelu", True)
    for key, value in (("embedding_length", s.n_embd), ("feed_forward_length", s.n_ff), ("block_count", s.blocks),
                       ("projection_dim", s.text_embd), ("attention.head_count", s.n_head),
                       ("image_size", s.image_size), ("patch_size", s.patch_size)):
        w.add_uint32(f"clip.vision.{key}", value)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    e, f = s.n_embd, s.n_ff
    tensors = [("v.patch_embd.weight", (s.patch_size, s.patch_size, 3, e), "F16"), ("v.patch_embd.bias", (e,), "F32"),
               ("v.position_embd.weight", (e, (s.image_size // s.patch_size) ** 2), "F32")]
    for i in range(s.blocks):
        b = f"v.blk.{i}."
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors += [(f"{b}{name}.weight", (e, e), dtype), (f"{b}{name}.bias", (e,), "F32")]
        for name in ("ln1", "ln2"):
            tensors += [(f"{b}{name}.weight", (e,), "F32"), (f"{b}{name}.bias", (e,), "F32")]
        tensors += [(f"{b}ffn_up.weight", (e, f), dtype), (f"{b}ffn_up.bias", (f,), "F32"),
                    (f"{b}ffn_down.weight", (f, e), dtype), (f"{b}ffn_down.bias", (e,), "F32")]
    tensors += [("v.post_ln.weight", (e,), "F32"), ("v.post_ln.bias", (e,), "F32"),
                ("mm.input_projection.weight", (s.text_embd, e), dtype), ("mm.soft_emb_norm.weight", (e,), "F32")]
    finish_sparse_gguf(w, path, tensors)
    return path
