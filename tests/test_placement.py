"""Placement: llama.cpp's layer split and the verdicts, on hand-checked numbers (MiB)."""

from __future__ import annotations

import pytest

from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.memory import MemoryEstimate, estimate_memory
from llmfit_core.model_spec import ModelSpec
from llmfit_core.placement import _layer_device, metal_working_set, place

MIB = 1024 * 1024
GIB = 1024 * MIB


def _spec(tied=False):
    return ModelSpec(ref="toy", arch="llama", params=1, active_params=1, n_layers=10, hidden_size=4096, n_heads=32,
                     n_kv_heads=8, head_dim=128, vocab_size=32000, max_context=8192, tied_embeddings=tied)


def _mem(backend="llama.cpp-cuda", overhead=400):
    # 10 layers of 1000 MiB weights + 100 MiB KV, embeddings 500, output layer 500, compute peak 300
    return MemoryEstimate(
        backend=backend, context=4096, n_ctx=4096, n_ctx_swa=None, n_ubatch=512, flash_attn=True,
        cache_type_k="f16", cache_type_v="f16", weights_bytes=11000 * MIB, kv_cache_bytes=1000 * MIB,
        compute_bytes=300 * MIB, output_bytes=0, overhead_bytes=overhead * MIB, layer_bytes=[1000 * MIB] * 10,
        kv_layer_bytes=[100 * MIB] * 10, input_bytes=500 * MIB, output_layer_bytes=500 * MIB,
        compute_stages={"output": 300 * MIB, "ffn": 200 * MIB, "attn": 150 * MIB, "inputs": 0},
    )


def _hw(ram_total, ram_avail, gpus=(), unified=False):
    return HardwareProfile.from_dict({"name": "t", "memory": {"total_gb": ram_total, "available_gb": ram_avail},
                                      "gpus": list(gpus), "unified_memory": unified})


def test_cpu_only_runs():
    p = place(_spec(), _mem("llama.cpp-cpu", 30), _hw(32, 20), "cpu")
    # 11000 weights + 1000 KV + 300 compute + 30 process = 12330 MiB of 20480
    assert (p.verdict, p.fits, p.gpu_layers, p.total_layers) == ("runs", True, 0, 11)
    assert p.cpu_bytes == 12330 * MIB
    assert p.headroom_bytes == (20480 - 12330) * MIB


def test_cpu_only_no_fit_and_tight():
    p = place(_spec(), _mem("llama.cpp-cpu", 30), _hw(16, 8), "cpu")
    assert (p.verdict, p.fits) == ("no-fit", False)
    assert any("short by" in r for r in p.reasons)
    # 12330 MiB needed, 12.2 GiB = 12492.8 MiB available: fits with 162 MiB < 0.8 GiB margin (5% of 16 GiB)
    p = place(_spec(), _mem("llama.cpp-cpu", 30), _hw(16, 12.2), "cpu")
    assert (p.verdict, p.fits) == ("tight", True)


def test_single_gpu_partial_offload():
    hw = _hw(32, 28, [{"vendor": "nvidia", "name": "RTX 4060", "vram_gb": 8}])
    p = place(_spec(), _mem(), hw, "cuda")
    # usable VRAM 8192 - 400 = 7792, minus 512 margin = 7280: output layer 500 + compute 300 + 5 x 1100
    assert p.gpu_layers == 6 and p.verdict == "offload" and p.fits
    assert p.per_gpu_bytes == [(6300 + 400) * MIB]  # + CUDA context
    # RAM: embeddings 500 + 5 layers x 1100 + body compute 200 + process 30
    assert p.cpu_bytes == 6230 * MIB
    assert any("offloads 6 of 11 layers to the RTX 4060" in r for r in p.reasons)


def test_single_gpu_all_layers_tight():
    hw = _hw(32, 28, [{"vendor": "nvidia", "name": "RTX 3060", "vram_gb": 12}])
    p = place(_spec(), _mem(), hw, "cuda")
    # 10 x 1100 + 500 + 300 = 11800 <= 12288 - 400; 88 MiB left is under the margin
    assert (p.gpu_layers, p.verdict, p.per_gpu_bytes) == (11, "tight", [(11800 + 400) * MIB])


def test_two_gpus_split_by_free_memory():
    hw = _hw(64, 60, [{"vendor": "nvidia", "name": "RTX 3090", "vram_gb": 24},
                      {"vendor": "nvidia", "name": "RTX 3060", "vram_gb": 12}])
    p = place(_spec(), _mem(), hw, "cuda")
    # split 24176 : 11888 -> layers 0-7 on GPU0, 8-9 + output on GPU1
    assert _layer_device(10, 11, [24176 / 36064, 1.0]) == [0] * 8 + [1] * 3
    assert p.gpu_layers == 11 and p.verdict == "runs"
    assert [d["layers"] for d in p.per_gpu] == [8, 3]
    assert p.per_gpu_bytes == [(8 * 1100 + 200 + 400) * MIB, (2 * 1100 + 500 + 300 + 400) * MIB]


def test_explicit_gpu_layers_and_tied_embeddings():
    hw = _hw(32, 28, [{"vendor": "nvidia", "name": "RTX 4090", "vram_gb": 24}])
    p = place(_spec(), _mem(), hw, "cuda", gpu_layers=0)
    # CPU only as asked: nothing is split between GPU and RAM, so not "offload"; the verdict of a CPU run
    assert p.gpu_layers == 0 and p.verdict == "runs" and any("CPU only by request" in r for r in p.reasons)
    assert p.per_gpu_bytes == [(300 + 400) * MIB]  # compute buffer (big matmuls are offloaded) + context
    full = place(_spec(), _mem(), hw, "cuda")
    tied = place(_spec(tied=True), _mem(), hw, "cuda")
    assert tied.per_gpu_bytes[0] - full.per_gpu_bytes[0] == 500 * MIB  # token_embd duplicated for the output
    with pytest.raises(LlmfitError):
        place(_spec(), _mem(), hw, "cuda", gpu_layers=-1)


def test_cpu_only_by_request_gets_a_cpu_runs_verdict():
    """--gpu-layers 0: the verdict of a CPU run (runs / tight / no-fit by RAM), never "offload"; the GPU still
    holds llama.cpp's compute buffer and context, so VRAM can make it tight too."""
    gpu = [{"vendor": "nvidia", "name": "RTX 4090", "vram_gb": 24}]
    need = (11000 + 1000 + 300 + 30) * MIB  # everything in RAM (the GPU keeps its compute buffer)
    assert place(_spec(), _mem(), _hw(64, 60, gpu), "cuda", gpu_layers=0).verdict == "runs"
    tight = place(_spec(), _mem(), _hw(64, need / GIB + 0.5, gpu), "cuda", gpu_layers=0)
    assert tight.fits and tight.verdict == "tight"
    assert place(_spec(), _mem(), _hw(64, 8, gpu), "cuda", gpu_layers=0).verdict == "no-fit"
    mac = _hw(64, 56, [{"vendor": "apple", "name": "Apple M2 Max"}], unified=True)
    p = place(_spec(), _mem("llama.cpp-metal", 100), mac, "metal", gpu_layers=0)
    assert (p.gpu_layers, p.verdict) == (0, "runs") and any("CPU only by request" in r for r in p.reasons)


def test_apple_unified_llamacpp_metal_and_mlx():
    assert metal_working_set(16 * GIB) == int(16 * GIB * 2 / 3)
    assert metal_working_set(64 * GIB) == 48 * GIB
    mac16 = _hw(16, 14, [{"vendor": "apple", "name": "Apple M2", "gpu_cores": 10}], unified=True)
    p = place(_spec(), _mem("llama.cpp-metal", 100), mac16, "metal")
    # working set 10922.7 MiB minus 546 margin: 800 + 8 x 1100 = 9600; host: 500 + 2 x 1100 + 200 + 30
    assert (p.gpu_layers, p.verdict) == (9, "offload")
    assert p.per_gpu_bytes == [9600 * MIB] and p.cpu_bytes == 2930 * MIB
    mac32 = _hw(32, 28, [{"vendor": "apple", "name": "Apple M2 Max"}], unified=True)
    p = place(_spec(), _mem("mlx", 200), mac32, "mlx")
    assert (p.verdict, p.gpu_layers) == ("runs", 11)
    p = place(_spec(), _mem("mlx", 200), mac16, "mlx")
    assert p.verdict == "no-fit" and any("wired_limit" in r or "working-set" in r for r in p.reasons)


def test_real_estimate_kv_reason():
    from llmfit_core.synth import shape_spec

    spec = shape_spec("llama-8b")
    mem = estimate_memory(spec, "cuda", 32768)
    p = place(spec, mem, _hw(32, 28, [{"vendor": "nvidia", "name": "RTX 3060", "vram_gb": 12}]), "cuda")
    assert "KV cache at 32k context needs 4.0 GiB" in p.reasons
    assert p.verdict == "offload" and 0 < p.gpu_layers < 33
