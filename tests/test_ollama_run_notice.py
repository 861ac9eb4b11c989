"""`ollama run NAME` (shim): before the load, Ollama's default context, the largest that fits, and a warning when
the default spills layers to the CPU; never stops the run (installed models are not downloads)."""

from __future__ import annotations

import io
import json

import pytest
from fakeollama import FakeOllama, install_local, make_model

from llmfit_core import shims


@pytest.fixture
def ollama(tmp_path, monkeypatch):
    store = tmp_path / "models"
    store.mkdir()
    with FakeOllama() as fake:
        for m in (make_model("big", "70b", "big", params={"num_ctx": 32768}), make_model("tiny", "latest", "tiny")):
            fake.add(m)
            install_local(store, m)
        monkeypatch.setenv("OLLAMA_MODELS", str(store))
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        monkeypatch.setenv("LLMFIT_OLLAMA_REGISTRY", fake.url)
        for k in ("OLLAMA_CONTEXT_LENGTH", "OLLAMA_NUM_PARALLEL", "LLMFIT_BYPASS", "LLMFIT_CONTEXT"):
            monkeypatch.delenv(k, raising=False)
        yield fake


def _hw(tmp_path, vram_gb=None, ram_gb=128):
    gpus = [{"vendor": "nvidia", "name": "RTX A6000", "vram_gb": vram_gb}] if vram_gb else []
    p = tmp_path / "hw.json"
    p.write_text(json.dumps({"name": "box", "cpu": {"model": "x", "cores": 16, "threads": 32, "isa": ["avx2"]},
                             "memory": {"total_gb": ram_gb}, "gpus": gpus}))
    return str(p)


def _run(args, monkeypatch, hw):
    monkeypatch.setenv("LLMFIT_HARDWARE", hw)
    err = io.StringIO()
    code = shims.run_check("ollama", args, err=err)
    return code, err.getvalue().strip().splitlines()


def test_default_context_that_spills_layers_is_warned_with_the_context_that_would_not(ollama, tmp_path, monkeypatch):
    code, lines = _run(["run", "big:70b", "hi"], monkeypatch, _hw(tmp_path, vram_gb=44))
    assert code == 0 and len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("llmfit: warning: big:70b: Ollama will use context 32768 (num_ctx in the model's parameters)")
    assert "layers fit in VRAM, the rest run on the CPU" in line
    upto = int(line.split("every layer stays on the GPU up to context ")[1].split(" ")[0])
    assert 4096 <= upto < 32768 and upto % 256 == 0
    largest = int(line.split("the largest that fits here is ")[1].split(";")[0])
    assert largest >= 32768  # with layers in the 128 GB of RAM, more context fits than on the card alone


def test_a_model_that_fits_is_told_its_context_without_a_warning(ollama, tmp_path, monkeypatch):
    code, lines = _run(["run", "tiny"], monkeypatch, _hw(tmp_path, vram_gb=48))
    assert code == 0 and len(lines) == 1
    assert lines[0] == "llmfit: tiny: Ollama will use context 4096 (ollama default); the largest that fits here is 2048"


def test_a_model_that_does_not_fit_is_warned_but_runs(ollama, tmp_path, monkeypatch):
    code, lines = _run(["run", "big:70b"], monkeypatch, _hw(tmp_path, ram_gb=8))
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith("llmfit: warning: big:70b: Ollama will use context 32768")
    assert "not even 512 tokens fit here" in lines[0] and "does not fit" in lines[0]
