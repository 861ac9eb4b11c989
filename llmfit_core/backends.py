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
