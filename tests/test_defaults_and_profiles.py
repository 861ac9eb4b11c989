"""What a bare model reference means (issue 12 item 5, issue 14's default quant) and hardware-profile CPU fill-in
(issue 11, Profiles): one rule per backend on every path, said in the output; a gated repo without login falls back
to the catalog with a note; profiles never get 1 core / a guessed 18 GB/s."""

from __future__ import annotations

import json

import pytest

import llmfit_core
from llmfit_core import defaults
from llmfit_core.hardware import registry

# ---------------------------------------------------------------- the rule


def test_default_quant_per_runtime_and_publisher():
    assert defaults.default_quant("meta-llama/Llama-3.1-8B-Instruct", "llama").quant == "Q4_K_M"
    assert defaults.default_quant("openai/gpt-oss-120b", "gpt_oss").quant == "MXFP4_MOE"
    assert defaults.default_quant("someone/model", "gpt-oss").quant == "MXFP4_MOE"  # GGUF arch name
    assert defaults.default_quant("meta-llama/Llama-3.1-8B-Instruct", "llama", runtime="mlx").quant == "MLX-4bit"


def test_gguf_repo_default_follows_llamacpp_hf():
    from llmfit_hf.files import gguf_variants, pick_variant

    assert pick_variant(gguf_variants({"m-Q4_0.gguf": 4, "m-Q8_0.gguf": 8, "m-Q4_K_M.gguf": 5})).quant == "Q4_K_M"
    assert pick_variant(gguf_variants({"m-Q4_0.gguf": 4, "m-Q8_0.gguf": 8})).quant == "Q8_0"  # -hf: Q4_K_M, Q8_0
    assert pick_variant(gguf_variants({"m-Q6_K.gguf": 3, "m-Q5_K_M.gguf": 6})).quant == "Q5_K_M"  # first file


def test_catalog_gpt_oss_is_priced_as_its_mxfp4_file(monkeypatch):
    monkeypatch.setenv("LLMFIT_OFFLINE", "1")
    r = llmfit_core.fit("openai/gpt-oss-120b", hardware="workstation-4090")
    assert r.quant == "MXFP4_MOE"
    assert r.memory.weights_bytes < 64 * 2**30  # the real MXFP4 file is 63.4 GB; as K-quants it was 81.8 GiB
    assert r.fits  # 24 GB VRAM + 64 GB RAM with expert offload
    assert any("publisher's own GGUF" in x for x in r.reasons)
    from llmfit_core.catalog import resolve_catalog_ref

    assert resolve_catalog_ref("openai/gpt-oss-20b").quant == "MXFP4_MOE"  # the catalog's default is the same function


def test_bare_catalog_reference_is_said(monkeypatch):
    monkeypatch.setenv("LLMFIT_OFFLINE", "1")
    r = llmfit_core.fit("meta-llama/Llama-3.1-8B-Instruct", hardware="workstation-4090")
    assert r.quant == "Q4_K_M" and any("bare reference on llama.cpp" in x and "--quant" in x for x in r.reasons)
    m = llmfit_core.fit("meta-llama/Llama-3.1-8B-Instruct", hardware="m3-max", backend="mlx")
    assert m.quant == "MLX-4bit" and any("mlx-community" in x for x in m.reasons)
    b = llmfit_core.fit("meta-llama/Llama-3.1-8B-Instruct", hardware="workstation-4090", quant="BF16")
    assert b.quant == "BF16"


def test_same_answer_online_from_the_cache_and_offline(hf_env, fake_hub):
    online = llmfit_core.fit("fake-org/Tiny-llama", hardware="RTX 4090")
    assert online.quant == "Q4_K_M" and any("bare reference on llama.cpp" in x for x in online.reasons)
    assert online.spec.format == "gguf"
    # config.json now sits in the HF cache: offline reads it from there, with the same rule
    cached = llmfit_core.fit("fake-org/Tiny-llama", hardware="RTX 4090", offline=True)
    assert any("local Hugging Face cache" in x for x in cached.reasons)
    assert cached.quant == online.quant
    assert abs(cached.memory.total_bytes / online.memory.total_bytes - 1) < 0.02
    mlx = llmfit_core.fit("fake-org/Tiny-llama", hardware="m3-max", backend="mlx")
    assert mlx.quant == "MLX-4bit"
    stored = llmfit_core.fit("fake-org/Tiny-llama", hardware="RTX 4090", stored=True)
    assert stored.quant == "BF16"  # download checks price the files being downloaded


def test_quantized_repos_are_priced_as_stored(hf_env, fake_hub):
    assert llmfit_core.fit("fake-community/Tiny-llama-4bit", hardware="m3-max").quant == "MLX-4bit"
    assert llmfit_core.fit("fake-org/Tiny-GGUF", hardware="RTX 4090").quant == "Q4_K_M"


@pytest.fixture
def gated_catalog_repo(fake_hub):
    from fakehub import llama_config

    repo = "meta-llama/Llama-3.1-8B-Instruct"
    cfg = llama_config(hidden=4096, n_layers=32, n_heads=32, n_kv_heads=8, ffn=14336, vocab=128256, context=131072)
    fake_hub.add_safetensors_repo(repo, cfg, gated=True)
    yield repo
    fake_hub.repos.pop(repo, None)


def test_gated_repo_without_login_falls_back_to_the_catalog(hf_env, gated_catalog_repo):
    # the README's Python example
    r = llmfit_core.fit(gated_catalog_repo, hardware="workstation-4090", quant="Q4_K_M", context="8k")
    assert r.quant == "Q4_K_M" and r.context == 8192
    assert any("gated repo without a login" in x and "catalog" in x for x in r.reasons)
    bare = llmfit_core.fit(gated_catalog_repo, hardware="workstation-4090")
    assert bare.quant == "Q4_K_M" and any("bare reference" in x for x in bare.reasons)


def test_gated_repo_not_in_the_catalog_is_still_an_error(hf_env, fake_hub):
    from llmfit_core.errors import AuthRequiredError

    with pytest.raises(AuthRequiredError, match="hf auth login"):
        llmfit_core.fit("fake-org/Gated-GGUF", hardware="RTX 4090")


# ---------------------------------------------------------------- profile CPU fill-in


def _profile(tmp_path, data):
    p = tmp_path / "hw.json"
    p.write_text(json.dumps(data))
    return registry.resolve_hardware(str(p))


def test_profile_cpu_model_fills_from_the_table(tmp_path):
    p = _profile(tmp_path, {"name": "laptop", "cpu": {"model": "Core i7-1165G7"}, "memory": {"total_gb": 16}})
    assert (p.cpu.cores, p.cpu.threads) == (4, 8)
    assert p.cpu.mem_bandwidth_gbs == 51.2 and p.sources["cpu.mem_bandwidth_gbs"] == "table"
    assert "avx2" in p.cpu.isa and p.sources["cpu.cores"] == "table"
    assert any("device table (Intel Core i7-1165G7)" in n for n in p.notes)


def test_profile_given_figures_win_over_the_table(tmp_path):
    p = _profile(tmp_path, {"cpu": {"model": "Core i7-1165G7", "cores": 2, "mem_bandwidth_gbs": 30},
                            "memory": {"total_gb": 16}})
    assert p.cpu.cores == 2 and p.cpu.threads == 8 and p.cpu.mem_bandwidth_gbs == 30


@pytest.mark.parametrize("cpu", [None, {"model": "Mystery CPU 9000"}])
def test_gpu_profile_without_a_known_cpu_assumes_a_typical_one(tmp_path, cpu):
    data = {"memory": {"total_gb": 64}, "gpus": [{"vendor": "nvidia", "name": "RTX 4090"}]}
    if cpu:
        data["cpu"] = cpu
    p = _profile(tmp_path, data)
    assert p.cpu.cores == 8 and p.cpu.threads == 16 and "avx2" in p.cpu.isa
    assert p.cpu.mem_bandwidth_gbs == 83.2  # DDR5-5200 dual channel, the RTX 40 generation's platform
    assert any("assumed a typical" in n for n in p.notes)
    old = _profile(tmp_path, {"memory": {"total_gb": 32}, "gpus": [{"vendor": "nvidia", "name": "GTX 1080"}]})
    assert old.cpu.cores == 6 and old.cpu.mem_bandwidth_gbs == 38.4  # a 2016-18 desktop (DDR4-2400 x2)


def test_typical_cpu_assumption_reaches_the_reasons(tmp_path):
    from llmfit_core.synth import write_synthetic_gguf

    write_synthetic_gguf(tmp_path / "m.gguf", "llama-tiny", "F16")
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"memory": {"total_gb": 64}, "gpus": [{"vendor": "nvidia", "name": "RTX 4090"}]}))
    r = llmfit_core.fit(str(tmp_path / "m.gguf"), hardware=str(hw), gpu_layers=0)
    assert any("assumed a typical" in x for x in r.reasons)
