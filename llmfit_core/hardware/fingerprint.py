"""Hardware fingerprint: a stable, anonymous id of a machine's performance-relevant hardware."""

from __future__ import annotations

import hashlib
import json

from llmfit_core.hardware.profile import HardwareProfile


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
