"""`llmfit system` and `llmfit hardware list|show|validate` through click's CliRunner and one real subprocess."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from click.testing import CliRunner

from llmfit_core.cli.main import cli
from llmfit_core.hardware import bandwidth, registry

pytestmark = pytest.mark.usefixtures("own_hardware_cache")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_system_json_is_the_profile_contract():
    r = run("system", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert set(d) >= {"name", "cpu", "memory", "gpus", "unified_memory", "os", "estimated", "notes"}
    assert d["cpu"]["cores"] >= 1 and d["memory"]["total_gb"] > 0 and d["cpu"]["mem_bandwidth_gbs"] > 0
    assert isinstance(d["gpus"], list)


def test_system_table_and_named_hardware():
    r = run("system")
    assert r.exit_code == 0 and "RAM bandwidth" in r.output and "CPU" in r.output
    r = run("system", "--hardware", "workstation-4090")
    assert r.exit_code == 0
    assert "GeForce RTX 4090" in r.output and "1008 GB/s" in r.output and "83.2 GB/s" in r.output


def test_hardware_list_kinds():
    r = run("hardware", "list", "--kind", "apple", "--json")
    rows = json.loads(r.output)
    assert rows and all(x["kind"] == "apple" for x in rows)
    assert any(x["name"] == "Apple M4 Max (40-core GPU)" and x["bandwidth_gbs"] == 546 for x in rows)
    r = run("hardware", "list", "--json")
    kinds = {x["kind"] for x in json.loads(r.output)}
    assert kinds == {"gpu", "cpu", "apple", "profile"}
    r = run("hardware", "list", "--kind", "gpu")
    assert r.exit_code == 0 and "RTX 4090" in r.output and "Apple M1" not in r.output
    r = run("hardware", "list", "--kind", "tpu")
    assert r.exit_code == 2  # click's usage error


def test_hardware_show_name_and_path(tmp_path):
    r = run("hardware", "show", "NVIDIA GeForce RTX 3060", "--json")
    d = json.loads(r.output)
    assert d["gpus"][0]["name"] == "RTX 3060" and d["gpus"][0]["vram_gb"] == 12
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"name": "mine", "memory": {"total_gb": 32}, "gpus": [{"vendor": "nvidia", "name": "RTX 3090"}]}))
    d = json.loads(run("hardware", "show", str(p), "--json").output)
    assert d["name"] == "mine" and d["gpus"][0]["bandwidth_gbs"] == 936 and "cpu.mem_bandwidth_gbs" in d["estimated"]


def test_hardware_show_unknown_is_one_line():
    r = CliRunner().invoke(cli, ["hardware", "show", "RTX 9999 Hyper"])
    assert r.exit_code == 1
    assert r.output.count("\n") == 1 and r.output.startswith("llmfit: error: unknown device or profile")


def test_validate(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"name": "g", "memory": {"total_gb": 16}, "gpus": []}))
    r = run("hardware", "validate", str(good))
    assert r.exit_code == 0 and "valid" in r.output and "cpu.mem_bandwidth_gbs" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"memory": {"total_gb": 16}, "gpus": [{"vendor": "nvidia", "vram_gb": 8}]}')
    r = CliRunner().invoke(cli, ["hardware", "validate", str(bad)])
    assert r.exit_code == 1 and "gpus[0].name is required" in r.output and r.output.count("\n") == 1
    r = CliRunner().invoke(cli, ["hardware", "validate", str(tmp_path / "missing.json")])
    assert r.exit_code == 1 and "cannot read" in r.output


def test_measure_bandwidth_cannot_combine_with_hardware():
    r = CliRunner().invoke(cli, ["system", "--measure-bandwidth", "--hardware", "RTX 4090"])
    assert r.exit_code == 1 and "cannot be combined" in r.output


def test_bandwidth_test_small_and_cache(tmp_path):
    res = bandwidth.run_bandwidth_test(seconds=0.1, threads=1, array_bytes=8 * 1024 * 1024)
    assert res.runs >= 2 and res.threads == 1 and res.array_mb == 8
    for v in (res.gbs, res.copy_gbs, res.scan_gbs):
        assert math.isfinite(v) and v > 0
    assert res.gbs == res.scan_gbs  # the figure is the streaming READ rate, not the copy rate
    assert bandwidth.cached_bandwidth("cpu X") is None
    path = bandwidth.store_bandwidth("cpu X", res)
    assert path.parent == tmp_path / "cache"
    assert bandwidth.cached_bandwidth("cpu X") == pytest.approx(res.gbs, abs=0.01)
    path.write_text("{corrupt")
    assert bandwidth.cached_bandwidth("cpu X") is None
    assert bandwidth._array_bytes(l3_kb=32 * 1024, available_bytes=None) == 256 * 1024 * 1024
    assert bandwidth._array_bytes(l3_kb=32 * 1024, available_bytes=512 * 1024 * 1024) == 64 * 1024 * 1024


def test_bandwidth_cache_ignores_entries_of_the_old_copy_test(tmp_path):
    """Entries written before the read test (no "method") meant max(copy, scan): not used any more."""
    bandwidth.cache_file().parent.mkdir(parents=True, exist_ok=True)
    bandwidth.cache_file().write_text(json.dumps({"cpu Y": {"gbs": 12.0, "threads": 2}, "cpu Z": {"gbs": 40.0, "method": "read"},
                                                  "cpu W": {"gbs": True, "method": "read"}}))
    assert bandwidth.cached_bandwidth("cpu Y") is None
    assert bandwidth.cached_bandwidth("cpu Z") == 40.0
    assert bandwidth.cached_bandwidth("cpu W") is None


def test_cached_read_figure_is_used_by_detection(tmp_path):
    from llmfit_core.hardware.profile import CPUInfo, HardwareProfile, MemoryInfo

    prof = HardwareProfile(name="m", cpu=CPUInfo(model="cpu Q", cores=2, threads=2), memory=MemoryInfo(8.0))
    res = bandwidth.BandwidthResult(gbs=33.3, copy_gbs=20.0, scan_gbs=33.3, threads=2, array_mb=256, runs=5)
    bandwidth.store_bandwidth("cpu Q", res)
    filled = registry.fill_missing(prof, use_measured=True)
    assert filled.cpu.mem_bandwidth_gbs == 33.3 and filled.sources["cpu.mem_bandwidth_gbs"] == "measured"
    assert "cpu.mem_bandwidth_gbs" not in filled.estimated


@pytest.mark.parametrize("cpu,lo,hi", [
    (dict(model="AMD EPYC", cores=2, isa=["avx2", "avx512"]), 40, 60),  # VM slice: its cores' share (measured here: 35-59)
    (dict(model="AMD EPYC 9654", cores=96, isa=["avx2", "avx512"]), 250, 400),  # 12-channel socket
    (dict(model="Intel Xeon Platinum 8488C", cores=8, isa=["avx2", "avx512"]), 80, 110),  # 8-core VM slice: ~12 GB/s per core
    (dict(model="Intel Core i5-8250U", cores=4, isa=["avx2"]), 50, 80),  # dual-channel laptop
    (dict(model="Intel Core i3-N305", cores=1, isa=["avx2"]), 10, 25),  # one core cannot pull the platform
    (dict(model="Cortex-A76", cores=4, arch="arm64", isa=["neon"]), 30, 50),
])
def test_cpu_bandwidth_estimate_by_class(cpu, lo, hi):
    from llmfit_core.hardware.profile import CPUInfo

    assert lo <= registry.estimate_cpu_bandwidth(CPUInfo(**cpu)) <= hi


def test_unknown_cpu_bandwidth_is_flagged_as_an_estimate():
    from llmfit_core.hardware.profile import CPUInfo, HardwareProfile, MemoryInfo

    prof = registry.fill_missing(HardwareProfile(name="m", cpu=CPUInfo(model="AMD EPYC", cores=2, threads=2, isa=["avx512"]),
                                                 memory=MemoryInfo(8.0)))
    assert "cpu.mem_bandwidth_gbs" in prof.estimated
    assert any("estimated" in n and "--measure-bandwidth" in n for n in prof.notes)


@pytest.mark.slow
def test_system_measure_bandwidth_end_to_end():
    r = run("system", "--measure-bandwidth", "--seconds", "0.2", "--json")
    d = json.loads(r.output)
    assert d["sources"]["cpu.mem_bandwidth_gbs"] == "measured"
    assert "cpu.mem_bandwidth_gbs" not in d["estimated"]
    assert 0.5 < d["cpu"]["mem_bandwidth_gbs"] < 2000


def test_subprocess_end_to_end(tmp_path):
    env_cmd = [sys.executable, "-m", "llmfit_core.cli.main"]
    r = subprocess.run(env_cmd + ["hardware", "show", "dual-3090", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [g["vram_gb"] for g in d["gpus"]] == [24, 24]
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    r = subprocess.run(env_cmd + ["hardware", "validate", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "invalid JSON" in r.stderr and "Traceback" not in r.stderr
