"""config.json -> ModelSpec: parameter counts of real published configs, SWA, MoE, MLA, quantized checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.models.gen import llama_hf_config

from llmfit_core.errors import UnknownArchitectureError
from llmfit_core.readers.hf_config import hf_module_name, spec_from_config

CONFIGS = Path(__file__).parent / "fixtures" / "models" / "configs"


def load(name):
    return json.loads((CONFIGS / f"{name}.json").read_text())


# published parameter counts (model cards / safetensors totals); language model only
@pytest.mark.parametrize("name,total,active", [
    ("llama-3.1-8b", 8.03e9, 8.03e9),
    ("qwen2.5-7b", 7.62e9, 7.62e9),
    ("mixtral-8x7b", 46.7e9, 12.9e9),
    ("gemma-2-9b", 9.24e9, 9.24e9),
    ("qwen3-30b-a3b", 30.5e9, 3.3e9),
    ("deepseek-v3", 671e9, 37e9),  # without the multi-token-prediction layer
    ("phi-3-mini", 3.82e9, 3.82e9),
    ("gpt-oss-20b", 20.9e9, 3.6e9 + 0.58e9),  # OpenAI's 3.6B active excludes the 0.58B embedding table
    ("qwen1.5-moe-a2.7b", 14.3e9, 2.7e9),  # shared expert + 60 routed
    ("deepseek-v2-lite", 15.7e9, 2.4e9 + 0.21e9),  # no q_lora; "2.4B activated" excludes the embedding table
    ("llama-4-maverick", 400e9, 17e9),  # 128 experts on every other layer + shared expert
])
def test_parameter_counts_match_published(name, total, active):
    spec = spec_from_config(load(name), name)
    assert spec.params == pytest.approx(total, rel=0.01)
    assert spec.active_params == pytest.approx(active, rel=0.02)


def test_llama_8b_exact_layout():
    spec = spec_from_config(load("llama-3.1-8b"), "x")
    assert spec.params == 8_030_261_248  # the safetensors total of meta-llama/Llama-3.1-8B
    assert (spec.arch, spec.n_layers, spec.n_kv_heads, spec.head_dim, spec.vocab_size, spec.max_context) == (
        "llama", 32, 8, 128, 128256, 131072)
    assert spec.quant == "BF16" and spec.weight_bytes == 2 * spec.params
    assert not spec.exact and spec.source == "config"


def test_sliding_windows():
    g2 = spec_from_config(load("gemma-2-9b"), "g2")
    assert g2.sliding_window == 4096 and g2.swa_layers[:4] == [True, False, True, False] and g2.tied_embeddings
    g3 = spec_from_config(load("gemma-3-4b-it"), "g3")  # text_config nesting
    assert g3.arch == "gemma3" and g3.n_layers == 34 and g3.head_dim == 256
    assert g3.swa_layers[:6] == [True] * 5 + [False] and sum(g3.swa_layers) == 29
    assert any("vision" in n for n in g3.notes)
    oss = spec_from_config(load("gpt-oss-20b"), "oss")
    assert oss.sliding_window == 128 and oss.swa_layers[:2] == [True, False]
    q = spec_from_config(load("qwen2.5-7b"), "q")
    assert q.swa_layers is None and q.sliding_window is None
    phi = spec_from_config(load("phi-3-mini"), "phi")
    assert phi.swa_layers is None  # llama.cpp disables Phi-3's SWA


def test_mla_and_moe_facts():
    ds = spec_from_config(load("deepseek-v3"), "ds")
    assert ds.arch == "deepseek2" and ds.kv_lora_rank == 512
    assert (ds.n_kv_heads, ds.head_dim, ds.head_dim_v) == (1, 576, 512)  # llama.cpp's MLA cache layout
    assert (ds.n_experts, ds.n_experts_used, ds.n_shared_experts, ds.n_dense_layers) == (256, 8, 1, 3)
    assert ds.quant == "FP8"
    assert ds.group_bytes["token_embd"] == 129280 * 7168 * 2  # fp8 checkpoints keep embeddings in bf16
    # Kimi K2 and GLM-4.7-Flash ship DeepSeek-V3's layout under their own model_type (llama.cpp converts both as
    # deepseek2): priced with the MLA latent cache, not as a llama-like decoder with a per-head cache
    for mt in ("kimi_k2", "glm4_moe_lite"):
        k2 = spec_from_config(dict(load("deepseek-v3"), model_type=mt), mt)
        assert k2.arch == "deepseek2" and k2.kv_lora_rank == 512 and k2.n_experts == 256, mt
        assert not any("not modelled exactly" in n for n in k2.notes), k2.notes
    mx = spec_from_config(load("mixtral-8x7b"), "mx")
    assert mx.arch == "llama" and mx.n_experts == 8 and mx.expert_ffn_size == 14336


def test_quantized_checkpoints():
    base = llama_hf_config(hidden=4096, layers=2, heads=32, kv=8, ff=14336, vocab=128256)
    bf16 = spec_from_config(base, "b")
    mlx = spec_from_config(dict(base, quantization={"group_size": 64, "bits": 4}), "m")
    assert mlx.quant == "MLX-4bit" and mlx.format == "mlx"
    lin = sum(__import__("math").prod(s) for n, s, _ in bf16.tensors if len(s) == 2)
    assert mlx.weight_bytes == pytest.approx(lin * 4.5 / 8, rel=0.001)
    # per-layer override: lm_head at 8 bits -> bigger
    ov = spec_from_config(dict(base, quantization={"group_size": 64, "bits": 4, "lm_head": {"bits": 8, "group_size": 64}}), "o")
    assert ov.group_bytes["output"] == 128256 * 4096 * (8 + 0.5) / 8
    gptq = spec_from_config(dict(base, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 128}), "g")
    assert gptq.quant == "GPTQ-4bit" and gptq.group_bytes["token_embd"] == bf16.group_bytes["token_embd"]
    assert gptq.layer_bytes[0] == pytest.approx(bf16.layer_bytes[0] * (4 + 20 / 128) / 16, rel=0.001)
    bnb = spec_from_config(dict(base, quantization_config={"quant_method": "bitsandbytes", "load_in_4bit": True}), "n")
    assert bnb.quant == "BNB-4bit"
    what_if = spec_from_config(base, "w", quant="Q4_K_M")
    assert what_if.quant == "Q4_K_M" and what_if.group_bytes["output"] == 128256 * 4096 // 256 * 210
    assert hf_module_name("blk.3.ffn_down.weight") == "model.layers.3.mlp.down_proj"


def _gemma4_tiny_config(**extra):
    """A Gemma 4 text config shaped like synth's gemma4-tiny (the keys conversion/gemma.py Gemma4Model reads)."""
    text = {"model_type": "gemma4_text", "hidden_size": 256, "num_hidden_layers": 8, "num_attention_heads": 4,
            "num_key_value_heads": 1, "num_global_key_value_heads": 2, "head_dim": 64, "global_head_dim": 128,
            "intermediate_size": 768, "vocab_size": 4096, "max_position_embeddings": 8192, "sliding_window": 256,
            "layer_types": (["sliding_attention"] * 3 + ["full_attention"]) * 2, "num_kv_shared_layers": 4,
            "hidden_size_per_layer_input": 32, "torch_dtype": "bfloat16", **extra}
    return {"model_type": "gemma4", "text_config": text}


@pytest.mark.parametrize("fa", [True, False])
def test_gemma4_config_priced_as_its_converted_gguf(fa):
    """A Gemma 4 config.json is priced as llama.cpp prices the GGUF it converts to: the KV cache and compute buffer
    of synth's gemma4-tiny, whose KV figures match llama.cpp's log (tests/test_memory.py)."""
    from llmfit_core.memory import estimate_memory
    from llmfit_core.synth import shape_spec

    spec = spec_from_config(_gemma4_tiny_config(), "g4")
    gguf_spec = shape_spec("gemma4-tiny")
    assert (spec.arch, spec.head_dim, spec.head_dim_swa, spec.n_kv_shared_layers) == ("gemma4", 128, 64, 4)
    assert spec.layer_kv_heads == gguf_spec.layer_kv_heads == [1, 1, 1, 2] * 2
    for ctx in (700, 5000):
        ours, want = (estimate_memory(s, "cpu", ctx, flash_attn=fa, repack=False) for s in (spec, gguf_spec))
        assert ours.kv_layer_bytes == want.kv_layer_bytes
        assert ours.compute_bytes == want.compute_bytes
    # global-layer attention weights at their own head dim: q/o 4x128 wide, k/v 2x128
    shapes = {name: shape for name, shape, _ in spec.tensors}
    assert shapes["blk.3.attn_q.weight"] == (256, 512) and shapes["blk.0.attn_q.weight"] == (256, 256)
    assert shapes["blk.3.attn_k.weight"] == (256, 256) and shapes["blk.0.attn_k.weight"] == (256, 64)
    # without global_head_dim: per_layer_config's first full-attention layer (conversion/gemma.py's fallback)
    alt = spec_from_config(_gemma4_tiny_config(global_head_dim=None, num_global_key_value_heads=None,
                                               per_layer_config={"3": {"head_dim": 128, "num_key_value_heads": 2}}), "g4")
    assert (alt.head_dim, alt.head_dim_swa, alt.layer_kv_heads) == (128, 64, [1, 1, 1, 2] * 2)


def test_unknown_architecture():
    spec = spec_from_config({"model_type": "brandnew", "hidden_size": 512, "num_hidden_layers": 4}, "x")
    assert spec.params > 0 and any("brandnew" in n for n in spec.notes)
    assert any("heads guessed" in n for n in spec.notes) and any("vocabulary" in n for n in spec.notes)
    with pytest.raises(UnknownArchitectureError, match="no hidden size"):
        spec_from_config({"model_type": "whisper"}, "x")
    with pytest.raises(UnknownArchitectureError):
        spec_from_config(["not", "a", "dict"], "x")


def test_hybrid_layer_types_count_kv_layers():
    cfg = llama_hf_config(layers=4, layer_types=["conv", "conv", "full_attention", "linear_attention"])
    cfg["model_type"] = "lfm2"
    spec = spec_from_config(cfg, "h")
    assert spec.n_kv_layers == 1 and spec.kv_layers == 1
    assert any("hybrid" in n for n in spec.notes)


def test_llama4_scout():
    spec = spec_from_config(load("llama-4-scout"), "scout")
    # Meta: 109B total including the vision encoder (not counted here), 17B active
    assert 107e9 < spec.params < 109e9 and spec.active_params == pytest.approx(17e9, rel=0.02)
    assert spec.arch == "llama4" and spec.n_experts == 16 and spec.n_shared_experts == 1
    assert spec.sliding_window == 8192 and spec.swa_layers[:4] == [True, True, True, False]


@pytest.mark.parametrize("cfg,published", [
    (dict(model_type="gemma", hidden_size=3072, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=16,
          head_dim=256, intermediate_size=24576, vocab_size=256000), 8.54e9),  # gemma-7b
    (dict(model_type="phi3", hidden_size=5120, num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=10,
          intermediate_size=17920, vocab_size=100352, tie_word_embeddings=False), 14.66e9),  # phi-4
    (dict(model_type="qwen3", hidden_size=4096, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
          head_dim=128, intermediate_size=12288, vocab_size=151936, tie_word_embeddings=False), 8.19e9),  # Qwen3-8B
    (dict(model_type="mistral", hidden_size=5120, num_hidden_layers=40, num_attention_heads=32, num_key_value_heads=8,
          head_dim=128, intermediate_size=14336, vocab_size=131072), 12.25e9),  # Mistral-Nemo (head_dim override)
])
def test_more_published_counts(cfg, published):
    assert spec_from_config(dict(cfg, torch_dtype="bfloat16", max_position_embeddings=8192), "x").params == \
        pytest.approx(published, rel=0.005)
