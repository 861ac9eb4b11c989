"""Quantization facts the throughput model needs: the kernel family of a quant and its bits per weight.

Bits per weight of single ggml types come from gguf's GGML_QUANT_SIZES (block size, bytes per block).
File-type names with a mix suffix (Q4_K_M, Q3_K_S, IQ3_M, ...) map to their base ggml type; the
bytes a model reads per token are taken from the ModelSpec whenever the reader knew them.
"""

from __future__ import annotations

import re

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

# Kernel families: dequantization cost differs between them (llama.cpp CPU/GPU kernels).
FAMILIES = ("float", "legacy", "kquant", "iq", "fp4", "mlx", "other")
FAMILY_CODE = {name: i for i, name in enumerate(FAMILIES)}

_LEGACY = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "IQ4_NL"}


def normalize_name(quant: str | None) -> str:
    """Upper-case a quant name and strip decorations (`q4_k_m` -> `Q4_K_M`, `MLX 4bit` -> `MLX-4BIT`)."""
    if not quant:
        return ""
    q = str(quant).strip().upper().replace(" ", "-")
    return q.replace("MOSTLY_", "")


def base_ggml_type(quant: str | None) -> str | None:
    """The ggml type behind a file-type name (`Q4_K_M` -> `Q4_K`), or None when it is not a ggml type."""
    q = normalize_name(quant)
    names = {t.name for t in GGMLQuantizationType}
    if q in names:
        return q
    m = re.match(r"^((?:IQ|Q|TQ)\d(?:_[A-Z0-9]+?)?)(?:_(?:XXS|XS|S|M|L|MOE))?$", q)
    if m and m.group(1) in names:
        return m.group(1)
    for t in sorted(names, key=len, reverse=True):  # e.g. MXFP4_MOE -> MXFP4
        if q.startswith(t):
            return t
    return None


def quant_family(quant: str | None) -> str:
    """Kernel family of a quant name: float | legacy | kquant | iq | fp4 | mlx | other."""
    q = normalize_name(quant)
    if not q:
        return "other"
    if q.startswith("MLX") or "BIT" in q and "GPTQ" not in q and "AWQ" not in q:
        return "mlx"
    if q in ("F16", "BF16", "F32", "FP16", "FP32", "F64") or q.startswith("BF16") or q.startswith("F16"):
        return "float"
    base = base_ggml_type(q)
    if base is None:
        return "other"
    if base in ("F16", "BF16", "F32", "F64"):
        return "float"
    if base in _LEGACY:
        return "legacy"
    if base.startswith("IQ") or base.startswith("TQ"):
        return "iq"
    if "FP4" in base:
        return "fp4"
    if base.endswith("_K"):
        return "kquant"
    return "other"


def bits_per_weight(quant: str | None) -> float | None:
    """Bits per weight of the quant's base ggml type (gguf GGML_QUANT_SIZES), MLX n-bit + group scales."""
    q = normalize_name(quant)
    m = re.search(r"(\d+)-?BIT", q)
    if q.startswith("MLX") and m:
        return int(m.group(1)) + 32 / 64  # affine, group 64: fp16 scale + bias per group
    if q in ("FP16", "BF16/FP16-(16-BIT)"):
        return 16.0
    base = base_ggml_type(q)
    if base is None:
        return None
    block, nbytes = GGML_QUANT_SIZES[GGMLQuantizationType[base]]
    return 8.0 * nbytes / block
