"""plan: several models on one machine (totals, GPU/CPU split), smallest device for a target speed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmfit_core.api import fit_spec
from llmfit_core.catalog import resolve_catalog_ref
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.plan import plan_models, plan_target

GIB = 1024**3
CHAT, CODER, EMBED = "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-Coder-7B-Instruct", "Qwen/Qwen3-Embedding-0.6B"


def _gpu_box(vram_gb: float, ram_gb: float = 64) -> HardwareProfile:
    return HardwareProfile(name=f"gpu-{vram_gb:g}gb", cpu=CPUInfo(model="desktop", cores=8, threads=16, isa=["avx2"],
                                                                mem_bandwidth_gbs=60.0),
                           memory=MemoryInfo(total_gb=ram_gb, available_gb=ram_gb - 4),
                           gpus=[GPUInfo(vendor="nvidia", name="GeForce RTX 3060", vram_gb=vram_gb, bandwidth_gbs=360,
                                         fp16_tflops=25, compute_capability="8.6")])


CPU16 = HardwareProfile(name="cpu-16gb", cpu=CPUInfo(model="desktop", cores=8, threads=16, isa=["avx2"], mem_bandwidth_gbs=60.0),
                        memory=MemoryInfo(total_gb=16, available_gb=14))


@pytest.fixture(autouse=True)
def _offline(isolated_catalog, monkeypatch):
    monkeypatch.setenv("LLMFIT_OFFLINE", "1")  # models come from the shipped catalog, never the network


def _alone(ref, hw, **kw):
    return fit_spec(resolve_catalog_ref(ref, "Q4_K_M"), hardware=hw, **kw)


def test_three_models_on_a_big_gpu_all_go_to_the_gpu():
    hw = _gpu_box(24)
    p = plan_models([CHAT, CODER, EMBED], hardware=hw)
    assert p.fits and [i.device for i in p.items] == ["gpu", "gpu", "gpu"]
    assert p.total_bytes == sum(i.total_bytes for i in p.items) == p.gpu_bytes
    assert p.cpu_bytes == 0 and p.gpu_bytes <= p.vram_bytes
    # each model's figures are those of the model alone on that machine
    alone = _alone(CHAT, hw, gpu_layers=33)
    assert p.items[0].total_bytes == alone.memory.total_bytes
    assert p.items[0].decode_tok_s == pytest.approx(alone.decode_tok_s)


def test_what_does_not_fit_the_gpu_goes_to_the_cpu():
    hw = _gpu_box(12)
    sizes = {r: _alone(r, hw, gpu_layers=99).memory.total_bytes for r in (CHAT, CODER, EMBED)}
    assert sum(sizes.values()) > 12 * GIB  # hand check: the three do not fit 12 GiB together
    p = plan_models([CHAT, CODER, EMBED], hardware=hw)
    assert p.fits
    on_gpu = [i for i in p.items if i.device == "gpu"]
    on_cpu = [i for i in p.items if i.device == "cpu"]
    assert on_cpu and on_gpu
    assert p.gpu_bytes == sum(i.total_bytes for i in on_gpu) <= 12 * GIB
    assert p.cpu_bytes == sum(i.total_bytes for i in on_cpu) <= p.ram_bytes
    assert p.total_bytes == p.gpu_bytes + p.cpu_bytes
    # fastest placement: the small embedding model is the one sent to the CPU (it loses least)
    assert [i.ref for i in on_cpu] == [EMBED]
    assert all(i.decode_tok_s > 0 for i in p.items)


def test_cpu_only_machine_has_one_pool_and_says_when_it_is_too_small():
    p = plan_models([CHAT, CODER], hardware=CPU16)
    assert p.fits and {i.device for i in p.items} == {"cpu"}
    assert p.total_bytes == sum(i.total_bytes for i in p.items) <= p.ram_bytes
    big = plan_models(["Qwen/Qwen2.5-Coder-32B-Instruct", CHAT], hardware=CPU16)
    assert not big.fits
    assert big.notes and "short" in big.notes[0]


def test_plan_needs_models():
    with pytest.raises(LlmfitError):
        plan_models([], hardware=CPU16)


def test_target_speed_smallest_device_and_what_is_lacking():
    tp = plan_target(CHAT, 30, hardware=CPU16)
    assert tp.here.decode_tok_s < 30
    assert tp.smallest is not None and tp.smallest.decode_tok_s >= 30
    assert tp.smallest.memory_gb * GIB >= tp.smallest.total_bytes * 0.9
    mems = [d.memory_gb for d in tp.reaching]
    assert mems == sorted(mems) and tp.smallest.memory_gb == mems[0]
    assert any("bandwidth" in line for line in tp.lacks)
    # a GPU box with too little VRAM: the answer says how much more
    small = _gpu_box(4)
    tp2 = plan_target(CHAT, 30, hardware=small)
    need = tp2.here.memory.total_bytes - 4 * GIB
    assert any(line.startswith(f"needs {need / GIB:.1f} GiB more VRAM") for line in tp2.lacks)


def test_target_already_met():
    tp = plan_target(CHAT, 1, hardware=_gpu_box(24))
    assert tp.lacks and tp.lacks[0].startswith("nothing")
    with pytest.raises(LlmfitError, match="positive"):
        plan_target(CHAT, 0, hardware=CPU16)


def test_cli_plan_json_and_errors():
    from llmfit_core.cli.main import cli

    res = CliRunner().invoke(cli, ["plan", CHAT, EMBED, "--hardware", "RTX 3060", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["total_bytes"] == sum(m["plan_bytes"] for m in doc["models"])
    assert all("decode_tok_s" in m and m["device"] in ("gpu", "cpu", "unified") for m in doc["models"])
    res = CliRunner().invoke(cli, ["plan", CHAT, CODER, "--target-tps", "30"])
    assert res.exit_code != 0 and "exactly one model" in res.output
    res = CliRunner().invoke(cli, ["plan", "no-such-model-xyz-123"])
    assert res.exit_code == 1 and "Traceback" not in res.output
