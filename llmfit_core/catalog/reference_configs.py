"""config.json keys the catalog's fields do not carry, from each family's published reference config.json.

The catalog keeps the generic fields of a model (layers, widths, heads, experts). A hybrid or sliding-window
family also needs its recurrent state sizes and layer layout, or its window: without them `fit` priced a
Qwen 3.5 as a llama-like decoder with no scan cost and a Gemma 4 with a full KV cache on every layer (30 GiB
instead of ~5 GiB at 32k tokens for the 31B). Each row is the published config of one size; a size of the same
family with no row of its own takes the family's first row, and the note says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmfit_core.recurrent import NEMOTRON_H_30B_A3B_PATTERN

_HF = "https://huggingface.co/"


@dataclass(frozen=True)
class ReferenceConfig:
    """Keys of one published config.json that `readers.hf_config.spec_from_config` reads."""

    model_types: tuple[str, ...]
    hidden: int  # the hidden size of the config this row copies
    keys: dict = field(hash=False)
    what: str = ""  # what the keys describe, for the note
    source: str = ""


def _gated_delta_net(v_heads: int) -> dict:
    """Qwen3-Next / Qwen 3.5 gated delta-net keys (all published sizes share the key heads and head dims)."""
    return {"linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
            "linear_num_key_heads": 16, "linear_num_value_heads": v_heads, "full_attention_interval": 4}


_QWEN_HYBRID = ("qwen3_next", "qwen3_5", "qwen3_5_text", "qwen3_5_moe", "qwen3_5_moe_text")
_GEMMA4 = ("gemma4", "gemma4_text", "gemma4_unified")
_GDN = "gated delta-net state sizes and layer layout"
_SWA = "sliding window (1024 tokens, 5 of 6 layers)"

REFERENCE_CONFIGS: tuple[ReferenceConfig, ...] = (
    ReferenceConfig(_QWEN_HYBRID, 2048, _gated_delta_net(32), _GDN, f"{_HF}Qwen/Qwen3.5-35B-A3B/config.json"),
    ReferenceConfig(_QWEN_HYBRID, 3072, _gated_delta_net(64), _GDN, f"{_HF}Qwen/Qwen3.5-122B-A10B/config.json"),
    ReferenceConfig(_QWEN_HYBRID, 5120, _gated_delta_net(48), _GDN, f"{_HF}Qwen/Qwen3.5-27B/config.json"),
    # 5 sliding-window layers (1024 tokens) to 1 global layer
    ReferenceConfig(_GEMMA4, 5376, {"sliding_window": 1024, "sliding_window_pattern": 6}, _SWA,
                    f"{_HF}google/gemma-4-31B-it/config.json"),
    ReferenceConfig(_GEMMA4, 2816, {"sliding_window": 1024, "sliding_window_pattern": 6}, _SWA,
                    f"{_HF}google/gemma-4-26B-A4B-it/config.json"),
    # Mamba-2 layers: 64 heads of 64, state 128, 8 groups, conv 4; 6 attention layers of 52
    ReferenceConfig(("nemotron_h",), 2688, {"mamba_num_heads": 64, "mamba_head_dim": 64, "ssm_state_size": 128,
                                            "n_groups": 8, "conv_kernel": 4,
                                            "hybrid_override_pattern": NEMOTRON_H_30B_A3B_PATTERN},
                    "Mamba-2 state sizes and layer pattern", f"{_HF}nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16/config.json"),
)


def reference_keys(model_type: str, hidden: int, n_layers: int) -> tuple[dict, str]:
    """(config keys, note) for a catalog entry of `model_type`: its own size's published keys, else the family's
    first row's (the note says it is assumed); ({}, "") for a family with no row."""
    rows = [r for r in REFERENCE_CONFIGS if model_type in r.model_types]
    if not rows:
        return {}, ""
    own = next((r for r in rows if r.hidden == hidden), None)
    row = own or rows[0]
    keys = dict(row.keys)
    pattern = keys.get("hybrid_override_pattern")
    if pattern is not None and len(pattern) != n_layers:
        return {}, ""  # a layer pattern only fits the size it was published for
    if own is not None:
        return keys, f"{model_type}: {row.what} from the published config ({row.source})"
    return keys, f"{model_type}: {row.what} assumed as in {row.source} (no published config of this size here)"


def reference_window(model_type: str) -> int:
    """The sliding window of `model_type`'s first reference row (0: the family has none here)."""
    row = next((r for r in REFERENCE_CONFIGS if model_type in r.model_types), None)
    return int(row.keys.get("sliding_window", 0)) if row is not None else 0
