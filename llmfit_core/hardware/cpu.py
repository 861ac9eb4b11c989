"""CPU facts from /proc/cpuinfo and /sys: pure parsers over text plus thin readers.

Parsers never touch the machine, so tests feed them recorded outputs.
"""

from __future__ import annotations

import os
import re

from llmfit_core.hardware.profile import CPUInfo

# x86 /proc/cpuinfo flag -> our ISA name (only what matters for inference kernels)
X86_ISA = {
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512f": "avx512",
    "avx512bw": "avx512bw",
    "avx512vl": "avx512vl",
    "avx512_vnni": "avx512_vnni",
    "avx512_bf16": "avx512_bf16",
    "avx512vbmi": "avx512_vbmi",
    "avx512_fp16": "avx512_fp16",
    "avx_vnni": "avx_vnni",
    "amx_tile": "amx",
    "amx_int8": "amx_int8",
    "amx_bf16": "amx_bf16",
    "amx_fp16": "amx_fp16",
}

# ARM /proc/cpuinfo "Features" -> our ISA name
ARM_ISA = {
    "asimd": "neon",
    "asimdhp": "fp16",
    "fphp": "fp16",
    "asimddp": "dotprod",
    "i8mm": "i8mm",
    "bf16": "bf16",
    "sve": "sve",
    "sve2": "sve2",
    "sme": "sme",
}

# ARM "CPU implementer" / "CPU part" -> core name (from the Arm/Linux MIDR tables)
ARM_IMPLEMENTERS = {"0x41": "ARM", "0x61": "Apple", "0x51": "Qualcomm", "0xc0": "Ampere", "0x48": "HiSilicon", "0x4e": "NVIDIA"}
ARM_PARTS = {
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd0d": "Cortex-A77",
    "0xd40": "Neoverse-V1",
    "0xd41": "Cortex-A78",
    "0xd44": "Cortex-X1",
    "0xd46": "Cortex-A510",
    "0xd47": "Cortex-A710",
    "0xd48": "Cortex-X2",
    "0xd49": "Neoverse-N2",
    "0xd4f": "Neoverse-V2",
    "0xd80": "Cortex-A520",
    "0xd81": "Cortex-A720",
    "0xd82": "Cortex-X4",
}


def _blocks(text: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Split cpuinfo text into per-processor dicts plus the trailing machine-wide fields (ARM: Hardware, Model)."""
    procs: list[dict[str, str]] = []
    extra: dict[str, str] = {}
    cur: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            cur = None
            continue
        key, sep, val = line.partition(":")
        if not sep:
            continue
        key, val = key.strip(), val.strip()
        if key == "processor":
            cur = {"processor": val}
            procs.append(cur)
        elif cur is not None:
            cur[key] = val
        else:
            extra[key] = val
    return procs, extra


def parse_cpuinfo(text: str) -> CPUInfo:
    """Parse /proc/cpuinfo text (x86 or ARM) into a CPUInfo (model, cores, threads, ISA, arch)."""
    procs, extra = _blocks(text)
    if not procs:
        return CPUInfo(model="unknown CPU", cores=1, threads=1, isa=[], arch="unknown")
    first = procs[0]
    threads = len(procs)
    if "flags" in first or "vendor_id" in first:
        arch = "x86_64"
        vendor = first.get("vendor_id")
        flags = set(first.get("flags", "").split())
        isa = [ours for flag, ours in X86_ISA.items() if flag in flags]
        model = _clean_model(first.get("model name", "unknown x86 CPU"))
        pairs = {(p.get("physical id", "0"), p.get("core id", p["processor"])) for p in procs}
        cores = len(pairs)
        if "core id" not in first and "cpu cores" in first:
            cores = int(first["cpu cores"]) if first["cpu cores"].isdigit() else cores
        l2 = l3 = None
        cache = parse_cache_size(first.get("cache size", "")) if first.get("cache size") else None
        if cache:  # "cache size" is L3 on Intel but the per-core L2 on AMD; sysfs (read_linux_cpu) is exact
            if vendor == "AuthenticAMD":
                l2 = cache
            else:
                l3 = cache
        return CPUInfo(model=model, cores=max(1, cores), threads=threads, isa=_unique(isa), arch=arch,
                       vendor=vendor, l2_cache_kb=l2, l3_cache_kb=l3)
    # ARM (aarch64): no model name; Features, implementer and part per core.
    arch = "arm64" if first.get("CPU architecture", "8").strip() not in ("7", "6", "5") else "arm"
    feats: set[str] = set()
    parts: list[str] = []
    vendor = None
    for p in procs:
        feats |= set(p.get("Features", "").split())
        impl = p.get("CPU implementer", "").lower()
        part = p.get("CPU part", "").lower()
        vendor = vendor or ARM_IMPLEMENTERS.get(impl, impl or None)
        if part:
            parts.append(ARM_PARTS.get(part, f"part {part}"))
    isa = [ours for flag, ours in ARM_ISA.items() if flag in feats]
    model = extra.get("Model") or first.get("model name") or ""
    core_desc = _core_summary(parts)
    if model and core_desc:
        model = f"{model} ({core_desc})"
    elif core_desc:
        model = f"{vendor or 'ARM'} {core_desc}"
    elif not model:
        model = "unknown ARM CPU"
    return CPUInfo(model=model, cores=threads, threads=threads, isa=_unique(isa), arch=arch, vendor=vendor)


def _core_summary(parts: list[str]) -> str:
    counts: dict[str, int] = {}
    for p in parts:
        counts[p] = counts.get(p, 0) + 1
    return " + ".join(f"{n}x {name}" for name, n in counts.items())


def _unique(items: list[str]) -> list[str]:
    out: list[str] = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def _clean_model(name: str) -> str:
    name = re.sub(r"\((R|TM|tm|r)\)", "", name)
    return " ".join(name.split())


def parse_cache_size(text: str) -> int | None:
    """'32768K' / '2 MiB' / '1024 KB' -> KiB."""
    m = re.match(r"\s*(\d+)\s*([KMG])?", text or "", re.I)
    if not m:
        return None
    n = int(m.group(1))
    unit = (m.group(2) or "K").upper()
    return n * {"K": 1, "M": 1024, "G": 1024 * 1024}[unit]


def parse_sysfs_caches(entries: list[dict[str, str]]) -> tuple[int | None, int | None]:
    """Cache entries of cpu0 (`level`, `type`, `size` as in /sys/devices/system/cpu/cpu0/cache/index*) -> (L2 KiB, L3 KiB)."""
    l2 = l3 = None
    for e in entries:
        if e.get("type", "Unified") not in ("Unified", "Data"):
            continue
        size = parse_cache_size(e.get("size", ""))
        if e.get("level") == "2":
            l2 = size
        elif e.get("level") == "3":
            l3 = size
    return l2, l3


def parse_cpu_list(text: str) -> int:
    """'0-7,16-23' -> 16 (number of CPUs in a sysfs cpu list)."""
    n = 0
    for part in (text or "").strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        n += (int(b) - int(a) + 1) if b else 1
    return n


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return None


def read_linux_cpu(root: str = "/") -> CPUInfo | None:
    """CPUInfo from /proc/cpuinfo and /sys under `root` (None when there is no /proc/cpuinfo)."""
    text = _read(os.path.join(root, "proc/cpuinfo"))
    if text is None:
        return None
    cpu = parse_cpuinfo(text)
    base = os.path.join(root, "sys/devices/system/cpu/cpu0/cache")
    entries = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        names = []
    for name in names:
        if not name.startswith("index"):
            continue
        e = {k: (_read(os.path.join(base, name, k)) or "").strip() for k in ("level", "type", "size")}
        entries.append(e)
    l2, l3 = parse_sysfs_caches(entries)
    if l2 or l3:
        cpu.l2_cache_kb, cpu.l3_cache_kb = l2, l3
    # Intel hybrid CPUs list their P and E cores separately.
    p = _read(os.path.join(root, "sys/devices/cpu_core/cpus"))
    e = _read(os.path.join(root, "sys/devices/cpu_atom/cpus"))
    if p and e:
        cpu.p_cores = parse_cpu_list(p)
        cpu.e_cores = parse_cpu_list(e)
    return cpu


def parse_device_tree_model(raw: bytes | str) -> str | None:
    """/proc/device-tree/model (NUL-terminated) -> 'Raspberry Pi 5 Model B Rev 1.0'."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    s = raw.replace("\x00", "").strip()
    return s or None


def read_board_model(root: str = "/") -> str | None:
    """The board name from the device tree (ARM boards), or None."""
    for rel in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        try:
            with open(os.path.join(root, rel), "rb") as f:
                return parse_device_tree_model(f.read(4096))
        except OSError:
            continue
    return None
