"""Architecture facts of the models named in the public benchmark tables, as ModelSpec objects.

Figures are the models' published config.json values (layers, hidden size, heads, KV heads, FFN size,
vocabulary, experts). Stored bytes per tensor group follow llama.cpp's file-type mixes, with the bits
per weight of each ggml type taken from gguf's GGML_QUANT_SIZES.
"""

from __future__ import annotations

from dataclasses import dataclass

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from llmfit_core.model_spec import ModelSpec


@dataclass(frozen=True)
class Arch:
    arch: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    ffn: int
    vocab: int
    head_dim: int = 0  # 0 = hidden / n_heads
    tied: bool = False
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn: int = 0
    shared_ffn: int = 0  # dense FFN beside the experts (0 = none)
    max_context: int = 4096


# published config.json figures
ARCHS: dict[str, Arch] = {
    "llama-1-7b": Arch("llama", 32, 4096, 32, 32, 11008, 32000, max_context=2048),
    "llama-1-13b": Arch("llama", 40, 5120, 40, 40, 13824, 32000, max_context=2048),
    "llama-1-30b": Arch("llama", 60, 6656, 52, 52, 17920, 32000, max_context=2048),
    "llama-1-65b": Arch("llama", 80, 8192, 64, 64, 22016, 32000, max_context=2048),
    "llama-2-7b": Arch("llama", 32, 4096, 32, 32, 11008, 32000),
    "llama-2-13b": Arch("llama", 40, 5120, 40, 40, 13824, 32000),
    "llama-2-70b": Arch("llama", 80, 8192, 64, 8, 28672, 32000),
    "llama-3-8b": Arch("llama", 32, 4096, 32, 8, 14336, 128256, max_context=8192),
    "llama-3-70b": Arch("llama", 80, 8192, 64, 8, 28672, 128256, max_context=8192),
    "llama-3.1-8b": Arch("llama", 32, 4096, 32, 8, 14336, 128256, max_context=131072),
    "llama-3.1-70b": Arch("llama", 80, 8192, 64, 8, 28672, 128256, max_context=131072),
    "llama-3.1-405b": Arch("llama", 126, 16384, 128, 8, 53248, 128256, max_context=131072),
    "llama-3.2-3b": Arch("llama", 28, 3072, 24, 8, 8192, 128256, tied=True, max_context=131072),
    "tinyllama-1.1b": Arch("llama", 22, 2048, 32, 4, 5632, 32000, max_context=2048),
    "qwen3-30b-a3b": Arch("qwen3moe", 48, 2048, 32, 4, 0, 151936, head_dim=128, n_experts=128, n_experts_used=8, expert_ffn=768, max_context=40960),
    "qwen2.5-72b": Arch("qwen2", 80, 8192, 64, 8, 29568, 152064, max_context=32768),
    "deepseek-r1-14b": Arch("qwen2", 48, 5120, 40, 8, 13824, 152064, max_context=131072),  # Qwen2.5-14B distill
    "gpt-oss-20b": Arch("gpt-oss", 24, 2880, 64, 8, 0, 201088, head_dim=64, n_experts=32, n_experts_used=4, expert_ffn=2880, max_context=131072),
}
ALIASES = {"llama-7b": "llama-2-7b"}

# llama.cpp file-type mixes: (layer base type, upgraded type, share of layer weights upgraded, output type)
# Q4_K_M/Q5_K_M upgrade half of attn_v + ffn_down (about 1/9 of layer weights) to Q6_K.
MIXES = {
    "F16": ("F16", "F16", 0.0, "F16"),
    "BF16": ("BF16", "BF16", 0.0, "BF16"),
    "Q8_0": ("Q8_0", "Q8_0", 0.0, "Q8_0"),
    "Q4_0": ("Q4_0", "Q4_0", 0.0, "Q6_K"),
    "Q5_0": ("Q5_0", "Q5_0", 0.0, "Q6_K"),
    "Q4_K_M": ("Q4_K", "Q6_K", 1 / 9, "Q6_K"),
    "Q4_K_S": ("Q4_K", "Q5_K", 0.03, "Q6_K"),
    "Q5_K_M": ("Q5_K", "Q6_K", 1 / 9, "Q6_K"),
    "Q6_K": ("Q6_K", "Q6_K", 0.0, "Q6_K"),
    "Q3_K_S": ("Q3_K", "Q3_K", 0.0, "Q6_K"),
    "MXFP4_MOE": ("BF16", "BF16", 0.0, "BF16"),  # experts MXFP4 (below), the rest BF16 as Ollama ships it
}
MLX_BPW = {"MLX-4BIT": 4.5, "MLX-6BIT": 6.5, "MLX-8BIT": 8.5, "MLX-16BIT": 16.0}


def _bpw(t: str) -> float:
    block, nbytes = GGML_QUANT_SIZES[GGMLQuantizationType[t]]
    return 8.0 * nbytes / block


def build_spec(model: str, quant: str, bpw: float | None = None) -> ModelSpec:
    """ModelSpec for a model named in the benchmark tables, stored as `quant` (a llama.cpp or MLX name).

    `bpw`: the published average bits per weight when a source states it (stored bytes are rescaled)."""
    name = ALIASES.get(model, model)
    a = ARCHS[name]
    hd = a.head_dim or a.hidden // a.n_heads
    attn = a.hidden * hd * (a.n_heads * 2 + a.n_kv_heads * 2)
    dense_ffn = 3 * a.hidden * a.ffn if a.ffn and not a.n_experts else 3 * a.hidden * a.shared_ffn
    experts = 3 * a.hidden * a.expert_ffn * a.n_experts
    router = a.hidden * a.n_experts
    norms = 2 * a.hidden
    per_layer_dense = attn + dense_ffn + router + norms
    embd = a.vocab * a.hidden
    out = 0 if a.tied else a.vocab * a.hidden
    params = a.n_layers * (per_layer_dense + experts) + embd + out + a.hidden
    active = a.n_layers * (per_layer_dense + 3 * a.hidden * a.expert_ffn * a.n_experts_used) + embd + out + a.hidden
    q = quant.upper().replace(" ", "-")
    if q.startswith("MLX") or q.startswith("BF16/FP16"):
        bpw = MLX_BPW.get(q, 16.0)
        layer_bpw = expert_bpw = out_bpw = embd_bpw = bpw
    else:
        base, hi, share, out_t = MIXES[q]
        layer_bpw = (1 - share) * _bpw(base) + share * _bpw(hi)
        expert_bpw = _bpw("MXFP4") if q == "MXFP4_MOE" else layer_bpw
        out_bpw = _bpw(out_t)
        embd_bpw = _bpw(base) if base not in ("F16", "BF16") else 16.0
    group_bytes = {
        "token_embd": int(embd * embd_bpw / 8),
        "output": int(out * out_bpw / 8),
        "attn": int(a.n_layers * attn * layer_bpw / 8),
        "ffn": int(a.n_layers * (dense_ffn + router) * layer_bpw / 8),
        "ffn_experts": int(a.n_layers * experts * expert_bpw / 8),
        "norm": int((a.n_layers * norms + a.hidden) * 4),
        "other": 0,
    }
    if bpw:
        scale = bpw * params / 8 / sum(v for k, v in group_bytes.items() if k != "norm")
        group_bytes = {k: (v if k == "norm" else int(v * scale)) for k, v in group_bytes.items()}
    return ModelSpec(
        ref=f"{name}:{quant}",
        arch=a.arch,
        params=int(params),
        active_params=int(active),
        n_layers=a.n_layers,
        hidden_size=a.hidden,
        n_heads=a.n_heads,
        n_kv_heads=a.n_kv_heads,
        head_dim=hd,
        vocab_size=a.vocab,
        max_context=a.max_context,
        ffn_size=a.ffn,
        n_experts=a.n_experts,
        n_experts_used=a.n_experts_used,
        expert_ffn_size=a.expert_ffn,
        tied_embeddings=a.tied,
        format="config",
        quant=quant,
        weight_bytes=sum(group_bytes.values()),
        group_bytes=group_bytes,
        source="config+quant",
    )
