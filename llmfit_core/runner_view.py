"""The machine as the installed runner sees it: memory free now (and who holds the rest), the build's CPU kernels.

Runner adapters fill the facts at detection (hook `llmfit_detect_hardware`): the llama.cpp adapter the GPUs' free
memory from ggml's device API and `cpu.runner_isa` from the build's feature line, the MLX adapter Metal's
recommended working set, the Ollama adapter `memory_holders` from `/api/ps`. This module turns them into what
`fit` plans with and says: free memory by default (`for_idle_machine` for `--total`), the build's ISA for
llama.cpp speed (`for_runner`), and one line on what else holds memory (`memory_in_use_reason`).
"""

from __future__ import annotations

import copy

from llmfit_core.hardware.profile import GIB, HardwareProfile
from llmfit_core.units import fmt_bytes

# below this share of memory in use by others, the free-memory plan is not worth a line
IN_USE_NOTE_FRACTION = 0.10


def for_idle_machine(hw: HardwareProfile) -> HardwareProfile:
    """A copy that plans for an idle machine: all RAM and VRAM free, nothing loaded (`fit --total`)."""
    idle = copy.deepcopy(hw)
    idle.memory.available_gb = None
    for g in idle.gpus:
        g.vram_free_gb = None
    idle.memory_holders = []
    return idle


def for_runner(hw: HardwareProfile, runtime: str) -> tuple[HardwareProfile, list[str]]:
    """(profile whose `cpu.isa` is what the installed llama.cpp build can use, reasons) for a llama.cpp backend.

    The CPU may have AVX-512 / AMX while a portable build only compiled AVX2 kernels; the throughput model
    prices `cpu.isa`, so it gets the build's flags. Other runtimes, or no build facts: unchanged.
    """
    cpu = hw.cpu
    if runtime != "llama.cpp" or cpu.runner_isa is None:
        return hw, []
    usable = [f for f in cpu.isa if f in cpu.runner_isa]
    missing = [f for f in cpu.isa if f not in usable]
    if not missing:
        return hw, []
    view = copy.deepcopy(hw)
    view.cpu.isa = usable
    main = [f for f in missing if f in ("avx512", "amx", "avx512_vnni", "avx_vnni", "i8mm", "dotprod", "sve")] or missing
    best = next((f for f in ("avx512", "avx2", "avx", "sve", "i8mm", "dotprod", "neon") if f in usable), "no SIMD")
    reason = (f"speed priced for the installed llama.cpp build's CPU kernels ({best.upper()}); the CPU also has "
              f"{', '.join(f.upper() for f in main)}, which this build does not use (a native build would)")
    return view, [reason]


def memory_in_use_reason(hw: HardwareProfile) -> str | None:
    """One line on memory others hold now (loaded models, other programs), or None when it hardly matters."""
    total_ram = hw.memory.total_bytes
    free_ram = hw.memory.available_bytes
    used_ram = max(total_ram - free_ram, 0)
    gpu_parts = []
    used_vram = 0
    for g in hw.gpus:
        if g.vram_free_gb is not None and g.vram_gb:
            used = max(int((g.vram_gb - g.vram_free_gb) * GIB), 0)
            used_vram += used
            if used >= IN_USE_NOTE_FRACTION * g.vram_gb * GIB:
                gpu_parts.append(f"{fmt_bytes(g.vram_free_gb * GIB)} of {fmt_bytes(g.vram_bytes)} free on {g.name}")
    big_ram = total_ram > 0 and used_ram >= IN_USE_NOTE_FRACTION * total_ram
    if not (big_ram or gpu_parts or hw.memory_holders):
        return None
    parts = [f"{fmt_bytes(free_ram)} of {fmt_bytes(total_ram)} RAM free"] + gpu_parts
    held = []
    held_ram = held_vram = 0
    for h in hw.memory_holders:
        where = " + ".join(x for x in ((f"{fmt_bytes(h.vram_bytes)} VRAM" if h.vram_bytes else ""),
                                       (f"{fmt_bytes(h.ram_bytes)} RAM" if h.ram_bytes else "")) if x)
        held.append(f"{h.name} {where or '0 MiB'}")
        held_ram += h.ram_bytes
        held_vram += h.vram_bytes
    others = max(used_ram - held_ram, 0) + max(used_vram - held_vram, 0)
    if others >= 64 * 2**20:
        held.append(f"other programs {fmt_bytes(others)}")
    return (f"planned for memory free now: {', '.join(parts)}"
            + (f" (in use: {'; '.join(held)})" if held else "") + "; --total plans for an idle machine")
