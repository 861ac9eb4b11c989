"""The built-in device table (`llmfit_core/data/devices.csv`): GPUs, Apple chips, CPUs and boards with sourced specs.

Loaded lazily on first use. Look-ups go exact name -> alias -> normalised name -> fuzzy token match
("NVIDIA GeForce RTX 4090" -> "RTX 4090", "Apple M3 Max" + gpu_cores=40 -> "Apple M3 Max (40-core GPU)").
"""

from __future__ import annotations

import csv
import difflib
import functools
import re
from dataclasses import dataclass
from importlib import resources

from llmfit_core.errors import HardwareProfileError
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo

KINDS = ("gpu", "apple", "cpu")


@dataclass(frozen=True)
class Device:
    """One row of the device table."""

    name: str
    kind: str  # gpu | apple | cpu
    vendor: str
    aliases: tuple[str, ...] = ()
    mem_gb: tuple[float, ...] = ()  # VRAM for GPUs, unified-memory configurations for Apple, tested RAM for CPUs
    bandwidth_gbs: float | None = None
    fp16_tflops: float | None = None
    fp32_tflops: float | None = None
    compute_capability: str | None = None
    gpu_cores: int | None = None
    cpu_cores: int | None = None
    cpu_threads: int | None = None
    p_cores: int | None = None
    e_cores: int | None = None
    arch: str | None = None
    unified: bool = False
    memory: str | None = None  # memory type and bus, e.g. "DDR5-5600 x2"
    source: str = ""
    notes: str = ""

    @property
    def main_mem_gb(self) -> float | None:
        """The largest listed memory size (Apple: the biggest configuration)."""
        return max(self.mem_gb) if self.mem_gb else None

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["aliases"] = list(self.aliases)
        d["mem_gb"] = list(self.mem_gb)
        return d


def _f(v: str) -> float | None:
    v = (v or "").strip()
    return float(v) if v else None


def _i(v: str) -> int | None:
    v = (v or "").strip()
    return int(v) if v else None


def _row_to_device(row: dict[str, str]) -> Device:
    return Device(
        name=row["name"].strip(),
        kind=row["kind"].strip(),
        vendor=row["vendor"].strip(),
        aliases=tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip()),
        mem_gb=tuple(float(m) for m in (row.get("mem_gb") or "").split("|") if m.strip()),
        bandwidth_gbs=_f(row.get("bandwidth_gbs")),
        fp16_tflops=_f(row.get("fp16_tflops")),
        fp32_tflops=_f(row.get("fp32_tflops")),
        compute_capability=(row.get("compute_capability") or "").strip() or None,
        gpu_cores=_i(row.get("gpu_cores")),
        cpu_cores=_i(row.get("cpu_cores")),
        cpu_threads=_i(row.get("cpu_threads")),
        p_cores=_i(row.get("p_cores")),
        e_cores=_i(row.get("e_cores")),
        arch=(row.get("arch") or "").strip() or None,
        unified=(row.get("unified") or "").strip() in ("1", "true", "yes"),
        memory=(row.get("memory") or "").strip() or None,
        source=(row.get("source") or "").strip(),
        notes=(row.get("notes") or "").strip(),
    )


@functools.lru_cache(maxsize=1)
def _table() -> tuple[Device, ...]:
    text = resources.files("llmfit_core").joinpath("data/devices.csv").read_text(encoding="utf-8")
    return tuple(_row_to_device(r) for r in csv.DictReader(text.splitlines()))


def all_devices(kind: str | None = None) -> list[Device]:
    """Every device of the table (optionally only one kind: gpu, apple, cpu)."""
    if kind is not None and kind not in KINDS:
        raise HardwareProfileError(f"unknown device kind {kind!r} (use one of: {', '.join(KINDS)})")
    return [d for d in _table() if kind is None or d.kind == kind]


# Words that vendors put around the model name and that carry no identity.
_NOISE = {"nvidia", "geforce", "tesla", "amd", "radeon", "intel", "r", "tm", "corporation", "processor",
          "cpu", "gpu", "graphics", "with", "generation", "ati"}


def normalize(name: str) -> str:
    """Canonical form used for matching: lower case, vendor noise and punctuation removed."""
    s = name.lower()
    s = re.sub(r"\(r\)|\(tm\)|®|™", " ", s)
    s = re.sub(r"\b\d+-core processor\b", " ", s)  # "16-Core Processor" (AMD brand strings)
    s = re.sub(r"@\s*[\d.]+\s*ghz", " ", s)  # "CPU @ 3.00GHz" (Intel brand strings)
    s = re.sub(r"(\d+)-core\b", r"\1 core", s)
    s = re.sub(r"[^a-z0-9]+", " ", s)
    return " ".join(t for t in s.split() if t not in _NOISE)


@functools.lru_cache(maxsize=1)
def _index() -> tuple[dict[str, list[Device]], list[tuple[frozenset[str], Device]]]:
    exact: dict[str, list[Device]] = {}
    tokens: list[tuple[frozenset[str], Device]] = []
    for d in _table():
        for n in (d.name, *d.aliases):
            key = normalize(n)
            exact.setdefault(n.lower(), []).append(d)
            tokens.append((frozenset(key.split()), d))
    return exact, tokens


def _is_model_number(token: str) -> bool:
    """A token that identifies a product: has a digit and is not a memory size ("4090", "m3", "i9" but not "16gb")."""
    return any(c.isdigit() for c in token) and not re.fullmatch(r"\d+(?:\.\d+)?gi?b", token)


def lookup_device(name: str, gpu_cores: int | None = None, mem_gb: float | None = None) -> Device | None:
    """Find a device by exact name, alias, or normalised fuzzy match; `gpu_cores` / `mem_gb` pick among variants."""
    if not name or not name.strip():
        return None
    exact, tokens = _index()
    hits = exact.get(name.strip().lower(), [])
    if len(hits) == 1 and (gpu_cores is None or hits[0].gpu_cores in (None, gpu_cores)):
        return hits[0]
    q = frozenset(normalize(name).split())
    if not q or not any(_is_model_number(t) for t in q):
        return None  # "AMD EPYC", "Intel Core", "16GB": too vague to match anything
    best: dict[str, tuple[tuple, Device]] = {}
    for toks, dev in tokens:
        if not (toks <= q or q <= toks):
            continue
        common = toks & q
        if not any(_is_model_number(t) for t in common):
            continue  # sharing only "16gb" (cpu-16gb vs "Tesla P100-PCIE-16GB") is no identity
        cores_ok = gpu_cores is None or dev.gpu_cores == gpu_cores
        mem_diff = abs((dev.main_mem_gb or 0) - mem_gb) if mem_gb is not None and dev.mem_gb else 0.0
        if mem_gb is not None and dev.mem_gb and any(abs(m - mem_gb) < 0.75 for m in dev.mem_gb):
            mem_diff = 0.0
        # "Apple M2 Max" means the chip, not the CPU-cluster row, unless the query says CPU
        cpu_row_penalty = dev.kind == "cpu" and dev.vendor == "apple" and "cpu" not in name.lower()
        key = (not cores_ok, cpu_row_penalty, -len(common), len(toks - q), mem_diff, -(dev.gpu_cores or 0))
        if dev.name not in best or key < best[dev.name][0]:
            best[dev.name] = (key, dev)
    if not best:
        return None
    return min(best.values(), key=lambda kv: kv[0])[1]


def require_device(name: str, gpu_cores: int | None = None) -> Device:
    """Like lookup_device, but raise HardwareProfileError with close names when nothing matches."""
    dev = lookup_device(name, gpu_cores)
    if dev is None:
        names = [d.name for d in _table()]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" (did you mean: {', '.join(close)}?)" if close else " (see `llmfit hardware list`)"
        raise HardwareProfileError(f"unknown device or profile {name!r}{hint}")
    return dev


def gpu_from_device(dev: Device) -> GPUInfo:
    """A GPUInfo filled from a table row (VRAM = the largest listed size; none for unified memory)."""
    return GPUInfo(
        vendor=dev.vendor,
        name=dev.name,
        vram_gb=None if dev.unified else dev.main_mem_gb,
        bandwidth_gbs=dev.bandwidth_gbs,
        fp16_tflops=dev.fp16_tflops,
        fp32_tflops=dev.fp32_tflops,
        compute_capability=dev.compute_capability,
        gpu_cores=dev.gpu_cores,
        arch=dev.arch,
    )


def apple_isa(dev: Device) -> list[str]:
    """ISA of an Apple M chip: NEON, FP16 and dot product on all; i8mm and BF16 from M2 on."""
    return ["neon", "fp16", "dotprod"] + (["i8mm", "bf16"] if dev.arch not in ("M1",) else [])


# The CPU a machine of a GPU generation typically has, when only the GPU is known (a named device, a profile
# without a `cpu` block): cores, threads, ISA, memory type x channels of the mainstream platforms of the GPU's
# launch years (Intel/AMD product pages; official memory speeds). Desktop boards for consumer GPUs; one server
# socket (EPYC 7002/7003: 8 x DDR4-3200, 9004/9005: 12 x DDR5) for data-centre GPUs. Bandwidth = channels x MT/s x 8.
_X86 = ("avx", "avx2", "fma", "f16c")
HOST_BY_ERA = {  # era: (desktop, server) as (cores, threads, isa, memory type, channels)
    "2017": ((6, 12, _X86, "DDR4-2400", 2), (16, 32, _X86 + ("avx512",), "DDR4-2400", 6)),  # Pascal, Volta, GCN5
    "2019": ((8, 16, _X86, "DDR4-2666", 2), (32, 64, _X86, "DDR4-3200", 8)),  # Turing, RDNA1, CDNA1
    "2021": ((8, 16, _X86, "DDR4-3200", 2), (32, 64, _X86, "DDR4-3200", 8)),  # Ampere, RDNA2, CDNA2, Alchemist
    "2023": ((8, 16, _X86, "DDR5-5200", 2), (32, 64, _X86 + ("avx512",), "DDR5-4800", 12)),  # Ada, Hopper, RDNA3, CDNA3
    "2025": ((8, 16, _X86 + ("avx_vnni",), "DDR5-6000", 2), (32, 64, _X86 + ("avx512",), "DDR5-6000", 12)),  # Blackwell, RDNA4
}
_GPU_ERA = ((re.compile(r"pascal|volta|gfx90[0-6]|gfx80", re.I), "2017"), (re.compile(r"turing|gfx101|gfx908", re.I), "2019"),
            (re.compile(r"ampere|gfx103|gfx90a|xe-hpg|alchemist", re.I), "2021"),
            (re.compile(r"ada|hopper|gfx11|gfx94|xe2|battlemage", re.I), "2023"), (re.compile(r"blackwell|gfx12", re.I), "2025"))
_DATACENTRE_GPU = re.compile(r"^(?:GH|[ABHLPTV])\d+S?\b|^Instinct\b|^Tesla\b")


def gpu_era(arch: str | None) -> str:
    """The launch era of a GPU architecture ("Ada" -> "2023"); "2021" when unknown."""
    return next((era for pattern, era in _GPU_ERA if pattern.search(arch or "")), "2021")


def typical_host_cpu(gpu: "Device | None" = None) -> tuple[CPUInfo, str]:
    """The typical CPU next to `gpu` (None: a desktop of the 2021 era), and the words saying what was assumed."""
    server = gpu is not None and bool(_DATACENTRE_GPU.search(gpu.name))
    era = gpu_era(gpu.arch if gpu is not None else None)
    cores, threads, isa, memory_type, channels = HOST_BY_ERA[era][server]
    bandwidth = round(channels * int(memory_type.split("-")[1]) * 8 / 1000, 1)
    kind = "server socket" if server else "desktop CPU"
    cpu = CPUInfo(model=f"typical {kind} (assumed)", cores=cores, threads=threads, isa=list(isa), arch="x86_64",
                  mem_bandwidth_gbs=bandwidth, memory_type=memory_type, memory_channels=channels)
    words = (f"a typical {kind}{' of its generation' if gpu is not None else ''}: {cores} cores / {threads} threads, "
             f"{memory_type} x {channels} channels ({bandwidth:g} GB/s)")
    return cpu, words


def generic_cpu_profile(ram_gb: float) -> HardwareProfile:
    """`cpu-16gb`: a CPU-only machine of which only the RAM size is known; the CPU is a typical desktop one (said)."""
    cpu, words = typical_host_cpu()
    note = (f"generic CPU-only machine with {ram_gb:g} GiB RAM, CPU assumed {words}; name the CPU "
            f"(e.g. `Ryzen 7 5800X {ram_gb:g}gb`) or give a profile file for its real figures")
    return HardwareProfile(name=f"cpu-{ram_gb:g}gb", cpu=cpu, memory=MemoryInfo(total_gb=ram_gb), gpus=[], os="Linux",
                           estimated=["cpu.model", "cpu.mem_bandwidth_gbs"], notes=[note],
                           sources={"cpu.mem_bandwidth_gbs": "estimated"})


def device_profile(name: "str | Device", gpu_cores: int | None = None, mem_gb: float | None = None) -> HardwareProfile:
    """A whole-machine profile for a named GPU, Apple chip or CPU (e.g. "RTX 4090" -> a typical host with that GPU).

    `mem_gb`: the memory the user named: VRAM of a discrete GPU (one of its listed sizes), else the machine's RAM."""
    dev = name if isinstance(name, Device) else require_device(name, gpu_cores)
    sources: dict[str, str] = {}
    notes = [f"device table: {dev.name} ({dev.source})"]
    estimated: list[str] = []
    if dev.kind == "apple":
        mem = mem_gb or dev.main_mem_gb or 16.0
        cpu = CPUInfo(model=dev.name.split(" (")[0], cores=dev.cpu_cores or 8, threads=dev.cpu_threads or dev.cpu_cores or 8,
                      isa=apple_isa(dev),
                      mem_bandwidth_gbs=dev.bandwidth_gbs, arch="arm64", vendor="Apple",
                      p_cores=dev.p_cores, e_cores=dev.e_cores)
        gpu = gpu_from_device(dev)
        sources.update({"cpu.mem_bandwidth_gbs": "table", "gpus[0].bandwidth_gbs": "table"})
        if not mem_gb:
            notes.append(f"unified memory: the largest configuration ({mem:g} GiB); add the size for another "
                         f"(e.g. `{dev.name.split(' (')[0]} {min(dev.mem_gb or (mem,)):g}GB`) or use a profile file")
        return HardwareProfile(name=dev.name, cpu=cpu, memory=MemoryInfo(total_gb=mem), gpus=[gpu], unified_memory=True,
                               os="macOS", notes=notes, sources=sources)
    if dev.kind == "cpu":
        ram = mem_gb or dev.main_mem_gb or 32.0
        if not dev.mem_gb and not mem_gb:
            estimated.append("memory.total_gb")
            notes.append("RAM not in the table: assumed 32 GiB")
        cores = dev.cpu_cores or 4
        cpu = CPUInfo(model=dev.name, cores=cores, threads=dev.cpu_threads or cores, isa=typical_isa(dev),
                      mem_bandwidth_gbs=dev.bandwidth_gbs, arch=dev.arch or "x86_64",
                      p_cores=dev.p_cores, e_cores=dev.e_cores)
        if dev.bandwidth_gbs is not None:
            sources["cpu.mem_bandwidth_gbs"] = "table"
        return HardwareProfile(name=dev.name, cpu=cpu, memory=MemoryInfo(total_gb=ram), gpus=[], os="Linux",
                               estimated=estimated, notes=notes, sources=sources)
    # discrete GPU (or a GPU with unified memory such as DGX Spark / Strix Halo / Jetson)
    gpu = gpu_from_device(dev)
    sources["gpus[0].bandwidth_gbs"] = "table"
    if dev.unified:
        mem = mem_gb or dev.main_mem_gb or 64.0
        cores = dev.cpu_cores or 8
        cpu = CPUInfo(model=f"{dev.name} CPU", cores=cores, threads=dev.cpu_threads or cores,
                      isa=["avx", "avx2", "fma", "f16c", "avx512"] if dev.vendor == "amd" else ["neon", "dotprod", "i8mm"],
                      mem_bandwidth_gbs=dev.bandwidth_gbs, arch="x86_64" if dev.vendor == "amd" else "arm64")
        return HardwareProfile(name=dev.name, cpu=cpu, memory=MemoryInfo(total_gb=mem), gpus=[gpu], unified_memory=True,
                               os="Linux", notes=notes + ["unified memory shared by CPU and GPU"], sources=sources)
    if mem_gb and any(abs(m - mem_gb) < 0.75 for m in dev.mem_gb):
        gpu.vram_gb = mem_gb  # "V100 16gb": the smaller of the listed boards
    vram = gpu.vram_gb or 8.0
    ram = max(32.0, 2 ** int(vram * 2 - 1).bit_length())  # a host with at least twice the VRAM, rounded to a power of 2
    cpu, words = typical_host_cpu(dev)
    estimated += ["cpu.model", "cpu.mem_bandwidth_gbs", "memory.total_gb"]
    sources["cpu.mem_bandwidth_gbs"] = "estimated"
    notes.append(f"host assumed: {words}, {ram:g} GiB RAM")
    return HardwareProfile(name=dev.name, cpu=cpu, memory=MemoryInfo(total_gb=ram), gpus=[gpu], os="Linux",
                           estimated=estimated, notes=notes, sources=sources)


def typical_isa(dev: Device) -> list[str]:
    """The ISA extensions llama.cpp can use on a CPU row of the table (from its vendor, arch and notes)."""
    if (dev.arch or "") == "arm64":
        isa = ["neon"]
        if dev.vendor in ("aws", "ampere", "qualcomm", "cix", "apple"):
            isa += ["dotprod"]
        if dev.vendor == "aws":
            isa += ["i8mm", "sve"]
        if "A76" in dev.notes or "Cortex-A76" in dev.notes:
            isa += ["dotprod"]
        return list(dict.fromkeys(isa))
    isa = ["avx", "avx2", "fma", "f16c"]
    notes = dev.notes.lower()
    if "avx-512" in notes or "avx512" in notes or "amx" in notes:
        isa.append("avx512")
    if "amx" in notes:
        isa.append("amx")
    return isa
