"""Resolve `--hardware NAME|PATH` (or this machine) into a complete HardwareProfile.

`resolve_hardware(spec)`: None = detect this machine (once per process), a HardwareProfile, a dict,
a JSON profile file, a built-in profile name (`llmfit_core/data/profiles/*.json`) or a device-table name.
`fill_missing(profile)` completes bandwidth/TFLOPS/VRAM from the table or an estimate, recording each
estimate in `profile.estimated` and a human note in `profile.notes`.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from importlib import resources
from pathlib import Path

from llmfit_core.errors import HardwareProfileError
from llmfit_core.hardware import devices, names
from llmfit_core.hardware.profile import CPUInfo, HardwareProfile

GPU_VENDORS = ("nvidia", "amd", "intel", "apple", "other")
MAX_PROFILE_BYTES = 1 << 20  # a profile is a few hundred bytes; refuse megabytes of "JSON"

# Conservative guesses when nothing better is known (GB/s and dense FP16 TFLOPS).
DEFAULT_GPU_BANDWIDTH = {"nvidia": 300.0, "amd": 300.0, "intel": 200.0, "apple": 100.0, "other": 100.0}
DEFAULT_GPU_FP16 = {"nvidia": 30.0, "amd": 20.0, "intel": 15.0, "apple": 3.0, "other": 5.0}
APPLE_TFLOPS_PER_GPU_CORE = 0.35  # M1..M4: ~0.33-0.37 FP32(=FP16) TFLOPS per GPU core in the table


# ---------------------------------------------------------------- validation of profile files

def _where(path: str | None) -> str:
    return f"{path}: " if path else ""


MAX_FIGURE = 1e7  # no GB, GB/s, TFLOPS or GHz figure of real hardware comes near


def _check_number(d: dict, key: str, where: str, required: bool = False, positive: bool = True) -> None:
    if key not in d or d[key] is None:
        if required:
            raise HardwareProfileError(f"{where}{key} is required")
        return
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise HardwareProfileError(f"{where}{key} must be a number, got {json.dumps(v)[:40]}")
    if positive and v <= 0 or v < 0:
        raise HardwareProfileError(f"{where}{key} must be {'positive' if positive else '>= 0'}, got {v}")
    if v > MAX_FIGURE:  # 1e300 GB would overflow every byte count downstream
        raise HardwareProfileError(f"{where}{key} is implausibly large ({v:g}; limit {MAX_FIGURE:g})")


def _check_int(d: dict, key: str, where: str) -> None:
    if key in d and d[key] is not None:
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise HardwareProfileError(f"{where}{key} must be a positive integer, got {json.dumps(v)[:40]}")


def _check_str(d: dict, key: str, where: str, required: bool = False) -> None:
    if key not in d or d[key] is None:
        if required:
            raise HardwareProfileError(f"{where}{key} is required")
        return
    if not isinstance(d[key], str):
        raise HardwareProfileError(f"{where}{key} must be a string, got {json.dumps(d[key])[:40]}")


def validate_profile_dict(data, path: str | None = None) -> HardwareProfile:
    """Check a profile in the documented JSON shape and build it; the first problem raises HardwareProfileError."""
    w = _where(path)
    if not isinstance(data, dict):
        raise HardwareProfileError(f"{w}a hardware profile must be a JSON object, got {type(data).__name__}")
    _check_str(data, "name", w)
    _check_str(data, "os", w)
    _check_str(data, "board", w)
    for key in ("cpu", "memory"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise HardwareProfileError(f"{w}'{key}' must be an object")
    if "memory" not in data or not isinstance(data.get("memory"), dict):
        raise HardwareProfileError(f"{w}'memory' with total_gb is required")
    mem = data["memory"]
    _check_number(mem, "total_gb", f"{w}memory.", required=True)
    _check_number(mem, "available_gb", f"{w}memory.", positive=False)
    if mem.get("available_gb") is not None and mem["available_gb"] > mem["total_gb"]:
        raise HardwareProfileError(f"{w}memory.available_gb ({mem['available_gb']}) is more than total_gb ({mem['total_gb']})")
    cpu = data.get("cpu") or {}
    _check_str(cpu, "model", f"{w}cpu.")
    _check_str(cpu, "arch", f"{w}cpu.")
    _check_str(cpu, "memory_type", f"{w}cpu.")
    for k in ("cores", "threads", "p_cores", "e_cores", "memory_channels", "l2_cache_kb", "l3_cache_kb"):
        _check_int(cpu, k, f"{w}cpu.")
    for k in ("mem_bandwidth_gbs", "fp32_gflops"):
        _check_number(cpu, k, f"{w}cpu.")
    for key in ("isa", "runner_isa"):
        if key in cpu and cpu[key] is not None:
            if not isinstance(cpu[key], list) or not all(isinstance(x, str) for x in cpu[key]):
                raise HardwareProfileError(f"{w}cpu.{key} must be a list of strings")
    gpus = data.get("gpus")
    if gpus is not None and not isinstance(gpus, list):
        raise HardwareProfileError(f"{w}'gpus' must be a list")
    for i, g in enumerate(gpus or []):
        gw = f"{w}gpus[{i}]."
        if not isinstance(g, dict):
            raise HardwareProfileError(f"{w}gpus[{i}] must be an object")
        _check_str(g, "name", gw, required=True)
        _check_str(g, "vendor", gw, required=True)
        if g["vendor"].lower() not in GPU_VENDORS:
            raise HardwareProfileError(f"{gw}vendor must be one of {', '.join(GPU_VENDORS)}, got {g['vendor']!r}")
        for k in ("vram_gb", "bandwidth_gbs", "fp16_tflops", "fp32_tflops", "power_limit_w", "default_power_limit_w"):
            _check_number(g, k, gw)
        _check_number(g, "vram_free_gb", gw, positive=False)
        _check_int(g, "gpu_cores", gw)
        if g.get("compute_capability") is not None and not isinstance(g["compute_capability"], (str, int, float)):
            raise HardwareProfileError(f"{gw}compute_capability must be a string like \"8.9\"")
    if "unified_memory" in data and not isinstance(data["unified_memory"], bool):
        raise HardwareProfileError(f"{w}unified_memory must be true or false")
    for k in ("estimated", "notes"):
        if k in data and (not isinstance(data[k], list) or not all(isinstance(x, str) for x in data[k])):
            raise HardwareProfileError(f"{w}{k} must be a list of strings")
    if "sources" in data and not isinstance(data["sources"], dict):
        raise HardwareProfileError(f"{w}sources must be an object")
    fixed = dict(data)
    fixed["gpus"] = [dict(g, vendor=g["vendor"].lower(),
                          compute_capability=None if g.get("compute_capability") is None else str(g["compute_capability"]))
                     for g in gpus or []]
    profile = HardwareProfile.from_dict(fixed)
    complete_cpu(profile, {k for k, v in cpu.items() if v is not None})
    return profile


_CPU_FIELDS = ("cores", "threads", "isa", "arch", "p_cores", "e_cores", "mem_bandwidth_gbs")


def complete_cpu(profile: HardwareProfile, given: set[str]) -> None:
    """Fill the CPU figures a profile file leaves out (`given`: the cpu keys it has).

    A `cpu.model` the device table knows gives cores, threads, P/E cores, ISA, arch and bandwidth; otherwise (no
    `cpu` block, or an unknown name) a typical desktop CPU of the GPU's generation is assumed and said in the
    notes, never 1 core and a guessed 18 GB/s."""
    cpu = profile.cpu
    missing = [f for f in _CPU_FIELDS if f not in given]
    if "cores" in given and "threads" not in given:
        cpu.threads = cpu.cores
    if not missing or any(g.vendor == "apple" for g in profile.gpus) and "cores" in given:
        return
    dev = devices.lookup_device(cpu.model, mem_gb=profile.memory.total_gb or None) if "model" in given else None
    if dev is None and profile.board:
        dev = devices.lookup_device(profile.board, mem_gb=profile.memory.total_gb or None)
    if dev is not None and dev.kind in ("cpu", "apple") and dev.cpu_cores:
        filled = []
        table = {"cores": dev.cpu_cores, "threads": dev.cpu_threads or dev.cpu_cores, "p_cores": dev.p_cores,
                 "e_cores": dev.e_cores, "mem_bandwidth_gbs": dev.bandwidth_gbs,
                 "isa": devices.typical_isa(dev) if dev.kind == "cpu" else devices.apple_isa(dev),
                 "arch": "arm64" if dev.kind == "apple" else dev.arch}
        for f in missing:
            if table.get(f) is not None:
                setattr(cpu, f, table[f])
                profile.sources[f"cpu.{f}"] = "table"
                filled.append(f)
        if filled:
            _note(profile, f"CPU {', '.join(filled)} from the device table ({dev.name})")
        return
    if "cores" in given:
        return  # the user's own figures for an unknown CPU; bandwidth is estimated from them in fill_missing
    gpu_dev = next((d for d in (devices.lookup_device(g.name, g.gpu_cores, mem_gb=g.vram_gb) for g in profile.gpus)
                    if d is not None), None)
    typical, words = devices.typical_host_cpu(gpu_dev)
    cpu.cores, cpu.threads = typical.cores, typical.threads
    if "isa" not in given:
        cpu.isa = typical.isa
    if "arch" not in given:
        cpu.arch = typical.arch
    if "memory_type" not in given and "mem_bandwidth_gbs" not in given:
        cpu.memory_type, cpu.memory_channels = typical.memory_type, cpu.memory_channels or typical.memory_channels
    for f in ("cores", "threads", "isa"):
        if f"cpu.{f}" not in profile.estimated:
            profile.estimated.append(f"cpu.{f}")
    what = f"CPU {cpu.model!r} is not in the device table" if "model" in given else "the profile has no CPU"
    _note(profile, f"{what}: assumed {words}; give cpu.model or cpu.cores for real figures")


def load_profile_file(path: str | Path) -> HardwareProfile:
    """Read and validate a JSON hardware profile file (one clear HardwareProfileError on any problem)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise HardwareProfileError(f"{p}: {size} bytes is too large for a hardware profile (limit 1 MiB)")
        if p.exists() and not p.is_file() and not p.is_dir():  # a device (size 0, endless) or a FIFO (blocks)
            raise HardwareProfileError(f"{p}: not a regular file")
        with open(p, "rb") as fh:
            raw = fh.read(MAX_PROFILE_BYTES + 1)
        if len(raw) > MAX_PROFILE_BYTES:
            raise HardwareProfileError(f"{p}: too large for a hardware profile (limit 1 MiB)")
        text = raw.decode("utf-8")
    except HardwareProfileError:
        raise
    except IsADirectoryError:
        raise HardwareProfileError(f"{p}: is a directory, expected a JSON hardware profile") from None
    except UnicodeDecodeError:
        raise HardwareProfileError(f"{p}: not a text (UTF-8) JSON file") from None
    except OSError as exc:
        raise HardwareProfileError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HardwareProfileError(f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise HardwareProfileError(f"{p}: JSON nested too deeply") from None
    profile = validate_profile_dict(data, str(p))
    for key in _present_fields(data):
        profile.sources.setdefault(key, "file")
    return profile


def _present_fields(data: dict) -> list[str]:
    keys = []
    if isinstance((data.get("cpu") or {}).get("mem_bandwidth_gbs"), (int, float)):
        keys.append("cpu.mem_bandwidth_gbs")
    for i, g in enumerate(data.get("gpus") or []):
        for k in ("vram_gb", "bandwidth_gbs", "fp16_tflops"):
            if isinstance(g, dict) and g.get(k) is not None:
                keys.append(f"gpus[{i}].{k}")
    return keys


# ---------------------------------------------------------------- built-in profiles

def builtin_profile_names() -> list[str]:
    """Names of the shipped profiles (`llmfit_core/data/profiles/*.json`)."""
    base = resources.files("llmfit_core").joinpath("data/profiles")
    try:
        return sorted(p.name[:-5] for p in base.iterdir() if p.name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def builtin_profile(name: str) -> HardwareProfile | None:
    """A shipped profile by name, or None."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name or ""):
        return None
    res = resources.files("llmfit_core").joinpath("data/profiles").joinpath(f"{name}.json")
    if not res.is_file():
        return None
    profile = validate_profile_dict(json.loads(res.read_text(encoding="utf-8")), f"built-in profile {name}")
    for key in _present_fields(json.loads(res.read_text(encoding="utf-8"))):
        profile.sources.setdefault(key, "profile")
    return profile


# ---------------------------------------------------------------- filling gaps

def _note(profile: HardwareProfile, note: str) -> None:
    if note not in profile.notes:
        profile.notes.append(note)


def _estimate(profile: HardwareProfile, key: str, note: str) -> None:
    if key not in profile.estimated:
        profile.estimated.append(key)
    profile.sources[key] = "estimated"
    if note not in profile.notes:
        profile.notes.append(note)


def bandwidth_from_memory_type(memory_type: str | None, channels: int | None) -> float | None:
    """'DDR5-5600' with 2 channels -> 89.6 GB/s (channels x MT/s x 8 bytes)."""
    m = re.search(r"(\d{3,5})", memory_type or "")
    if not m:
        return None
    return round((channels or 2) * int(m.group(1)) * 8 / 1000, 1)


_SERVER_CPU = re.compile(r"epyc|xeon|threadripper|ampere|altra|graviton|neoverse|kunpeng|grace", re.I)


def estimate_cpu_bandwidth(cpu: CPUInfo, board: str | None = None) -> float:
    """An ESTIMATE of the CPU's streaming read bandwidth (GB/s) when nothing is known.

    min(what the cores can pull, what the platform's memory channels deliver): one x86 core streams
    ~25 GB/s (EPYC / AVX-512 client cores), ~18 GB/s (client AVX2), ~12 GB/s (Xeon mesh cores), an ARM
    core ~12 GB/s; a client platform (2 channels DDR4/DDR5) delivers ~60-80 GB/s, a server socket
    (8-12 channels) 100-300 GB/s. A VM slice of a server CPU gets its cores' share, not the socket.
    `llmfit system --measure-bandwidth` replaces the estimate with a measurement.
    """
    cores = max(1, int(cpu.cores or 1))
    model = cpu.model or ""
    isa = {x.lower() for x in cpu.isa or []}
    server = bool(_SERVER_CPU.search(model))
    if (cpu.arch or "").startswith(("arm", "aarch")):
        if board:
            return 15.0  # single-board computers: one 16/32-bit LPDDR4 channel
        per_core, platform = 12.0, (200.0 if server and cores >= 32 else 100.0 if server else 60.0)
        if cores <= 8 and not server:
            platform = 40.0
    else:
        if re.search(r"xeon", model, re.I):
            per_core = 12.0  # mesh-connected Xeon cores stream less each (~10-14 GB/s), they scale to the socket
        elif server or any(x.startswith("avx512") for x in isa):
            per_core = 25.0  # EPYC / Zen 4 class (measured here: ~27 GB/s per core)
        else:
            per_core = 18.0
        if server:
            platform = 300.0 if cores >= 32 else 150.0 if cores >= 12 else 100.0
        else:
            platform = 80.0 if cores >= 12 else 60.0
    return round(min(platform, per_core * cores), 1)


def fill_missing(profile: HardwareProfile, use_measured: bool = False) -> HardwareProfile:
    """Complete missing GPU VRAM/bandwidth/TFLOPS and CPU bandwidth from the device table, else estimate (flagged).

    Fills in place and returns the same profile; filling twice changes nothing.
    """
    # GPUs
    for i, g in enumerate(profile.gpus):
        dev = devices.lookup_device(g.name, g.gpu_cores, mem_gb=g.vram_gb)
        p = f"gpus[{i}]"
        if dev is not None and dev.kind in ("gpu", "apple"):
            if g.vendor == "apple" and g.gpu_cores is None and dev.gpu_cores:
                g.gpu_cores = dev.gpu_cores
                _estimate(profile, f"{p}.gpu_cores", f"{g.name}: GPU core count unknown, assumed {dev.name}")
            for attr in ("bandwidth_gbs", "fp16_tflops", "fp32_tflops", "compute_capability", "arch"):
                if getattr(g, attr) is None and getattr(dev, attr) is not None:
                    setattr(g, attr, getattr(dev, attr))
                    if attr in ("bandwidth_gbs", "fp16_tflops"):
                        profile.sources.setdefault(f"{p}.{attr}", "table")
            if g.vram_gb is None and g.vendor != "apple" and not dev.unified and dev.main_mem_gb:
                g.vram_gb = dev.main_mem_gb
                profile.sources.setdefault(f"{p}.vram_gb", "table")
            if dev.unified and g.vendor != "apple" and g.vram_gb is None:
                profile.unified_memory = True
        if g.bandwidth_gbs is None and g.memory_bus_width and g.max_mem_clock_mhz:
            from llmfit_core.hardware.nvidia import bandwidth_from_bus  # lazy: start-up: ~20 ms, NVIDIA GPUs only

            g.bandwidth_gbs = bandwidth_from_bus(g.memory_bus_width, g.max_mem_clock_mhz)
            profile.sources[f"{p}.bandwidth_gbs"] = "bus width x memory clock"
        if g.bandwidth_gbs is None:
            g.bandwidth_gbs = DEFAULT_GPU_BANDWIDTH.get(g.vendor, 100.0)
            _estimate(profile, f"{p}.bandwidth_gbs", f"{g.name}: not in the device table; bandwidth assumed {g.bandwidth_gbs:g} GB/s")
        if g.fp16_tflops is None:
            if g.vendor == "apple" and g.gpu_cores:
                g.fp16_tflops = round(APPLE_TFLOPS_PER_GPU_CORE * g.gpu_cores, 1)
            elif g.fp32_tflops:
                g.fp16_tflops = g.fp32_tflops
            else:
                g.fp16_tflops = DEFAULT_GPU_FP16.get(g.vendor, 5.0)
            _estimate(profile, f"{p}.fp16_tflops", f"{g.name}: FP16 throughput assumed {g.fp16_tflops:g} TFLOPS")
        if g.vram_gb is None and g.vendor != "apple" and not profile.unified_memory:
            _note(profile, f"{g.name}: VRAM unknown (not in the device table); give vram_gb in a profile file")
    if any(g.vendor == "apple" for g in profile.gpus):
        profile.unified_memory = True
    # CPU bandwidth
    cpu = profile.cpu
    key = "cpu.mem_bandwidth_gbs"
    if cpu.mem_bandwidth_gbs is None and use_measured:
        from llmfit_core.hardware.bandwidth import cached_bandwidth  # lazy: start-up: ~5 ms, no-bandwidth profiles only

        measured = cached_bandwidth(cpu.model)
        if measured:
            cpu.mem_bandwidth_gbs = round(measured, 1)
            profile.sources[key] = "measured"
    if cpu.mem_bandwidth_gbs is None and profile.unified_memory:
        soc = next((g for g in profile.gpus if g.bandwidth_gbs and profile.sources.get(f"gpus[{profile.gpus.index(g)}].bandwidth_gbs") != "estimated"), None)
        if soc is not None:
            cpu.mem_bandwidth_gbs = soc.bandwidth_gbs
            profile.sources[key] = "table"
    if cpu.mem_bandwidth_gbs is None:
        dev = devices.lookup_device(cpu.model, mem_gb=profile.memory.total_gb or None)
        if dev is None and profile.board:
            dev = devices.lookup_device(profile.board, mem_gb=profile.memory.total_gb or None)
        if dev is not None and dev.kind == "cpu" and dev.bandwidth_gbs:
            cpu.mem_bandwidth_gbs = dev.bandwidth_gbs
            profile.sources[key] = "table"
            if cpu.p_cores is None and dev.p_cores is not None:
                cpu.p_cores, cpu.e_cores = dev.p_cores, dev.e_cores
    if cpu.mem_bandwidth_gbs is None:
        from_type = bandwidth_from_memory_type(cpu.memory_type, cpu.memory_channels)
        if from_type:
            cpu.mem_bandwidth_gbs = from_type
            _estimate(profile, key, f"CPU memory bandwidth {from_type:g} GB/s from {cpu.memory_type} x {cpu.memory_channels or 2} channels")
        else:
            cpu.mem_bandwidth_gbs = estimate_cpu_bandwidth(cpu, profile.board)
            _estimate(profile, key, f"CPU memory bandwidth unknown for {cpu.model!r}: estimated {cpu.mem_bandwidth_gbs:g} GB/s "
                                     f"from {cpu.cores} cores (run `llmfit system --measure-bandwidth` to measure it)")
    if not profile.memory.total_gb:
        _note(profile, "total RAM unknown")
    return profile


# ---------------------------------------------------------------- resolution

@functools.lru_cache(maxsize=1)
def _detected() -> HardwareProfile:
    from llmfit_core.hardware.detect import detect_hardware  # lazy: start-up: detection for this machine only

    return detect_hardware()


def clear_detection_cache() -> None:
    """Forget the detected profile (after measuring bandwidth, in tests)."""
    _detected.cache_clear()


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".json") or "/" in spec or "\\" in spec or Path(spec).is_file()


def resolve_hardware(spec=None) -> HardwareProfile:
    """None (this machine), a HardwareProfile, a dict, a JSON file path, a built-in profile or a device name -> filled profile."""
    if spec is None:
        return fill_missing(copy.deepcopy(_detected()), use_measured=True)
    if isinstance(spec, HardwareProfile):
        return fill_missing(spec)
    if isinstance(spec, dict):
        return fill_missing(validate_profile_dict(spec))
    if isinstance(spec, Path):
        return fill_missing(load_profile_file(spec))
    if not isinstance(spec, str) or not spec.strip():
        raise HardwareProfileError(f"hardware must be a name, a profile file or a profile, got {spec!r}")
    spec = spec.strip()
    if _looks_like_path(spec):
        if not Path(spec).exists():
            raise HardwareProfileError(f"{spec}: no such hardware profile file")
        return fill_missing(load_profile_file(spec))
    return fill_missing(profile_for_name(spec))


# Names people use for a shipped profile (compared in names.compact form).
PROFILE_ALIASES = {"rpi5": "raspberry-pi-5", "pi5": "raspberry-pi-5", "raspberrypi5": "raspberry-pi-5"}


def profile_for_name(name: str) -> HardwareProfile:
    """A typed hardware name -> profile: a built-in profile (exact, or ignoring case/spaces/dashes, or a well-known
    alias such as `rpi5`), a generic `cpu-16gb`, else the one device the name means (hardware.names). Unknown or
    ambiguous names raise HardwareProfileError with the closest valid names."""
    prof = builtin_profile(name)
    if prof is not None:
        return prof
    profiles = builtin_profile_names()
    key = names.compact(name)
    by_compact = {names.compact(p): p for p in profiles}
    if key in by_compact:
        return builtin_profile(by_compact[key])
    if key in PROFILE_ALIASES:
        prof = builtin_profile(PROFILE_ALIASES[key])
        prof.notes.append(f"{name!r} read as the built-in profile {prof.name}; add the size for another "
                          "variant (e.g. rpi5-4gb, rpi5-16gb)")
        return prof
    ram = names.is_generic_cpu(name)
    if ram is not None:
        return devices.generic_cpu_profile(ram)
    match = names.match_device_name(name, extra_names=tuple(profiles))
    prof = devices.device_profile(match.device, mem_gb=match.mem_gb)
    prof.notes.extend(match.notes)
    return prof
