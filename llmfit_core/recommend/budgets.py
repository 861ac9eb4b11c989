"""The hardware a recommendation is for: the profile, the backend `fit` would choose, and its memory budgets."""

from __future__ import annotations

from dataclasses import dataclass

from llmfit_core.backends import Backend, default_backend, get_backend
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.hardware.registry import resolve_hardware

# Metal's recommended working set is about 75% of unified memory; other unified-memory machines keep ~10% back
APPLE_WORKING_SET = 0.75
UNIFIED_WORKING_SET = 0.9


def resolve_hw(hardware=None) -> HardwareProfile:
    """HardwareProfile for None (this machine), a device/profile name, a JSON path or a profile."""
    if isinstance(hardware, HardwareProfile):
        return hardware
    return resolve_hardware(hardware)


@dataclass(frozen=True)
class MemoryBudgets:
    """Bytes a model may use on a profile: GPU VRAM (discrete GPUs, or the unified pool when the backend uses the
    GPU), and the system RAM usable by a model."""

    backend: Backend
    vram: int
    ram: int
    unified: bool


def budgets(hw: HardwareProfile, mlx: bool = False, backend: Backend | None = None) -> MemoryBudgets:
    """Memory budgets of a profile. `backend`: the one asked for (`recommend --backend`), else `fit`'s choice: MLX for
    MLX quantizations (`mlx`) on Apple Silicon, the hardware's default otherwise."""
    be = backend or default_backend(hw)
    apple = any(g.vendor == "apple" for g in hw.gpus)
    if mlx and apple and backend is None:
        be = get_backend("mlx")
    ram = hw.memory.available_bytes if hw.memory.available_gb else hw.memory.total_bytes
    if hw.unified_memory:
        ram = int(hw.memory.total_bytes * (APPLE_WORKING_SET if apple else UNIFIED_WORKING_SET))
        vram = ram if be.gpu else 0
    else:
        vram = sum(g.vram_bytes for g in hw.gpus) if be.gpu else 0
    return MemoryBudgets(backend=be, vram=int(vram), ram=int(ram), unified=bool(hw.unified_memory))
