"""What the installed llama.cpp build sees: its devices' free/total memory and the CPU kernels it was built with.

Both are read from the installed llama-cpp-python (no subprocess): the devices through ggml's backend device
API (`ggml_backend_dev_count / _get / _memory / _name / _description / _type`, ggml/include/ggml-backend.h)
on the libggml that llama-cpp-python itself loaded (`llama_cpp._ggml.libggml`), the CPU features from
`llama_print_system_info()` (src/llama.cpp: every backend registry's `ggml_backend_get_features`, which lists
only the features present, ggml/src/ggml-cpu/ggml-cpu.cpp ggml_backend_cpu_get_features).
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass

# ggml_backend_dev_type (ggml-backend.h)
DEVICE_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}

# CPU feature names of llama_print_system_info() -> the llmfit ISA flags (hardware/cpu.py names) they cover.
# ggml_cpu_has_avx512() is __AVX512F__; a build with it also compiles BW/VL/FP16 kernels where the CPU has them.
BUILD_FEATURE_ISA = {
    "AVX": ("avx",),
    "AVX2": ("avx2",),
    "FMA": ("fma",),
    "F16C": ("f16c",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX512": ("avx512", "avx512bw", "avx512vl", "avx512_fp16"),
    "AVX512_VBMI": ("avx512_vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx", "amx_int8", "amx_bf16", "amx_fp16"),
    "NEON": ("neon", "bf16"),
    "FP16_VA": ("fp16",),
    "DOTPROD": ("dotprod",),
    "MATMUL_INT8": ("i8mm",),
    "SVE": ("sve", "sve2"),
    "SME": ("sme",),
}


@dataclass
class GgmlDevice:
    """One ggml backend device and the memory it reports (bytes)."""

    name: str  # "CUDA0", "Vulkan0", "Metal", "CPU"
    description: str  # "NVIDIA GeForce RTX 4090", the CPU model
    kind: str  # cpu | gpu | igpu | accel
    free_bytes: int
    total_bytes: int


def read_devices(lib=None) -> list[GgmlDevice] | None:
    """ggml's devices with free/total memory, or None when this llama-cpp-python does not expose the API.

    ggml's CPU device reports free == total ("free system memory is ill-defined", ggml-cpu.cpp
    ggml_backend_cpu_device_get_memory): RAM that is free now comes from the OS, not from here.
    """
    try:
        if lib is None:
            from llama_cpp import _ggml

            lib = _ggml.libggml
        size_p = ctypes.POINTER(ctypes.c_size_t)
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_count.argtypes = []
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description):
            fn.restype = ctypes.c_char_p
            fn.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_memory.restype = None
        lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, size_p, size_p]
        out = []
        for i in range(min(int(lib.ggml_backend_dev_count()), 64)):
            dev = lib.ggml_backend_dev_get(i)
            if not dev:
                continue
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
            out.append(GgmlDevice(name=(lib.ggml_backend_dev_name(dev) or b"").decode(errors="replace"),
                                  description=(lib.ggml_backend_dev_description(dev) or b"").decode(errors="replace"),
                                  kind=DEVICE_TYPES.get(int(lib.ggml_backend_dev_type(dev)), "other"),
                                  free_bytes=int(free.value), total_bytes=int(total.value)))
        return out
    except (ImportError, OSError, AttributeError):
        return None


def build_features(system_info: str) -> dict[str, set[str]]:
    """`llama_print_system_info()` text -> {registry name: features present}, e.g. {"CPU": {"AVX2", "FMA", ...}}."""
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"(\w[\w-]*)\s*:\s*((?:\s*[\w]+\s*=\s*[^|]*\|)+)", system_info or ""):
        feats = {k for k, v in re.findall(r"(\w+)\s*=\s*([^|]*?)\s*\|", m.group(2)) if v.strip() not in ("", "0")}
        out.setdefault(m.group(1), set()).update(feats)
    return out


def build_isa(system_info: str) -> list[str] | None:
    """The llmfit ISA flags the build's CPU backend has kernels for, None when the line names no CPU backend."""
    feats = build_features(system_info).get("CPU")
    if feats is None:
        return None
    return sorted({flag for feat in feats for flag in BUILD_FEATURE_ISA.get(feat, ())})


def unknown_to_build(isa: list[str]) -> list[str]:
    """The CPU flags the build's feature line cannot speak about (kept as the CPU reports them)."""
    covered = {f for flags in BUILD_FEATURE_ISA.values() for f in flags}
    return [f for f in isa if f not in covered]
