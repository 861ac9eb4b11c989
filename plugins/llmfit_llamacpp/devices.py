"""What the installed llama.cpp build sees: its devices' free/total memory and the CPU kernels it was built with.

Both are read from the installed llama-cpp-python (no subprocess): the devices through ggml's backend device
API (llmfit_core.ggml_devices), the CPU features from
`llama_print_system_info()` (src/llama.cpp: every backend registry's `ggml_backend_get_features`, which lists
only the features present, ggml/src/ggml-cpu/ggml-cpu.cpp ggml_backend_cpu_get_features).
"""

from __future__ import annotations

import re

from llmfit_core.ggml_devices import GgmlDevice, read_devices  # noqa: F401  (the adapter's device reads)

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
