"""RunSettings: one dataclass for what the runner is asked, taken by fit / fit_spec, the CLI, --batch and
context_fit; the old keyword calls map onto it; the report carries the settings it priced, resolved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import llmfit_core
from llmfit_core.api import fit, fit_spec
from llmfit_core.cli.main import cli
from llmfit_core.context_fit import context_fit
from llmfit_core.errors import LlmfitError
from llmfit_core.settings import RUNNER_DEFAULTS, RunSettings
from llmfit_core.synth import write_synthetic_gguf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training.model_configs import build_spec  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(write_synthetic_gguf(tmp_path_factory.mktemp("settings") / "tiny-F16.gguf", "llama-tiny", "F16"))


def test_settings_and_the_old_keywords_give_the_same_report(tiny):
    asked = RunSettings(context="2k", cache_type="q8_0", flash_attn=True, n_seq=2, prompt_tokens=256)
    by_settings = fit(tiny, "cpu-only-16gb", settings=asked).to_dict()
    by_keywords = fit(tiny, "cpu-only-16gb", context="2k", cache_type="q8_0", flash_attn=True, n_seq=2,
                      prompt_tokens=256).to_dict()
    assert by_settings == by_keywords
    assert by_settings["context"] == 2048
    assert llmfit_core.fit(tiny, hardware="cpu-only-16gb", settings=asked).to_dict() == by_settings


def test_keywords_go_over_the_settings(tiny):
    rep = fit(tiny, "cpu-only-16gb", settings=RunSettings(context=1024, cache_type="q8_0"), context=2048)
    assert rep.to_dict() == fit(tiny, "cpu-only-16gb", context=2048, cache_type="q8_0").to_dict()
    assert rep.context == 2048 and rep.settings.cache_types() == ("q8_0", "q8_0")


def test_the_report_carries_the_resolved_settings(tiny):
    rep = fit(tiny, "cpu-only-16gb", context="2k", depth="1k", cache_type_v="q8_0", flash_attn=True)
    s = rep.settings
    assert (s.context, s.depth, s.prompt_tokens, s.gen_tokens, s.n_seq) == (2048, 1024, 512, 128, 1)
    assert s.cache_types() == ("f16", "q8_0") and s.cache_type is None
    assert rep.max_context_settings.cpu_moe is False and rep.max_context_settings.cache_types() == ("f16", "q8_0")
    assert rep.memory_estimate.cache_type_v == "q8_0" and rep.placement.fits == rep.fits
    assert rep.throughput.decode_tok_s == rep.decode_tok_s


def test_an_ollama_models_runtime_defaults_fill_the_unasked_settings():
    spec = build_spec("llama-3.1-8b", "Q4_K_M")
    spec.metadata["runtime_defaults"] = {"context": 8192, "n_seq": 2, "cache_type": "q8_0", "flash_attn": True}
    s = fit_spec(spec, "cpu-only-16gb").settings
    assert (s.context, s.n_seq, s.cache_types(), s.flash_attn) == (8192, 2, ("q8_0", "q8_0"), True)
    s = fit_spec(spec, "cpu-only-16gb", cache_type_k="f16", n_seq=1).settings
    assert (s.n_seq, s.cache_types()) == (1, ("f16", "q8_0"))


def test_a_misspelt_keyword_names_the_closest_setting(tiny):
    with pytest.raises(TypeError, match="did you mean 'context'"):
        fit(tiny, "cpu-only-16gb", contxt=4096)
    with pytest.raises(TypeError, match="did you mean 'n_cpu_moe'"):
        fit_spec(build_spec("qwen3-30b-a3b", "Q4_K_M"), "cpu-only-16gb", n_cpu_mo=3)


def test_fit_spec_third_argument_is_settings_not_a_context():
    with pytest.raises(TypeError, match="RunSettings"):
        fit_spec(build_spec("llama-3.1-8b", "Q4_K_M"), "cpu-only-16gb", 4096)


def test_impossible_values_are_one_line_errors():
    with pytest.raises(LlmfitError, match="parallel sequences must be 1 or more"):
        RunSettings(n_seq=0)


def test_runner_defaults_are_run_settings():
    assert RUNNER_DEFAULTS["llama.cpp"] == RunSettings()  # llama-server's own defaults are RunSettings' defaults
    py = RUNNER_DEFAULTS["llama-cpp-python"]
    assert (py.flash_attn, py.swa_full, py.n_batch, py.context) == (False, True, 512, 512)


def test_context_fit_holds_an_exact_expert_offload():
    spec = build_spec("qwen3-30b-a3b", "Q4_K_M")
    hw = "workstation-4090"
    exact = context_fit(spec, hw, "llama.cpp-cuda", RunSettings(n_cpu_moe=spec.n_layers))
    assert exact.max_context is not None and "--n-cpu-moe 48" in exact.reasons[-1]


def test_batch_line_settings_go_over_the_command_line(tiny, tmp_path):
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join([json.dumps({"ref": tiny}), json.dumps({"ref": tiny, "context": "1k"}),
                                json.dumps({"ref": tiny, "cache-typ": "q8_0"}),
                                json.dumps({"ref": tiny, "paralel": 2})]) + "\n")
    res = CliRunner().invoke(cli, ["fit", "--batch", str(batch), "--hardware", "cpu-only-16gb", "-c", "2k"],
                             catch_exceptions=False)
    out = [json.loads(x) for x in res.output.splitlines()]
    assert [o.get("context") for o in out[:2]] == [2048, 1024]
    assert out[2]["error"]["message"] == "unknown key 'cache-typ' (did you mean 'cache-type'?)"
    assert out[3]["error"]["message"] == "unknown key 'paralel' (did you mean 'parallel'?)"
