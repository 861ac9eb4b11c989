"""fit says when a repo's stored format does not load in the chosen runtime (GPTQ/AWQ/MLX on llama.cpp, GGUF on mlx)."""

from __future__ import annotations

import pytest

from llmfit_core.backends import BACKENDS, format_note
from llmfit_core.model_spec import ModelSpec


def spec(fmt, quant) -> ModelSpec:
    return ModelSpec(ref="acme/x", arch="llama", params=8e9, active_params=8e9, n_layers=32, hidden_size=4096, n_heads=32,
                     n_kv_heads=8, head_dim=128, vocab_size=128256, max_context=8192, ffn_size=14336, format=fmt,
                     quant=quant)


@pytest.mark.parametrize("fmt,quant,backend,runs_in", [
    ("gptq", "GPTQ-8bit", "llama.cpp-cpu", "vLLM"),
    ("safetensors", "AWQ-4bit", "llama.cpp-cuda", "vLLM"),   # the quant label says it even when the format does not
    ("mlx", "MLX-4bit", "llama.cpp-cpu", "mlx-lm"),
    ("gguf", "Q4_K_M", "mlx", "llama.cpp"),
])
def test_formats_that_do_not_load_are_said(fmt, quant, backend, runs_in):
    note = format_note(spec(fmt, quant), BACKENDS[backend])
    assert note and quant in note and runs_in in note


@pytest.mark.parametrize("fmt,quant,backend", [
    ("gguf", "Q4_K_M", "llama.cpp-cuda"), ("mlx", "MLX-4bit", "mlx"),
    ("safetensors", "BF16", "llama.cpp-cpu"),  # priced as the GGUF users convert to; fit says that already
    ("safetensors", "Q4_K_M", "llama.cpp-cpu"), (None, None, "mlx"), ("", "", "llama.cpp-cpu"),
])
def test_formats_that_load_are_quiet(fmt, quant, backend):
    assert format_note(spec(fmt, quant), BACKENDS[backend]) is None


def test_fit_of_a_gptq_catalog_repo_says_it_first():
    from llmfit_core.api import fit

    r = fit("JunHowie/Qwen3-8B-GPTQ-Int8", offline=True, hardware="laptop-rtx4060")
    assert r.quant == "GPTQ-8bit"
    assert r.reasons[0].startswith("GPTQ-8bit weights do not load in llama.cpp")
    same_in_gguf = fit("JunHowie/Qwen3-8B-GPTQ-Int8", offline=True, hardware="laptop-rtx4060", quant="Q8_0")
    assert not any("do not load" in x for x in same_in_gguf.reasons)
