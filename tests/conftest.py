"""Shared pytest fixtures. Engineers append their fixtures below, in their own clearly marked section.

Fake Hugging Face Hub (tests/fakehub.py):
- `fake_hub`: a session-wide FakeHub on 127.0.0.1 with a standard set of repos (see STANDARD_REPOS).
  Call `fake_hub.reset_counts()` before asserting on `fake_hub.served(repo, file)`.
- `hf_env`: points this process's huggingface_hub (constants read at import time are patched) and
  subprocesses (os.environ) at `fake_hub`, with a fresh HF_HOME/cache under tmp_path and no token.
  Returns a dict: {"url", "home", "cache", "env"} (`env` is the full environment for a subprocess).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakehub import FakeHub, GGUFShape, llama_config  # noqa: E402

# ---- fake Hugging Face Hub (owner: plugin/HF work item) -------------------------------------

# Repos every test can rely on (built once per session):
TINY = GGUFShape(n_layers=2, hidden=256, ffn=512, n_heads=4, n_kv_heads=2, vocab=512, context=2048, name="tiny")
# ~70B llama shape, 150k vocab: a real header of ~2 MB, a declared Q4_K_M file of ~40 GB
HUGE = GGUFShape(n_layers=80, hidden=8192, ffn=28672, n_heads=64, n_kv_heads=8, vocab=152064, context=32768,
                 name="huge")
STANDARD_REPOS = {
    # tiny-*.gguf are complete files (zero weights) that llama-cpp-python 0.3.36 loads and evaluates
    "fake-org/Tiny-GGUF": "2 small GGUFs (tiny-Q4_K_M.gguf, tiny-Q8_0.gguf), fits anywhere",
    "fake-org/Huge-GGUF": "~70B GGUFs: huge-Q4_K_M.gguf (~40 GB), huge-Q8_0 split in 2 shards (~75 GB)",
    "fake-org/Gated-GGUF": "gated: files answer 401 GatedRepo without the token fake_hub.token",
    "fake-org/Tiny-llama": "transformers safetensors BF16 (config.json + model.safetensors)",
    "fake-org/Big-llama": "~70B transformers safetensors BF16 in 3 shards + index",
    "fake-community/Tiny-llama-4bit": "MLX 4-bit (config quantization bits=4 group_size=64)",
}


def _standard_hub() -> FakeHub:
    import dataclasses

    hub = FakeHub()
    hub.add_gguf_repo("fake-org/Tiny-GGUF", {"tiny-Q4_K_M.gguf": TINY,
                                             "tiny-Q8_0.gguf": dataclasses.replace(TINY, quant="Q8_0")},
                      downloads=50)
    hub.add_gguf_repo("fake-org/Huge-GGUF", {"huge-Q4_K_M.gguf": HUGE,
                                             "huge-Q8_0.gguf": dataclasses.replace(HUGE, quant="Q8_0")},
                      shards={"huge-Q8_0.gguf": 2}, downloads=100)
    hub.add_gguf_repo("fake-org/Gated-GGUF", {"gated-Q4_K_M.gguf": TINY}, gated=True)
    hub.add_safetensors_repo("fake-org/Tiny-llama", llama_config(), downloads=10)
    big = llama_config(hidden=8192, n_layers=80, n_heads=64, n_kv_heads=8, ffn=28672, vocab=128256, context=131072)
    hub.add_safetensors_repo("fake-org/Big-llama", big, n_shards=3, downloads=5)
    hub.add_safetensors_repo("fake-community/Tiny-llama-4bit", llama_config(), mlx_bits=4, downloads=1)
    return hub


@pytest.fixture(scope="session")
def fake_hub():
    """A running FakeHub with STANDARD_REPOS; tests may add repos (use unique names)."""
    hub = _standard_hub()
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def hf_env(fake_hub, tmp_path, monkeypatch):
    """Point huggingface_hub (in-process and subprocesses) at `fake_hub`, with an empty cache."""
    try:  # import before the environment changes: constants are read at import time, and
        import huggingface_hub.constants  # noqa: F401  (monkeypatch must restore the real values)
    except ImportError:
        pass
    home = tmp_path / "hf_home"
    cache = home / "hub"
    cache.mkdir(parents=True)
    env = fake_hub.env(home)
    for k, v in env.items():
        if k.startswith(("HF_", "NO_PROXY", "no_proxy")):
            monkeypatch.setenv(k, v)
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE"):
        monkeypatch.delenv(k, raising=False)
    try:
        from huggingface_hub import constants, hf_api
    except ImportError:
        pass
    else:
        monkeypatch.setattr(constants, "ENDPOINT", fake_hub.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake_hub.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HOME", str(home))
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(hf_api.api, "endpoint", fake_hub.url)
    fake_hub.reset_counts()
    return {"url": fake_hub.url, "home": home, "cache": cache, "env": env}


# ---- other engineers: add your fixtures below this line, in your own section ----------------


# ---- isolation shared by catalog/recommend/plan and hardware tests -------------------------


@pytest.fixture
def isolated_catalog(tmp_path, monkeypatch):
    """No user additions or private registries from the developer's machine; a fresh catalog cache."""
    from llmfit_core.catalog.store import clear_cache

    monkeypatch.setenv("LLMFIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMFIT_CATALOG_PATH", raising=False)
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def own_hardware_cache(tmp_path, monkeypatch):
    """A private measurement cache and a fresh hardware detection for each test."""
    from llmfit_core.hardware import registry

    monkeypatch.setenv("LLMFIT_CACHE_DIR", str(tmp_path / "cache"))
    registry.clear_detection_cache()
    yield
    registry.clear_detection_cache()
