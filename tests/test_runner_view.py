"""Memory read from the runner (ggml devices, Ollama /api/ps, --total) and speed priced for the installed build."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest
from click.testing import CliRunner
from fakeollama import FakeOllama, dead_host

import llmfit_llamacpp as lc
from llmfit_core import runner_view
from llmfit_core.api import fit_spec
from llmfit_core.cli.main import cli
from llmfit_core.hardware.profile import GIB, CPUInfo, GPUInfo, HardwareProfile, MemoryHolder, MemoryInfo
from llmfit_core.quant import apply_quant
from llmfit_core.synth import shape_spec
from llmfit_llamacpp.devices import GgmlDevice, build_isa, read_devices

llama_cpp = pytest.importorskip("llama_cpp")

# what the README's portable build prints, and a native build on an AVX-512 + AMX Xeon
PORTABLE = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
NATIVE = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
          "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")
XEON_ISA = ["avx", "avx2", "fma", "f16c", "avx512", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_vbmi",
            "avx512_fp16", "avx_vnni", "amx", "amx_int8", "amx_bf16"]


def _xeon(runner_isa=None, available_gb=None) -> HardwareProfile:
    return HardwareProfile(name="xeon", cpu=CPUInfo(model="Intel Xeon", cores=2, threads=2, isa=list(XEON_ISA),
                                                    mem_bandwidth_gbs=24.0, runner_isa=runner_isa),
                           memory=MemoryInfo(total_gb=23.5, available_gb=available_gb))


def _spec(shape="llama-1b", quant="Q4_K_M"):
    return apply_quant(shape_spec(shape), quant)


def test_build_isa_of_a_portable_and_a_native_build():
    assert build_isa(PORTABLE) == sorted(["avx", "avx2", "fma", "f16c"])
    native = build_isa(NATIVE)
    assert {"avx512", "avx512_vnni", "amx", "avx_vnni"} <= set(native)
    assert build_isa("Metal : EMBED_LIBRARY = 1 | ") is None  # no CPU section: nothing known


def test_detected_profile_carries_the_installed_builds_isa():
    prof = HardwareProfile(cpu=CPUInfo(isa=list(XEON_ISA)), memory=MemoryInfo(total_gb=8))
    lc.llmfit_detect_hardware(prof)
    info = lc.detect_build().system_info
    assert prof.cpu.runner_isa == [f for f in XEON_ISA if f in build_isa(info)]
    assert prof.sources["cpu.runner_isa"] == "llama.cpp"


def test_speed_is_priced_for_the_builds_kernels_and_says_so():
    spec = _spec()
    cpu_view = fit_spec(spec, hardware=_xeon(), backend="llama.cpp-cpu", calibrated=False)
    build_view = fit_spec(spec, hardware=_xeon(runner_isa=build_isa(PORTABLE)), backend="llama.cpp-cpu", calibrated=False)
    # measured here: pp512 47 tok/s, tg128 12.2 (issue 13); the CPU's AVX-512 view predicted 150 / 17.7
    assert build_view.prefill_tok_s < 0.7 * cpu_view.prefill_tok_s
    assert any("installed llama.cpp build" in r and "AVX512" in r for r in build_view.reasons)
    assert not any("installed llama.cpp build" in r for r in cpu_view.reasons)
    # a native build that has the CPU's kernels prices them
    native = fit_spec(spec, hardware=_xeon(runner_isa=build_isa(NATIVE)), backend="llama.cpp-cpu", calibrated=False)
    assert native.prefill_tok_s == pytest.approx(cpu_view.prefill_tok_s)
    # MLX is not llama.cpp: the llama.cpp build says nothing about it
    hw, reasons = runner_view.for_runner(_xeon(runner_isa=["avx2"]), "mlx")
    assert reasons == [] and "avx512" in hw.cpu.isa


def test_ggml_devices_read_through_the_installed_library():
    devs = read_devices()
    assert devs, "ggml's device API is reachable through llama_cpp._ggml"
    cpu = [d for d in devs if d.kind == "cpu"]
    assert len(cpu) == 1
    assert cpu[0].total_bytes == pytest.approx(psutil.virtual_memory().total, rel=0.02)


def test_gpu_free_memory_from_ggml_devices_is_planned_against():
    prof = HardwareProfile(name="box", cpu=CPUInfo(isa=["avx2"]), memory=MemoryInfo(total_gb=64, available_gb=60),
                           gpus=[GPUInfo(vendor="nvidia", name="NVIDIA GeForce RTX 4090", vram_gb=24.0)])
    lc.apply_devices(prof, [GgmlDevice("CUDA0", "NVIDIA GeForce RTX 4090", "gpu", 3 * GIB, 24 * GIB)])
    assert prof.gpus[0].vram_free_gb == 3.0 and prof.sources["gpus[0].vram_free_gb"] == "llama.cpp"
    spec = _spec("llama-8b", "Q4_K_M")
    now = fit_spec(spec, hardware=prof, backend="llama.cpp-cuda", calibrated=False)
    idle = fit_spec(spec, hardware=prof, backend="llama.cpp-cuda", calibrated=False, total_memory=True)
    assert idle.gpu_layers == idle.total_layers and now.gpu_layers < now.total_layers
    assert any("3.0 GiB of 24.0 GiB free on NVIDIA GeForce RTX 4090" in r and "--total" in r for r in now.reasons)
    assert not any("--total" in r for r in idle.reasons)
    # a GPU the profiler missed is added from ggml's list; an unlisted integrated GPU is not a VRAM pool
    bare = HardwareProfile(memory=MemoryInfo(total_gb=16), notes=["no GPU found: CPU-only"])
    lc.apply_devices(bare, [GgmlDevice("Vulkan0", "Intel(R) Iris Xe", "igpu", GIB, 8 * GIB),
                            GgmlDevice("CUDA0", "NVIDIA GeForce RTX 3060", "gpu", 11 * GIB, 12 * GIB)])
    assert [(g.vendor, g.name, g.vram_gb, g.vram_free_gb) for g in bare.gpus] == [
        ("nvidia", "NVIDIA GeForce RTX 3060", 12.0, 11.0)]
    assert bare.notes == []


def test_ollama_loaded_models_are_said_to_hold_memory(monkeypatch):
    import llmfit_ollama

    with FakeOllama() as fake:
        fake.loaded = [{"name": "llama3.2:3b", "model": "llama3.2:3b", "size": 3 * GIB, "size_vram": 2 * GIB}]
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        prof = _xeon(runner_isa=None, available_gb=10.0)
        llmfit_ollama.llmfit_detect_hardware(prof)
        assert fake.requests == [("GET", "/api/ps")]
    assert prof.memory_holders == [MemoryHolder("Ollama llama3.2:3b", GIB, 2 * GIB, "ollama /api/ps")]
    rep = fit_spec(_spec(), hardware=prof, backend="llama.cpp-cpu", calibrated=False)
    line = next(r for r in rep.reasons if r.startswith("planned for memory free now"))
    assert "10.0 GiB of 23.5 GiB RAM free" in line and "Ollama llama3.2:3b 2.0 GiB VRAM + 1.0 GiB RAM" in line
    assert "other programs 12.5 GiB" in line
    # no server, or a server on another machine: nothing asked, nothing added
    for host in (dead_host(), "http://10.1.2.3:11434"):
        monkeypatch.setenv("OLLAMA_HOST", host)
        prof = _xeon()
        llmfit_ollama.llmfit_detect_hardware(prof)
        assert prof.memory_holders == []


def test_no_local_ollama_server_is_known_without_importing_httpx():
    """Start-up time: on a machine without a running Ollama, detecting the hardware costs one refused TCP
    connect, not an httpx import (~0.1 s); the answer is the error httpx itself gives."""
    code = ("import sys; from llmfit_ollama import localapi\n"
            "try:\n    localapi.running_models()\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n"
            "print('httpx' in sys.modules)")
    host = dead_host()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, OLLAMA_HOST=host))
    assert res.stdout.splitlines() == [f"OfflineError the local Ollama server at {host} is not reachable (ConnectError)",
                                       "False"], res.stderr


def test_fit_total_flag_plans_for_an_idle_machine(tmp_path):
    profile = {"name": "busy", "cpu": {"model": "x", "cores": 4, "threads": 4, "isa": ["avx2"]},
               "memory": {"total_gb": 16, "available_gb": 2}}
    path = tmp_path / "busy.json"
    path.write_text(json.dumps(profile))
    runner = CliRunner()
    args = ["fit", "llama-3.1-8b", "--offline", "--hardware", str(path), "--backend", "llama.cpp-cpu", "--json"]
    busy = runner.invoke(cli, args)
    assert busy.exit_code == 0, busy.output
    idle = runner.invoke(cli, args + ["--total"])
    assert idle.exit_code == 0, idle.output
    b, i = json.loads(busy.output), json.loads(idle.output)
    assert not b["fits"] and i["fits"]
    assert any("2.0 GiB of 16.0 GiB RAM free" in r for r in b["reasons"])


def test_system_shows_free_and_total_and_the_builds_isa():
    res = CliRunner().invoke(cli, ["system", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["memory"]["total_gb"] >= d["memory"]["available_gb"] > 0
    assert d["cpu"]["runner_isa"] == [f for f in d["cpu"]["isa"] if f in build_isa(lc.detect_build().system_info)]
    assert "memory_holders" in d
