"""Backends: the runtimes a model can run on, and which one a hardware profile implies.

The backends are the built-in table (BACKENDS: llama.cpp's and MLX's, which the predictor's tables are fitted for)
and those the runner adapters declare through the hook `llmfit_backends`: a third-party adapter's backend is accepted
by `--backend`, named in its errors and resolved like a built-in one. The adapters are asked only for a name that is
not built in (loading them costs start-up time); a built-in name is never replaced.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from llmfit_core.errors import UnsupportedSettingError


@dataclass(frozen=True)
class Backend:
    """A runtime on a device. The built-in ones are BACKENDS; a runner adapter declares its own (hook `llmfit_backends`),
    priced by its `device`'s figures with llama.cpp's memory model (MLX's when its runtime is mlx)."""

    name: str  # llama.cpp-cuda | llama.cpp-metal | llama.cpp-vulkan | llama.cpp-rocm | llama.cpp-sycl | llama.cpp-cpu | mlx
    runtime: str  # llama.cpp | mlx (or an adapter's runtime)
    device: str  # cuda | metal | vulkan | rocm | sycl | cpu
    gpu: bool  # offloads to an accelerator
    gpu_vendors: tuple[str, ...] = ()  # GPU vendors its kernels run on (see BACKENDS); () = the CPU
    requires: str = ""  # what it needs, in words, for the error line


# Which backend runs on which GPU vendor (the one table; llama.cpp ggml/src/ggml-<backend>/, ml-explore/mlx):
# ggml-cuda is CUDA on NVIDIA (its HIP build is the ROCm backend, AMD only); ggml-metal is Apple's Metal (Apple GPUs;
# no Metal on NVIDIA/AMD boards in Linux or Windows PCs); ggml-vulkan runs on any Vulkan 1.2 GPU (NVIDIA, AMD, Intel,
# Qualcomm/ARM, MoltenVK on macOS); ggml-sycl targets Intel GPUs through oneAPI; MLX runs on Apple silicon only.
BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("llama.cpp-cuda", "llama.cpp", "cuda", True, ("nvidia",), "an NVIDIA GPU (CUDA)"),
        Backend("llama.cpp-metal", "llama.cpp", "metal", True, ("apple",), "an Apple-silicon GPU (Metal)"),
        Backend("llama.cpp-vulkan", "llama.cpp", "vulkan", True, ("nvidia", "amd", "intel", "apple", "other"),
                "a GPU with a Vulkan driver"),
        Backend("llama.cpp-rocm", "llama.cpp", "rocm", True, ("amd",), "an AMD GPU (ROCm/HIP)"),
        Backend("llama.cpp-sycl", "llama.cpp", "sycl", True, ("intel",), "an Intel GPU (oneAPI SYCL)"),
        Backend("llama.cpp-cpu", "llama.cpp", "cpu", False, (), "a CPU"),
        Backend("mlx", "mlx", "metal", True, ("apple",), "Apple silicon (MLX)"),
    )
}
_BACKEND_ALIASES = {"hip": "llama.cpp-rocm", "llama.cpp-hip": "llama.cpp-rocm", "mlx-lm": "mlx", "mlx_lm": "mlx",
                    "oneapi": "llama.cpp-sycl"}

_DEFAULT_BY_VENDOR = {"nvidia": "llama.cpp-cuda", "apple": "llama.cpp-metal", "amd": "llama.cpp-rocm", "intel": "llama.cpp-vulkan"}


def _key(name: str) -> str:
    return name.strip().lower().replace("llamacpp", "llama.cpp").replace("llama-cpp", "llama.cpp").replace("_", "-")


def _builtin(key: str) -> Backend | None:
    key = _BACKEND_ALIASES.get(key, key)
    return BACKENDS.get(key) or BACKENDS.get(f"llama.cpp-{key}")


def reported_backends(hardware=None) -> list[Backend]:
    """Every backend the runner adapters report for `hardware` (hook `llmfit_backends`), each name once, in the order
    reported: the installed runners' backends (`llmfit system`), built-in or not."""
    from llmfit_core.plugins import call_hook  # lazy: a built-in backend name never loads the plugins (start-up time)

    out: dict[str, Backend] = {}
    for result in call_hook("llmfit_backends", hardware=hardware):
        for backend in result or []:
            if isinstance(backend, Backend):
                out.setdefault(_key(backend.name), backend)
    return list(out.values())


def adapter_backends(hardware=None) -> dict[str, Backend]:
    """The backends the runner adapters declare that are not built in, by lower-case name."""
    return {_key(b.name): b for b in reported_backends(hardware) if _builtin(_key(b.name)) is None}


def get_backend(name: str, hardware=None) -> Backend:
    """Look a backend up by name (`cuda`, `llama.cpp-cuda`, `mlx`, ... are accepted): a built-in one, else one a
    runner adapter declares (asked with `hardware`, the profile it is for); an unknown name is one error line naming
    the closest valid ones."""
    key = _key(name)
    found = _builtin(key)
    if found is not None:
        return found
    declared = adapter_backends(hardware)
    if key in declared:
        return declared[key]
    valid = [*BACKENDS, *(b.name for b in declared.values())]
    close = difflib.get_close_matches(key, [*BACKENDS, *declared, *(b.device for b in BACKENDS.values())], n=3,
                                      cutoff=0.5)
    close = list(dict.fromkeys(declared[c].name if c in declared else c if c in BACKENDS else f"llama.cpp-{c}"
                               for c in close))
    hint = f"closest: {', '.join(close)}; " if close else ""
    raise UnsupportedSettingError(f"unknown backend {name!r} ({hint}valid: {', '.join(valid)})")


def unavailable_reason(backend: Backend, hardware) -> str | None:
    """Why `backend` cannot run on `hardware` (one line), or None when it can: the vendor table in BACKENDS (and the
    adapters' backends' own `gpu_vendors`)."""
    if not backend.gpu_vendors:
        return None
    vendors = {g.vendor for g in hardware.gpus}
    if vendors & set(backend.gpu_vendors):
        return None
    have = ", ".join(dict.fromkeys(_gpu_label(g) for g in hardware.gpus))
    known = [*BACKENDS.values(), *adapter_backends(hardware).values()]
    fits = [b.name for b in known if not b.gpu_vendors or vendors & set(b.gpu_vendors)]
    return (f"backend {backend.name} needs {backend.requires}; {hardware.name} has "
            f"{'only ' + have if have else 'no GPU'} (backends that run there: {', '.join(fits)})")


_VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel", "apple": "Apple", "other": "a"}


def _gpu_label(gpu) -> str:
    vendor = _VENDOR_NAMES.get(gpu.vendor, gpu.vendor)
    return gpu.name if gpu.name.lower().startswith(vendor.lower()) else f"{vendor} {gpu.name}"


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
