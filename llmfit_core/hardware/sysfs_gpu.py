"""AMD and Intel GPUs from Linux sysfs (`/sys/class/drm/card*/device/...`), plus amdsmi when importable.

`parse_drm_cards` is pure over the file contents; `read_drm_cards` gathers them from a root directory,
so tests point it at a recorded tree.
"""

from __future__ import annotations

import os
import re

from llmfit_core.hardware.power import driver_watts
from llmfit_core.hardware.profile import GIB, GPUInfo

AMD, INTEL = "0x1002", "0x8086"

# PCI device id -> marketing names with their VRAM (GiB); the VRAM sysfs reports picks the variant.
# Ids from the Linux amdgpu/i915/xe PCI tables (pci.ids names), only the families people run LLMs on.
PCI_NAMES: dict[str, list[tuple[str, float | None]]] = {
    # AMD RDNA2
    "0x73bf": [("Radeon RX 6800 XT", 16), ("Radeon RX 6800", 16), ("Radeon RX 6900 XT", 16)],
    "0x73a5": [("Radeon RX 6950 XT", 16)],
    "0x73af": [("Radeon RX 6900 XT", 16)],
    "0x73df": [("Radeon RX 6700 XT", 12)],
    "0x73ff": [("Radeon RX 6600", 8)],
    # RDNA3
    "0x744c": [("Radeon RX 7900 XTX", 24), ("Radeon RX 7900 XT", 20), ("Radeon RX 7900 GRE", 16)],
    "0x7448": [("Radeon PRO W7900", 48)],
    "0x747e": [("Radeon RX 7800 XT", 16), ("Radeon RX 7700 XT", 12)],
    "0x7480": [("Radeon RX 7600", 8)],
    # RDNA4
    "0x7550": [("Radeon RX 9070 XT", 16), ("Radeon RX 9070", 16)],
    "0x7590": [("Radeon RX 9060 XT 16GB", 16)],
    # Instinct
    "0x66a1": [("Instinct MI50", 32)],
    "0x738c": [("Instinct MI100", 32)],
    "0x740f": [("Instinct MI210", 64)],
    "0x740c": [("Instinct MI250X", 128)],
    "0x74a1": [("Instinct MI300X", 192)],
    "0x74a0": [("Instinct MI300A", 128)],
    "0x74a5": [("Instinct MI325X", 256)],
    # APU with a large unified carve-out
    "0x1586": [("AMD Ryzen AI Max+ 395 (Radeon 8060S)", None)],
    # Intel discrete (DG2 Alchemist, BMG Battlemage)
    "0x56a0": [("Arc A770", 16)],
    "0x56a1": [("Arc A750", 8)],
    "0xe20b": [("Arc B580", 12)],
    "0xe20c": [("Arc B570", 10)],
    "0xe211": [("Arc Pro B60", 24)],
}

INTEGRATED_VRAM_GIB = 2.0  # AMD iGPUs report a small carve-out: ignore those


def _hex(v: str | None) -> str | None:
    if not v:
        return None
    v = v.strip().lower()
    return v if v.startswith("0x") else f"0x{v}"


def _int(v: str | None) -> int | None:
    try:
        return int((v or "").strip())
    except ValueError:
        return None


def _pick_name(device_id: str | None, vram_gib: float | None, vendor: str, notes: list[str] | None = None) -> str:
    """Marketing name for a PCI id; among variants the one whose VRAM is closest (ties: first, with a note)."""
    cands = PCI_NAMES.get(device_id or "", [])
    if not cands:
        label = "AMD GPU" if vendor == "amd" else "Intel GPU"
        return f"{label} {device_id or '?'}"
    if vram_gib is None or len(cands) == 1:
        return cands[0][0]
    best = min(abs((c[1] or 0) - vram_gib) for c in cands)
    ties = [c[0] for c in cands if abs((c[1] or 0) - vram_gib) == best]
    if len(ties) > 1 and notes is not None:
        notes.append(f"PCI id {device_id} is one of {', '.join(ties)} (same VRAM): assumed {ties[0]}")
    return ties[0]


def parse_drm_cards(cards: dict[str, dict[str, str]], notes: list[str] | None = None) -> list[GPUInfo]:
    """Turn per-card sysfs file contents ({"card0": {"vendor": "0x1002", "device": ..., "mem_info_vram_total": ...}})
    into GPUInfo for AMD and discrete Intel GPUs; integrated and other vendors are skipped (with a note)."""
    notes = notes if notes is not None else []
    out: list[GPUInfo] = []
    for card in sorted(cards, key=lambda c: int(re.sub(r"\D", "", c) or 0)):
        f = cards[card]
        vendor = _hex(f.get("vendor"))
        dev = _hex(f.get("device"))
        if vendor == AMD:
            total = _int(f.get("mem_info_vram_total"))
            used = _int(f.get("mem_info_vram_used"))
            vram = round(total / GIB, 2) if total else None
            known = dev in PCI_NAMES
            is_apu = known and PCI_NAMES[dev][0][1] is None
            if not is_apu and (vram is None or vram < INTEGRATED_VRAM_GIB):
                notes.append(f"{card}: AMD integrated GPU {dev} ignored (VRAM carve-out {vram or 0} GiB)")
                continue
            name = (f.get("product_name") or "").strip() or _pick_name(dev, vram, "amd", notes)
            out.append(
                GPUInfo(
                    vendor="amd",
                    name=name,
                    vram_gb=None if is_apu else vram,
                    vram_free_gb=round((total - used) / GIB, 2) if total and used is not None and not is_apu else None,
                    pci_id=f"{vendor}:{dev}",
                    power_limit_w=driver_watts(f.get("power1_cap"), 1e6),
                    default_power_limit_w=driver_watts(f.get("power1_cap_default"), 1e6),
                )
            )
        elif vendor == INTEL:
            if dev not in PCI_NAMES:
                continue  # integrated Intel graphics: not useful for LLM offload
            out.append(GPUInfo(vendor="intel", name=_pick_name(dev, None, "intel"), pci_id=f"{vendor}:{dev}"))
    return out


_FILES = ("vendor", "device", "revision", "mem_info_vram_total", "mem_info_vram_used", "product_name")


def read_drm_cards(root: str = "/") -> dict[str, dict[str, str]]:
    """Gather the sysfs files `parse_drm_cards` needs from `<root>/sys/class/drm/card<N>/device/`."""
    base = os.path.join(root, "sys/class/drm")
    try:
        names = [n for n in os.listdir(base) if re.fullmatch(r"card\d+", n)]
    except OSError:
        return {}
    cards: dict[str, dict[str, str]] = {}
    for n in names:
        files = {}
        for fname in _FILES:
            try:
                with open(os.path.join(base, n, "device", fname), encoding="utf-8", errors="replace") as fh:
                    files[fname] = fh.read(4096).strip()
            except OSError:
                pass
        # amdgpu's board power cap (hwmon, microwatts): the one in force and the card's default
        hw = os.path.join(base, n, "device", "hwmon")
        try:
            hwmons = sorted(h for h in os.listdir(hw) if h.startswith("hwmon"))
        except OSError:
            hwmons = []
        for fname in ("power1_cap", "power1_cap_default"):
            for h in hwmons[:1]:
                try:
                    with open(os.path.join(hw, h, fname), encoding="utf-8", errors="replace") as fh:
                        files[fname] = fh.read(64).strip()
                except OSError:
                    pass
        if files:
            cards[n] = files
    return cards


def detect_amdsmi(notes: list[str]) -> list[GPUInfo] | None:
    """AMD GPUs through amdsmi when it is importable (None when it is not)."""
    try:
        import amdsmi  # lazy: optional (amdsmi)
    except ImportError:
        return None
    try:
        amdsmi.amdsmi_init()
        out = []
        for h in amdsmi.amdsmi_get_processor_handles():
            asic = amdsmi.amdsmi_get_gpu_asic_info(h)
            vram = amdsmi.amdsmi_get_gpu_vram_usage(h)  # MiB
            out.append(
                GPUInfo(
                    vendor="amd",
                    name=str(asic.get("market_name") or "AMD GPU"),
                    vram_gb=round(vram["vram_total"] / 1024, 2),
                    vram_free_gb=round((vram["vram_total"] - vram["vram_used"]) / 1024, 2),
                )
            )
        amdsmi.amdsmi_shut_down()
        return out
    except Exception as exc:
        notes.append(f"amdsmi failed ({type(exc).__name__}); using sysfs")
        return None
