"""ggml's backend devices as the installed llama-cpp-python sees them (standard library + ctypes only).

llama-cpp-python has no Python API for ggml's device registry, but it loads libggml with ctypes
(`llama_cpp._ggml.libggml`), whose exported functions (ggml/include/ggml-backend.h) list the devices:
`ggml_backend_dev_count / _get / _name / _description / _type / _memory / _backend_reg` and
`ggml_backend_reg_name` ("CUDA0" / "NVIDIA GeForce RTX 4090" / registry "CUDA"; "CPU" / "AMD EPYC" / "CPU").
Used by the bench child (which must not import the rest of llmfit) and the llama.cpp adapter.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

# ggml_backend_dev_type (ggml-backend.h)
DEVICE_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}


@dataclass
class GgmlDevice:
    """One ggml backend device and the memory it reports (bytes)."""

    name: str  # "CUDA0", "Vulkan0", "Metal", "CPU"
    description: str  # "NVIDIA GeForce RTX 4090", the CPU model
    kind: str  # cpu | gpu | igpu | accel
    free_bytes: int
    total_bytes: int
    registry: str = ""  # the backend registry: "CUDA", "Metal", "CPU", ...


def read_devices(lib=None) -> list[GgmlDevice] | None:
    """ggml's devices with free/total memory, or None when this llama-cpp-python does not expose the API.

    ggml's CPU device reports free == total ("free system memory is ill-defined", ggml-cpu.cpp
    ggml_backend_cpu_device_get_memory): RAM that is free now comes from the OS, not from here.
    """
    try:
        if lib is None:
            from llama_cpp import _ggml  # lazy: optional runner (llama-cpp-python)

            lib = _ggml.libggml
        size_p = ctypes.POINTER(ctypes.c_size_t)
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_count.argtypes = []
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description, lib.ggml_backend_reg_name):
            fn.restype = ctypes.c_char_p
            fn.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
        lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_memory.restype = None
        lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, size_p, size_p]
        out = []
        for i in range(min(int(lib.ggml_backend_dev_count()), 64)):
            dev = lib.ggml_backend_dev_get(i)
            if not dev:
                continue
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
            reg = lib.ggml_backend_dev_backend_reg(dev)
            out.append(GgmlDevice(name=(lib.ggml_backend_dev_name(dev) or b"").decode(errors="replace"),
                                  description=(lib.ggml_backend_dev_description(dev) or b"").decode(errors="replace"),
                                  kind=DEVICE_TYPES.get(int(lib.ggml_backend_dev_type(dev)), "other"),
                                  free_bytes=int(free.value), total_bytes=int(total.value),
                                  registry=(lib.ggml_backend_reg_name(reg) or b"").decode(errors="replace") if reg else ""))
        return out
    except Exception:  # ImportError, OSError, a missing symbol: another llama-cpp-python layout
        return None
