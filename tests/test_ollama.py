"""Ollama adapter: `ollama:` refs from the local store, the local API and the registry; ls and pull commands."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from fakeollama import FakeOllama, dead_host, install_local, make_model

from llmfit_core.errors import ModelReadError, ResolveError


@pytest.fixture(scope="module")
def fake():
    with FakeOllama() as f:
        f.add(make_model("huge", "70b", "big", params={"num_ctx": 8192}))
        f.add(make_model("tiny", "latest", "tiny"))
        f.add(make_model("served", "1b", "tiny", params={"num_ctx": 1024}), installed=True)
        f.add(make_model("coder", "q8", "tiny", namespace="someuser"))
        f.add(make_model("broken", "latest", "tiny"))
        f.truncate_manifest.add("broken:latest")
        yield f


@pytest.fixture
def env(fake, tmp_path, monkeypatch):
    store = tmp_path / "models"
    store.mkdir()
    for k in list(os.environ):
        if k.startswith(("OLLAMA_", "LLMFIT_")) or k in ("HF_HUB_OFFLINE",):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    monkeypatch.setenv("OLLAMA_HOST", fake.url)
    monkeypatch.setenv("LLMFIT_OLLAMA_REGISTRY", fake.url)
    fake.blob_bytes.clear()
    fake.requests.clear()
    return store


def resolve(ref, **options):
    from llmfit_ollama.resolver import resolve_ollama

    return resolve_ollama(ref, options)


def test_registry_reads_only_the_header(fake, env):
    m = make_model("huge", "70b", "big")
    spec = resolve("ollama:huge:70b")
    assert spec.ref == "ollama:huge:70b" and spec.arch == "llama" and spec.exact
    assert spec.params == m.facts["params"] and spec.weight_bytes == m.facts["weight_bytes"]
    assert spec.n_layers == 80 and spec.n_kv_heads == 8 and spec.quant == "Q4_K_M"
    assert spec.file_bytes == m.manifest["layers"][0]["size"]
    assert spec.metadata["ollama"]["origin"] == "registry" and not spec.metadata["ollama"]["installed"]
    assert spec.metadata["runtime_defaults"]["context"] == 8192  # num_ctx from the params layer
    served = fake.model_bytes_served()
    # at most the header (the reader may even skip parts of it by seeking), never tensor data
    assert 0 < served <= 2 * m.facts["header_bytes"] + (1 << 20)
    assert served < spec.file_bytes / 1000


def test_user_namespace_and_default_tag(fake, env):
    assert resolve("ollama:someuser/coder:q8").metadata["ollama"]["name"] == "someuser/coder:q8"
    assert resolve("ollama:tiny").metadata["ollama"]["name"] == "tiny:latest"


def test_local_store_first_without_network(fake, env, monkeypatch):
    install_local(env, make_model("local", "3b", "tiny", params={"num_ctx": 16384}))
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    monkeypatch.setenv("LLMFIT_OLLAMA_REGISTRY", dead_host())
    spec = resolve("ollama:local:3b", offline=True)
    assert spec.metadata["ollama"]["origin"] == "local-store" and spec.exact
    assert spec.weight_bytes == make_model("local", "3b", "tiny").facts["weight_bytes"]
    assert spec.metadata["runtime_defaults"]["context"] == 16384
    from llmfit_ollama import llmfit_list_models

    refs = llmfit_list_models("loc", {})
    assert [r.ref for r in refs] == ["ollama:local:3b"]
    assert llmfit_list_models("loc", {"source": "huggingface"}) is None
    install_local(env, make_model("local2", "1b", "tiny"))
    assert len(llmfit_list_models("loc", {})) == 2 and len(llmfit_list_models("loc", {"limit": 1})) == 1


def test_local_api_for_models_the_server_has(fake, env):
    spec = resolve("ollama:served:1b")
    assert spec.metadata["ollama"]["origin"] == "local-api" and not spec.exact
    assert spec.params == make_model("served", "1b").facts["params"]
    assert spec.metadata["runtime_defaults"]["context"] == 1024
    assert fake.model_bytes_served() == 0
    from llmfit_ollama import llmfit_list_models

    assert [r.name for r in llmfit_list_models("", {})] == ["served:1b"]


def test_runtime_settings_from_environment(fake, env, monkeypatch):
    monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "32768")
    monkeypatch.setenv("OLLAMA_NUM_PARALLEL", "4")
    monkeypatch.setenv("OLLAMA_KV_CACHE_TYPE", "q8_0")
    rd = resolve("ollama:tiny").metadata["runtime_defaults"]
    # 4 parallel slots of 32k each: llama.cpp gets 128k of context; q8_0 needs flash attention
    assert (rd["context"], rd["context_per_request"], rd["n_seq"], rd["cache_type"]) == (4 * 32768, 32768, 4, "f16")
    monkeypatch.setenv("OLLAMA_FLASH_ATTENTION", "1")
    rd = resolve("ollama:tiny").metadata["runtime_defaults"]
    assert rd["cache_type"] == "q8_0" and rd["flash_attn"] is True
    # the model's own num_ctx wins over OLLAMA_CONTEXT_LENGTH
    assert resolve("ollama:huge:70b").metadata["runtime_defaults"]["context_per_request"] == 8192
    monkeypatch.setenv("OLLAMA_NUM_PARALLEL", "many")
    with pytest.raises(ResolveError, match="OLLAMA_NUM_PARALLEL"):
        resolve("ollama:tiny")


@pytest.mark.parametrize("bad", ["ollama:../../etc/passwd", "ollama:/etc/passwd", "ollama:a/b/c", "ollama:x:../y",
                                 "ollama:..", "ollama:na me", "ollama:x:", "ollama:", "ollama:a\\b", "ollama:.hidden"])
def test_path_traversal_and_odd_names_rejected(fake, env, bad):
    with pytest.raises(ResolveError):
        resolve(bad)
    assert fake.requests == []


def test_hostile_digest_in_local_manifest_rejected(fake, env):
    m = make_model("evil", "latest", "tiny")
    path = install_local(env, m)
    manifest = json.loads(path.read_text())
    manifest["layers"][0]["digest"] = "sha256:../../../../etc/passwd"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelReadError, match="digest"):
        resolve("ollama:evil")


def test_truncated_manifests(fake, env):
    with pytest.raises(ModelReadError, match="truncated"):
        resolve("ollama:broken")
    path = install_local(env, make_model("cut", "latest", "tiny"))
    path.write_text(path.read_text()[:40])
    with pytest.raises(ModelReadError, match="truncated"):
        resolve("ollama:cut")


def test_unknown_model_and_no_registry(fake, env, monkeypatch):
    from llmfit_core.errors import NotFoundError, OfflineError

    with pytest.raises(NotFoundError):
        resolve("ollama:nosuchmodel")
    monkeypatch.setenv("LLMFIT_OLLAMA_REGISTRY", dead_host())
    with pytest.raises(OfflineError):
        resolve("ollama:tiny")


def test_registry_ignoring_range_reads_a_bounded_prefix(fake, env):
    fake.ignore_range = True
    try:
        spec = resolve("ollama:huge:70b")  # the 200 body is streamed only as far as the header goes
    finally:
        fake.ignore_range = False
    assert spec.n_layers == 80
    assert fake.model_bytes_served() < 24 << 20  # of a 40 GB blob: header + socket buffers, then closed


def test_hook_only_handles_ollama_refs(fake, env):
    from llmfit_ollama import llmfit_resolve_model, runner_status

    assert llmfit_resolve_model("org/name", {}) is None
    assert llmfit_resolve_model("ollama:tiny", {}).arch == "llama"
    ok, msg = runner_status()
    assert isinstance(ok, bool) and "ollama" in msg


# ---- CLI ---------------------------------------------------------------------------------------

def invoke(*args):
    from llmfit_core.cli.main import cli

    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def hw(tmp_path):
    p = tmp_path / "hw.json"
    p.write_text(json.dumps({"name": "test-8g", "cpu": {"model": "t", "cores": 4, "threads": 4, "mem_bandwidth_gbs": 40},
                             "memory": {"total_gb": 8, "available_gb": 6}, "gpus": []}))
    return str(p)


def test_cli_pull_no_fit_exits_3_after_header_only(fake, env, hw, monkeypatch):
    monkeypatch.setenv("PATH", str(env))  # no `ollama` CLI: the API pull would be used
    r = invoke("ollama", "pull", "huge:70b", "--hardware", hw)
    assert r.exit_code == 3, r.output
    assert "does not fit" in r.output and not fake.pulls
    assert fake.model_bytes_served() <= 2 * make_model("huge", "70b", "big").facts["header_bytes"] + (1 << 20)


def test_cli_pull_fits_goes_through_the_api(fake, env, hw, monkeypatch):
    monkeypatch.setenv("PATH", str(env))
    r = invoke("ollama", "pull", "tiny", "--hardware", hw)
    assert r.exit_code == 0, r.output
    assert fake.pulls[-1] == "tiny:latest" and "success" in r.output


def test_cli_pull_uses_the_ollama_cli_when_present(fake, env, hw, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    out = tmp_path / "args.txt"
    exe = bindir / "ollama"
    exe.write_text(f"#!/bin/sh\nprintf '%s|' \"$@\" \"$LLMFIT_BYPASS\" > {out}\nexit 0\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    r = invoke("ollama", "pull", "huge:70b", "--hardware", hw, "--force")
    assert r.exit_code == 0, r.output
    assert out.read_text() == "pull|huge:70b|1|"  # the shim (if any) is bypassed: we checked already


def test_cli_pull_bad_input_is_one_line(fake, env, hw):
    r = invoke("ollama", "pull", "../../etc/passwd", "--hardware", hw)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "invalid" in r.output
    r = invoke("ollama", "pull", "broken", "--hardware", hw, "--strict")
    assert r.exit_code == 1 and "truncated" in r.output and "Traceback" not in r.output


def test_cli_ls_annotates_installed_models(fake, env, hw):
    install_local(env, make_model("local", "3b", "tiny"))
    r = invoke("ollama", "ls", "--hardware", hw)
    assert r.exit_code == 0, r.output
    line = [x for x in r.output.splitlines() if x.startswith("local:3b")][0]
    assert "runs" in line
    r = invoke("ollama", "ls", "--hardware", hw, "--json")
    rows = json.loads(r.output)
    assert rows[0]["name"] == "local:3b" and rows[0]["fits"] is True and rows[0]["total_bytes"] > 0


@pytest.mark.parametrize("host,url", [
    ("", "http://127.0.0.1:11434"), ("1.2.3.4", "http://1.2.3.4:11434"), (":56789", "http://127.0.0.1:56789"),
    ("http://example.com", "http://example.com:80"), ("https://example.com:8443/path/", "https://example.com:8443/path"),
    ("[::1]:5000", "http://[::1]:5000"), ("0.0.0.0", "http://0.0.0.0:11434"),
])
def test_ollama_host_forms_match_the_ollama_client(host, url):
    import importlib

    from llmfit_ollama.localapi import base_url

    parse_host = importlib.import_module("ollama._client")._parse_host  # the client's own rules
    assert base_url(host) == url == parse_host(host)


def test_bad_ollama_host_is_one_clear_error(monkeypatch):
    from llmfit_ollama.localapi import base_url

    with pytest.raises(ResolveError, match="OLLAMA_HOST"):
        base_url("ftp://x")
    with pytest.raises(ResolveError, match="OLLAMA_HOST"):
        base_url("host:notaport")


def test_fit_uses_what_ollama_would_load(fake, env, hw, monkeypatch):
    from llmfit_core.api import fit

    one = fit("ollama:huge:70b", hardware=hw)
    assert one.context == 8192  # num_ctx of the model's params layer
    monkeypatch.setenv("OLLAMA_NUM_PARALLEL", "4")
    four = fit("ollama:huge:70b", hardware=hw)
    assert four.context == 4 * 8192  # Ollama's FAQ: parallel requests multiply the context
    assert four.memory.kv_cache_bytes == 4 * one.memory.kv_cache_bytes
    assert not four.fits and four.model_ref == "ollama:huge:70b"


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'{"layers": "x"}', b'{"layers": [1]}',
                                 b'{"layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:'
                                 + b"a" * 64 + b'", "size": -1}]}',
                                 b'{"layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "md5:x", "size": 1}]}'])
def test_malformed_manifests_are_model_read_errors(raw):
    from llmfit_ollama.registry import layer, parse_manifest

    with pytest.raises(ModelReadError):
        layer(parse_manifest(raw, "x"), "model")


def test_no_name_escapes_the_store(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from llmfit_ollama.names import parse_name
    from llmfit_ollama.store import manifest_path

    base = (tmp_path / "manifests").resolve()

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from(list("ab./:\\_-~%$ \x00")), max_size=24))
    def check(text):
        try:
            name = parse_name("ollama:" + text)
        except ResolveError:
            return
        assert base in manifest_path(name, tmp_path).resolve().parents

    check()


def test_hf_co_names_are_read_from_the_hub(hf_env, tmp_path, monkeypatch):
    """`ollama pull hf.co/org/repo:QUANT` fetches a Hub GGUF: the Hub adapter reads its header."""
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    spec = resolve("ollama:hf.co/fake-org/Tiny-GGUF:Q8_0")
    assert spec.quant == "Q8_0" and spec.ref == "ollama:hf.co/fake-org/Tiny-GGUF:Q8_0"
    assert spec.metadata["ollama"]["origin"] == "huggingface" and "runtime_defaults" in spec.metadata
    assert resolve("ollama:huggingface.co/fake-org/Tiny-GGUF").quant == "Q4_K_M"  # Ollama's default pick
    with pytest.raises(ResolveError):
        resolve("ollama:hf.co/../x/y")
    # installed hf.co models live under manifests/hf.co/ and are found there first
    m = make_model("Tiny-GGUF", "Q8_0", "tiny", namespace="fake-org")
    root = tmp_path / "manifests" / "hf.co" / "fake-org" / "Tiny-GGUF"
    root.mkdir(parents=True)
    install_local(tmp_path, m)
    (tmp_path / "manifests" / "registry.ollama.ai" / "fake-org" / "Tiny-GGUF" / "Q8_0").rename(root / "Q8_0")
    spec = resolve("ollama:hf.co/fake-org/Tiny-GGUF:Q8_0")
    assert spec.metadata["ollama"]["origin"] == "local-store"
    from llmfit_ollama import llmfit_list_models

    assert [r.name for r in llmfit_list_models("tiny", {})] == ["hf.co/fake-org/Tiny-GGUF:Q8_0"]


def test_missing_ollama_client_pull_is_one_line(fake, env, hw, monkeypatch):
    import sys

    import llmfit_ollama

    monkeypatch.setitem(sys.modules, "ollama", None)
    monkeypatch.setenv("PATH", str(env))
    ok, msg = llmfit_ollama.runner_status()
    assert not ok and "python client missing" in msg
    r = invoke("ollama", "pull", "tiny", "--hardware", hw)
    assert r.exit_code == 1 and "neither the `ollama` CLI nor the `ollama` Python client" in r.output
