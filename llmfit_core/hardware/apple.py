"""Apple Silicon (macOS): `sysctl` and `system_profiler SPDisplaysDataType` output -> CPU, memory, GPU.

`parse_sysctl`, `parse_system_profiler_displays` and `apple_profile_parts` are pure; `read_sysctl` and
`read_system_profiler` run the tools.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from llmfit_core.hardware.profile import GIB, CPUInfo, GPUInfo, MemoryInfo

SYSCTL_KEYS = (
    "machdep.cpu.brand_string",
    "hw.memsize",
    "hw.physicalcpu",
    "hw.logicalcpu",
    "hw.perflevel0.physicalcpu",
    "hw.perflevel1.physicalcpu",
    "hw.perflevel0.l2cachesize",
    "hw.l2cachesize",
    "hw.l3cachesize",
    "hw.optional.AdvSIMD",
    "hw.optional.neon",
    "hw.optional.arm.FEAT_DotProd",
    "hw.optional.arm.FEAT_I8MM",
    "hw.optional.arm.FEAT_BF16",
    "hw.optional.arm.FEAT_FP16",
    "hw.optional.arm.FEAT_SME",
    "machdep.cpu.features",
    "machdep.cpu.leaf7_features",
    "hw.optional.arm64",
)

ARM_FEATS = {
    "hw.optional.AdvSIMD": "neon",
    "hw.optional.neon": "neon",
    "hw.optional.arm.FEAT_FP16": "fp16",
    "hw.optional.arm.FEAT_DotProd": "dotprod",
    "hw.optional.arm.FEAT_I8MM": "i8mm",
    "hw.optional.arm.FEAT_BF16": "bf16",
    "hw.optional.arm.FEAT_SME": "sme",
}


def parse_sysctl(text: str) -> dict[str, str]:
    """`sysctl key1 key2 ...` output ('key: value' lines) -> dict."""
    out = {}
    for line in text.splitlines():
        key, sep, val = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = val.strip()
    return out


def parse_system_profiler_displays(text: str) -> list[dict]:
    """GPUs from `system_profiler SPDisplaysDataType` (text or `-json`) -> [{"name", "cores", "vendor"}]."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return []
        out = []
        for item in data.get("SPDisplaysDataType", []):
            cores = item.get("sppci_cores")
            out.append({
                "name": item.get("sppci_model") or item.get("_name") or "Apple GPU",
                "cores": int(cores) if str(cores or "").isdigit() else None,
                "vendor": item.get("spdisplays_vendor", ""),
                "vram_gb": None,
            })
        return out
    gpus: list[dict] = []
    cur: dict | None = None
    for line in text.splitlines():
        key, sep, val = line.strip().partition(":")
        if not sep:
            continue
        key, val = key.strip(), val.strip()
        if key == "Chipset Model":
            cur = {"name": val, "cores": None, "vendor": "", "vram_gb": None}
            gpus.append(cur)
        elif cur is not None and key.startswith(("VRAM (Total)", "VRAM (Dynamic")):
            m = re.match(r"(\d+)\s*(GB|MB)", val)
            if m:
                cur["vram_gb"] = int(m.group(1)) / (1024 if m.group(2) == "MB" else 1)
        elif cur is not None and key == "Total Number of Cores" and val.isdigit():
            cur["cores"] = int(val)
        elif cur is not None and key == "Vendor":
            cur["vendor"] = val
    return gpus


def _int(v: str | None) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def apple_profile_parts(sysctl: dict[str, str], displays: list[dict]) -> tuple[CPUInfo, MemoryInfo, list[GPUInfo], bool]:
    """Build (cpu, memory, gpus, unified_memory) from parsed sysctl values and system_profiler GPUs."""
    brand = sysctl.get("machdep.cpu.brand_string", "unknown Apple CPU").strip()
    apple_silicon = brand.startswith("Apple") or sysctl.get("hw.optional.arm64") == "1"
    cores = _int(sysctl.get("hw.physicalcpu")) or 1
    threads = _int(sysctl.get("hw.logicalcpu")) or cores
    if apple_silicon:
        isa = []
        for key, name in ARM_FEATS.items():
            if sysctl.get(key) == "1" and name not in isa:
                isa.append(name)
        if "neon" not in isa:
            isa.insert(0, "neon")  # every Apple Silicon core has it
        arch = "arm64"
    else:  # Intel Mac
        feats = (sysctl.get("machdep.cpu.features", "") + " " + sysctl.get("machdep.cpu.leaf7_features", "")).upper().split()
        isa = [n for flag, n in (("AVX1.0", "avx"), ("AVX2", "avx2"), ("FMA", "fma"), ("F16C", "f16c"), ("AVX512F", "avx512")) if flag in feats]
        arch = "x86_64"
    l2 = _int(sysctl.get("hw.perflevel0.l2cachesize") or sysctl.get("hw.l2cachesize"))
    l3 = _int(sysctl.get("hw.l3cachesize"))
    cpu = CPUInfo(
        model=brand,
        cores=cores,
        threads=threads,
        isa=isa,
        arch=arch,
        vendor="Apple" if apple_silicon else "GenuineIntel",
        p_cores=_int(sysctl.get("hw.perflevel0.physicalcpu")),
        e_cores=_int(sysctl.get("hw.perflevel1.physicalcpu")),
        l2_cache_kb=l2 // 1024 if l2 else None,
        l3_cache_kb=l3 // 1024 if l3 else None,
    )
    memsize = _int(sysctl.get("hw.memsize"))
    mem = MemoryInfo(total_gb=round(memsize / GIB, 2) if memsize else 0.0)
    gpus = []
    if apple_silicon:
        chip = next((d for d in displays if d["name"].startswith("Apple")), None)
        gpus.append(GPUInfo(vendor="apple", name=chip["name"] if chip else brand, gpu_cores=chip["cores"] if chip else None))
    else:  # Intel Mac: a discrete AMD GPU is usable through Metal; Intel iGPUs are not worth offloading to
        for d in displays:
            if "AMD" in d["name"] or "Radeon" in d["name"]:
                gpus.append(GPUInfo(vendor="amd", name=d["name"], vram_gb=d.get("vram_gb")))
    return cpu, mem, gpus, apple_silicon


def _run(args: list[str], timeout: float) -> str | None:
    exe = shutil.which(args[0])
    if not exe:
        return None
    try:
        r = subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout or None


def read_sysctl() -> str | None:
    """Raw `sysctl <keys>` output (unknown keys are skipped by sysctl with a message on stderr)."""
    return _run(["sysctl", *SYSCTL_KEYS], 5)


def read_system_profiler() -> str | None:
    """Raw `system_profiler SPDisplaysDataType` text (slow-ish: ~0.3 s)."""
    return _run(["system_profiler", "SPDisplaysDataType"], 15)


def chip_name_with_cores(name: str, cores: int | None) -> str:
    """'Apple M3 Max', 40 -> 'Apple M3 Max (40-core GPU)' (the device-table naming)."""
    name = re.sub(r"\s*\(\d+-core GPU\)", "", name).strip()
    return f"{name} ({cores}-core GPU)" if cores else name
