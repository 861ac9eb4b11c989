"""NVIDIA GPUs: NVML values (nvidia-ml-py) or `nvidia-smi -q -x` XML -> GPUInfo list.

`parse_nvml_values` and `parse_nvidia_smi_xml` are pure; `query_nvml` / `run_nvidia_smi` gather.
NVML values dict shape (also the recorded-fixture format):
    {"driver_version": "550.54.14", "cuda_version": 12040,
     "gpus": [{"name": "NVIDIA GeForce RTX 3090", "memory_total": bytes, "memory_free": bytes,
               "compute_capability": [8, 6], "bus_width": 384, "max_mem_clock_mhz": 9751,
               "power_limit_mw": 280000, "default_power_limit_mw": 350000}]}
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

from llmfit_core.hardware.power import driver_watts
from llmfit_core.hardware.profile import GIB, GPUInfo


def bandwidth_from_bus(bus_width_bits: float | None, mem_clock_mhz: float | None) -> float | None:
    """Peak memory bandwidth in GB/s from bus width and NVML's max memory clock (double data rate)."""
    if not bus_width_bits or not mem_clock_mhz:
        return None
    return round(bus_width_bits / 8 * mem_clock_mhz * 1e6 * 2 / 1e9, 1)


def _cuda_version(v) -> str | None:
    """NVML's 12040 -> '12.4'; strings pass through."""
    if v is None:
        return None
    if isinstance(v, int):
        return f"{v // 1000}.{(v % 1000) // 10}"
    return str(v)


def _s(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def parse_nvml_values(values: dict) -> list[GPUInfo]:
    """Turn recorded NVML values into GPUInfo entries (VRAM in GiB, bandwidth from bus × clock)."""
    driver = values.get("driver_version")
    cuda = _cuda_version(values.get("cuda_version"))
    out = []
    for g in values.get("gpus") or []:
        cc = g.get("compute_capability")
        if isinstance(cc, (list, tuple)) and len(cc) == 2:
            cc = f"{cc[0]}.{cc[1]}"
        total = g.get("memory_total")
        free = g.get("memory_free")
        out.append(
            GPUInfo(
                vendor="nvidia",
                name=_s(g.get("name", "NVIDIA GPU")),
                vram_gb=round(total / GIB, 2) if total else None,
                vram_free_gb=round(free / GIB, 2) if free is not None else None,
                bandwidth_gbs=bandwidth_from_bus(g.get("bus_width"), g.get("max_mem_clock_mhz")),
                compute_capability=str(cc) if cc else None,
                driver=_s(driver) if driver else None,
                cuda_version=cuda,
                memory_bus_width=g.get("bus_width"),
                max_mem_clock_mhz=g.get("max_mem_clock_mhz"),
                power_limit_w=driver_watts(g.get("power_limit_mw"), 1000),
                default_power_limit_w=driver_watts(g.get("default_power_limit_mw"), 1000),
            )
        )
    return out


def query_nvml() -> dict:
    """Read the NVML values of every NVIDIA GPU (raises ImportError / pynvml.NVMLError when unavailable)."""
    if sys.platform.startswith("linux") and importlib.util.find_spec("pynvml") is not None:
        try:  # the driver's library, as pynvml loads it: absent (no NVIDIA driver), pynvml is not imported at all
            ctypes.CDLL("libnvidia-ml.so.1")
        except OSError:
            raise OSError("NVML Shared Library Not Found (libnvidia-ml.so.1)") from None
    import pynvml  # lazy: optional (nvidia-ml-py), and large: only where the driver is

    pynvml.nvmlInit()
    try:
        values: dict = {"gpus": []}
        try:
            values["driver_version"] = _s(pynvml.nvmlSystemGetDriverVersion())
        except pynvml.NVMLError:
            pass
        try:
            values["cuda_version"] = pynvml.nvmlSystemGetCudaDriverVersion()
        except pynvml.NVMLError:
            pass
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            g = {"name": _s(pynvml.nvmlDeviceGetName(h)), "memory_total": int(mem.total), "memory_free": int(mem.free)}
            for key, fn in (
                ("compute_capability", lambda h=h: list(pynvml.nvmlDeviceGetCudaComputeCapability(h))),
                ("bus_width", lambda h=h: int(pynvml.nvmlDeviceGetMemoryBusWidth(h))),
                ("max_mem_clock_mhz", lambda h=h: int(pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM))),
                ("power_limit_mw", lambda h=h: int(pynvml.nvmlDeviceGetEnforcedPowerLimit(h))),
                ("default_power_limit_mw", lambda h=h: int(pynvml.nvmlDeviceGetPowerManagementDefaultLimit(h))),
            ):
                try:
                    g[key] = fn()
                except Exception:  # older drivers / GPUs lack some queries
                    pass
            values["gpus"].append(g)
        return values
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


_MIB = re.compile(r"([\d.]+)\s*(MiB|GiB|KiB)?", re.I)


def _mib_text_to_gib(text: str | None) -> float | None:
    if not text:
        return None
    m = _MIB.match(text.strip())
    if not m:
        return None
    n = float(m.group(1))
    unit = (m.group(2) or "MiB").lower()
    return round(n / {"kib": 1024 * 1024, "mib": 1024, "gib": 1}[unit], 2)


def _mhz(text: str | None) -> float | None:
    m = re.match(r"\s*([\d.]+)", text or "")
    return float(m.group(1)) if m else None


def _xml_watts(gpu, *paths: str) -> float | None:
    """The first of `paths` that holds "350.00 W" (not "N/A"), in W."""
    for path in paths:
        m = re.match(r"\s*([\d.]+)\s*W", gpu.findtext(path) or "")
        w = driver_watts(m.group(1), ndigits=None) if m else None
        if w is not None:
            return w
    return None


def parse_nvidia_smi_xml(text: str) -> list[GPUInfo]:
    """Parse `nvidia-smi -q -x` output (fallback when nvidia-ml-py is missing)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"nvidia-smi XML is not valid: {exc}") from None
    driver = root.findtext("driver_version")
    cuda = root.findtext("cuda_version")
    out = []
    for gpu in root.findall("gpu"):
        cc = gpu.findtext("compute_cap")
        out.append(
            GPUInfo(
                vendor="nvidia",
                name=(gpu.findtext("product_name") or "NVIDIA GPU").strip(),
                vram_gb=_mib_text_to_gib(gpu.findtext("fb_memory_usage/total")),
                vram_free_gb=_mib_text_to_gib(gpu.findtext("fb_memory_usage/free")),
                compute_capability=cc.strip() if cc else None,
                driver=driver.strip() if driver else None,
                cuda_version=cuda.strip() if cuda else None,
                max_mem_clock_mhz=_mhz(gpu.findtext("max_clocks/mem_clock")),
                # drivers >= 530 say gpu_power_readings/current_power_limit, older ones power_readings/...
                power_limit_w=_xml_watts(gpu, "gpu_power_readings/current_power_limit",
                                         "power_readings/enforced_power_limit", "power_readings/power_limit"),
                default_power_limit_w=_xml_watts(gpu, "gpu_power_readings/default_power_limit",
                                                 "power_readings/default_power_limit"),
            )
        )
    return out


def run_nvidia_smi(timeout: float = 5.0) -> str | None:
    """`nvidia-smi -q -x` output, or None when the tool is absent or fails."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        r = subprocess.run([exe, "-q", "-x"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def detect_nvidia(notes: list[str]) -> list[GPUInfo]:
    """NVIDIA GPUs of this machine: NVML first, nvidia-smi XML second; explain in `notes` when neither works."""
    try:
        return parse_nvml_values(query_nvml())
    except ImportError:
        reason = "nvidia-ml-py is not installed"
    except Exception as exc:  # pynvml.NVMLError_LibraryNotFound, driver not loaded, ...
        reason = f"NVML unavailable ({_s(exc) or type(exc).__name__})"
    xml = run_nvidia_smi()
    if xml:
        try:
            return parse_nvidia_smi_xml(xml)
        except ValueError as exc:
            notes.append(f"nvidia-smi output unreadable: {exc}")
            return []
    if "not installed" in reason:
        notes.append(f"no NVIDIA GPU check: {reason}")
    return []
