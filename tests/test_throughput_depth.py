"""Depth (tokens already in the context, llama-bench -d): roofline, predict, fit / check / --batch, errors;
and the llama-bench threads table the accuracy script maps to fit queries."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

import llmfit_core
from llmfit_core.cli.main import cli
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.throughput import model_figures, predict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from training.model_configs import build_spec  # noqa: E402


def gpu_box() -> HardwareProfile:
    return HardwareProfile(name="box", cpu=CPUInfo(model="x86", cores=16, threads=32, isa=["avx2", "fma"], mem_bandwidth_gbs=83.0),
                           memory=MemoryInfo(64.0), gpus=[GPUInfo("nvidia", "RTX 4090", 24.0, bandwidth_gbs=1008.0, fp16_tflops=330.0)])


@pytest.fixture(scope="module")
def llama8b():
    return build_spec("llama-3.1-8b", "Q4_K_M")


def test_speed_falls_with_depth_and_faster_without_flash_attention(llama8b):
    hw = gpu_box()
    p0, p16, p32 = (predict(llama8b, hw, depth=d, apply_correction=False) for d in (0, 16384, 32768))
    assert p0.prefill_tok_s > p16.prefill_tok_s > p32.prefill_tok_s
    assert p0.decode_tok_s > p16.decode_tok_s > p32.decode_tok_s
    off = [predict(llama8b, hw, depth=d, flash_attn=False, apply_correction=False) for d in (0, 32768)]
    on = [p0, p32]
    # without flash attention the K.Q block is materialised: prefill is slower and falls faster with depth
    assert off[1].prefill_tok_s < on[1].prefill_tok_s
    assert off[1].prefill_tok_s / off[0].prefill_tok_s < on[1].prefill_tok_s / on[0].prefill_tok_s
    assert off[1].decode_tok_s < on[1].decode_tok_s


def test_sliding_window_layers_stop_growing_past_their_window(llama8b):
    hw = gpu_box()
    swa = dataclasses.replace(llama8b, sliding_window=1024, swa_layers=[True] * llama8b.n_layers)
    assert model_figures(swa).swa_frac == 1.0
    near, far = (predict(swa, hw, depth=d, apply_correction=False) for d in (4096, 32768))
    assert far.decode_tok_s == pytest.approx(near.decode_tok_s, rel=0.02)
    full = predict(llama8b, hw, depth=32768, apply_correction=False)
    assert far.decode_tok_s > 1.3 * full.decode_tok_s


def test_fit_reports_depth_and_reserves_context_for_it(llama8b):
    r = llmfit_core.fit(llama8b, hardware=gpu_box(), depth="32k")
    d = r.to_dict()
    assert d["depth"] == 32768 and d["context"] >= 32768 + 512
    base = llmfit_core.fit(llama8b, hardware=gpu_box()).to_dict()
    assert base["depth"] == 0 and d["decode_tok_s"] < base["decode_tok_s"] and d["prefill_tok_s"] < base["prefill_tok_s"]


def test_depth_beyond_trained_context_is_an_error_unless_context_raises_it():
    spec = build_spec("qwen3-30b-a3b", "Q4_K_M")  # 40960 trained positions
    with pytest.raises(LlmfitError, match="trained context"):
        llmfit_core.fit(spec, hardware=gpu_box(), depth="64k")
    # raising the context past the trained length is explicit twice: -c and --allow-context-extension (issue 12)
    ok = llmfit_core.fit(spec, hardware=gpu_box(), depth="64k", context="80k", allow_context_extension=True)
    assert ok.depth == 65536 and ok.context == 81920
    with pytest.raises(LlmfitError, match="do not fit the context"):
        llmfit_core.fit(spec, hardware=gpu_box(), depth="32k", context="16k")


def _llmfit(*args, stdin=None):
    res = CliRunner().invoke(cli, list(args), input=stdin)
    return SimpleNamespace(returncode=res.exit_code, stdout=res.stdout, stderr=res.stderr)


def test_cli_depth_on_fit_check_and_batch(tmp_path):
    prof = tmp_path / "box.json"
    prof.write_text(json.dumps({"name": "box", "cpu": {"cores": 16, "threads": 32, "isa": ["avx2"], "mem_bandwidth_gbs": 83},
                                "memory": {"total_gb": 64},
                                "gpus": [{"vendor": "nvidia", "name": "RTX 4090", "vram_gb": 24, "bandwidth_gbs": 1008,
                                          "fp16_tflops": 330}]}))
    ref = "Qwen/Qwen3-30B-A3B"
    out = _llmfit("fit", ref, "--quant", "Q4_K_M", "--offline", "--hardware", str(prof), "--depth", "16k", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["depth"] == 16384
    table = _llmfit("fit", ref, "--quant", "Q4_K_M", "--offline", "--hardware", str(prof), "--depth", "16k")
    assert "@ depth 16384" in table.stdout
    bad = _llmfit("check", ref, "--quant", "Q4_K_M", "--offline", "--hardware", str(prof), "--depth", "1m")
    assert bad.returncode == 1 and "trained context" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    batch = "\n".join(json.dumps({"ref": ref, "quant": "Q4_K_M", "offline": True, "hardware": str(prof), "depth": d})
                      for d in (0, 8192, "32k")) + "\n"
    res = _llmfit("fit", "--batch", "-", "--json", stdin=batch)
    assert res.returncode == 0, res.stderr
    got = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert [g["depth"] for g in got] == [0, 8192, 32768]
    assert got[0]["decode_tok_s"] > got[1]["decode_tok_s"] > got[2]["decode_tok_s"]


def test_threads_table_rows_map_to_fit_queries_with_depth():
    from training.data import DATA_DIR, LoadReport
    from training.threads_data import parse_depth_test, threads_rows

    assert parse_depth_test("pp2048@d16384") == ("pp", 2048, 16384)
    assert parse_depth_test("tg32@d32768") == ("tg", 32, 32768) and parse_depth_test("pp512+tg128") is None
    report = LoadReport()
    rows = threads_rows(DATA_DIR, report)
    assert len(rows) > 340
    deep = [r for r in rows if r.depth]
    assert len(deep) > 60 and all(r.test_label.split("@d")[1] == str(r.depth) for r in deep)
    multi = [r for r in rows if r.n_gpus > 1]
    assert multi and all(len(r.hardware.gpus) == r.n_gpus and "x" not in r.device.split()[-1] for r in multi)
    # architecture facts the catalog lacks are filled from the published configs
    glm = next(r for r in rows if r.model_ref == "zai-org/GLM-4.7-Flash")
    assert glm.spec.kv_lora_rank == 512 and glm.spec.is_moe
    qwen35 = next(r for r in rows if r.model_ref == "Qwen/Qwen3.5-35B-A3B")
    assert qwen35.spec.n_recurrent_layers == 30 and qwen35.spec.recurrent_state_elems > 0
    gemma4 = next(r for r in rows if r.model_ref == "google/gemma-4-31B-it")
    assert sum(gemma4.spec.swa_layers) == 50
    # the file size llama-bench printed is the bytes priced
    sized = next(r for r in rows if r.model_ref == "openai/gpt-oss-120b")
    assert sized.spec.weight_bytes == pytest.approx(59.02 * 2**30, rel=1e-3)
    assert np.all([r.tok_s > 0 for r in rows])
