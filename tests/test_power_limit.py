"""A GPU power limit set below the board's default slows compute-bound work (prefill), not decode."""

from __future__ import annotations

import json
import math

import pytest

from llmfit_core.hardware.power import board_power_fraction, compute_fraction, power_limit_share
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.model_spec import ModelSpec
from llmfit_core.throughput import predict


def box(limit=None, default=None, n=1) -> HardwareProfile:
    return HardwareProfile(
        name="box",
        cpu=CPUInfo(model="x86", cores=16, threads=32, isa=["avx2", "fma"], mem_bandwidth_gbs=80.0),
        memory=MemoryInfo(64.0),
        gpus=[GPUInfo("nvidia", "RTX 3090", 24.0, bandwidth_gbs=936.0, fp16_tflops=142.0, compute_capability="8.6",
                      power_limit_w=limit, default_power_limit_w=default) for _ in range(n)],
    )


def spec_8b() -> ModelSpec:
    return ModelSpec(ref="test/llama-8b", arch="llama", params=8.0e9, active_params=8.0e9, max_context=8192, n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8,
                     head_dim=128, vocab_size=128256, ffn_size=14336, quant="Q4_K_M", weight_bytes=int(4.9e9))


@pytest.mark.parametrize("limit,default,expected", [
    (280.0, 350.0, (280 / 350) ** (1 / 3)),
    (350.0, 350.0, 1.0),   # at the default: nothing to change
    (349.0, 350.0, 1.0),   # within rounding of the default
    (400.0, 350.0, 1.0),   # raised limits are not extra compute (the clock is capped elsewhere)
    (None, 350.0, 1.0), (280.0, None, 1.0),
    (0.0, 350.0, 1.0), (-5.0, 350.0, 1.0), (float("nan"), 350.0, 1.0), (float("inf"), 350.0, 1.0),
    (1.0, 350.0, 1.0),     # a nonsense reading (under a tenth of the default) is ignored
    ("280", "350", (280 / 350) ** (1 / 3)),  # numbers from a JSON profile written as strings
])
def test_compute_fraction(limit, default, expected):
    g = GPUInfo("nvidia", "x", power_limit_w=limit, default_power_limit_w=default)
    assert compute_fraction(g) == pytest.approx(expected)
    assert (power_limit_share(g) is None) == (expected == 1.0)


def test_power_limit_slows_prefill_not_decode():
    spec = spec_8b()
    base, limited = predict(spec, box(), "llama.cpp-cuda"), predict(spec, box(280.0, 350.0), "llama.cpp-cuda")
    keep = (280 / 350) ** (1 / 3)
    assert limited.decode_tok_s == pytest.approx(base.decode_tok_s, rel=1e-6)  # memory clock unaffected
    # prefill is mostly compute-bound: it slows by at most the compute factor, and by most of it
    ratio = limited.prefill_tok_s / base.prefill_tok_s
    assert keep - 1e-9 <= ratio < 1.0
    assert ratio < 1 - 0.7 * (1 - keep)
    # the learned correction sees the board as shipped: the same factor over the (limited) roofline
    assert limited.prefill_tok_s / limited.roofline_prefill == pytest.approx(base.prefill_tok_s / base.roofline_prefill)
    assert any("power-limited to 280 W of 350 W" in r for r in limited.reasons)
    assert not any("power-limited" in r for r in base.reasons)


def test_one_limited_gpu_of_a_split_slows_less_than_both():
    spec = spec_8b()
    both = box(280.0, 350.0, n=2)
    one = box(n=2)
    one.gpus[1].power_limit_w, one.gpus[1].default_power_limit_w = 280.0, 350.0
    free = predict(spec, box(n=2), "llama.cpp-cuda").prefill_tok_s
    p_one, p_both = (predict(spec, h, "llama.cpp-cuda").prefill_tok_s for h in (one, both))
    assert p_both < p_one < free


def test_limit_written_as_strings_in_a_profile_file():
    h = HardwareProfile.from_dict({"gpus": [{"vendor": "nvidia", "name": "RTX 3090", "vram_gb": 24, "bandwidth_gbs": 936,
                                             "fp16_tflops": 142, "power_limit_w": "280", "default_power_limit_w": "350"}]})
    p = predict(spec_8b(), h, "llama.cpp-cuda")
    assert any("power-limited to 280 W of 350 W: compute x0.93" in r for r in p.reasons)


def test_profile_json_round_trip_keeps_the_limit(tmp_path):
    h = box(280.0, 350.0)
    data = json.loads(json.dumps(h.to_dict()))
    back = HardwareProfile.from_dict(data)
    assert (back.gpus[0].power_limit_w, back.gpus[0].default_power_limit_w) == (280.0, 350.0)
    assert math.isclose(compute_fraction(back.gpus[0]), (0.8) ** (1 / 3))


@pytest.mark.parametrize("value", ["280", "abc", -5, 1e300, True])
def test_bad_limit_in_a_profile_file_is_one_error_line(tmp_path, value):
    import subprocess
    import sys

    prof = {"name": "x", "memory": {"total_gb": 64}, "gpus": [{"vendor": "nvidia", "name": "RTX 3090", "vram_gb": 24,
                                                               "power_limit_w": value, "default_power_limit_w": 350}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prof))
    r = subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", "system", "--hardware", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "power_limit_w" in err[0] and "Traceback" not in r.stderr


def _board(name, tflops, cc, bw):
    return HardwareProfile(name="box", cpu=CPUInfo(model="x86", cores=16, threads=32, isa=["avx2", "fma"], mem_bandwidth_gbs=80.0),
                           memory=MemoryInfo(128.0),
                           gpus=[GPUInfo("nvidia", name, 48.0, bandwidth_gbs=bw, fp16_tflops=tflops, compute_capability=cc)])


@pytest.mark.parametrize("name,tflops,cc,expected", [
    ("RTX 4090", 330.3, "8.9", 1.0),  # its generation's reference board
    ("RTX 4080", 194.9, "8.9", 1.0),  # needs 265 W of its 320 W at the 4090's TFLOPS per watt
    ("RTX 6000 Ada", 364.2, "8.9", (300 / (364.2 / (330.3 / 450))) ** (1 / 3)),  # 496 W needed, 300 W board
    ("RTX A6000", 154.8, "8.6", (300 / (154.8 / (142 / 350))) ** (1 / 3)),
    ("A100 PCIe 80GB", 312.0, "8.0", 1.0),  # a datacenter die: no consumer reference in its generation
    ("RTX 4090 Laptop GPU", 171.5, "8.9", 1.0),  # laptop power is the maker's choice: not in the table
    ("Mystery GPU", 300.0, "8.9", 1.0),
    ("RTX 6000 Ada", None, "8.9", 1.0),  # no quoted TFLOPS: nothing to scale
])
def test_board_power_fraction(name, tflops, cc, expected):
    assert board_power_fraction(name, tflops, cc) == pytest.approx(expected)


def test_power_bound_board_prefills_slower_than_its_quoted_tflops_say():
    spec = spec_8b()
    # the same quoted figures: the workstation board (300 W) cannot hold the clock the 4090 (450 W) holds
    ws, gf = _board("RTX 6000 Ada", 330.3, "8.9", 1008.0), _board("RTX 4090", 330.3, "8.9", 1008.0)
    a, b = (predict(spec, h, "llama.cpp-cuda", apply_correction=False) for h in (ws, gf))
    assert a.decode_tok_s == pytest.approx(b.decode_tok_s, rel=1e-6)  # bandwidth-bound: unchanged
    assert a.prefill_tok_s < 0.95 * b.prefill_tok_s
