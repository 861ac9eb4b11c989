"""resolve_hardware / fill_missing / profile files / detection on this machine and the plugin hook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmfit_core.errors import HardwareProfileError
from llmfit_core.hardware import apple, bandwidth, detect, registry
from llmfit_core.hardware.profile import GPUInfo, HardwareProfile

FIX = Path(__file__).parent / "fixtures" / "hardware"

DESIGN_EXAMPLE = {
    "name": "workstation-4090",
    "cpu": {"model": "AMD Ryzen 9 7950X", "cores": 16, "threads": 32, "isa": ["avx2", "avx512"], "mem_bandwidth_gbs": 83},
    "memory": {"total_gb": 64, "available_gb": 58},
    "gpus": [{"vendor": "nvidia", "name": "GeForce RTX 4090", "vram_gb": 24, "bandwidth_gbs": 1008, "fp16_tflops": 165,
              "compute_capability": "8.9"}],
    "unified_memory": False,
}


pytestmark = pytest.mark.usefixtures("own_hardware_cache")


def _write(tmp_path, data, name="p.json") -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def test_design_example_file_roundtrip(tmp_path):
    prof = registry.resolve_hardware(_write(tmp_path, DESIGN_EXAMPLE))
    assert prof.name == "workstation-4090"
    assert prof.cpu.mem_bandwidth_gbs == 83 and prof.gpus[0].fp16_tflops == 165  # file values win over the table
    assert prof.gpus[0].fp32_tflops == 82.6  # missing figure filled from the table
    assert prof.estimated == []
    assert prof.sources["gpus[0].bandwidth_gbs"] == "file"
    d = prof.to_dict()
    json.dumps(d)
    assert d["memory"]["total_gb"] == 64 and d["gpus"][0]["vram_gb"] == 24
    again = HardwareProfile.from_dict(d)
    assert again.to_dict() == d


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["cpu"].__setitem__("cores", "sixteen"), "cpu.cores must be a positive integer"),
        (lambda d: d["cpu"].__setitem__("cores", True), "cpu.cores must be a positive integer"),
        (lambda d: d["memory"].__setitem__("total_gb", -1), "memory.total_gb must be positive"),
        (lambda d: d.pop("memory"), "'memory' with total_gb is required"),
        (lambda d: d["memory"].__setitem__("available_gb", 99), "more than total_gb"),
        (lambda d: d["gpus"][0].__setitem__("vram_gb", "24GB"), "gpus[0].vram_gb must be a number"),
        (lambda d: d["gpus"][0].pop("name"), "gpus[0].name is required"),
        (lambda d: d["gpus"][0].__setitem__("vendor", "3dfx"), "gpus[0].vendor must be one of"),
        (lambda d: d.__setitem__("gpus", {"name": "x"}), "'gpus' must be a list"),
        (lambda d: d["cpu"].__setitem__("isa", "avx2"), "cpu.isa must be a list of strings"),
        (lambda d: d.__setitem__("unified_memory", "yes"), "unified_memory must be true or false"),
    ],
)
def test_bad_profiles_give_one_clear_message(tmp_path, mutate, message):
    data = json.loads(json.dumps(DESIGN_EXAMPLE))
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(HardwareProfileError) as exc:
        registry.load_profile_file(path)
    assert message in str(exc.value)
    assert str(exc.value).startswith(path)
    assert "\n" not in str(exc.value)


def test_bad_files(tmp_path):
    with pytest.raises(HardwareProfileError, match="invalid JSON at line 1"):
        registry.load_profile_file(_write(tmp_path, "{not json"))
    with pytest.raises(HardwareProfileError, match="must be a JSON object"):
        registry.load_profile_file(_write(tmp_path, "[1, 2]"))
    with pytest.raises(HardwareProfileError, match="too large"):
        registry.load_profile_file(_write(tmp_path, " " * (registry.MAX_PROFILE_BYTES + 1)))
    with pytest.raises(HardwareProfileError, match="nested too deeply|invalid JSON"):
        registry.load_profile_file(_write(tmp_path, "[" * 100000))
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(HardwareProfileError, match="not a text"):
        registry.load_profile_file(tmp_path / "bin.json")
    with pytest.raises(HardwareProfileError, match="is a directory"):
        registry.load_profile_file(tmp_path)
    with pytest.raises(HardwareProfileError, match="no such hardware profile file"):
        registry.resolve_hardware(str(tmp_path / "missing.json"))


def test_fill_missing_from_table_and_estimates():
    prof = HardwareProfile(name="x", gpus=[GPUInfo(vendor="nvidia", name="NVIDIA GeForce RTX 3090"),
                                          GPUInfo(vendor="nvidia", name="NVIDIA Mystery 9000", memory_bus_width=256, max_mem_clock_mhz=8000)])
    prof.cpu.model, prof.cpu.memory_type, prof.cpu.memory_channels = "Some CPU", "DDR5-4800", 4
    prof.memory.total_gb = 32
    registry.fill_missing(prof)
    g0, g1 = prof.gpus
    assert (g0.vram_gb, g0.bandwidth_gbs, g0.fp16_tflops, g0.compute_capability) == (24, 936, 142, "8.6")
    assert prof.sources["gpus[0].bandwidth_gbs"] == "table"
    assert g1.bandwidth_gbs == 512.0  # 256 bit / 8 * 8000 MHz * 2
    assert prof.sources["gpus[1].bandwidth_gbs"] == "bus width x memory clock"
    assert g1.fp16_tflops == registry.DEFAULT_GPU_FP16["nvidia"] and "gpus[1].fp16_tflops" in prof.estimated
    assert any("VRAM unknown" in n for n in prof.notes)
    assert prof.cpu.mem_bandwidth_gbs == 153.6  # 4 x 4800 x 8
    assert "cpu.mem_bandwidth_gbs" in prof.estimated and prof.sources["cpu.mem_bandwidth_gbs"] == "estimated"
    assert "gpus[0].bandwidth_gbs" not in prof.estimated


def test_fill_missing_apple_and_unknown_cpu():
    prof = HardwareProfile(name="mac", gpus=[GPUInfo(vendor="apple", name="Apple M3 Max")])
    prof.cpu.model, prof.cpu.arch = "Apple M3 Max", "arm64"
    registry.fill_missing(prof)
    assert prof.unified_memory and prof.gpus[0].gpu_cores == 40 and "gpus[0].gpu_cores" in prof.estimated
    assert prof.cpu.mem_bandwidth_gbs == 400 and prof.sources["cpu.mem_bandwidth_gbs"] == "table"
    cpu_only = HardwareProfile(name="vm")
    cpu_only.cpu.model, cpu_only.cpu.cores = "AMD EPYC", 2
    registry.fill_missing(cpu_only)
    assert cpu_only.cpu.mem_bandwidth_gbs == 50.0  # EPYC: ~25 GB/s streaming read per core, 2 cores
    assert any("measure-bandwidth" in n for n in cpu_only.notes)


def test_builtin_profiles_and_names():
    names = registry.builtin_profile_names()
    for n in ("workstation-4090", "macbook-pro-m3-max", "raspberry-pi-5", "laptop-rtx4060", "cpu-only-16gb", "dual-3090"):
        assert n in names
        p = registry.resolve_hardware(n)
        assert p.name == n and p.memory.total_gb > 0 and p.cpu.mem_bandwidth_gbs > 0
        assert p.estimated == [], n
    dual = registry.resolve_hardware("dual-3090")
    assert len(dual.gpus) == 2 and sum(g.vram_gb for g in dual.gpus) == 48
    mac = registry.resolve_hardware("macbook-pro-m3-max")
    assert mac.unified_memory and mac.gpus[0].vram_gb is None
    assert registry.resolve_hardware("Apple M1 Max (24-core GPU)").gpus[0].gpu_cores == 24
    with pytest.raises(HardwareProfileError, match="unknown device or profile"):
        registry.resolve_hardware("no-such-machine")
    with pytest.raises(HardwareProfileError):
        registry.resolve_hardware(42)


def test_detect_this_machine_and_measured_cache(monkeypatch):
    prof = registry.resolve_hardware(None)
    assert prof.cpu.cores >= 1 and prof.cpu.threads >= prof.cpu.cores
    assert prof.memory.total_gb > 0 and 0 < prof.memory.available_gb <= prof.memory.total_gb
    assert prof.cpu.mem_bandwidth_gbs > 0
    if not prof.gpus:
        assert "no GPU found: CPU-only" in prof.notes
    # a cached measurement for this CPU model is preferred over the table and the estimate
    bandwidth.store_bandwidth(prof.cpu.model, bandwidth.BandwidthResult(33.3, 30.0, 33.3, 2, 256, 3))
    again = registry.resolve_hardware(None)
    assert again.cpu.mem_bandwidth_gbs == 33.3 and again.sources["cpu.mem_bandwidth_gbs"] == "measured"
    assert "cpu.mem_bandwidth_gbs" not in again.estimated


def test_detect_calls_plugin_hook():
    from llmfit_core.hookspecs import hookimpl
    from llmfit_core.plugins import pm

    class Refiner:
        @hookimpl
        def llmfit_detect_hardware(self, profile):
            profile.notes.append("refined by test plugin")

    plugin = Refiner()
    pm.register(plugin, name="test-hw-refiner")
    try:
        prof = detect.detect_hardware()
    finally:
        pm.unregister(plugin)
    assert "refined by test plugin" in prof.notes


def test_detect_on_a_recorded_mac(monkeypatch):
    monkeypatch.setattr(detect.sys, "platform", "darwin")
    monkeypatch.setattr(apple, "read_sysctl", lambda: (FIX / "apple_m3_max" / "sysctl.txt").read_text())
    monkeypatch.setattr(apple, "read_system_profiler", lambda: (FIX / "apple_m3_max" / "system_profiler.txt").read_text())
    prof = registry.fill_missing(detect.detect_hardware(run_hooks=False))
    assert prof.unified_memory and prof.memory.total_gb == 64
    assert prof.gpus[0].gpu_cores == 40 and prof.gpus[0].bandwidth_gbs == 400 and prof.gpus[0].fp16_tflops == 14.2
    assert prof.cpu.mem_bandwidth_gbs == 400 and prof.estimated == []


def _linux_replay(monkeypatch, nvml_values=None, total_gb=8.0):
    from llmfit_core.hardware import nvidia, sysfs_gpu
    from llmfit_core.hardware.profile import MemoryInfo

    monkeypatch.setattr(detect.sys, "platform", "linux")
    monkeypatch.setattr(detect, "_memory", lambda: MemoryInfo(total_gb=total_gb, available_gb=total_gb - 1))
    monkeypatch.setattr(sysfs_gpu, "detect_amdsmi", lambda notes: None)
    if nvml_values is None:
        monkeypatch.setattr(nvidia, "query_nvml", lambda: (_ for _ in ()).throw(ImportError("no pynvml")))
    else:
        monkeypatch.setattr(nvidia, "query_nvml", lambda: nvml_values)
    monkeypatch.setattr(nvidia, "run_nvidia_smi", lambda timeout=5.0: None)


def test_detect_replayed_raspberry_pi5(monkeypatch):
    _linux_replay(monkeypatch, total_gb=7.9)
    prof = registry.fill_missing(detect.detect_hardware(run_hooks=False, root=str(FIX / "rpi5")))
    assert prof.board == "Raspberry Pi 5 Model B Rev 1.0"
    assert prof.cpu.arch == "arm64" and prof.cpu.cores == 4 and prof.gpus == []
    assert prof.cpu.mem_bandwidth_gbs == 17.1 and prof.sources["cpu.mem_bandwidth_gbs"] == "table"
    assert "no GPU found: CPU-only" in prof.notes


def test_detect_replayed_two_nvidia_gpus_and_amd(monkeypatch):
    values = json.loads((FIX / "nvidia_2gpu" / "nvml.json").read_text())
    _linux_replay(monkeypatch, nvml_values=values, total_gb=128)
    real = detect.cpu_mod.read_linux_cpu
    monkeypatch.setattr(detect.cpu_mod, "read_linux_cpu", lambda root="/": real(str(FIX / "xeon_amx")))
    prof = registry.fill_missing(detect.detect_hardware(run_hooks=False, root=str(FIX / "amd_sysfs")))
    assert [g.vendor for g in prof.gpus] == ["nvidia", "nvidia", "amd"]
    g4090, g3090, amd = prof.gpus
    assert g4090.bandwidth_gbs == 1008.1 and prof.sources["gpus[0].bandwidth_gbs"] == "detected"  # measured bus beats table
    assert g4090.fp16_tflops == 330.3 and prof.sources["gpus[0].fp16_tflops"] == "table"
    assert g3090.fp16_tflops == 142 and g3090.compute_capability == "8.6"
    assert amd.name == "Radeon RX 7900 XTX" and amd.bandwidth_gbs == 960 and amd.fp16_tflops == 122.8
    assert amd.vram_gb == 23.98  # what sysfs reports, not the table's 24
    assert prof.cpu.model == "Intel Xeon Platinum 8488C" and "amx" in prof.cpu.isa
    # a cloud SKU that is not in the table: 8 Xeon cores x ~12 GB/s per core, flagged as an estimate
    assert prof.cpu.mem_bandwidth_gbs == 96.0 and prof.estimated == ["cpu.mem_bandwidth_gbs"]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(
        ["name", "cpu", "memory", "gpus", "cores", "threads", "isa", "total_gb", "available_gb", "vendor", "vram_gb",
         "bandwidth_gbs", "unified_memory", "estimated", "notes", "sources", "mem_bandwidth_gbs", "gpu_cores", "board"]), kids, max_size=5),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None)
@given(_json)
def test_any_json_is_a_valid_profile_or_one_clear_error(data):
    try:
        prof = registry.validate_profile_dict(data)
    except HardwareProfileError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    prof = registry.fill_missing(prof)
    json.dumps(prof.to_dict(), allow_nan=False)
    assert prof.memory.total_gb > 0


_PATHS = [("name",), ("cpu", "cores"), ("cpu", "isa"), ("cpu", "mem_bandwidth_gbs"), ("cpu", "model"), ("memory", "total_gb"),
          ("memory", "available_gb"), ("gpus", 0, "vram_gb"), ("gpus", 0, "name"), ("gpus", 0, "vendor"),
          ("gpus", 0, "bandwidth_gbs"), ("gpus", 0, "compute_capability"), ("unified_memory",), ("gpus",), ("cpu",)]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PATHS), _json), min_size=1, max_size=3))
def test_mutated_design_example_never_crashes(mutations):
    data = json.loads(json.dumps(DESIGN_EXAMPLE))
    for path, value in mutations:
        node = data
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        prof = registry.resolve_hardware(data)
    except HardwareProfileError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    json.dumps(prof.to_dict(), allow_nan=False)
    assert all(g.bandwidth_gbs and g.bandwidth_gbs > 0 for g in prof.gpus)
    assert prof.cpu.mem_bandwidth_gbs and prof.cpu.mem_bandwidth_gbs > 0


def test_fill_missing_is_idempotent():
    prof = HardwareProfile(name="x", gpus=[GPUInfo(vendor="nvidia", name="Mystery GPU 1"), GPUInfo(vendor="apple", name="Apple M1")])
    once = registry.fill_missing(prof).to_dict()
    twice = registry.fill_missing(prof).to_dict()
    assert once == twice
    assert once["memory"]["total_gb"] == 0 and "total RAM unknown" in once["notes"]
