"""Recurrent state of hybrid / recurrent models: readers (GGUF, config.json), the estimate, llama.cpp itself.

Sizes follow llama.cpp's llama_hparams::n_embd_r()/n_embd_s() (see llmfit_core/recurrent.py); the slow
tests load synthetic lfm2 (short conv + attention) and mamba2 models with llama-cpp-python and compare the
RS buffer llama.cpp logs with our figure.
"""

from __future__ import annotations

import gguf
import pytest

from llmfit_core.errors import HeaderTooLargeError
from llmfit_core.memory import MIB, estimate_memory
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.recurrent import layer_state_bytes, state_sizes
from llmfit_core.synth import finish_sparse_gguf, shape_spec

E = 256  # embedding width of the header fixtures


def test_state_sizes_match_llama_cpp_formulas():
    # Mamba2 / gated delta-net: (d_conv-1) * (d_inner + 2*n_group*d_state), d_state * d_inner
    assert state_sizes(E, d_conv=4, d_inner=512, d_state=64, n_group=2) == (3 * 768, 64 * 512)
    # Mamba1 / Jamba: no groups
    assert state_sizes(E, d_conv=4, d_inner=512, d_state=16) == (3 * 512, 16 * 512)
    # LFM2 short conv: n_embd * (l_cache - 1), no SSM state
    assert state_sizes(E, l_cache=3) == (2 * E, 0)
    # RWKV: token_shift_count * n_embd, n_embd * head_size
    assert state_sizes(E, wkv_head_size=64) == (2 * E, E * 64)
    assert state_sizes(E, wkv_head_size=64, token_shift_count=1) == (E, E * 64)
    # Kimi KDA: 3 * (d_conv - 1) * n_head * kda, kda^2 * n_head
    assert state_sizes(E, d_conv=4, kda_head_dim=128, n_head=4) == (3 * 3 * 4 * 128, 128 * 128 * 4)
    # Qwen3-Next-80B-A3B published config: llama.cpp logs "RS buffer size = 75.38 MiB" for one sequence
    r, s = state_sizes(2048, d_conv=4, d_inner=32 * 128, d_state=128, n_group=16)
    assert round(36 * layer_state_bytes(r, s) / MIB, 2) == 75.38


def test_state_bytes_scale_with_sequences_not_context():
    spec = shape_spec("mamba2-tiny")
    per_seq = 4 * (2304 + 32768) * 4
    for ctx in (256, 4096, 65536):
        for n_seq in (1, 4):
            m = estimate_memory(spec, "cpu", ctx, n_seq=n_seq)
            assert m.recurrent_state_bytes == per_seq * n_seq
            assert m.kv_cache_bytes == m.recurrent_state_bytes  # no attention layer
    # rollback snapshots (llama.cpp n_rs_seq) add rows per sequence
    assert estimate_memory(spec, "cpu", 512, n_rs_seq=2).recurrent_state_bytes == 3 * per_seq


def test_hybrid_estimate_adds_state_per_layer_and_notes_the_figure():
    spec = shape_spec("lfm2-tiny")  # 6 layers, attention in 2 and 5, short conv elsewhere
    m = estimate_memory(spec, "cpu", 1024, n_seq=2)
    per_conv = 2 * E * 2 * 4  # 2 sequences x (l_cache-1)*n_embd f32
    kv = 1024 * 2 * 64 * 2 * 2  # cells x (K + V) x kv heads*head_dim x f16
    assert m.kv_layer_bytes == [per_conv, per_conv, kv, per_conv, per_conv, kv]
    assert m.recurrent_state_bytes == 4 * per_conv
    assert m.kv_cache_bytes == 2 * kv + 4 * per_conv
    assert not any("not counted" in n for n in m.notes)
    assert any("recurrent state of 16 KiB" in n for n in m.notes), m.notes
    # MLX counts the same state
    assert estimate_memory(spec, "mlx", 1024).recurrent_state_bytes == 4 * 2 * E * 4


def test_unknown_state_keeps_the_note():
    from dataclasses import replace

    spec = replace(shape_spec("llama-tiny"), n_kv_layers=2, n_recurrent_layers=2)
    m = estimate_memory(spec, "cpu", 1024)
    assert m.recurrent_state_bytes == 0 and any("recurrent state not counted" in n for n in m.notes)


# ------------------------------------------------------------------------------------------------
# GGUF headers (tensor data is a hole: only the header matters)


def _header(path, arch, n_layers, keys: dict, tensors=()):
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(n_layers)
    w.add_embedding_length(E)
    w.add_context_length(4096)
    for k, v in keys.items():
        name = f"{arch}.{k}"
        if isinstance(v, list):
            w.add_array(name, v)
        else:
            w.add_uint32(name, v)
    tl = [("token_embd.weight", (E, 512), "F16")] + list(tensors)
    finish_sparse_gguf(w, path, tl)
    return read_gguf(path)


def _attn(i):
    return [(f"blk.{i}.attn_q.weight", (E, E), "F16"), (f"blk.{i}.attn_k.weight", (E, 128), "F16"),
            (f"blk.{i}.attn_v.weight", (E, 128), "F16")]


def _qkv(i):  # a gated delta-net layer's fused projection
    return [(f"blk.{i}.attn_qkv.weight", (E, 3 * E), "F16")]


GGUF_CASES = [
    # id, arch, layers, keys, tensors, (recurrent flags, r, s, n_kv_layers)
    ("lfm2", "lfm2", 6, {"shortconv.l_cache": 3, "attention.head_count": 4, "attention.head_count_kv": [0, 0, 2, 0, 0, 2]},
     _attn(2) + _attn(5), ([1, 1, 0, 1, 1, 0], 2 * E, 0, 2)),
    ("mamba2", "mamba2", 4, {"ssm.conv_kernel": 4, "ssm.inner_size": 512, "ssm.state_size": 64, "ssm.group_count": 2},
     [], ([1, 1, 1, 1], 3 * 768, 64 * 512, 0)),
    ("mamba", "mamba", 3, {"ssm.conv_kernel": 4, "ssm.inner_size": 512, "ssm.state_size": 16},
     [], ([1, 1, 1], 3 * 512, 16 * 512, 0)),
    ("granitehybrid", "granitehybrid", 4, {"ssm.conv_kernel": 4, "ssm.inner_size": 512, "ssm.state_size": 128,
                                           "ssm.group_count": 1, "attention.head_count": 4,
                                           "attention.head_count_kv": [0, 0, 0, 2]},
     _attn(3), ([1, 1, 1, 0], 3 * (512 + 256), 128 * 512, 1)),
    ("nemotron_h: MLP layers are neither", "nemotron_h", 6,
     {"ssm.conv_kernel": 4, "ssm.inner_size": 1024, "ssm.state_size": 128, "ssm.group_count": 8,
      "attention.head_count": 4, "attention.head_count_kv": [0, 0, 2, 0, 0, 0],
      "feed_forward_length": [0, 1024, 0, 1024, 0, 0]},
     _attn(2), ([1, 0, 0, 0, 1, 1], 3 * (1024 + 2 * 8 * 128), 128 * 1024, 1)),
    ("qwen35 recurrent_layers array, attn_qkv is no KV", "qwen35", 8,
     {"ssm.conv_kernel": 4, "ssm.inner_size": 4096, "ssm.state_size": 128, "ssm.group_count": 16,
      "attention.head_count": 4, "attention.head_count_kv": 2,
      "attention.recurrent_layers": [True, True, True, False, True, True, True, False]},
     [t for i in range(8) for t in (_attn(i) if i in (3, 7) else _qkv(i))],
     ([1, 1, 1, 0, 1, 1, 1, 0], 3 * 8192, 128 * 4096, 2)),
    ("qwen3next interval default, MTP block excluded", "qwen3next", 9,
     {"ssm.conv_kernel": 4, "ssm.inner_size": 4096, "ssm.state_size": 128, "ssm.group_count": 16,
      "attention.head_count": 4, "attention.head_count_kv": 2, "nextn_predict_layers": 1},
     [t for i in range(9) for t in (_attn(i) if i in (3, 7, 8) else _qkv(i))],
     ([1, 1, 1, 0, 1, 1, 1, 0, 0], 3 * 8192, 128 * 4096, 2)),
    ("falcon-h1: every layer both", "falcon-h1", 3,
     {"ssm.conv_kernel": 4, "ssm.inner_size": 512, "ssm.state_size": 16, "ssm.group_count": 1,
      "attention.head_count": 4, "attention.head_count_kv": 2},
     [t for i in range(3) for t in _attn(i)], ([1, 1, 1], 3 * (512 + 32), 16 * 512, None)),
    ("jamba", "jamba", 4, {"ssm.conv_kernel": 4, "ssm.inner_size": 512, "ssm.state_size": 16,
                           "attention.head_count": 4, "attention.head_count_kv": [0, 2, 0, 0]},
     _attn(1), ([1, 0, 1, 1], 3 * 512, 16 * 512, 1)),
    ("rwkv6", "rwkv6", 2, {"wkv.head_size": 64}, [], ([1, 1], 2 * E, E * 64, 0)),
    ("rwkv6qwen2 one token shift", "rwkv6qwen2", 2, {"wkv.head_size": 64, "token_shift_count": 1}, [],
     ([1, 1], E, E * 64, 0)),
    ("minimax-01 linear attention", "minimax-01", 8,
     {"attention.head_count": 8, "attention.head_count_kv": 8, "attention.key_length": 128,
      "full_attention_interval": 8},
     [t for i in range(8) for t in (_attn(i) if i == 7 else _qkv(i))], ([1] * 7 + [0], 0, 128 * 128 * 8, 1)),
    ("minimax-01 without full_attention_interval: llama.cpp's default 8", "minimax-01", 16,
     {"attention.head_count": 8, "attention.head_count_kv": 8, "attention.key_length": 128},
     [t for i in range(16) for t in (_attn(i) if i in (7, 15) else _qkv(i))],
     ([1] * 7 + [0] + [1] * 7 + [0], 0, 128 * 128 * 8, 2)),
    ("bailingmoe3 KDA", "bailingmoe3", 4, {"ssm.conv_kernel": 4, "kda.head_dim": 128, "attention.head_count": 4,
                                           "attention.head_count_kv": [0, 0, 0, 4]},
     _attn(3), ([1, 1, 1, 0], 3 * 3 * 4 * 128, 128 * 128 * 4, 1)),
    ("kimi-linear KDA", "kimi-linear", 4, {"ssm.conv_kernel": 4, "kda.head_dim": 128, "attention.head_count": 4,
                                           "attention.head_count_kv": [0, 0, 0, 4]},
     _attn(3), ([1, 1, 1, 0], 3 * 3 * 4 * 128, 128 * 128 * 4, 1)),
]


@pytest.mark.parametrize("arch,n_layers,keys,tensors,want", [c[1:] for c in GGUF_CASES], ids=[c[0] for c in GGUF_CASES])
def test_gguf_recurrent_facts(tmp_path, arch, n_layers, keys, tensors, want):
    flags, r, s, n_kv = want
    spec = _header(tmp_path / "m.gguf", arch, n_layers, keys, tensors)
    assert spec.recurrent_layers == [bool(f) for f in flags]
    assert (spec.n_recurrent_layers, spec.recurrent_r, spec.recurrent_s) == (sum(flags), r, s)
    assert spec.n_kv_layers == n_kv
    m = estimate_memory(spec, "cpu", 2048)
    assert m.recurrent_state_bytes == sum(flags) * layer_state_bytes(r, s)
    assert not any("not counted" in n for n in m.notes)


def test_gguf_long_per_layer_arrays_are_read(tmp_path):
    """A 118-layer hybrid's head_count_kv array (beyond the 64 kept in metadata) still marks the layers."""
    kv = [2 if i % 10 == 9 else 0 for i in range(118)]
    spec = _header(tmp_path / "m.gguf", "granitehybrid", 118,
                   {"ssm.conv_kernel": 4, "ssm.inner_size": 512, "ssm.state_size": 128, "ssm.group_count": 1,
                    "attention.head_count": 4, "attention.head_count_kv": kv})
    assert spec.n_recurrent_layers == 118 - 11 and spec.n_kv_layers == 11


def test_gguf_unmodelled_recurrent_arch_keeps_the_note(tmp_path):
    spec = _header(tmp_path / "m.gguf", "qwen4exp", 2, {"ssm.conv_kernel": 4, "ssm.inner_size": 512})
    assert spec.n_recurrent_layers == 0 and any("not modelled" in n for n in spec.notes)


def test_gguf_hostile_ssm_sizes_are_a_clear_error(tmp_path):
    with pytest.raises(HeaderTooLargeError, match="inner_size"):
        _header(tmp_path / "a.gguf", "mamba2", 4, {"ssm.conv_kernel": 4, "ssm.inner_size": 0xFFFFFFFF,
                                                   "ssm.state_size": 64, "ssm.group_count": 1})
    # each size plausible, the product beyond llama.cpp's uint32 element count
    with pytest.raises(HeaderTooLargeError, match="n_embd_s"):
        _header(tmp_path / "b.gguf", "mamba2", 4, {"ssm.conv_kernel": 4, "ssm.inner_size": 1 << 20,
                                                   "ssm.state_size": 1 << 20, "ssm.group_count": 1})


# ------------------------------------------------------------------------------------------------
# config.json (published configs, trimmed to what the estimate reads)

QWEN3_NEXT = dict(model_type="qwen3_next", hidden_size=2048, num_hidden_layers=48, num_attention_heads=16,
                  num_key_value_heads=2, head_dim=256, intermediate_size=5120, vocab_size=151936,
                  linear_conv_kernel_dim=4, linear_key_head_dim=128, linear_num_key_heads=16,
                  linear_num_value_heads=32, linear_value_head_dim=128, full_attention_interval=4,
                  num_experts=512, num_experts_per_tok=10, moe_intermediate_size=512)
LFM2_TYPES = ["conv", "conv", "full_attention", "conv", "conv", "full_attention", "conv", "conv", "full_attention",
              "conv", "full_attention", "conv", "full_attention", "conv", "full_attention", "conv"]
CONFIG_CASES = [
    # id, config, (n recurrent, r, s, n_kv_layers)
    ("qwen3_next (Qwen3-Next-80B-A3B)", QWEN3_NEXT, (36, 3 * (4096 + 2 * 16 * 128), 128 * 4096, 12)),
    ("qwen3_5 layer_types in text_config",
     {"model_type": "qwen3_5", "text_config": {**{k: v for k, v in QWEN3_NEXT.items() if k != "model_type"},
                                               "num_hidden_layers": 8, "model_type": "qwen3_5_text",
                                               "layer_types": ["linear_attention"] * 3 + ["full_attention"]
                                               + ["linear_attention"] * 3 + ["full_attention"]}},
     (6, 3 * (4096 + 2 * 16 * 128), 128 * 4096, 2)),
    ("lfm2 (LFM2-1.2B)", dict(model_type="lfm2", hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                              num_key_value_heads=8, intermediate_size=8192, vocab_size=65536, conv_L_cache=3,
                              layer_types=LFM2_TYPES), (10, 2 * 2048, 0, 6)),
    ("granitemoehybrid (granite-4.0-h-tiny)",
     dict(model_type="granitemoehybrid", hidden_size=1536, num_hidden_layers=40, num_attention_heads=12,
          num_key_value_heads=4, intermediate_size=512, vocab_size=100352, mamba_d_state=128, mamba_n_groups=1,
          mamba_d_conv=4, mamba_expand=2, mamba_n_heads=48, mamba_d_head=64,
          layer_types=["mamba"] * 5 + ["attention"] + ["mamba"] * 9 + ["attention"] + ["mamba"] * 24),
     (38, 3 * (3072 + 256), 128 * 3072, 2)),
    ("bamba (Bamba-9B): attn_layer_indices",
     dict(model_type="bamba", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
          intermediate_size=14336, vocab_size=128256, mamba_d_state=128, mamba_n_groups=1, mamba_d_conv=4,
          mamba_expand=2, mamba_n_heads=128, mamba_d_head=64, attn_layer_indices=[9, 18, 27]),
     (29, 3 * (8192 + 256), 128 * 8192, 3)),
    ("nemotron_h (Nemotron-H-8B): d_inner = mamba_num_heads * mamba_head_dim",
     dict(model_type="nemotron_h", hidden_size=4096, num_hidden_layers=52, num_attention_heads=32,
          num_key_value_heads=8, head_dim=128, intermediate_size=21504, vocab_size=131072, mamba_head_dim=64,
          mamba_num_heads=128, n_groups=8, ssm_state_size=128, conv_kernel=4, expand=2,
          hybrid_override_pattern="M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"),
     (24, 3 * (8192 + 2 * 8 * 128), 128 * 8192, 4)),
    ("falcon_h1 (Falcon-H1-0.5B)",
     dict(model_type="falcon_h1", hidden_size=1024, num_hidden_layers=36, num_attention_heads=8,
          num_key_value_heads=2, head_dim=64, intermediate_size=2048, vocab_size=32784, mamba_d_ssm=1536,
          mamba_d_state=128, mamba_n_groups=1, mamba_d_conv=4, mamba_n_heads=24, mamba_d_head=64),
     (36, 3 * (1536 + 256), 128 * 1536, None)),
    ("jamba (attention every 8th from 4)",
     dict(model_type="jamba", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
          intermediate_size=14336, vocab_size=65536, mamba_d_state=16, mamba_d_conv=4, mamba_expand=2,
          attn_layer_period=8, attn_layer_offset=4),
     (28, 3 * 8192, 16 * 8192, 4)),
    ("mamba2 (Mamba-Codestral-7B)",
     dict(model_type="mamba2", hidden_size=4096, num_hidden_layers=64, vocab_size=32768, state_size=128,
          conv_kernel=4, expand=2, n_groups=8, head_dim=64, num_heads=128),
     (64, 3 * (8192 + 2 * 8 * 128), 128 * 8192, 0)),
    ("mamba (mamba-130m)", dict(model_type="mamba", hidden_size=768, num_hidden_layers=24, vocab_size=50280,
                                state_size=16, conv_kernel=4, intermediate_size=1536), (24, 3 * 1536, 16 * 1536, 0)),
    ("kimi_linear (Kimi-Linear-48B-A3B): full_attn_layers are 1-based",
     dict(model_type="kimi_linear", hidden_size=2304, num_hidden_layers=27, num_attention_heads=32,
          num_key_value_heads=32, intermediate_size=9216, vocab_size=163840, kv_lora_rank=512,
          linear_attn_config={"full_attn_layers": [4, 8, 12, 16, 20, 24, 27], "head_dim": 128,
                              "short_conv_kernel_size": 4, "num_heads": 32}),
     (20, 3 * 3 * 32 * 128, 128 * 128 * 32, 7)),
    ("plamo2 (mamba every other layer)",
     dict(model_type="plamo2", hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=4,
          intermediate_size=8192, vocab_size=100000, hidden_size_per_head=128, mamba_d_state=64, mamba_d_conv=4,
          mamba_num_heads=32, mamba_step=2),
     (8, 3 * 4096, 64 * 4096, 8)),
    ("rwkv7", dict(model_type="rwkv7", hidden_size=768, num_hidden_layers=12, vocab_size=65536, head_dim=64),
     (12, 2 * 768, 768 * 64, 0)),
]


@pytest.mark.parametrize("cfg,want", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_recurrent_facts(cfg, want):
    n_rec, r, s, n_kv = want
    spec = spec_from_config(cfg, "cfg")
    assert (spec.n_recurrent_layers, spec.recurrent_r, spec.recurrent_s, spec.n_kv_layers) == (n_rec, r, s, n_kv)
    m = estimate_memory(spec, "cpu", 4096)
    assert m.recurrent_state_bytes == n_rec * layer_state_bytes(r, s)
    if n_kv is not None:
        assert sum(1 for b, f in zip(m.kv_layer_bytes, spec.recurrent_layers) if b and not f) == n_kv


def test_config_without_recurrent_facts_invents_no_state_size():
    """The catalog builds bare configs (model_type + sizes): no invented SSM sizes, but a qwen3-next / qwen3.5
    config still has llama.cpp's default layout (every 4th layer full attention), so only those keep a KV cache."""
    base = {k: v for k, v in QWEN3_NEXT.items() if not k.startswith("linear_") and k not in ("layer_types", "full_attention_interval")}
    spec = spec_from_config(base, "cfg")
    n = spec.n_layers
    assert spec.n_kv_layers == n // 4 and spec.n_recurrent_layers == n - n // 4
    assert spec.recurrent_state_elems == 0
    full = estimate_memory(spec_from_config({**base, "model_type": "qwen3"}, "dense"), "cpu", 4096)
    hybrid = estimate_memory(spec, "cpu", 4096)
    assert hybrid.kv_cache_bytes * 4 == full.kv_cache_bytes
    assert any("recurrent state not counted" in n for n in hybrid.notes)


def test_config_hostile_ssm_size_is_a_clear_error():
    cfg = dict(model_type="mamba2", hidden_size=4096, num_hidden_layers=64, vocab_size=32768,
               state_size=10 ** 11, conv_kernel=4, expand=2, n_groups=8)
    with pytest.raises(HeaderTooLargeError, match="state_size"):
        spec_from_config(cfg, "cfg")


# ------------------------------------------------------------------------------------------------
# the real llama.cpp


@pytest.mark.slow
@pytest.mark.parametrize("shape,n_seq", [("lfm2-tiny", 64), ("lfm2-tiny", 1), ("mamba2-tiny", 1), ("mamba2-tiny", 4)])
def test_rs_buffer_matches_llama_cpp(tmp_path, shape, n_seq):
    """llama.cpp's logged RS buffer (2 decimals of MiB) equals our recurrent state; KV and total still hold.

    Tolerance: the log's rounding, 0.005 MiB per figure. A wrong formula (a missing group term, one row
    too few or too many per sequence, state counted per context token) misses by far more: lfm2 at 64
    sequences holds 0.5 MiB of conv state, mamba2 0.54 MiB per sequence.
    """
    pytest.importorskip("llama_cpp")
    from llmfit_core.llamacpp_runner import load_and_measure
    from llmfit_core.synth import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / f"{shape}.gguf", shape)
    spec = read_gguf(path)
    ctx = 256 * n_seq if n_seq > 4 else 1024
    rep = load_and_measure(path, n_ctx=ctx, n_seq=n_seq, prompt_tokens=8, timeout=300)
    m = estimate_memory(spec, "cpu", ctx, n_seq=n_seq, repack=False)
    tol = 0.005 * MIB + 1
    assert rep.log.rs_bytes > 0
    assert abs(m.recurrent_state_bytes - rep.log.rs_bytes) <= tol, (m.recurrent_state_bytes, rep.log.rs_bytes)
    r_bytes = spec.n_recurrent_layers * spec.recurrent_r * 4 * n_seq
    s_bytes = spec.n_recurrent_layers * spec.recurrent_s * 4 * n_seq
    assert abs(r_bytes - rep.log.rs_r_mib[0] * MIB) <= tol and abs(s_bytes - rep.log.rs_s_mib[0] * MIB) <= tol
    assert rep.log.rs_cells == [max(n_seq, 1)]
    attn_kv = m.kv_cache_bytes - m.recurrent_state_bytes
    assert abs(attn_kv - rep.log.kv_bytes) <= tol
    assert abs(m.weights_bytes - rep.log.model_bytes) <= 0.01 * MIB
    # totals: within 3% for one sequence; with several sequences llama.cpp's compute buffer of a hybrid graph
    # grows by ~1.26 MiB on lfm2-tiny (not modelled yet: the state itself is exact, see above)
    assert abs(rep.log.total_bytes - m.buffers_bytes) / rep.log.total_bytes < (0.03 if n_seq == 1 or shape == "mamba2-tiny" else 0.05)


def test_roofline_adds_state_traffic_only_for_recurrent_models():
    from dataclasses import replace

    from llmfit_core.throughput.roofline import model_figures

    base = shape_spec("llama-tiny")
    assert model_figures(base) == model_figures(replace(base, recurrent_r=5, recurrent_s=7))  # no recurrent layers
    m = shape_spec("mamba2-tiny")
    f, f0 = model_figures(m), model_figures(replace(m, recurrent_r=0, recurrent_s=0))
    assert f.weight_bytes - f0.weight_bytes == 2 * 4 * 4 * (2304 + 32768)  # read + write, 4 layers, f32
    # hybrid KV per position: the two attention layers' K and V, not a share of them
    assert model_figures(shape_spec("lfm2-tiny")).kv_bytes_per_pos == 2 * 2 * (64 + 64) * 2


def test_recurrent_fields_from_ollama_model_info():
    """Ollama's /api/show gives GGUF keys without a header: the same facts come out of them."""
    from llmfit_core.readers.gguf import recurrent_fields

    info = {"general.architecture": "lfm2", "lfm2.block_count": 6, "lfm2.embedding_length": E,
            "lfm2.shortconv.l_cache": 3, "lfm2.attention.head_count": 4,
            "lfm2.attention.head_count_kv": [0, 0, 2, 0, 0, 2]}
    fields, notes = recurrent_fields("lfm2", info, 6)
    assert fields["recurrent_layers"] == [True, True, False, True, True, False] and not notes
    assert (fields["recurrent_r"], fields["recurrent_s"], fields["n_kv_layers"]) == (2 * E, 0, 2)
    mamba = {"mamba2.ssm.conv_kernel": 4, "mamba2.ssm.inner_size": 512, "mamba2.ssm.state_size": 64,
             "mamba2.ssm.group_count": 2, "mamba2.embedding_length": E}
    fields, _ = recurrent_fields("mamba2", mamba, 4)
    assert (fields["n_recurrent_layers"], fields["recurrent_s"], fields["n_kv_layers"]) == (4, 64 * 512, 0)
    assert recurrent_fields("llama", {"llama.attention.head_count_kv": 8}, 32) == ({}, [])


def test_bench_record_keeps_the_recurrent_state():
    # a bench record's model facts rebuild the spec that calibration re-predicts with: the state must survive
    from llmfit_core.bench.records import model_facts, spec_from_facts

    spec = shape_spec("mamba2-tiny")
    assert spec.recurrent_state_elems > 0
    back = spec_from_facts(model_facts(spec, ""))
    assert back.recurrent_state_elems == spec.recurrent_state_elems
    assert back.recurrent_layers == spec.recurrent_layers


def test_fit_reasons_carry_the_memory_caveat_once():
    # the memory estimate's notes (here: a hybrid whose state size is unknown) reach fit's reasons, once
    from llmfit_core.api import fit_spec
    from llmfit_core.hardware.profile import CPUInfo, HardwareProfile, MemoryInfo

    base = {k: v for k, v in QWEN3_NEXT.items() if not k.startswith("linear_") and k not in ("layer_types", "full_attention_interval")}
    spec = spec_from_config(base, "cfg")
    hw = HardwareProfile(cpu=CPUInfo(model="x", cores=8, threads=8, mem_bandwidth_gbs=80), memory=MemoryInfo(total_gb=512))
    reasons = fit_spec(spec, hardware=hw, context=4096).reasons
    hybrid = [r for r in reasons if "hybrid model" in r]
    assert len(hybrid) == 1 and "recurrent state not counted" in hybrid[0], reasons


# ------------------------------------------------------------------------------------------------
# layouts assumed from the model type (recurrent.ASSUMED_LAYOUTS): the catalog's bare configs

def _bare(mt, n_layers, hidden, n_heads=32, n_kv=8, head_dim=128, **extra):
    """A config as the catalog builds it (catalog.sizes.entry_config): model_type and sizes, no layout."""
    return dict(model_type=mt, num_hidden_layers=n_layers, hidden_size=hidden, num_attention_heads=n_heads,
                num_key_value_heads=n_kv, head_dim=head_dim, intermediate_size=4 * hidden, vocab_size=32000,
                max_position_embeddings=131072, **extra)


ASSUMED_CASES = [
    # id, bare config, KV layers expected
    ("qwen3_5_moe (every 4th)", _bare("qwen3_5_moe", 40, 2048, 16, 2, 256), 10),
    ("minimax_text_01 (llama.cpp interval 8)", _bare("minimax_text_01", 80, 6144, 64, 8, 128), 10),
    ("minimax_vl_01", _bare("minimax_vl_01", 80, 6144, 64, 8, 128), 10),
    ("minimax 80 layers (MiniMax-Text-01-hf)", _bare("minimax", 80, 6144, 64, 8, 128), 10),
    ("bailing_hybrid Ling-3.0-flash (groups of 6)", _bare("bailing_hybrid", 42, 2560, 32, 32, 128), 7),
    ("jamba Jamba-v0.1 size (every 8th from 4)", _bare("jamba", 32, 4096), 4),
    ("nemotron_h 30B-A3B trunk (pattern)", _bare("nemotron_h", 52, 2688, 32, 2, 128), 6),
    ("olmo_hybrid (every 4th)", _bare("olmo_hybrid", 32, 3840, 30, 30, 128), 8),
    ("olmo_hybrid too short for a 4th: the last layer", _bare("olmo_hybrid", 3, 512, 8, 8, 64), 1),
    ("plamo2 (every other)", _bare("plamo2", 16, 2048, 16, 1, 128), 8),
]


@pytest.mark.parametrize("cfg,n_kv", [c[1:] for c in ASSUMED_CASES], ids=[c[0] for c in ASSUMED_CASES])
def test_bare_config_gets_the_model_types_layout(cfg, n_kv):
    from llmfit_core.recurrent import kv_layer_fraction

    spec = spec_from_config(cfg, "cfg")
    n = cfg["num_hidden_layers"]
    assert spec.n_kv_layers == n_kv and spec.n_recurrent_layers > 0
    assert any(f"layer layout assumed from model_type {cfg['model_type']}" in x for x in spec.notes), spec.notes
    # KV bytes: exactly the attention layers' share of the same model with a KV cache in every layer
    dense = estimate_memory(spec_from_config({**cfg, "model_type": "llama"}, "dense"), "cpu", 32768)
    m = estimate_memory(spec, "cpu", 32768)
    kv = m.kv_cache_bytes - m.recurrent_state_bytes
    assert kv * n == dense.kv_cache_bytes * n_kv
    assert any(f"{n_kv} of {n} layers keep a" in x or f"{n_kv} keep a KV cache" in x for x in m.notes), m.notes
    # recommend's vectorised share is the same
    assert kv_layer_fraction(cfg["model_type"], n, cfg["hidden_size"]) == n_kv / n


def test_nemotron_h_pattern_layers_are_mamba_attention_or_neither():
    spec = spec_from_config(_bare("nemotron_h", 52, 2688, 32, 2, 128), "cfg")
    assert spec.n_recurrent_layers == 23 and spec.n_kv_layers == 6  # the other 23 are MoE FFN layers
    assert [i for i, h in enumerate(spec.layer_kv_heads) if h] == [5, 12, 19, 26, 33, 42]


SIBLING_CASES = [
    # same model type, a size (or layout) the table's sources do not describe: every layer keeps its KV cache
    ("minimax 62 layers (MiniMax-M2 re-uploads)", _bare("minimax", 62, 3072, 48, 8, 128)),
    ("nemotron_h 56 layers (Nano-9B-v2)", _bare("nemotron_h", 56, 4480, 40, 8, 128)),
    ("nemotron_h 52 layers of another width", _bare("nemotron_h", 52, 4096)),
    ("jamba 28 layers (Jamba2-3B)", _bare("jamba", 28, 2560, 20, 1, 128)),
    ("bailing_hybrid 24 layers (Ling-3.0-tiny)", _bare("bailing_hybrid", 24, 1536, 16, 16, 128)),
    ("granitemoehybrid dense granite-4.0-micro", _bare("granitemoehybrid", 40, 2560, 40, 8, 64)),
    ("granitemoehybrid granite-4.0-h-micro: no sourced layout", _bare("granitemoehybrid", 40, 2048, 32, 8, 64)),
    ("lfm2: no sourced layout", _bare("lfm2", 16, 2048, 32, 8, 64)),
    ("kimi_linear: the class fallback is not the checkpoint's", _bare("kimi_linear", 27, 2304, 32, 32, 72)),
    ("falcon_h1: parallel hybrid, KV in every layer", _bare("falcon_h1", 44, 3072, 12, 2, 128)),
]


@pytest.mark.parametrize("cfg", [c[1] for c in SIBLING_CASES], ids=[c[0] for c in SIBLING_CASES])
def test_sizes_without_a_sourced_layout_keep_full_kv(cfg):
    from llmfit_core.recurrent import kv_layer_fraction

    spec = spec_from_config(cfg, "cfg")
    assert spec.kv_layers == cfg["num_hidden_layers"]
    assert not any("layer layout assumed" in x for x in spec.notes)
    assert kv_layer_fraction(cfg["model_type"], cfg["num_hidden_layers"], cfg["hidden_size"]) == 1.0


NAMED_CASES = [
    # the config names its layout: read it, never the model type's assumption
    ("jamba period 4 offset 1 (not the default 8/4)",
     _bare("jamba", 32, 4096, attn_layer_period=4, attn_layer_offset=1, mamba_d_state=16, mamba_d_conv=4,
           mamba_expand=2), 8),
    ("olmo_hybrid layer_types", _bare("olmo_hybrid", 8, 512, 8, 8, 64,
                                      layer_types=["linear_attention"] * 7 + ["full_attention"]), 1),
    ("minimax -hf layer_types", _bare("minimax", 6, 512, 8, 8, 64,
                                      layer_types=["linear_attention", "full_attention"] * 3), 3),
    ("bailing_hybrid layer_group_size 4 (+ the layers past the last whole group)",
     _bare("bailing_hybrid", 10, 512, 8, 8, 64, layer_group_size=4), 4),
    ("lfm2 full_attn_idxs", _bare("lfm2", 6, 512, 8, 8, 64, full_attn_idxs=[2, 5], conv_L_cache=3), 2),
    ("qwen3_next full_attention_interval 2", _bare("qwen3_next", 8, 512, 8, 2, 64, full_attention_interval=2), 4),
    ("granitemoehybrid all attention (dense)", _bare("granitemoehybrid", 4, 512, 8, 8, 64,
                                                     layer_types=["attention"] * 4), None),
]


@pytest.mark.parametrize("cfg,n_kv", [c[1:] for c in NAMED_CASES], ids=[c[0] for c in NAMED_CASES])
def test_config_naming_its_layout_is_read_as_it_says(cfg, n_kv):
    spec = spec_from_config(cfg, "cfg")
    assert spec.n_kv_layers == n_kv
    assert not any("layer layout assumed" in x for x in spec.notes)


def test_minimax_01_keeps_llama_cpps_every_8th_layer_whatever_its_own_list_says():
    # conversion/minimax.py writes no layout key, so llama.cpp's minimax-01.cpp always takes every 8th layer
    spec = spec_from_config(_bare("minimax_text_01", 16, 512, 8, 8, 64, attn_type_list=[0, 1] * 8), "cfg")
    assert spec.n_kv_layers == 2 and any("layer layout assumed" in x for x in spec.notes)


def test_minimax_lightning_state_from_the_config_sizes():
    # llama.cpp minimax-01: n_embd_s = key_length^2 x heads per lightning layer, no conv state
    spec = spec_from_config(_bare("minimax_text_01", 80, 6144, 64, 8, 128), "cfg")
    assert (spec.recurrent_r, spec.recurrent_s) == (0, 128 * 128 * 64)
    m = estimate_memory(spec, "cpu", 4096)
    assert m.recurrent_state_bytes == 70 * layer_state_bytes(0, 128 * 128 * 64)
