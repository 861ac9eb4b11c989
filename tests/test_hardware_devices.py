"""The device table: coverage, internal consistency of its figures, and name look-ups."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from llmfit_core.errors import HardwareProfileError
from llmfit_core.hardware import devices

BENCH_HW = Path(__file__).resolve().parents[1] / "data" / "benchdata" / "hardware.csv"  # repo copy of the shared table


def test_table_size_and_kinds():
    all_ = devices.all_devices()
    assert len(all_) >= 80
    assert len({d.name for d in all_}) == len(all_), "device names must be unique"
    for kind in devices.KINDS:
        assert devices.all_devices(kind), kind
    with pytest.raises(HardwareProfileError):
        devices.all_devices("tpu")


def test_every_row_has_a_source_and_accelerators_have_figures():
    for d in devices.all_devices():
        assert d.source, d.name
        if d.kind in ("gpu", "apple"):
            assert d.bandwidth_gbs and d.bandwidth_gbs > 0, d.name
            assert d.mem_gb, d.name
        if d.vendor == "nvidia":
            assert re.fullmatch(r"\d+\.\d", d.compute_capability or ""), d.name


def test_coverage_of_required_families():
    names = {d.name for d in devices.all_devices()}
    for required in ("GTX 1080", "GTX 1080 Ti", "P100", "T4", "RTX 2080 Ti", "RTX 3090", "RTX 4090", "RTX 5090", "A10",
                     "A100 SXM 80GB", "H100 PCIe", "H200", "L4", "L40S", "B200", "Instinct MI100", "Instinct MI210",
                     "Instinct MI250X", "Instinct MI300X", "Arc A770", "Raspberry Pi 5 8GB"):
        assert required in names, required
    amd_rx = [n for n in names if re.search(r"RX [679]\d{3}", n)]
    assert {n[n.index("RX ") + 3] for n in amd_rx} >= {"6", "7", "9"}
    # Apple M1..M4 with every base/Pro/Max(/Ultra) tier and both GPU-core bins where two exist
    apple = [d for d in devices.all_devices("apple")]
    for gen in ("M1", "M2", "M3", "M4"):
        tiers = {re.sub(r" \(.*", "", d.name) for d in apple if d.name.startswith(f"Apple {gen}")}
        assert {f"Apple {gen}", f"Apple {gen} Pro", f"Apple {gen} Max"} <= tiers, gen
    for chip in ("Apple M1 Max", "Apple M2 Max", "Apple M3 Max", "Apple M4 Max", "Apple M2 Ultra"):
        assert len([d for d in apple if d.name.startswith(chip + " (")]) == 2, chip


def _bus_bandwidth(memory: str) -> float | None:
    """'DDR5-5600 x2' -> 89.6; 'LPDDR5X-7500 128-bit' -> 120.0 (GB/s)."""
    m = re.fullmatch(r"\w+-(\d+) x(\d+)", memory)
    if m:
        return int(m.group(1)) * int(m.group(2)) * 8 / 1000
    m = re.fullmatch(r"\w+-(\d+) (\d+)-bit.*", memory)
    if m:
        return int(m.group(1)) * int(m.group(2)) / 8 / 1000
    return None


def test_cpu_bandwidth_equals_channels_times_speed():
    checked = 0
    for d in devices.all_devices("cpu"):
        if not d.memory or d.bandwidth_gbs is None or "benchdata" in d.source or "Orange Pi" in d.name:
            continue
        expected = _bus_bandwidth(d.memory)
        if expected is None:
            continue
        assert d.bandwidth_gbs == pytest.approx(expected, rel=0.01), d.name
        checked += 1
    assert checked >= 20


def test_benchdata_devices_are_names_or_aliases():
    with BENCH_HW.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        dev = devices.lookup_device(row["device"])
        assert dev is not None and (dev.name == row["device"] or row["device"] in dev.aliases), row["device"]
        if row["bandwidth_gbs"]:
            assert dev.bandwidth_gbs == float(row["bandwidth_gbs"]), row["device"]
        if row["fp16_tflops"]:
            assert dev.fp16_tflops == float(row["fp16_tflops"]), row["device"]


@pytest.mark.parametrize(
    "query,kwargs,expected",
    [
        ("NVIDIA GeForce RTX 4090", {}, "RTX 4090"),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", {}, "RTX 4090 Laptop GPU"),
        ("rtx 4090", {}, "RTX 4090"),
        ("RTX 4060 Ti", {}, "RTX 4060 Ti"),
        ("NVIDIA A100-SXM4-80GB", {}, "A100 SXM 80GB"),
        ("NVIDIA A100 80GB PCIe", {}, "A100 PCIe 80GB"),
        ("NVIDIA H100 80GB HBM3", {}, "H100 80GB"),
        ("Tesla T4", {}, "T4"),
        ("NVIDIA A10", {}, "A10"),
        ("AMD Radeon RX 7900 XTX", {}, "RX 7900 XTX"),
        ("Intel(R) Arc(TM) A770 Graphics", {}, "Arc A770"),
        ("Apple M3 Max", {"gpu_cores": 30}, "Apple M3 Max (30-core GPU)"),
        ("Apple M3 Max", {"gpu_cores": 40}, "Apple M3 Max (40-core GPU)"),
        ("Apple M2 Max", {}, "Apple M2 Max (38-core GPU)"),
        ("Apple M4", {}, "Apple M4 (10-core GPU)"),
        ("Apple M2 Max (CPU cores)", {}, "Apple M2 Max (CPU cores)"),
        ("AMD Ryzen 9 7950X 16-Core Processor", {}, "AMD Ryzen 9 7950X"),
        ("13th Gen Intel(R) Core(TM) i9-13900K", {}, "Intel Core i9-13900K"),
        ("Intel(R) Xeon(R) Platinum 8480+", {}, "Intel Xeon Platinum 8480+"),
        ("Raspberry Pi 5 Model B Rev 1.0", {"mem_gb": 7.8}, "Raspberry Pi 5 8GB"),
        ("Raspberry Pi 5 Model B Rev 1.0", {"mem_gb": 15.9}, "Raspberry Pi 5 16GB"),
    ],
)
def test_lookup(query, kwargs, expected):
    dev = devices.lookup_device(query, **kwargs)
    assert dev is not None and dev.name == expected


@pytest.mark.parametrize("query", ["", "AMD EPYC", "Intel Core", "NVIDIA GeForce", "Quantum 9000X", "A1000000"])
def test_lookup_misses(query):
    assert devices.lookup_device(query) is None


def test_require_device_suggests_close_names():
    with pytest.raises(HardwareProfileError, match="RTX 4090"):
        devices.require_device("RTX 4909")


def test_device_profiles():
    p = devices.device_profile("RTX 4090")
    assert p.gpus[0].vram_gb == 24 and p.gpus[0].bandwidth_gbs == 1008 and not p.unified_memory
    assert p.memory.total_gb >= 48  # a host with at least twice the VRAM
    assert "memory.total_gb" in p.estimated and "cpu.mem_bandwidth_gbs" in p.estimated
    m = devices.device_profile("Apple M2 Max (38-core GPU)")
    assert m.unified_memory and m.gpus[0].vram_gb is None and m.gpus[0].gpu_cores == 38
    assert m.memory.total_gb == 96 and m.cpu.mem_bandwidth_gbs == 400 and m.cpu.arch == "arm64"
    assert (m.cpu.p_cores, m.cpu.e_cores) == (8, 4)
    c = devices.device_profile("AMD EPYC 9654")
    assert c.gpus == [] and c.cpu.cores == 96 and c.cpu.mem_bandwidth_gbs == 460.8
    s = devices.device_profile("DGX Spark")
    assert s.unified_memory and s.gpus[0].vram_gb is None and s.memory.total_gb == 128
