"""MoE expert offload (llama.cpp -ngl 999 --n-cpu-moe N / --cpu-moe): placement, speed, fit's pick, CLI, adapter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from llmfit_core.api import fit_spec
from llmfit_core.backends import get_backend
from llmfit_core.cli.main import cli
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.memory import RUNTIME_OVERHEAD, estimate_memory, expert_layer_bytes
from llmfit_core.placement import place, place_expert_offload
from llmfit_core.throughput import predict
from llmfit_core.throughput.predict import hardware_arrays, model_arrays, predict_batch
from llmfit_core.throughput.roofline import hardware_figures, model_figures, roofline_arrays

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training.model_configs import build_spec  # noqa: E402

GIB = 1024**3
CPU = {"model": "AMD Ryzen 7 7700", "cores": 8, "threads": 16, "isa": ["avx2", "avx512f"], "mem_bandwidth_gbs": 83}


def _hw(vram_gb: int, gpu: str, bw: float, tflops: float, ram_gb: int = 64) -> HardwareProfile:
    return HardwareProfile.from_dict({
        "name": f"desk-{vram_gb}gb", "cpu": CPU, "memory": {"total_gb": ram_gb, "available_gb": ram_gb - 6},
        "gpus": [{"vendor": "nvidia", "name": gpu, "vram_gb": vram_gb, "bandwidth_gbs": bw, "fp16_tflops": tflops,
                  "compute_capability": "8.6" if vram_gb == 12 else "8.9"}],
        "unified_memory": False})


HW12 = _hw(12, "GeForce RTX 3060", 360, 51.2)
HW16 = _hw(16, "GeForce RTX 4060 Ti 16GB", 288, 88.4)


@pytest.fixture(scope="module")
def qwen_moe():
    return build_spec("qwen3-30b-a3b", "Q4_K_M")  # 48 layers, 128 experts (8 active), ~17 GB


@pytest.mark.parametrize("hw", [HW12, HW16], ids=["12GB", "16GB"])
def test_fit_picks_expert_offload_for_a_moe_model_that_does_not_fit(qwen_moe, hw):
    rep = fit_spec(qwen_moe, hardware=hw, context=4096)
    layer = fit_spec(qwen_moe, hardware=hw, context=4096, cpu_moe=False)
    vram = hw.gpus[0].vram_bytes
    assert layer.n_cpu_moe == 0 and layer.gpu_layers < layer.total_layers  # the model does not fit in VRAM
    assert 0 < rep.n_cpu_moe <= qwen_moe.n_layers and rep.gpu_layers == rep.total_layers
    assert rep.fits and rep.verdict == "offload"
    assert rep.memory.gpu_bytes < vram
    experts = expert_layer_bytes(qwen_moe)
    in_ram = sum(experts[:rep.n_cpu_moe])
    assert rep.placement.cpu_expert_bytes == in_ram
    assert rep.memory.cpu_bytes >= in_ram  # RAM holds the experts of the first N layers
    m = rep.memory  # the copy buffer is a compute buffer; the parts still add up to GPU + RAM
    assert m.compute_bytes == layer.memory.compute_bytes + max(experts[:rep.n_cpu_moe])
    assert m.total_bytes == m.gpu_bytes + m.cpu_bytes
    assert (m.detail.extra_gpu_context_bytes or 0) < m.detail.expert_copy_bytes // 4  # not folded into overhead
    assert rep.decode_tok_s > layer.decode_tok_s  # faster than the best layer offload
    # the smallest N that fits: one layer fewer no longer fits the VRAM with the margin
    mem = rep.memory_estimate
    fewer = place_expert_offload(qwen_moe, mem, hw, "cuda", n_cpu_moe=rep.n_cpu_moe - 1)
    assert fewer.per_gpu_bytes[0] > vram - max(GIB // 2, int(0.05 * vram))
    flag = f"-ngl 999 --n-cpu-moe {rep.n_cpu_moe}"
    assert any(flag in r for r in rep.reasons) and any("expert offload picked" in r for r in rep.reasons)
    assert any("not seen in the training data" in r for r in rep.reasons)
    # more VRAM, fewer layers' experts in RAM
    if hw is HW16:
        assert rep.n_cpu_moe < fit_spec(qwen_moe, hardware=HW12, context=4096).n_cpu_moe


def test_n_cpu_moe_memory_matches_a_hand_computation(qwen_moe):
    mem = estimate_memory(qwen_moe, get_backend("llama.cpp-cuda"), 4096)
    n, total_exp = qwen_moe.n_layers, qwen_moe.group_bytes["ffn_experts"]
    per_layer = total_exp // n  # build_spec has no dense leading layers: the experts split evenly
    assert expert_layer_bytes(qwen_moe)[:3] == [per_layer + (total_exp % n > i) for i in range(3)]
    full = place_expert_offload(qwen_moe, mem, HW16, "cuda", n_cpu_moe=0)
    # N = 0: every layer on the GPU, the same bytes as plain full offload
    whole = place(qwen_moe, mem, HW16, "cuda", gpu_layers=n + 1)
    assert (full.gpu_bytes, full.cpu_bytes) == (whole.gpu_bytes, whole.cpu_bytes)
    gpu0 = (sum(mem.layer_bytes) + sum(mem.kv_layer_bytes) + mem.output_layer_bytes + mem.compute_bytes
            + RUNTIME_OVERHEAD["cuda"])
    assert full.gpu_bytes == gpu0
    for k in (1, 20, n):
        p = place_expert_offload(qwen_moe, mem, HW16, "cuda", n_cpu_moe=k)
        exp_k = sum(per_layer + (total_exp % n > i) for i in range(k))
        one_layer = per_layer + (total_exp % n > 0)  # op offload copies one layer's experts into the GPU buffer
        assert p.cpu_bytes == full.cpu_bytes + exp_k
        assert p.gpu_bytes == gpu0 - exp_k + one_layer
        assert p.n_cpu_moe == k and p.cpu_expert_bytes == exp_k and p.gpu_layers == n + 1
        assert p.expert_copy_bytes == one_layer
    # --cpu-moe on 30B-A3B: attention + shared + KV + buffers only, ~2 GiB on the GPU
    assert p.gpu_bytes < 3 * GIB and any("--cpu-moe" in r for r in p.reasons)


def test_dense_models_never_get_expert_offload():
    dense = build_spec("llama-3-8b", "Q8_0")
    small = _hw(6, "GeForce RTX 3060", 360, 51.2)
    rep = fit_spec(dense, hardware=small, context=4096)
    assert rep.n_cpu_moe == 0 and rep.gpu_layers < rep.total_layers
    assert not any("expert" in r.lower() for r in rep.reasons)
    assert expert_layer_bytes(dense) == [0] * dense.n_layers
    with pytest.raises(LlmfitError, match="not a mixture-of-experts"):
        fit_spec(dense, hardware=small, cpu_moe=True)
    with pytest.raises(LlmfitError, match="not a mixture-of-experts"):
        fit_spec(dense, hardware=small, n_cpu_moe=4)


def test_force_and_forbid(qwen_moe):
    big = _hw(48, "RTX A6000", 768, 154.8, ram_gb=128)  # everything fits: auto keeps the plain placement
    rep = fit_spec(qwen_moe, hardware=big)
    assert rep.n_cpu_moe == 0 and rep.gpu_layers == rep.total_layers and rep.verdict == "runs"
    forced = fit_spec(qwen_moe, hardware=big, cpu_moe=True)
    assert forced.n_cpu_moe == 0 and any("no expert offload needed" in r for r in forced.reasons)
    exact = fit_spec(qwen_moe, hardware=big, n_cpu_moe=10)
    assert exact.n_cpu_moe == 10 and exact.decode_tok_s < rep.decode_tok_s  # experts in RAM are slower than VRAM
    assert exact.memory.gpu_bytes < rep.memory.gpu_bytes
    off = fit_spec(qwen_moe, hardware=HW12, cpu_moe=False)
    assert off.n_cpu_moe == 0 and off.gpu_layers < off.total_layers
    assert not any("MoE" in r for r in off.reasons)
    with pytest.raises(LlmfitError, match="contradict"):
        fit_spec(qwen_moe, hardware=HW12, cpu_moe=False, n_cpu_moe=3)
    with pytest.raises(LlmfitError, match="drop --gpu-layers"):
        fit_spec(qwen_moe, hardware=HW12, gpu_layers=10, n_cpu_moe=3)
    # CPU-only and unified memory: nothing to offload to / from
    with pytest.raises(LlmfitError, match="llama.cpp-cpu"):
        fit_spec(qwen_moe, hardware=HW12, backend="cpu", cpu_moe=True)
    mac = HardwareProfile.from_dict({"name": "mac", "cpu": {"model": "Apple M2 Max", "cores": 12},
                                     "memory": {"total_gb": 32, "available_gb": 28},
                                     "gpus": [{"vendor": "apple", "name": "Apple M2 Max", "gpu_cores": 38}],
                                     "unified_memory": True})
    assert fit_spec(qwen_moe, hardware=mac).n_cpu_moe == 0
    with pytest.raises(LlmfitError, match="unified memory"):
        fit_spec(qwen_moe, hardware=mac, cpu_moe=True)


def test_expert_inputs_default_to_the_old_roofline(qwen_moe):
    """The new inputs at their defaults give exactly the numbers the training rows were built with."""
    mf = model_figures(qwen_moe)
    for plc in ({"gpu_layers": 20, "total_layers": 49}, None, {"gpu_layers": 0, "total_layers": 49}):
        hf = hardware_figures(HW12, "cuda", plc, n_layers=48)
        base = {**model_arrays([mf]), **hardware_arrays(hf), "prompt_tokens": np.array([1, 16, 512, 4096]),
                "decode_pos": 600.0}
        keys = ("weight_bytes", "kv_bytes_per_pos", "active_params", "attn_dim_layers", "n_layers", "qfam_code",
                "backend_code", "gpu_frac", "n_gpus", "gpu_bw_gbs", "gpu_tflops", "cpu_bw_gbs", "cpu_gflops", "unified",
                "prompt_tokens", "decode_pos", "threads", "isa_code", "head_params")
        a = roofline_arrays(**{k: base[k] for k in keys})
        b = roofline_arrays(**{k: base[k] for k in keys}, expert_cpu_frac=0.0, expert_cpu_bytes=0.0,
                            expert_cpu_layers=0, expert_used_ratio=0.0, moe_expert_bytes=0.0)
        for k in a:
            assert np.array_equal(a[k], b[k]), k
        assert np.array_equal(predict_batch(base)["decode_tok_s"], predict_batch(base)["decode_tok_s"])


def test_expert_offload_roofline_terms(qwen_moe):
    hf = hardware_figures(HW16, "cuda", None, n_layers=48)
    mem = estimate_memory(qwen_moe, get_backend("llama.cpp-cuda"), 4096)
    res = {}
    for k in (0, 12, 24, 48):
        p = place_expert_offload(qwen_moe, mem, HW16, "cuda", n_cpu_moe=k)
        res[k] = predict(qwen_moe, HW16, "cuda", p, 4096, apply_correction=False)
    dec = [res[k].decode_tok_s for k in (0, 12, 24, 48)]
    pre = [res[k].prefill_tok_s for k in (0, 12, 24, 48)]
    assert dec == sorted(dec, reverse=True) and pre == sorted(pre, reverse=True)
    # --cpu-moe decode by hand: the CPU reads the active experts of every layer at 75% of its bandwidth
    act = qwen_moe.group_bytes["ffn_experts"] * 8 / 128
    cpu_s = act / (hf.cpu_bw_gbs * 1e9 * 0.75)
    assert 1 / res[48].decode_tok_s > cpu_s + 48 * 30e-6
    assert 1 / res[48].decode_tok_s == pytest.approx(cpu_s + 1 / res[0].decode_tok_s, rel=0.35)
    # --cpu-moe prefill (512-token batches): every expert crosses PCIe (25 GB/s) once per micro-batch
    stream_s = qwen_moe.group_bytes["ffn_experts"] / (512 * 25e9)
    assert 1 / res[48].prefill_tok_s == pytest.approx(1 / res[0].prefill_tok_s + stream_s, rel=0.02)
    # a short prompt (< 32 tokens) runs the RAM experts on the CPU instead of streaming them
    p = place_expert_offload(qwen_moe, mem, HW16, "cuda", n_cpu_moe=48)
    short = predict(qwen_moe, HW16, "cuda", p, 4096, prompt_tokens=16, apply_correction=False)
    full_gpu = predict(qwen_moe, HW16, "cuda", place_expert_offload(qwen_moe, mem, HW16, "cuda", n_cpu_moe=0),
                       4096, prompt_tokens=16, apply_correction=False)
    cpu_part = 1 / short.prefill_tok_s - 1 / full_gpu.prefill_tok_s
    # CPU FLOPs bound: the active experts' 2 x params per token at 80% of the CPU's FP32 peak
    x_flops = 2 * 48 * 3 * 2048 * 768 * 8
    assert cpu_part >= x_flops / (hf.cpu_gflops * 1e9 * 0.8) * 0.9


def test_layer_split_prefill_streams_the_routed_experts_of_the_cpu_layers(qwen_moe):
    """With a layer split too, a 512-token micro-batch routes to every expert of a RAM layer: all of them cross
    PCIe, not one token's active share (the roofline used to stream only the latter for MoE models)."""
    rep = fit_spec(qwen_moe, hardware=HW12, cpu_moe=False)
    tp = rep.throughput
    cpu_share = 1 - rep.gpu_layers / rep.total_layers
    assert 0 < cpu_share < 1
    assert 1 / tp.roofline_prefill >= cpu_share * qwen_moe.group_bytes["ffn_experts"] / (512 * 25e9)
    # dense models: unchanged (no routed experts)
    dense = build_spec("llama-3-8b", "Q8_0")
    small = _hw(6, "GeForce RTX 3060", 360, 51.2)
    plc = fit_spec(dense, hardware=small).placement
    a = predict(dense, small, "cuda", plc, 4096, apply_correction=False)
    mf = model_figures(dense)
    hf = hardware_figures(small, "cuda", plc, n_layers=mf.n_layers)
    base = {**model_arrays([mf]), **hardware_arrays(hf), "prompt_tokens": 512, "decode_pos": 512 + 64.0}
    assert a.roofline_prefill == pytest.approx(float(predict_batch(base, apply_correction=False)["prefill_tok_s"][0]),
                                               rel=1e-12)


def _profile(tmp_path, hw) -> str:
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(hw.to_dict()))
    return str(path)


def test_cli_json_has_n_cpu_moe_and_the_flags(tmp_path):
    prof = _profile(tmp_path, HW12)
    run = CliRunner().invoke
    res = run(cli, ["fit", "Qwen3-30B-A3B", "--quant", "Q4_K_M", "--offline", "--hardware", prof, "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["n_cpu_moe"] > 0 and d["gpu_layers"] == d["total_layers"]
    assert any(f"--n-cpu-moe {d['n_cpu_moe']}" in r for r in d["reasons"])
    res = run(cli, ["fit", "Qwen3-30B-A3B", "--quant", "Q4_K_M", "--offline", "--hardware", prof, "--json", "--no-cpu-moe"])
    assert res.exit_code == 0 and json.loads(res.output)["n_cpu_moe"] == 0
    res = run(cli, ["fit", "Qwen3-30B-A3B", "--quant", "Q4_K_M", "--offline", "--hardware", prof, "--json",
                    "--n-cpu-moe", "48"])
    d = json.loads(res.output)
    assert res.exit_code == 0 and d["n_cpu_moe"] == 48 and any("-ngl 999 --cpu-moe" in r for r in d["reasons"])
    res = run(cli, ["fit", "Qwen3-30B-A3B", "--quant", "Q4_K_M", "--offline", "--hardware", prof])
    assert res.exit_code == 0 and "--n-cpu-moe" in res.output  # the table says it too


@pytest.mark.parametrize("n", ["-1", "49", "1000"])
def test_cli_bad_n_cpu_moe_is_one_error_line(tmp_path, n):
    prof = _profile(tmp_path, HW12)
    res = CliRunner().invoke(cli, ["fit", "Qwen3-30B-A3B", "--quant", "Q4_K_M", "--offline", "--hardware", prof,
                                   "--n-cpu-moe", n])
    assert res.exit_code != 0
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "--n-cpu-moe must be between 0 and 48" in lines[0] and n in lines[0]


def test_llamacpp_adapter_suggests_the_server_flag(qwen_moe):
    import llmfit_llamacpp as lc

    # the 16 GB card: expert offload is the clear pick there (on the 12 GB card the two are within MOE_TIE)
    s = lc.suggest_settings(qwen_moe, hardware=HW16, context=8192)
    assert s.fits and s.n_cpu_moe > 0
    assert f"-ngl 999 --n-cpu-moe {s.n_cpu_moe} -c {s.n_ctx}" in s.text
    # Llama() gets the layer-offload figure: llama-cpp-python has no tensor-override parameter
    layer = fit_spec(qwen_moe, hardware=HW16, context=s.n_ctx, cpu_moe=False)
    assert s.n_gpu_layers == layer.gpu_layers < s.total_layers and "tensor-override" in s.text
    dense = lc.suggest_settings(build_spec("llama-3-8b", "Q4_K_M"), hardware=HW12, context=8192)
    assert dense.n_cpu_moe == 0 and dense.text == f"use n_gpu_layers={dense.n_gpu_layers}, n_ctx={dense.n_ctx}"


@pytest.mark.usefixtures("isolated_catalog")
def test_recommend_ranks_moe_models_with_expert_offload_like_fit():
    from llmfit_core.catalog.entry import CatalogEntry
    from llmfit_core.catalog.store import Catalog
    from llmfit_core.constraints import Constraints
    from llmfit_core.recommend import recommend

    e = CatalogEntry(id="acme/MoE-30B-A3B", family="qwen3", arch="qwen3moe", params=30_532_122_624,
                     active_params=3_335_000_000, n_layers=48, hidden_size=2048, n_heads=32, n_kv_heads=4, head_dim=128,
                     vocab_size=151936, max_context=40960, n_experts=128, n_experts_used=8, expert_ffn_size=768,
                     uses=["chat"], gguf=[{"repo": "acme/MoE-30B-A3B-GGUF", "quants": {}}])
    c = Constraints(quants=["Q4_K_M"])
    (vec,) = recommend(c, hardware=HW12, top=1, catalog=Catalog([e]), refine=False).items
    full = fit_spec(e.to_spec("Q4_K_M"), hardware=HW12, context=vec.context)
    assert full.n_cpu_moe > 0 and vec.n_cpu_moe > 0 and abs(vec.n_cpu_moe - full.n_cpu_moe) <= 3
    assert vec.verdict == "offload" and vec.report.n_cpu_moe == vec.n_cpu_moe
    assert vec.report.to_dict()["n_cpu_moe"] == vec.n_cpu_moe
    assert abs(vec.decode_tok_s / full.decode_tok_s - 1) < 0.35
    layer = fit_spec(e.to_spec("Q4_K_M"), hardware=HW12, context=vec.context, cpu_moe=False)
    assert vec.decode_tok_s > layer.decode_tok_s * 0.9
