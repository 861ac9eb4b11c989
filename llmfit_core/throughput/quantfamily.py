"""The kernel family of a quant: what the throughput model adds to the quantization facts.

Names, base ggml types and bits per weight come from llmfit_core.quant (normalize_quant / quant_fact),
the package's one normaliser; this module only sorts a known quant into the kernel families whose
dequantization cost differs. The bytes a model reads per token are taken from the ModelSpec whenever
the reader knew them.
"""

from __future__ import annotations

from llmfit_core.quant import quant_fact_or_none

# Kernel families: dequantization cost differs between them (llama.cpp CPU/GPU kernels).
FAMILIES = ("float", "legacy", "kquant", "iq", "fp4", "mlx", "other")
FAMILY_CODE = {name: i for i, name in enumerate(FAMILIES)}

_LEGACY = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "IQ4_NL"}


def quant_family(quant: str | None) -> str:
    """Kernel family of a quant name: float | legacy | kquant | iq | fp4 | mlx | other (unknown names too)."""
    fact = quant_fact_or_none(quant)
    if fact is None:
        return "other"
    if fact.family in ("float", "mlx"):
        return fact.family
    base = fact.default_type  # the ggml type of most weights; None for GPTQ / AWQ / bitsandbytes / FP8
    if base is None:
        return "other"
    if base in _LEGACY:
        return "legacy"
    if base.startswith(("IQ", "TQ")):
        return "iq"
    if "FP4" in base:
        return "fp4"
    if base.endswith("_K"):
        return "kquant"
    return "other"
