"""HardwareProfile: the machine a model is scored against (detected, named, or from a JSON file).

The JSON form is the contract in design.md: sizes ending in `_gb` are GiB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from llmfit_core.errors import HardwareProfileError

GIB = 1024**3


@dataclass
class CPUInfo:
    model: str = "unknown CPU"
    cores: int = 1
    threads: int = 1
    isa: list[str] = field(default_factory=list)  # avx2, avx512, avx512_vnni, avx_vnni, amx, f16c, fma, neon, sve, dotprod, i8mm
    mem_bandwidth_gbs: float | None = None
    arch: str = "x86_64"  # x86_64 | arm64 | riscv64 | ...
    l2_cache_kb: int | None = None
    l3_cache_kb: int | None = None
    p_cores: int | None = None
    e_cores: int | None = None
    fp32_gflops: float | None = None  # peak, when known or estimated
    vendor: str | None = None  # GenuineIntel | AuthenticAMD | ARM implementer name | Apple
    memory_type: str | None = None  # e.g. "DDR5-5600", used to estimate bandwidth with memory_channels
    memory_channels: int | None = None  # 64-bit channels (a 128-bit LPDDR bus counts as 2)
    # the flags of `isa` the installed llama.cpp build has CPU kernels for (llama_print_system_info); None = not
    # known (another machine, no llama-cpp-python): speed is priced for `isa`. See hardware/runner_view.py.
    runner_isa: list[str] | None = None


@dataclass
class MemoryInfo:
    total_gb: float = 0.0
    available_gb: float | None = None

    @property
    def total_bytes(self) -> int:
        return int(self.total_gb * GIB)

    @property
    def available_bytes(self) -> int:
        return int((self.available_gb if self.available_gb is not None else self.total_gb) * GIB)


@dataclass
class GPUInfo:
    vendor: str  # nvidia | amd | intel | apple
    name: str
    vram_gb: float | None = None  # None for Apple (unified memory)
    vram_free_gb: float | None = None
    bandwidth_gbs: float | None = None
    fp16_tflops: float | None = None
    compute_capability: str | None = None
    gpu_cores: int | None = None
    driver: str | None = None
    fp32_tflops: float | None = None
    cuda_version: str | None = None
    memory_bus_width: int | None = None  # bits
    max_mem_clock_mhz: float | None = None  # as NVML reports it (bandwidth = bus/8 * clock * 2)
    arch: str | None = None  # e.g. "Ada", "gfx1100"
    pci_id: str | None = None  # "0x1002:0x744c"
    power_limit_w: float | None = None  # board power limit in force (NVML enforced limit, hwmon power1_cap)
    default_power_limit_w: float | None = None  # the board's default limit; a lower limit in force slows compute

    @property
    def vram_bytes(self) -> int:
        return int((self.vram_gb or 0.0) * GIB)


@dataclass
class MemoryHolder:
    """Memory something else holds right now (a model a runner keeps loaded), read from that runner."""

    name: str  # e.g. "ollama llama3.2:3b"
    ram_bytes: int = 0
    vram_bytes: int = 0
    source: str = ""  # where it was read, e.g. "ollama /api/ps"


@dataclass
class HardwareProfile:
    name: str = "this machine"
    cpu: CPUInfo = field(default_factory=CPUInfo)
    memory: MemoryInfo = field(default_factory=MemoryInfo)
    gpus: list[GPUInfo] = field(default_factory=list)
    unified_memory: bool = False
    os: str | None = None
    # which figures were estimated rather than read or looked up, e.g. "cpu.mem_bandwidth_gbs"
    estimated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    board: str | None = None  # e.g. "Raspberry Pi 5 Model B Rev 1.0" (device-tree model)
    # where a figure came from: "cpu.mem_bandwidth_gbs" -> "measured" | "table" | "estimated" | "detected" | "file"
    sources: dict[str, str] = field(default_factory=dict)
    # what else holds memory now (models loaded by runners); the free figures above already exclude it
    memory_holders: list[MemoryHolder] = field(default_factory=list)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    def to_dict(self) -> dict:
        d = asdict(self)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "HardwareProfile":
        """Build from the documented JSON shape; unknown fields are ignored."""

        if not isinstance(data, dict):
            raise HardwareProfileError("hardware profile must be a JSON object")

        def pick(dc, src):
            if src is None:
                return {}
            if not isinstance(src, dict):
                raise HardwareProfileError(f"hardware profile field for {dc.__name__} must be an object")
            names = dc.__dataclass_fields__.keys()
            return {k: v for k, v in src.items() if k in names and v is not None}  # null = missing: defaults apply

        try:
            cpu = CPUInfo(**pick(CPUInfo, data.get("cpu")))
            mem = MemoryInfo(**pick(MemoryInfo, data.get("memory")))
            gpus_raw = data.get("gpus") or []
            if not isinstance(gpus_raw, list):
                raise HardwareProfileError("hardware profile 'gpus' must be a list")
            gpus = [GPUInfo(**pick(GPUInfo, g)) for g in gpus_raw]
        except TypeError as exc:  # missing required GPU fields
            raise HardwareProfileError(f"invalid hardware profile: {exc}") from None
        return cls(
            name=str(data.get("name") or "custom"),
            cpu=cpu,
            memory=mem,
            gpus=gpus,
            unified_memory=bool(data.get("unified_memory", False)),
            os=data.get("os"),
            estimated=list(data.get("estimated") or []),
            notes=list(data.get("notes") or []),
            board=data.get("board"),
            sources=dict(data.get("sources") or {}),
        )
