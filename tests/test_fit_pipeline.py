"""End-to-end: model reference + hardware → FitReport, through the Python API and the `llmfit` CLI."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import llmfit_core
from llmfit_core.cli.main import cli
from llmfit_core.synth import shape_spec, write_synthetic_gguf

CONTRACT_KEYS = {"model", "hardware", "backend", "context", "max_context", "memory", "gpu_layers", "total_layers", "n_cpu_moe", "fits", "depth",
                 "verdict", "score", "prefill_tok_s", "decode_tok_s", "decode_tok_s_range", "prefill_tok_s_range",
                 "reasons"}


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "llama-tiny-F16.gguf"
    write_synthetic_gguf(path, "llama-tiny", "F16")
    return path


def run_cli(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_api_fit_local_gguf_on_a_named_gpu_profile(tiny_gguf):
    report = llmfit_core.fit(str(tiny_gguf), hardware="workstation-4090")
    d = report.to_dict()
    assert set(d) == CONTRACT_KEYS
    spec = shape_spec("llama-tiny")
    assert d["model"]["arch"] == "llama"
    assert d["model"]["params"] == spec.params
    assert d["model"]["file_bytes"] == tiny_gguf.stat().st_size
    # exact weights from the header: what the file stores as tensor data
    assert d["memory"]["weights_bytes"] == spec.weight_bytes
    assert d["backend"] == "llama.cpp-cuda"
    assert d["verdict"] == "runs" and d["fits"] is True
    assert d["gpu_layers"] == d["total_layers"] == spec.n_layers + 1
    assert d["memory"]["total_bytes"] == sum(d["memory"][k] for k in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes"))
    assert d["memory"]["gpu_bytes"] + d["memory"]["cpu_bytes"] >= d["memory"]["weights_bytes"]
    lo, hi = d["decode_tok_s_range"]
    assert 0 < lo <= d["decode_tok_s"] <= hi
    plo, phi = d["prefill_tok_s_range"]
    assert 0 < plo < d["prefill_tok_s"] < phi
    assert d["prefill_tok_s"] > d["decode_tok_s"] > 0
    assert 0 < d["score"] <= 100


def test_context_scales_the_kv_cache_exactly(tiny_gguf):
    small = llmfit_core.fit(str(tiny_gguf), hardware="cpu-only-16gb", context=1024).memory.kv_cache_bytes
    large = llmfit_core.fit(str(tiny_gguf), hardware="cpu-only-16gb", context="4k").memory.kv_cache_bytes
    spec = shape_spec("llama-tiny")
    per_token = 2 * spec.n_layers * spec.n_kv_heads * spec.head_dim * 2  # K and V, f16
    assert small == 1024 * per_token
    assert large == 4 * small


def test_quantized_kv_cache_is_smaller(tiny_gguf):
    f16 = llmfit_core.fit(str(tiny_gguf), hardware="cpu-only-16gb", context=2048).memory.kv_cache_bytes
    q8 = llmfit_core.fit(str(tiny_gguf), hardware="cpu-only-16gb", context=2048, cache_type="q8_0",
                         flash_attn=True).memory.kv_cache_bytes
    assert q8 == f16 * 34 // 64  # q8_0: 34 bytes per 32 values vs 64 for f16


def test_what_if_quant_shrinks_weights(tiny_gguf):
    f16 = llmfit_core.fit(str(tiny_gguf), hardware="cpu-only-16gb")
    q4 = llmfit_core.fit(str(tiny_gguf), hardware="cpu-only-16gb", quant="Q4_K_M")
    assert q4.quant == "Q4_K_M"
    assert q4.memory.weights_bytes < 0.5 * f16.memory.weights_bytes


def test_cli_fit_json_matches_api(tiny_gguf):
    res = run_cli("fit", str(tiny_gguf), "--hardware", "cpu-only-16gb", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    api = llmfit_core.fit(str(tiny_gguf), hardware="cpu-only-16gb").to_dict()
    assert d["memory"] == api["memory"]
    assert d["backend"] == "llama.cpp-cpu" and d["gpu_layers"] == 0


def test_cli_fit_human_output(tiny_gguf):
    res = run_cli("fit", str(tiny_gguf), "--hardware", "workstation-4090")
    assert res.exit_code == 0
    for word in ("weights", "KV cache", "verdict", "decode", "runs"):
        assert word in res.output


def test_check_exit_codes_from_the_catalog():
    ok = run_cli("check", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "workstation-4090", "--offline")
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("runs:")
    big = run_cli("check", "meta-llama/Llama-3.1-70B-Instruct", "--hardware", "cpu-only-16gb", "--offline")
    assert big.exit_code == 3
    assert big.output.startswith("no-fit:")


def test_check_help_names_each_exit_code_and_an_error_exits_1():
    import re

    res = run_cli("check", "--help")
    codes = dict(re.findall(r"^\s+([013])\s+(.+)$", res.output, re.M))
    assert set(codes) == {"0", "1", "3"} and "does not fit" in codes["3"] and "unknown model" in codes["1"]
    bad = run_cli("check", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "no-such-box-xyz", "--offline")
    assert bad.exit_code == 1


def test_custom_hardware_profile_file(tmp_path, tiny_gguf):
    prof = {"name": "tiny-box", "cpu": {"model": "x", "cores": 4, "threads": 8, "mem_bandwidth_gbs": 40},
            "memory": {"total_gb": 8, "available_gb": 6}, "gpus": [], "unified_memory": False}
    p = tmp_path / "hw.json"
    p.write_text(json.dumps(prof))
    d = llmfit_core.fit(str(tiny_gguf), hardware=str(p)).to_dict()
    assert d["hardware"]["name"] == "tiny-box"
    assert d["fits"] is True


def test_estimated_cpu_bandwidth_is_explained_once(tmp_path, tiny_gguf):
    # no bandwidth in the profile: the hardware note (with the measure hint) says it; the roofline's own
    # "estimated" reason is not repeated beside it
    prof = {"name": "no-bw", "cpu": {"model": "Mystery CPU 9000", "cores": 4, "threads": 8},
            "memory": {"total_gb": 8, "available_gb": 6}, "gpus": [], "unified_memory": False}
    p = tmp_path / "hw.json"
    p.write_text(json.dumps(prof))
    reasons = llmfit_core.fit(str(tiny_gguf), hardware=str(p)).to_dict()["reasons"]
    about_bw = [r for r in reasons if "bandwidth" in r and "estimated" in r]
    assert len(about_bw) == 1, reasons
    assert "--measure-bandwidth" in about_bw[0]


def test_batch_one_line_per_query_in_order(tmp_path, tiny_gguf):
    lines = [
        json.dumps({"ref": str(tiny_gguf), "hardware": "cpu-only-16gb"}),
        "{not json",
        json.dumps({"ref": str(tmp_path / "missing.gguf")}),
        json.dumps({"ref": str(tiny_gguf), "context": "2k", "cache-type": "q8_0", "flash_attn": True}),
        json.dumps({"ref": str(tiny_gguf), "colour": "blue"}),
        json.dumps({"nope": 1}),
    ]
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    res = run_cli("fit", "--batch", str(batch), "--hardware", "cpu-only-16gb")
    assert res.exit_code == 0
    out = [json.loads(x) for x in res.output.splitlines()]
    assert len(out) == 6
    assert out[0]["model"]["arch"] == "llama"
    assert out[1]["error"]["type"] == "InvalidJSON" and out[1]["line"] == 2
    assert "no such file" in out[2]["error"]["message"]
    assert out[3]["context"] == 2048
    assert "unknown key" in out[4]["error"]["message"]
    assert "ref" in out[5]["error"]["message"]


@pytest.mark.parametrize("content", [b"", b"GGUF\x03\x00\x00\x00", b"GGUF\x03\x00\x00\x00" + b"\xff" * 16, b"not a model at all"])
def test_bad_files_give_one_line_and_exit_1(tmp_path, content):
    p = tmp_path / "bad.gguf"
    p.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", "fit", str(p)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("llmfit: error:")


def test_unknown_model_and_bad_options():
    res = CliRunner().invoke(cli, ["fit", "no-such-model-anywhere-xyz", "--offline"])
    assert res.exit_code == 1
    assert "unknown model" in res.output
    # an Ollama library name typed without its prefix: the error says how to ask for it
    res = CliRunner().invoke(cli, ["fit", "llama3.1:8b", "--offline"])
    assert res.exit_code == 1 and "write ollama:llama3.1:8b" in res.output
    res = CliRunner().invoke(cli, ["fit", "meta-llama/Llama-3.1-8B-Instruct", "--offline", "--context", "lots"])
    assert res.exit_code == 1 and "token count" in res.output
    res = CliRunner().invoke(cli, ["fit", "meta-llama/Llama-3.1-8B-Instruct", "--offline", "--backend", "abacus"])
    assert res.exit_code == 1 and "unknown backend" in res.output
