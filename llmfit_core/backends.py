"""Backends: the runtimes a model can run on, and which one a hardware profile implies."""

from __future__ import annotations

from dataclasses import dataclass

from llmfit_core.errors import LlmfitError


@dataclass(frozen=True)
class Backend:
    name: str  # llama.cpp-cuda | llama.cpp-metal | llama.cpp-vulkan | llama.cpp-rocm | llama.cpp-sycl | llama.cpp-cpu | mlx
    runtime: str  # llama.cpp | mlx
    device: str  # cuda | metal | vulkan | rocm | sycl | cpu
    gpu: bool  # offloads to an accelerator


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("llama.cpp-cuda", "llama.cpp", "cuda", True),
        Backend("llama.cpp-metal", "llama.cpp", "metal", True),
        Backend("llama.cpp-vulkan", "llama.cpp", "vulkan", True),
        Backend("llama.cpp-rocm", "llama.cpp", "rocm", True),
        Backend("llama.cpp-sycl", "llama.cpp", "sycl", True),
        Backend("llama.cpp-cpu", "llama.cpp", "cpu", False),
        Backend("mlx", "mlx", "metal", True),
    )
}

_DEFAULT_BY_VENDOR = {"nvidia": "llama.cpp-cuda", "apple": "llama.cpp-metal", "amd": "llama.cpp-rocm", "intel": "llama.cpp-vulkan"}


def get_backend(name: str) -> Backend:
    """Look a backend up by name (`cuda`, `llama.cpp-cuda`, `mlx`, ... are accepted)."""
    key = name.strip().lower()
    if key in BACKENDS:
        return BACKENDS[key]
    if f"llama.cpp-{key}" in BACKENDS:
        return BACKENDS[f"llama.cpp-{key}"]
    raise LlmfitError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")


def default_backend(hardware) -> Backend:
    """The backend llama.cpp would use on this hardware: the first GPU's vendor, else CPU."""
    if hardware.gpus:
        return BACKENDS[_DEFAULT_BY_VENDOR.get(hardware.gpus[0].vendor, "llama.cpp-vulkan")]
    return BACKENDS["llama.cpp-cpu"]



# Weight formats each runtime loads as they are (llama.cpp: GGUF; mlx-lm: MLX, and plain safetensors it converts at
# load). A plain safetensors repo is priced as the GGUF llama.cpp users convert or download, and fit says so already.
_LOADS = {"llama.cpp": ("gguf",), "mlx": ("mlx",)}
_RUNS_IN = {"gptq": "vLLM, transformers or ExLlamaV2", "awq": "vLLM or transformers", "bnb": "transformers (bitsandbytes)",
            "mlx": "mlx-lm", "gguf": "llama.cpp or Ollama"}


def format_note(spec, backend: Backend) -> str | None:
    """One line when the model's stored format does not load in the backend's runtime (None when it does)."""
    fmt = str(getattr(spec, "format", None) or "").lower()
    quant = str(getattr(spec, "quant", None) or "")
    packed = quant.split("-")[0].lower()
    if packed in ("gptq", "awq", "bnb"):
        fmt = packed
    if fmt in ("", "safetensors") or fmt in _LOADS.get(backend.runtime, (fmt,)):
        return None
    label = quant or fmt
    where = _RUNS_IN.get(fmt, "another runtime")
    if backend.runtime == "llama.cpp":
        return (f"{label} weights do not load in llama.cpp as they are: the figures price the same bits in llama.cpp's "
                f"kernels (this repo runs in {where}; for llama.cpp use a GGUF of the model)")
    return f"{label} weights do not load in {backend.runtime} as they are (this repo runs in {where})"
