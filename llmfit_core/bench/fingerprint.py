"""The machine a bench record was taken on: this machine's profile and its shareable facts."""

from __future__ import annotations

from llmfit_core.hardware.fingerprint import bandwidth_source
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.hardware.registry import resolve_hardware


def this_machine() -> HardwareProfile:
    """The profile of this machine (the hardware package's detector)."""
    return resolve_hardware(None)


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
