"""The cluster description: machines (each a hardware profile, GPUs included) and the link between them.

JSON (README "Plan across machines"):
    {"nodes": [{"hardware": NAME_OR_PROFILE_PATH, "count": N, "hosts": [...], "gpu_link": "NVLink"|"PCIe"}],
     "link": LINK_NAME | {"gbps": X, "latency_us": Y}}
The GPUs inside one machine come from its hardware profile (hardware.registry.resolve_hardware). The first
machine listed is the head (llama.cpp's main host, vLLM/SGLang's rank 0). Every problem is one ClusterSpecError line.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from llmfit_core.cluster.links import LINKS, ClusterSpecError, Link, resolve_link
from llmfit_core.errors import HardwareProfileError
from llmfit_core.hardware.profile import GIB, GPUInfo, HardwareProfile
from llmfit_core.hardware.registry import resolve_hardware
from llmfit_core.placement import metal_working_set
from llmfit_core.throughput.roofline import MEM_CLASS, gpu_memory_class

MAX_FILE_BYTES = 1 << 20
MAX_MACHINES = 256
# GPUs with unified memory but not Apple's (DGX Spark, Strix Halo): what the OS keeps for itself (assumption)
UNIFIED_OS_RESERVE = 4 * GIB
NODE_KEYS = ("hardware", "count", "hosts", "gpu_link", "name")
TOP_KEYS = ("nodes", "link", "name")
# device kind -> the llama.cpp / runtime name of its backend
VENDOR_KIND = {"nvidia": "cuda", "amd": "rocm", "apple": "metal", "intel": "vulkan"}


@dataclass
class Device:
    """One accelerator (or a CPU when a machine has none) of one machine."""

    machine: int  # index of the machine in ClusterSpec.machines
    index: int  # index inside the machine
    name: str
    kind: str  # cuda | rocm | metal | vulkan | cpu
    capacity_bytes: int  # memory this device can hold (VRAM, Apple's GPU wired limit, RAM for a CPU)
    unified: bool
    gpu: GPUInfo | None = None

    @property
    def label(self) -> str:
        return f"{self.kind.upper()}{self.index}: {self.name}"


@dataclass
class Machine:
    index: int
    name: str  # as the plan prints it: node0, node1, ... or the host given
    host: str  # address in the launch commands (a placeholder unless the file gives hosts)
    hardware_name: str
    profile: HardwareProfile
    devices: list[Device]
    gpu_link: Link  # between the GPUs inside this machine
    gpu_link_assumed: bool = True

    @property
    def apple(self) -> bool:
        return any(g.vendor == "apple" for g in self.profile.gpus)

    @property
    def ram_bytes(self) -> int:
        return self.profile.memory.available_bytes or self.profile.memory.total_bytes

    @property
    def gpus(self) -> list[Device]:
        return [d for d in self.devices if d.kind != "cpu"]


@dataclass
class ClusterSpec:
    machines: list[Machine]
    link: Link  # between machines (for one machine: the link between its GPUs)
    name: str = "cluster"
    source: str = ""  # the file it came from
    notes: list[str] = field(default_factory=list)

    @property
    def devices(self) -> list[Device]:
        return [d for m in self.machines for d in m.devices]

    def subset(self, indices: list[int]) -> "ClusterSpec":
        """The cluster made of these machines only (re-indexed, the first one is the head)."""
        machines = []
        for new, old in enumerate(indices):
            m = copy.copy(self.machines[old])
            m.index = new
            m.devices = [Device(new, d.index, d.name, d.kind, d.capacity_bytes, d.unified, d.gpu) for d in m.devices]
            machines.append(m)
        link = self.link if len(machines) > 1 else machines[0].gpu_link
        return ClusterSpec(machines=machines, link=link, name=self.name, source=self.source)

    def describe(self) -> str:
        groups: dict[str, int] = {}
        for m in self.machines:
            groups[m.hardware_name] = groups.get(m.hardware_name, 0) + 1
        nodes = " + ".join(f"{n} x {h}" if n > 1 else h for h, n in groups.items())
        return nodes + (f" over {self.link.name}" if len(self.machines) > 1 else "")

    def to_dict(self) -> dict:
        return {"name": self.name, "link": self.link.to_dict(),
                "nodes": [{"name": m.name, "hardware": m.hardware_name, "devices": [d.label for d in m.devices]}
                          for m in self.machines]}


def device_capacity(profile: HardwareProfile, gpu: GPUInfo) -> tuple[int, bool]:
    """(bytes the GPU can hold, unified memory?) — Apple: Metal's wired limit; other unified GPUs: RAM minus the OS."""
    ram = profile.memory.total_bytes
    if gpu.vendor == "apple":
        return (int(gpu.vram_bytes) if gpu.vram_gb else metal_working_set(ram)), True
    if not gpu.vram_gb or profile.unified_memory:
        return max(ram - UNIFIED_OS_RESERVE, 0), True
    free = gpu.vram_free_gb if gpu.vram_free_gb is not None else gpu.vram_gb
    return int(free * GIB), False


def machine_devices(index: int, profile: HardwareProfile) -> list[Device]:
    """The devices of one machine: its GPUs, or its CPU when it has none."""
    out = []
    for i, g in enumerate(profile.gpus):
        cap, unified = device_capacity(profile, g)
        out.append(Device(index, i, g.name, VENDOR_KIND.get(g.vendor, "vulkan"), cap, unified, g))
    if not out:
        out.append(Device(index, 0, profile.cpu.model or "CPU", "cpu", profile.memory.available_bytes, True, None))
    return out


def _default_gpu_link(profile: HardwareProfile) -> Link:
    """NVLink for SXM-class datacenter GPUs (HBM), PCIe otherwise (an assumption the plan states)."""

    multi = len(profile.gpus) > 1
    if multi and all(gpu_memory_class(g) == MEM_CLASS["hbm"] and "pcie" not in g.name.lower() for g in profile.gpus):
        return LINKS["NVLink"]
    return LINKS["PCIe"]


def _read(path: Path) -> dict:
    try:
        if path.is_dir():
            raise ClusterSpecError(f"{path}: is a directory, expected a cluster JSON file")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except ClusterSpecError:
        raise
    except OSError as exc:
        raise ClusterSpecError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ClusterSpecError(f"{path}: too large for a cluster file (limit 1 MiB)")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ClusterSpecError(f"{path}: not a text (UTF-8) JSON file") from None
    except json.JSONDecodeError as exc:
        raise ClusterSpecError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ClusterSpecError(f"{path}: JSON nested too deeply") from None


def _unknown_key(d: dict, allowed: tuple[str, ...], where: str) -> None:
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ClusterSpecError(f"{where}unknown key {k!r} ({hint}allowed: {', '.join(allowed)})")


def load_cluster(source, base_dir: Path | None = None) -> ClusterSpec:
    """A cluster file path (str/Path) or an already parsed dict -> ClusterSpec (ClusterSpecError on bad input)."""
    where = ""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.exists():
            raise ClusterSpecError(f"{path}: no such cluster file")
        data = _read(path)
        base_dir = path.parent
        where = f"{path}: "
        origin = str(path)
    elif isinstance(source, dict):
        data, origin = source, "dict"
    else:
        raise ClusterSpecError(f"a cluster is a JSON file or a dict, got {type(source).__name__}")
    if not isinstance(data, dict):
        raise ClusterSpecError(f"{where}a cluster must be a JSON object with \"nodes\" and \"link\"")
    _unknown_key(data, TOP_KEYS, where)
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ClusterSpecError(f"{where}\"nodes\" must be a non-empty list of {{\"hardware\": NAME_OR_PROFILE, \"count\": N}}")
    machines: list[Machine] = []
    for gi, node in enumerate(nodes):
        w = f"{where}nodes[{gi}]"
        if not isinstance(node, dict):
            raise ClusterSpecError(f"{w} must be an object like {{\"hardware\": \"RTX 4090\", \"count\": 2}}")
        _unknown_key(node, NODE_KEYS, f"{w}: ")
        hw = node.get("hardware")
        if not isinstance(hw, (str, dict)) or (isinstance(hw, str) and not hw.strip()):
            raise ClusterSpecError(f"{w}.hardware is required: a device or profile name (`llmfit hardware list`) "
                                   "or a hardware-profile JSON file")
        count = node.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ClusterSpecError(f"{w}.count must be a positive integer, got {count!r}")
        if len(machines) + count > MAX_MACHINES:
            raise ClusterSpecError(f"{w}.count: at most {MAX_MACHINES} machines in one cluster")
        hosts = node.get("hosts")
        if hosts is not None and (not isinstance(hosts, list) or len(hosts) != count
                                  or not all(isinstance(h, str) and h.strip() and " " not in h for h in hosts)):
            raise ClusterSpecError(f"{w}.hosts must be a list of {count} host names or addresses (one per machine)")
        gpu_link = node.get("gpu_link")
        ref = hw
        if isinstance(hw, str) and base_dir is not None and hw.endswith(".json") and not Path(hw).is_absolute():
            ref = str(base_dir / hw)
        try:
            profile = resolve_hardware(ref)
        except HardwareProfileError as exc:
            raise ClusterSpecError(f"{w}.hardware: {exc}") from None
        link_in = resolve_link(gpu_link, f"{w}.gpu_link") if gpu_link is not None else _default_gpu_link(profile)
        if gpu_link is not None and not link_in.inside_node:
            raise ClusterSpecError(f"{w}.gpu_link: {link_in.name} links machines; inside one machine use NVLink or PCIe")
        name = node.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ClusterSpecError(f"{w}.name must be a non-empty string")
        if name is None:
            name = (Path(hw).stem if hw.endswith(".json") else hw) if isinstance(hw, str) else (hw.get("name") or "custom")
        for k in range(count):
            idx = len(machines)
            host = hosts[k] if hosts else f"node{idx}"
            prof = profile if k == 0 else copy.deepcopy(profile)
            machines.append(Machine(idx, host, host, str(name), prof, machine_devices(idx, prof), link_in,
                                    gpu_link_assumed=gpu_link is None))
    link_value = data.get("link")
    if link_value is None:
        if len(machines) > 1:
            raise ClusterSpecError(f"{where}\"link\" is required for {len(machines)} machines: one of {', '.join(LINKS)} "
                                   "or {\"gbps\": X, \"latency_us\": Y}")
        link = machines[0].gpu_link
    else:
        link = resolve_link(link_value, f"{where}link")
    if link.inside_node and len(machines) > 1:
        raise ClusterSpecError(f"{where}link: {link.name} connects the GPUs inside one machine; between {len(machines)} "
                               "machines give their network (nearest: InfiniBand, 100GbE or Thunderbolt5-RDMA)")
    if len(machines) == 1 and link.inside_node and data.get("link") is not None:
        machines[0].gpu_link, machines[0].gpu_link_assumed = link, False
    name = data.get("name", "cluster")
    if not isinstance(name, str):
        raise ClusterSpecError(f"{where}name must be a string")
    return ClusterSpec(machines=machines, link=link, name=name, source=origin)
