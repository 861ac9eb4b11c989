"""HF adapter against the fake Hub with the real huggingface_hub client: resolution, header-only reads, errors."""

from __future__ import annotations

import json
import struct

import pytest
from conftest import HUGE, TINY
from fakehub import gguf_params

from llmfit_core.errors import AuthRequiredError, LlmfitError, NotFoundError, OfflineError

pytest.importorskip("huggingface_hub")

from llmfit_hf import llmfit_resolve_model, parse_ref  # noqa: E402
from llmfit_hf.files import gguf_variants, pick_variant, quant_from_name  # noqa: E402
from llmfit_hf.resolver import resolve_repo  # noqa: E402

SLACK = 1 << 20  # read-ahead beyond the header a reader may take


def _head_len(hub, repo, name):
    return len(hub.repos[repo].files[name].head)


def test_resolve_gguf_reads_only_the_header(hf_env, fake_hub):
    spec = resolve_repo("fake-org/Huge-GGUF", quant="Q4_K_M")
    f = fake_hub.repos["fake-org/Huge-GGUF"].files["huge-Q4_K_M.gguf"]
    assert spec.format == "gguf" and spec.quant == "Q4_K_M" and spec.exact
    assert (spec.n_layers, spec.hidden_size, spec.n_kv_heads, spec.vocab_size) == (80, 8192, 8, 152064)
    assert spec.params == gguf_params(HUGE)
    assert spec.file_bytes == f.size
    # all tensor bytes, as declared in the header (file minus header, minus alignment padding)
    assert f.size - len(f.head) - 32 * 1000 < spec.weight_bytes <= f.size - len(f.head)
    served = fake_hub.served("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")
    assert 0 < served <= len(f.head) + SLACK
    assert served < f.size / 5000


def test_split_gguf_reads_every_shard_header_and_sums(hf_env, fake_hub):
    spec = resolve_repo("fake-org/Huge-GGUF", quant="Q8_0")
    repo = fake_hub.repos["fake-org/Huge-GGUF"]
    shards = ["huge-Q8_0-00001-of-00002.gguf", "huge-Q8_0-00002-of-00002.gguf"]
    assert spec.files == shards
    assert spec.file_bytes == sum(repo.files[s].size for s in shards)
    data = sum(repo.files[s].size - len(repo.files[s].head) for s in shards)
    assert data - 32 * 1000 < spec.weight_bytes <= data
    for s in shards:
        assert fake_hub.served("fake-org/Huge-GGUF", s) <= len(repo.files[s].head) + SLACK


def test_quant_and_file_selection(hf_env):
    assert resolve_repo("fake-org/Tiny-GGUF").quant == "Q4_K_M"  # llama.cpp -hf default
    spec = resolve_repo("fake-org/Tiny-GGUF", file="tiny-Q8_0.gguf")
    assert spec.quant == "Q8_0" and spec.files == ["tiny-Q8_0.gguf"]
    # the hook understands the `org/name:QUANT` shorthand itself
    spec = llmfit_resolve_model("fake-org/Tiny-GGUF:Q8_0", {})
    assert spec.quant == "Q8_0" and spec.params == gguf_params(TINY)


def test_resolve_model_pipeline_uses_the_hub_adapter(hf_env):
    from llmfit_core.resolve import resolve_model

    spec = resolve_model("fake-org/Tiny-GGUF:Q8_0")
    assert spec.quant == "Q8_0" and spec.metadata.get("hf_repo") == "fake-org/Tiny-GGUF"


def test_missing_quant_and_renamed_file_name_the_alternatives(hf_env):
    with pytest.raises(NotFoundError) as ei:
        resolve_repo("fake-org/Tiny-GGUF", quant="IQ2_XS")
    assert "Q4_K_M" in str(ei.value) and "Q8_0" in str(ei.value)
    with pytest.raises(NotFoundError) as ei:
        resolve_repo("fake-org/Tiny-GGUF", file="tiny-old-name.gguf")
    assert "renamed" in str(ei.value) and "tiny-Q4_K_M.gguf" in str(ei.value)


def test_unknown_repo_is_not_found(hf_env):
    with pytest.raises(NotFoundError) as ei:
        resolve_repo("fake-org/does-not-exist")
    assert "not found" in str(ei.value)


def test_gated_repo_says_how_to_log_in_and_never_shows_the_token(hf_env, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_secret_123")
    with pytest.raises(AuthRequiredError) as ei:
        resolve_repo("fake-org/Gated-GGUF")
    msg = str(ei.value)
    assert "login" in msg.replace(" ", "") or "log in" in msg
    assert "hf_wrong_secret_123" not in msg


def test_gated_repo_with_the_right_token(hf_env, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", fake_hub.token)
    assert resolve_repo("fake-org/Gated-GGUF").quant == "Q4_K_M"


def test_server_ignoring_range_is_capped(hf_env, fake_hub):
    fake_hub.ignore_range = True
    try:
        spec = resolve_repo("fake-org/Huge-GGUF", quant="Q4_K_M")
    finally:
        fake_hub.ignore_range = False
    assert spec.n_layers == 80
    served = fake_hub.served("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf")
    assert served < 128 << 20  # a 42 GB body was offered; we closed after the header (+ socket buffers)


def test_no_network_is_offline_error(hf_env, monkeypatch):
    import socket

    from huggingface_hub import constants

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    with pytest.raises(OfflineError):
        resolve_repo("fake-org/Tiny-GGUF")
    with pytest.raises(OfflineError):
        llmfit_resolve_model("fake-org/Tiny-GGUF", {"offline": True})


def test_refs_that_are_not_repos_are_left_to_others(tmp_path):
    assert llmfit_resolve_model("ollama:llama3", {}) is None
    assert llmfit_resolve_model("../../etc/passwd", {}) is None
    local = tmp_path / "org"
    (local / "name").mkdir(parents=True)
    assert llmfit_resolve_model(str(local / "name"), {}) is None
    assert parse_ref("hf.co/org/name:Q4_K_M") == ("org/name", "Q4_K_M")
    assert parse_ref("org/na..me") is None and parse_ref("org/name/extra") is None


def test_path_traversal_in_file_names_is_rejected(hf_env):
    with pytest.raises(LlmfitError):
        resolve_repo("fake-org/Tiny-GGUF", file="../../etc/passwd")


@pytest.mark.parametrize("name,quant", [
    ("Llama-3-8B-Instruct.Q4_K_M.gguf", "Q4_K_M"), ("model-q8_0.gguf", "Q8_0"), ("m-IQ4_XS.gguf", "IQ4_XS"),
    ("m-BF16-00001-of-00002.gguf", "BF16"), ("Q6_K/m-00001-of-00003.gguf", "Q6_K"), ("model.gguf", None),
    ("qwen2.5-7b-instruct-fp16.gguf", "F16"),
])
def test_quant_from_file_names(name, quant):
    assert quant_from_name(name) == quant


def test_variants_group_shards_skip_projectors_and_incomplete_splits():
    files = {"a-Q4_K_M.gguf": 10, "a-Q8_0-00001-of-00002.gguf": 20, "a-Q8_0-00002-of-00002.gguf": 21,
             "a-F16-00001-of-00003.gguf": 5, "a-F16-00003-of-00003.gguf": 5, "mmproj-a-f16.gguf": 3, "README.md": 1}
    vs = gguf_variants(files)
    assert [(v.quant, v.files, v.size) for v in vs] == [
        ("Q4_K_M", ["a-Q4_K_M.gguf"], 10),
        ("Q8_0", ["a-Q8_0-00001-of-00002.gguf", "a-Q8_0-00002-of-00002.gguf"], 41),
    ]
    assert pick_variant(vs, file="a-Q8_0-00002-of-00002.gguf").quant == "Q8_0"
    # Unsloth-style names normalize alike; the literal match wins
    vs = gguf_variants({"m-UD-Q4_K_XL.gguf": 9, "m-Q4_K_M.gguf": 10})
    assert pick_variant(vs, quant="Q4_K_M").first == "m-Q4_K_M.gguf"


def test_safetensors_repo_exact_bytes_from_headers(hf_env, fake_hub):
    pytest.importorskip("llmfit_core.readers.hf_config")
    spec = resolve_repo("fake-org/Tiny-llama")
    f = fake_hub.repos["fake-org/Tiny-llama"].files["model.safetensors"]
    (n,) = struct.unpack("<Q", f.head[:8])
    header = json.loads(f.head[8:8 + n])
    tensor_bytes = sum(t["data_offsets"][1] - t["data_offsets"][0] for k, t in header.items() if k != "__metadata__")
    assert spec.format == "safetensors" and spec.exact
    assert spec.weight_bytes == tensor_bytes
    assert spec.n_layers == 4 and spec.file_bytes == f.size
    # only headers were read (get_safetensors_metadata: a 100 kB range) and config.json
    assert fake_hub.served("fake-org/Tiny-llama", "model.safetensors") <= 100_001


def test_mlx_repo_is_mlx_format_with_its_bits(hf_env):
    pytest.importorskip("llmfit_core.readers.hf_config")
    spec = resolve_repo("fake-community/Tiny-llama-4bit")
    assert spec.format == "mlx" and spec.quant == "MLX-4bit" and spec.exact


def test_offline_uses_the_local_hf_cache(hf_env, monkeypatch):
    import huggingface_hub as hh
    from huggingface_hub import constants

    hh.hf_hub_download("fake-org/Tiny-GGUF", "tiny-Q8_0.gguf")  # now cached
    spec = llmfit_resolve_model("fake-org/Tiny-GGUF:Q8_0", {"offline": True})
    assert spec.quant == "Q8_0" and spec.params == gguf_params(TINY) and "cache" in " ".join(spec.notes)
    with pytest.raises(OfflineError, match="not in the local"):
        llmfit_resolve_model("fake-org/Huge-GGUF", {"offline": True})
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # network gone: the cache answers
    assert resolve_repo("fake-org/Tiny-GGUF", quant="Q8_0").files == ["tiny-Q8_0.gguf"]


def test_hostile_config_json_is_refused(hf_env, fake_hub, monkeypatch):
    from fakehub import FakeFile, FakeHub, safetensors_file
    from huggingface_hub import constants

    from llmfit_core.errors import ModelReadError
    from llmfit_hf.resolver import CONFIG_CAP, fetch_config

    repo = "evil-org/Hostile-config"
    with FakeHub() as hub:  # its own server: the shared one stays clean for listings
        hub.add_repo(repo, [FakeFile("config.json", 300 << 20, b'{"model_type": "llama", ', lfs=False),
                            safetensors_file("model.safetensors", {"w": ("BF16", (16, 16))})])
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
        with pytest.raises(ModelReadError, match="config.json"):
            resolve_repo(repo)  # size known from the listing: refused before any byte
        assert hub.served(repo, "config.json") == 0
        with pytest.raises(ModelReadError, match="config.json"):
            fetch_config(repo)  # size unknown (search results): streamed and cut off at the cap
        assert hub.served(repo, "config.json") < CONFIG_CAP + (64 << 20)
