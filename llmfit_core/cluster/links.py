"""Interconnect facts: bandwidth and small-message latency of the links a cluster file may name.

Bandwidths are the nominal line rates of each standard (one direction). Latencies are the one-way latency of
a small message through the usual software stack (kernel TCP for Ethernet and Thunderbolt IP, verbs for RDMA,
NCCL P2P inside a node): typical orders of magnitude, not measurements of this project. The per-engine fixed
costs fitted in `constants` absorb what these round figures miss.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from llmfit_core.errors import LlmfitError


class ClusterSpecError(LlmfitError):
    """A cluster description (file or dict) that cannot be used."""


@dataclass(frozen=True)
class Link:
    name: str
    gbps: float  # one direction, Gbit/s
    latency_us: float  # one-way small-message latency
    rdma: bool  # RDMA / GPU-direct transport (NCCL NET/IB, RoCE, Thunderbolt 5 RDMA, NVLink P2P)
    inside_node: bool = False  # NVLink / PCIe connect GPUs of one machine, not machines
    source: str = ""

    @property
    def bytes_per_s(self) -> float:
        return self.gbps * 1e9 / 8.0

    def transfer_s(self, nbytes: float, messages: float = 1.0) -> float:
        """Time to send `nbytes` in `messages` small messages over this link."""
        return messages * self.latency_us * 1e-6 + nbytes / self.bytes_per_s

    def to_dict(self) -> dict:
        return {"name": self.name, "gbps": self.gbps, "latency_us": self.latency_us, "rdma": self.rdma}


LINKS: dict[str, Link] = {link.name: link for link in (
    Link("1GbE", 1.0, 60.0, False, source="IEEE 802.3ab line rate; ~0.1-0.2 ms TCP round trip on a switched LAN"),
    Link("10GbE", 10.0, 25.0, False, source="IEEE 802.3ae line rate; kernel TCP ~50 us round trip"),
    Link("25GbE", 25.0, 15.0, False, source="IEEE 802.3by line rate; kernel TCP"),
    Link("100GbE", 100.0, 10.0, False, source="IEEE 802.3ba line rate; kernel TCP"),
    Link("200GbE-RoCE", 200.0, 3.0, True, source="ConnectX-7 200 Gb/s (DGX Spark QSFP), RoCEv2 verbs latency a few us"),
    Link("InfiniBand", 400.0, 2.0, True, source="NDR InfiniBand 400 Gb/s per port (ConnectX-7), ~1-2 us verbs latency"),
    Link("Thunderbolt5-RDMA", 80.0, 10.0, True,
         source="Thunderbolt 5: 80 Gb/s symmetric; RDMA over Thunderbolt (macOS 26.2, Apple TN3205) ~10 us"),
    Link("Thunderbolt4", 40.0, 100.0, False, source="Thunderbolt 4: 40 Gb/s; TCP/IP over the Thunderbolt bridge ~0.2 ms round trip"),
    Link("NVLink", 3600.0, 3.0, True, inside_node=True,
         source="NVLink 4 (H100 SXM): 900 GB/s bidirectional = 450 GB/s per direction; NCCL P2P"),
    Link("PCIe", 256.0, 8.0, True, inside_node=True, source="PCIe 4.0 x16: ~32 GB/s per direction; NCCL P2P / via host"),
)}

LOOPBACK = Link("loopback", 80.0, 10.0, False, source="TCP over the loopback interface of one host (memory copies)")


def resolve_link(value, where: str = "link") -> Link:
    """A link name from LINKS or {"gbps": X, "latency_us": Y[, "rdma": bool]} -> Link (ClusterSpecError on bad input)."""
    if isinstance(value, str):
        key = value.strip()
        for name, link in LINKS.items():
            if name.lower() == key.lower():
                return link
        close = difflib.get_close_matches(key, list(LINKS), n=2, cutoff=0.3)
        hint = f"nearest: {', '.join(close)}; " if close else ""
        raise ClusterSpecError(f"{where}: unknown link {value!r} ({hint}choose one of {', '.join(LINKS)} "
                               "or {\"gbps\": X, \"latency_us\": Y})")
    if isinstance(value, dict):
        extra = set(value) - {"gbps", "latency_us", "rdma", "name"}
        if extra:
            raise ClusterSpecError(f"{where}: unknown key {sorted(extra)[0]!r} (a custom link has gbps, latency_us, rdma)")
        for key, hi in (("gbps", 1e5), ("latency_us", 1e6)):
            v = value.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 or v > hi:
                raise ClusterSpecError(f"{where}.{key} must be a number in (0, {hi:g}], got {v!r}")
        rdma = value.get("rdma", False)
        if not isinstance(rdma, bool):
            raise ClusterSpecError(f"{where}.rdma must be true or false, got {rdma!r}")
        name = value.get("name") or f"{value['gbps']:g} Gb/s, {value['latency_us']:g} us"
        if not isinstance(name, str):
            raise ClusterSpecError(f"{where}.name must be a string")
        return Link(name, float(value["gbps"]), float(value["latency_us"]), rdma, source="cluster file")
    raise ClusterSpecError(f"{where} must be a link name ({', '.join(LINKS)}) or {{\"gbps\": X, \"latency_us\": Y}}, "
                           f"got {type(value).__name__}")
