"""Catalog entry -> ModelSpec: an HF-style config, then the readers' config path (or a tensor list of our own).

The tensor list uses llama.cpp's GGUF tensor names and ggml shapes, so `quant.apply_quant` computes
the weight bytes with llama.cpp's real per-tensor quantization mix.
"""

from __future__ import annotations

import re

from llmfit_core.catalog.reference_configs import reference_keys
from llmfit_core.defaults import default_quant
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import apply_quant, normalize_quant, tensor_nbytes
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.tensor_layout import Layout, gguf_float_type, group_and_layer_bytes, layout_tensors

DEFAULT_QUANT = "Q4_K_M"
# Multi-head latent attention (MLA) by architecture: (kv_lora_rank, qk_rope_head_dim) of the family's reference
# config.json. The catalog keeps only the generic attention fields (n_kv_heads = n_heads, head_dim = hidden /
# heads), which would price the KV cache per head, ~30-60x too big; every engine that runs these models caches
# one latent row of kv_lora_rank + qk_rope_head_dim per token and layer (llama.cpp deepseek2, vLLM/SGLang MLA,
# mlx-lm deepseek_v3).
MLA_ATTENTION = {
    "deepseek_v2": (512, 64),  # deepseek-ai/DeepSeek-V2-Lite-Chat/config.json (DeepSeek-V2: the same)
    "deepseek_v3": (512, 64),  # deepseek-ai/DeepSeek-V3/config.json (R1, V3.1: the same)
    "deepseek_v32": (512, 64),  # deepseek-ai/DeepSeek-V3.2-Exp/config.json
    "kimi_k2": (512, 64),  # moonshotai/Kimi-K2-Instruct/config.json
    "kimi_k25": (512, 64),  # moonshotai/Kimi-K2.5/config.json text_config
    "glm4_moe_lite": (512, 64),  # zai-org/GLM-4.7-Flash/config.json
    "minicpm3": (256, 32),  # openbmb/MiniCPM3-4B/config.json
}


def entry_config(e) -> dict:
    """The HF config.json facts of a catalog entry (what `spec_from_config` reads)."""
    cfg = {
        "model_type": e.arch,
        "num_hidden_layers": e.n_layers,
        "hidden_size": e.hidden_size,
        "num_attention_heads": e.n_heads,
        "num_key_value_heads": e.n_kv_heads,
        "head_dim": e.head_dim,
        "vocab_size": e.vocab_size,
        "max_position_embeddings": e.max_context,
        "intermediate_size": e.ffn_size or e.expert_ffn_size,
        "tie_word_embeddings": e.tied_embeddings,
        "torch_dtype": "bfloat16",
    }
    if e.sliding_window:
        cfg["sliding_window"] = e.sliding_window
    keys, _ = reference_keys(e.arch, e.hidden_size, e.n_layers)
    cfg.update({k: v for k, v in keys.items() if k not in cfg})
    if e.is_moe:
        cfg.update(num_experts=e.n_experts, num_local_experts=e.n_experts, num_experts_per_tok=e.n_experts_used,
                   moe_intermediate_size=e.expert_ffn_size)
        if e.shared_ffn_size:
            cfg["shared_expert_intermediate_size"] = e.shared_ffn_size
    return cfg


def entry_tensors(e) -> list[tuple[str, tuple[int, ...], str]]:
    """GGUF-named tensors (name, ggml shape, type) of the entry's architecture, converted from BF16."""
    lay = Layout(n_layers=e.n_layers, hidden=e.hidden_size, vocab=e.vocab_size, n_heads=e.n_heads,
                 n_kv_heads=e.n_kv_heads, head_dim=e.head_dim, ffn=e.ffn_size, tied=e.tied_embeddings,
                 n_experts=e.n_experts if e.is_moe else 0, expert_ffn=e.expert_ffn_size,
                 shared_ffn=e.shared_ffn_size if e.is_moe else 0)
    return [(name, dims, gguf_float_type(name, dims, "BF16")) for name, dims in layout_tensors(lay)]


def _base_spec(e) -> ModelSpec:
    tensors = entry_tensors(e)
    sizes = [(name, tensor_nbytes(t, shape)) for name, shape, t in tensors]
    groups, layers = group_and_layer_bytes(sizes, e.n_layers)
    total = sum(n for _, n in sizes)
    return ModelSpec(
        ref=e.id, arch=e.arch, params=e.params, active_params=e.active_params or e.params,
        n_layers=e.n_layers, hidden_size=e.hidden_size, n_heads=e.n_heads, n_kv_heads=e.n_kv_heads,
        head_dim=e.head_dim, vocab_size=e.vocab_size, max_context=e.max_context, ffn_size=e.ffn_size,
        sliding_window=e.sliding_window, n_experts=e.n_experts, n_experts_used=e.n_experts_used,
        expert_ffn_size=e.expert_ffn_size, tied_embeddings=e.tied_embeddings, format="safetensors", quant="BF16",
        weight_bytes=total, group_bytes=groups, layer_bytes=layers, tensors=tensors, source="catalog",
        notes=[f"architecture from the shipped catalog ({e.source_of('params')})"],
    )


def spec_for_entry(e, quant: str | None = None) -> ModelSpec:
    """ModelSpec of catalog entry `e` stored as `quant`.

    Default quant: the repo's own (MLX/AWQ/GPTQ variants), else Q4_K_M (the usual GGUF download).
    When a GGUF repo lists the exact file size of that quant, it becomes `file_bytes`.
    """
    q = normalize_quant(quant) if quant else (e.quant if e.quant and e.format in ("mlx", "awq", "gptq")
                                              else default_quant(e.id, e.arch).quant)
    assumed = None
    try:
        q = normalize_quant(q)
    except Exception:
        q, assumed = (mlx_quant_from_id(e.id), None) if e.format == "mlx" else (DEFAULT_QUANT, None)
        if q is None:  # an MLX repo that does not say its bits: mlx_lm.convert's default (affine 4-bit, group 64)
            q, assumed = "MLX-4bit", f"{e.id} does not state its MLX quantization: assumed mlx_lm's default 4-bit"
    spec = None
    try:
        spec = spec_from_config(entry_config(e), e.id, quant=q)
    except Exception:  # the reader does not know this architecture: use our tensor list
        spec = None
    if spec is None or not spec.weight_bytes:
        spec = apply_quant(_base_spec(e), q) if q not in ("BF16",) else _base_spec(e)
    # the catalog's validated counts win over anything re-derived; when the architecture fields miss part
    # of the model (hybrid layers, vision towers), the weights are scaled to the declared count
    derived = spec.params or 0
    if derived and e.params and abs(derived / e.params - 1) > 0.05:
        f = e.params / derived
        spec.weight_bytes = int(spec.weight_bytes * f)
        spec.group_bytes = {g: int(b * f) for g, b in spec.group_bytes.items()}
        spec.layer_bytes = [int(b * f) for b in spec.layer_bytes]
        spec.notes = list(spec.notes) + [f"weights scaled x{f:.2f} to the catalog's parameter count "
                                         f"({e.source_of('params')})"]
    spec.params = e.params
    spec.active_params = e.active_params or e.params
    spec.source = "catalog"
    size = e.gguf_size(q)
    if size:
        spec.file_bytes = size
    spec.metadata = dict(spec.metadata or {}, catalog_id=e.id, family=e.family, license=e.license)
    if assumed:
        spec.notes = list(spec.notes) + [assumed]
    _, reference_note = reference_keys(e.arch, e.hidden_size, e.n_layers)
    if reference_note:
        spec.notes = list(spec.notes) + [reference_note]
    if e.arch in MLA_ATTENTION and not spec.kv_lora_rank:
        spec.kv_lora_rank, rope = MLA_ATTENTION[e.arch]
        spec.metadata["qk_rope_head_dim"] = rope
        # as readers.hf_config stores MLA (llama.cpp deepseek2): one latent "head" of kv_lora + rope dims as K and
        # kv_lora as V; the per-head fields priced attention at depth ~3x too fast and decode's KV reads too slow
        spec.n_kv_heads, spec.head_dim, spec.head_dim_v = 1, spec.kv_lora_rank + rope, spec.kv_lora_rank
        spec.notes = list(spec.notes) + [f"MLA KV cache: kv_lora_rank {spec.kv_lora_rank} + {rope} RoPE dims per token "
                                          f"and layer, as {e.arch}'s reference config (not stated by the catalog)"]
    return spec


_MLX_16BIT = re.compile(r"(?<![a-z0-9])(?:bf16|fp16|f16|bfloat16|float16)(?![a-z0-9])", re.I)


def mlx_quant_from_id(repo_id: str) -> str | None:
    """The quantization an MLX repo's name states when the catalog label does not ("...-bf16" -> "MLX-16bit")."""
    if _MLX_16BIT.search(repo_id or ""):
        return "MLX-16bit"  # mlx_lm.convert without -q: the weights as they are, no group scales
    return None
