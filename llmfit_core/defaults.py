"""What a bare model reference means on each backend: the file a user of that runner would download.

One rule, used by `fit` on every path (online Hub, offline HF cache, shipped catalog, gated repo without login),
by the catalog's default spec and by recommend:
- llama.cpp backends: the publisher's own GGUF quantization when the model was released that way
  (PUBLISHER_GGUF_QUANTS, e.g. gpt-oss's MXFP4 experts), else Q4_K_M, the file llama.cpp's `-hf org/repo`
  downloads (llama.cpp common/arg.cpp: "default to Q4_K_M"). Inside a GGUF repo `-hf` tries Q4_K_M, then Q8_0,
  then the first model file (common/download.cpp find_best_model): GGUF_REPO_TAGS.
- mlx: the mlx-community 4-bit conversion (mlx_lm.convert -q: 4 bits, group size 64).
A repo that stores quantized weights (GGUF, MLX, GPTQ, AWQ) is priced as stored; `--quant` always wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LLAMACPP_DEFAULT_QUANT = "Q4_K_M"
MLX_DEFAULT_QUANT = "MLX-4bit"
GGUF_REPO_TAGS = ("Q4_K_M", "Q8_0")  # llama.cpp common/download.cpp find_best_model, in this order

# Models released with their own GGUF quantization: (model id / architecture pattern, quant, source).
PUBLISHER_GGUF_QUANTS = (
    (re.compile(r"gpt[-_]?oss", re.I), "MXFP4_MOE",
     "OpenAI released gpt-oss with MXFP4 experts, as ggml-org/gpt-oss-20b-GGUF and -120b-GGUF ship it"),
)
# Stored precisions a bare reference is re-priced from (unquantized transformers weights).
UNQUANTIZED = (None, "", "BF16", "F16", "F32")


@dataclass(frozen=True)
class DefaultQuant:
    """The quantization a bare reference means on a runtime, and the reason line that says so."""

    quant: str
    reason: str


def default_quant(model_id: str | None = None, arch: str | None = None, runtime: str = "llama.cpp") -> DefaultQuant:
    """The quantization a user of `runtime` (llama.cpp | mlx) downloads for model `model_id` (architecture `arch`)."""
    if runtime == "mlx":
        return DefaultQuant(MLX_DEFAULT_QUANT, "the mlx-community 4-bit conversion mlx-lm users download")
    for pattern, quant, source in PUBLISHER_GGUF_QUANTS:
        if pattern.search(model_id or "") or pattern.search(arch or ""):
            return DefaultQuant(quant, f"the publisher's own GGUF quantization: {source}")
    return DefaultQuant(LLAMACPP_DEFAULT_QUANT, "the GGUF llama.cpp's `-hf` downloads by default")


def stores_unquantized(spec) -> bool:
    """True for transformers weights stored as BF16/F16/F32 (or a config only): what a bare reference re-prices."""
    return str(getattr(spec, "format", "") or "") in ("safetensors", "config", "unknown") and \
        (getattr(spec, "quant", None) or "").upper() in tuple(q or "" for q in UNQUANTIZED)


def bare_reference_note(dq: DefaultQuant, runtime: str, stored: str | None) -> str:
    """The reason line of a bare reference priced as `dq` (`stored`: the repo's own precision, when known)."""
    other = f"--quant {stored} prices the stored {stored} weights" if stored else "--quant picks another"
    return f"bare reference on {runtime}: priced as {dq.quant}, {dq.reason}; {other}"
