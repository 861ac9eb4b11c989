"""`llmfit models` lists what every source plugin offers (hook llmfit_list_models) and annotates each fit;
`llmfit system` names the runtimes the runner adapters report here (hook llmfit_backends)."""

import json

from click.testing import CliRunner
from fakeollama import dead_host, install_local, make_model

from llmfit_core.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_models_from_the_hub_and_the_ollama_store_are_annotated(hf_env, tmp_path, monkeypatch):
    store = tmp_path / "ollama"
    install_local(store, make_model("tiny-local", "1b", "tiny"))
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    res = run("models", "tiny", "--hardware", "workstation-4090", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    by_source = {r["source"] for r in rows}
    assert {"huggingface", "ollama"} <= by_source
    local = next(r for r in rows if r["ref"].startswith("ollama:tiny-local"))
    assert local["verdict"] == "runs" and local["memory_bytes"] > 0 and local["decode_tok_s"] > 0
    assert all(r["verdict"] in ("runs", "offload", "tight", "no-fit", "error") for r in rows)


def test_models_source_filter_and_no_fit(hf_env, tmp_path, monkeypatch):
    store = tmp_path / "ollama"
    install_local(store, make_model("tiny-local", "1b", "tiny"))
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    res = run("models", "tiny", "--source", "ollama", "--no-fit", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows and all(r["source"] == "ollama" for r in rows) and "verdict" not in rows[0]
    res = run("models", "no-such-model-xyz", "--source", "ollama")
    assert res.exit_code == 0 and "no models found" in res.output


def test_offline_models_lists_the_shipped_catalogs_matches(tmp_path, monkeypatch):
    """Offline the Hub cannot be searched: the shipped catalog answers, first-party releases first, each scored."""
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "no-ollama-store"))
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = run("models", "llama", "--offline", "--hardware", "workstation-4090", "--limit", "30", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 30 and {r["source"] for r in rows} == {"catalog"}
    assert rows[0]["ref"].startswith("meta-llama/") and all("llama" in r["ref"].lower() for r in rows)
    assert "meta-llama/Llama-3.1-8B-Instruct" in [r["ref"] for r in rows]
    assert all(r["verdict"] in ("runs", "offload", "tight", "no-fit") for r in rows), [r for r in rows if r.get("error")]
    res = run("models", "qwen3", "--source", "catalog", "--no-fit", "--json")  # asked for by name, online too
    assert res.exit_code == 0 and {r["source"] for r in json.loads(res.stdout)} == {"catalog"}


def test_system_lists_the_runtime_of_the_installed_llama_cpp_build():
    res = run("system", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    import llama_cpp

    expected = "llama.cpp-cpu" if not llama_cpp.llama_supports_gpu_offload() else None
    assert "runtimes" in data
    if expected:
        assert expected in data["runtimes"]
    # a named profile describes another machine: the runners installed here say nothing about it
    res = run("system", "--hardware", "workstation-4090", "--json")
    assert "runtimes" not in json.loads(res.stdout)


def test_a_broken_manifest_in_the_ollama_store_is_reported_and_skipped(tmp_path, monkeypatch):
    store = tmp_path / "ollama"
    install_local(store, make_model("good", "1b", "tiny"))
    bad = store / "manifests" / "registry.ollama.ai" / "library" / "broken"
    bad.mkdir(parents=True)
    (bad / "latest").write_text("{not json")
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    res = CliRunner().invoke(cli, ["models", "--source", "ollama", "--no-fit", "--json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert [r["ref"] for r in rows] == ["ollama:good:1b"]
    assert "skipped" in res.stderr and "latest" in res.stderr
