"""Hardware fingerprint: a stable, anonymous id of this machine's performance-relevant hardware."""

from __future__ import annotations

import hashlib
import json

from llmfit_core.hardware.profile import CPUInfo, HardwareProfile, MemoryInfo


def this_machine() -> HardwareProfile:
    """The profile of this machine (the hardware package's detector, or a minimal psutil fallback)."""
    try:
        from llmfit_core.hardware.registry import resolve_hardware

        return resolve_hardware(None)
    except ImportError:
        pass
    import platform

    import psutil

    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
        model, flags = info.get("brand_raw") or "unknown CPU", set(info.get("flags") or [])
    except Exception:
        model, flags = platform.processor() or "unknown CPU", set()
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "fma", "f16c", "amx_tile") if f in flags]
    vm = psutil.virtual_memory()
    return HardwareProfile(
        cpu=CPUInfo(model=model, cores=psutil.cpu_count(logical=False) or 1, threads=psutil.cpu_count() or 1,
                    isa=isa, arch=platform.machine()),
        memory=MemoryInfo(total_gb=vm.total / 1024**3, available_gb=vm.available / 1024**3),
        os=platform.system(),
        notes=["minimal detection (hardware package not available)"],
    )


def fingerprint(hw: HardwareProfile) -> str:
    """Hash of CPU model + cores + RAM (rounded to GiB) + GPU names/VRAM: same machine, same id."""
    key = {
        "cpu": hw.cpu.model.strip(),
        "cores": int(hw.cpu.cores),
        "threads": int(hw.cpu.threads),
        "ram_gib": round(hw.memory.total_gb or 0.0),
        "gpus": sorted(f"{g.vendor}:{g.name}:{round(g.vram_gb or 0)}" for g in hw.gpus),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def bandwidth_source(hw: HardwareProfile) -> str | None:
    """Where the profile's CPU bandwidth came from: measured | table | file | profile | estimated (a guess) | None."""
    key = "cpu.mem_bandwidth_gbs"
    if key in (hw.estimated or []):
        return "estimated"
    return (hw.sources or {}).get(key)


def summary(hw: HardwareProfile) -> dict:
    """Shareable hardware facts (no host or user names): what a training row needs about a device."""
    return {
        "cpu_model": hw.cpu.model,
        "cpu_cores": hw.cpu.cores,
        "cpu_threads": hw.cpu.threads,
        "cpu_arch": hw.cpu.arch,
        "cpu_isa": sorted(hw.cpu.isa),
        "mem_bandwidth_gbs": hw.cpu.mem_bandwidth_gbs,
        "mem_bandwidth_source": bandwidth_source(hw),  # measured | table | file | profile | estimated (a guess)
        "ram_gb": round(hw.memory.total_gb or 0.0, 1),
        "gpus": [_gpu_facts(hw, i) for i in range(len(hw.gpus))],
        "os": hw.os,
    }


def _gpu_facts(hw: HardwareProfile, i: int) -> dict:
    """What a training row needs about GPU i: read or table figures; None when unknown or only guessed
    (the trainer then fills them the way the predictor does, hardware.registry.fill_missing)."""
    g = hw.gpus[i]
    est = set(hw.estimated or [])

    def known(attr):
        v = getattr(g, attr)
        return None if f"gpus[{i}].{attr}" in est else v

    return {"vendor": g.vendor, "name": g.name, "vram_gb": g.vram_gb, "bandwidth_gbs": known("bandwidth_gbs"),
            "fp16_tflops": known("fp16_tflops"), "compute_capability": g.compute_capability,
            "gpu_cores": known("gpu_cores")}
