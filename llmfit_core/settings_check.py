"""Impossible settings, rejected before any prediction with one line saying why (and what would work).

Checked by `api.fit` (the CLI's fit / check / --batch and the Python API): an unknown backend (valid: the built-in
ones and those the runner adapters declare, backends.get_backend), a backend the hardware cannot run
(backends.unavailable_reason), a KV cache type llama.cpp does not accept, a requested quantization the backend's
runtime cannot run, a quantized V cache with flash attention off, and a context above the model's trained length
unless the user allows the extension explicitly. Internal callers of `fit_spec` (recommend, plan, bench) pick
their own settings and are not checked here.
"""

from __future__ import annotations

import difflib

from llmfit_core.backends import BACKENDS, Backend, default_backend, get_backend, unavailable_reason
from llmfit_core.errors import UnknownQuantizationError, UnsupportedSettingError
from llmfit_core.quant import quant_fact

# llama.cpp common/arg.cpp `kv_cache_types`: the only values -ctk / -ctv accept ("Unsupported cache type" otherwise).
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
_FLOAT_CACHE = ("f32", "f16", "bf16")

# Where weights of a family llama.cpp / MLX cannot run do run (for the error line).
RUNS_ELSEWHERE = {
    "fp8": "vLLM, SGLang, TensorRT-LLM or transformers on Ada/Hopper/Blackwell GPUs (ggml has no FP8 type)",
    "gptq": "vLLM, transformers or ExLlamaV2 (GPTQ packing is not a ggml type)",
    "awq": "vLLM or transformers (AWQ packing is not a ggml type)",
    "bnb": "transformers with bitsandbytes",
    "mlx": "mlx-lm on Apple silicon",
    "gguf": "llama.cpp (or Ollama / LM Studio)",
}
# ggml types with no Metal matrix-multiply kernel: llama.cpp ggml/src/ggml-metal/ggml-metal-device.m,
# ggml_metal_supports_mul_mat_op returns false for them, so their matmuls would run on the CPU.
NO_METAL_MATMUL = ("NVFP4", "TQ1_0")

ALLOW_CONTEXT_FLAG = "--allow-context-extension"


def check_cache_type(value: str | None, option: str = "--cache-type") -> str | None:
    """The llama.cpp cache type name for `value` (case-insensitive), or one LlmfitError naming the closest valid ones."""
    if value is None:
        return None
    key = str(value).strip().lower()
    if key in KV_CACHE_TYPES:
        return key
    close = difflib.get_close_matches(key, KV_CACHE_TYPES, n=3, cutoff=0.4)
    hint = f"closest: {', '.join(close)}; " if close else ""
    raise UnsupportedSettingError(f"unknown KV cache type {value!r} for {option}: llama.cpp accepts "
                                  f"{', '.join(KV_CACHE_TYPES)}" + (f" ({hint.rstrip('; ')})" if hint else ""))


def planned_backend(hardware, backend: str | Backend | None, quant: str | None) -> Backend:
    """The backend fit will use, known before the model is read: the one asked for, MLX for an MLX quant on Apple
    silicon (as api.choose_backend does for MLX models), else the hardware's default."""
    if isinstance(backend, Backend):
        return backend
    if backend:
        return get_backend(str(backend), hardware)  # a built-in one or one a runner adapter declares
    if quant and _family(quant) == "mlx" and any(g.vendor == "apple" for g in hardware.gpus):
        return BACKENDS["mlx"]
    return default_backend(hardware)


def _family(quant: str) -> str | None:
    try:
        return quant_fact(quant).family
    except UnknownQuantizationError:
        return None


def check_quant_on_backend(quant: str | None, backend: Backend) -> None:
    """A requested quantization the backend's runtime cannot run: one LlmfitError saying where it runs instead."""
    if not quant:
        return

    try:
        fact = quant_fact(quant)
    except UnknownQuantizationError:
        return  # left to the model's source (a GGUF repo lists its files) or the what-if, which name valid ones
    fam = fact.family
    if backend.runtime == "llama.cpp":
        if fam in ("gguf", "float"):
            if backend.device == "metal" and fact.name in NO_METAL_MATMUL:
                raise UnsupportedSettingError(f"{fact.name} has no Metal matrix kernels in llama.cpp (ggml-metal): its layers would "
                                  "run on the CPU; on a Mac use MXFP4, Q4_K_M or an MLX quant, or price it with "
                                  "--backend llama.cpp-cpu")
            return
        raise UnsupportedSettingError(f"{fact.name} weights do not run in llama.cpp ({backend.name}): they run in "
                          f"{RUNS_ELSEWHERE.get(fam, 'another runtime')}; for llama.cpp pick a GGUF quant "
                          "(e.g. Q8_0, Q4_K_M)")
    if backend.runtime == "mlx":
        if fam in ("mlx", "float"):
            return
        raise UnsupportedSettingError(f"{fact.name} weights do not run in MLX: they run in {RUNS_ELSEWHERE.get(fam, 'another runtime')}; "
                          "for mlx pick MLX-4bit, MLX-8bit or BF16 (or a llama.cpp backend for GGUF quants)")


def check_request(hardware, backend: str | Backend | None = None, quant: str | None = None,
                  cache_type: str | None = None, cache_type_k: str | None = None, cache_type_v: str | None = None,
                  flash_attn: bool | None = None) -> Backend:
    """Every check that needs no model: the backend on this hardware, cache types, quant on the backend.

    Returns the planned backend; raises LlmfitError (one line) for the first impossible setting."""
    check_cache_type(cache_type)
    check_cache_type(cache_type_k, "--cache-type-k")
    ctv = check_cache_type(cache_type_v, "--cache-type-v") or check_cache_type(cache_type)
    be = planned_backend(hardware, backend, quant)
    why = unavailable_reason(be, hardware)
    if why:
        raise UnsupportedSettingError(why)
    check_quant_on_backend(quant, be)
    if be.runtime == "llama.cpp" and ctv and ctv not in _FLOAT_CACHE and flash_attn is False:
        # llama.cpp src/llama-context.cpp: "quantized V cache requires flash_attn to be enabled" -> no context
        raise UnsupportedSettingError(f"a quantized V cache ({ctv}) needs flash attention in llama.cpp: drop --no-flash-attn, "
                          "or keep the V cache f16 (--cache-type-v f16)")
    return be


def check_context(context: int | None, spec, allow_extension: bool = False) -> str | None:
    """A context above the model's trained length: LlmfitError unless allowed; allowed -> the reason line to show.

    Up to the extension the model's own RoPE scaling declares (config.json rope_scaling / GGUF rope.scaling.*:
    factor x original context, ModelSpec.extended_context) it is allowed without asking, with a reason: llama.cpp
    reads that scaling from the GGUF and applies it, and the model card documents the extended length."""
    trained = getattr(spec, "max_context", None)
    if not context or not trained or context <= trained or getattr(spec, "source", "") == "hub-size":
        return None
    extended = getattr(spec, "extended_context", None)
    if extended and context <= extended:
        return (f"context {context} is above the trained length {trained}, within the model's own RoPE scaling "
                f"({spec.rope_scaling.describe(trained)}), which llama.cpp applies from the model's metadata")
    limit = extended or trained
    factor = context / trained
    how = (f"llama.cpp --rope-scaling yarn --rope-scale {factor:.3g}" if factor > 1 else "")
    if not allow_extension:
        own = f" (its RoPE scaling reaches {extended})" if extended else ""
        raise UnsupportedSettingError(f"context {context} is above {spec.ref}'s trained length {trained}{own}: it needs "
                                      f"RoPE scaling ({how}) and answers degrade past it; pass {ALLOW_CONTEXT_FLAG} to "
                                      f"price it anyway, or use -c {limit} or less")
    return (f"context {context} is above the trained length {trained}: priced as extended with RoPE scaling "
            f"({how}); quality past {limit} tokens is not what the model was trained for")
