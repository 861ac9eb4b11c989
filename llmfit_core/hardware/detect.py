"""Detect this machine: CPU, RAM, GPUs (NVIDIA, AMD, Intel, Apple), board; then let plugins refine it.

Each reader is a pure parser (cpu.py, nvidia.py, sysfs_gpu.py, apple.py) plus a thin gatherer; this
module only wires them together. Missing figures are filled later by `registry.fill_missing`.
"""

from __future__ import annotations

import platform
import sys

import psutil

from llmfit_core.hardware import apple, nvidia, sysfs_gpu
from llmfit_core.hardware import cpu as cpu_mod
from llmfit_core.hardware.profile import GIB, CPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.plugins import call_hook


def _os_name() -> str:
    if sys.platform == "darwin":
        return f"macOS {platform.mac_ver()[0]}".strip()
    if sys.platform.startswith("linux"):
        return f"Linux {platform.release()}"
    return f"{platform.system()} {platform.release()}".strip()


def _memory() -> MemoryInfo:
    vm = psutil.virtual_memory()
    return MemoryInfo(total_gb=round(vm.total / GIB, 2), available_gb=round(vm.available / GIB, 2))


def _fallback_cpu() -> CPUInfo:
    """py-cpuinfo (slow, ~1 s) when /proc/cpuinfo and sysctl are not there (Windows, BSD)."""

    cores = psutil.cpu_count(logical=False) or 1
    threads = psutil.cpu_count(logical=True) or cores
    model, isa = platform.processor() or "unknown CPU", []
    try:
        import cpuinfo  # lazy: start-up: py-cpuinfo (~40 ms), only when the OS files say nothing

        info = cpuinfo.get_cpu_info()
        model = info.get("brand_raw") or model
        flags = set(info.get("flags", []))
        isa = [ours for flag, ours in cpu_mod.X86_ISA.items() if flag in flags]
        isa += [ours for flag, ours in cpu_mod.ARM_ISA.items() if flag in flags and ours not in isa]
    except Exception:
        pass
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else ("x86_64" if machine in ("amd64", "x86_64") else machine)
    return CPUInfo(model=model, cores=cores, threads=threads, isa=isa, arch=arch)


def detect_hardware(run_hooks: bool = True, root: str = "/") -> HardwareProfile:
    """Profile this machine (CPU, RAM, GPUs, OS); no GPU or library -> CPU-only with a note. Plugins refine it.

    `root` relocates /proc and /sys (Linux) so recorded trees can be replayed in tests.
    """
    notes: list[str] = []
    sources: dict[str, str] = {}
    gpus = []
    unified = False
    board = None
    if sys.platform == "darwin":
        text = apple.read_sysctl() or ""
        sp = apple.read_system_profiler()
        displays = apple.parse_system_profiler_displays(sp) if sp else []
        cpu, mem, gpus, unified = apple.apple_profile_parts(apple.parse_sysctl(text), displays)
        if unified and not displays:
            notes.append("system_profiler gave no GPU core count; the chip's largest GPU variant is assumed")
        mem.available_gb = _memory().available_gb
    else:
        cpu = cpu_mod.read_linux_cpu(root) if sys.platform.startswith("linux") else None
        if cpu is None:
            cpu = _fallback_cpu()
        mem = _memory()
        board = cpu_mod.read_board_model(root)
        if board and cpu.arch.startswith("arm"):
            cpu.model = f"{board}: {cpu.model}" if board not in cpu.model else cpu.model
        gpus = nvidia.detect_nvidia(notes)
        amd_gpus = sysfs_gpu.detect_amdsmi(notes)
        if amd_gpus is None:
            amd_gpus = sysfs_gpu.parse_drm_cards(sysfs_gpu.read_drm_cards(root), notes)
        gpus += amd_gpus
    if not gpus:
        notes.append("no GPU found: CPU-only")
    for i, g in enumerate(gpus):
        if g.vram_gb is not None:
            sources[f"gpus[{i}].vram_gb"] = "detected"
        if g.bandwidth_gbs is not None:
            sources[f"gpus[{i}].bandwidth_gbs"] = "detected"
    profile = HardwareProfile(
        name=platform.node() or "this machine",
        cpu=cpu,
        memory=mem,
        gpus=gpus,
        unified_memory=unified,
        os=_os_name(),
        notes=notes,
        board=board,
        sources=sources,
    )
    if run_hooks:
        call_hook("llmfit_detect_hardware", profile=profile)
    return profile

