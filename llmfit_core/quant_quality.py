"""Quality lost to quantization: published perplexity deltas per quantization type, with their source.

Source: llama.cpp `tools/quantize/quantize.cpp`, table `QUANT_OPTIONS` (as vendored in
llama-cpp-python 0.3.36, vendor/llama.cpp/tools/quantize/quantize.cpp). Each line reads e.g.
`{ "Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M, " 4.58G, +0.1754 ppl @ Llama-3-8B" }`: file size of
Llama-3-8B in that type and the perplexity increase over F16 (wikitext-2). Types the table lists
only with a bits-per-weight note (IQ*, TQ*) get a delta interpolated on the K-quant curve by bits per
weight, and say so. MLX / GPTQ / AWQ / bitsandbytes are mapped to the llama.cpp type of the same
bits and grouping, marked as assumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmfit_core.quant import bits_per_weight, normalize_quant

SOURCE = "llama.cpp tools/quantize/quantize.cpp QUANT_OPTIONS (llama-cpp-python 0.3.36), ppl delta vs F16 on Llama-3-8B"

# name -> (Llama-3-8B file size in GiB as printed, +ppl over F16, reference model) — copied from QUANT_OPTIONS.
PUBLISHED: dict[str, tuple[float | None, float, str]] = {
    "Q2_K": (2.96, 3.5199, "Llama-3-8B"),
    "Q2_K_S": (2.96, 3.1836, "Llama-3-8B"),
    "Q3_K_S": (3.41, 1.6321, "Llama-3-8B"),
    "Q3_K_M": (3.74, 0.6569, "Llama-3-8B"),
    "Q3_K_L": (4.03, 0.5562, "Llama-3-8B"),
    "Q4_0": (4.34, 0.4685, "Llama-3-8B"),
    "Q4_1": (4.78, 0.4511, "Llama-3-8B"),
    "Q4_K_S": (4.37, 0.2689, "Llama-3-8B"),
    "Q4_K_M": (4.58, 0.1754, "Llama-3-8B"),
    "Q5_0": (5.21, 0.1316, "Llama-3-8B"),
    "Q5_1": (5.65, 0.1062, "Llama-3-8B"),
    "Q5_K_S": (5.21, 0.1049, "Llama-3-8B"),
    "Q5_K_M": (5.33, 0.0569, "Llama-3-8B"),
    "Q6_K": (6.14, 0.0217, "Llama-3-8B"),
    "Q8_0": (7.96, 0.0026, "Llama-3-8B"),
    "F16": (14.00, 0.0020, "Mistral-7B"),
    "BF16": (14.00, -0.0050, "Mistral-7B"),
    "F32": (26.00, 0.0, "7B"),
}
# Types listed with bits per weight only (same table).
BPW_ONLY: dict[str, float] = {
    "IQ1_S": 1.56, "IQ1_M": 1.75, "TQ1_0": 1.69, "TQ2_0": 2.06, "IQ2_XXS": 2.06, "IQ2_XS": 2.31, "IQ2_S": 2.5,
    "IQ2_M": 2.7, "IQ3_XXS": 3.06, "IQ3_XS": 3.3, "IQ3_S": 3.44, "IQ3_M": 3.66, "IQ4_XS": 4.25, "IQ4_NL": 4.50,
    "Q1_0": 1.125, "Q2_0": 2.25,
}
LLAMA3_8B_PARAMS = 8.03e9  # parameters of the reference model (sizes above are GiB of its files)

# the llama.cpp types offered by GGUF publishers, worst to best
GGUF_LADDER = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")


@dataclass(frozen=True)
class QuantQuality:
    """Quality facts of one quantization: perplexity delta vs F16, effective bits, where it comes from."""

    quant: str
    ppl_delta: float
    bits_per_weight: float | None  # effective, over the whole file (reference model)
    source: str  # "published" | "interpolated" | "assumed"
    note: str


def _effective_bpw(size_gib: float) -> float:
    return size_gib * 2**30 * 8 / LLAMA3_8B_PARAMS


# the K-quant mixes of the curve and their main ggml type (bits per weight from gguf's GGML_QUANT_SIZES)
_CURVE_MIXES = {"Q2_K": "Q2_K", "Q3_K_M": "Q3_K", "Q4_K_M": "Q4_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "Q8_0": "Q8_0"}


def _curve() -> list[tuple[float, float]]:
    return sorted((bits_per_weight(t), PUBLISHED[mix][1]) for mix, t in _CURVE_MIXES.items())


def _interp_delta(bpw: float) -> float:
    """ppl delta at `bpw` on the K-quant curve (log-linear interpolation; extrapolated below Q2_K)."""
    pts = _curve()
    if bpw <= pts[0][0]:
        (x0, y0), (x1, y1) = pts[0], pts[1]
    elif bpw >= pts[-1][0]:
        return pts[-1][1]
    else:
        for lo, hi in zip(pts, pts[1:]):
            if lo[0] <= bpw <= hi[0]:
                break
        (x0, y0), (x1, y1) = lo, hi
    t = (bpw - x0) / (x1 - x0)
    return math.exp(math.log(max(y0, 1e-4)) + t * (math.log(max(y1, 1e-4)) - math.log(max(y0, 1e-4))))


# non-llama.cpp quantizations -> comparable llama.cpp type (same bits, similar grouping)
_ASSUMED = {
    "MLX-16bit": "F16", "MLX-8bit": "Q8_0", "MLX-6bit": "Q6_K", "MLX-5bit": "Q5_1", "MLX-4bit": "Q4_1", "MLX-3bit": "Q3_K_S", "MLX-2bit": "Q2_K",
    "GPTQ-8bit": "Q8_0", "GPTQ-4bit": "Q4_K_S", "GPTQ-3bit": "Q3_K_M", "GPTQ-2bit": "Q2_K",
    "AWQ-8bit": "Q8_0", "AWQ-4bit": "Q4_K_S", "BNB-8bit": "Q8_0", "BNB-4bit": "Q4_0", "FP8": "Q8_0",
}


def quant_quality(quant: str) -> QuantQuality:
    """Perplexity delta (vs F16) of `quant`, from llama.cpp's published table where it has one."""

    q = normalize_quant(quant)
    base = q[3:] if q.startswith("UD-") else q
    if base.endswith("_XL"):
        base = base[:-3] + "_M" if base[:-3] + "_M" in PUBLISHED else base[:-3]
    if base in PUBLISHED:
        size, delta, ref = PUBLISHED[base]
        return QuantQuality(q, delta, _effective_bpw(size) if ref == "Llama-3-8B" else 16.0, "published",
                            f"{base}: {delta:+.4f} ppl @ {ref} ({SOURCE.split(' (')[0]})")
    if base in BPW_ONLY:
        bpw = BPW_ONLY[base]  # nominal bits of the main type, comparable with the curve's main types
        return QuantQuality(q, _interp_delta(bpw), bpw, "interpolated",
                            f"{base}: {bpw} bpw; ppl delta interpolated on the K-quant curve of the same table")
    key = base.split("-g")[0]
    if key in _ASSUMED:
        ref = _ASSUMED[key]
        size, delta, _ = PUBLISHED[ref]
        return QuantQuality(q, delta, None, "assumed", f"{q} assumed comparable to llama.cpp {ref} ({delta:+.4f} ppl)")
    return QuantQuality(q, 1.0, None, "assumed", f"{q}: no published figure; assumed +1.0 ppl")


def quality_penalty(quant: str) -> float:
    """Score points lost to quantization: 10 per unit of ppl delta (Q4_K_M 1.8, Q3_K_M 6.6, Q2_K 35)."""
    return 10.0 * max(quant_quality(quant).ppl_delta, 0.0)
