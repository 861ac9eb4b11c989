"""The drop-in shims: pass-through is byte-exact; downloads are checked; bypass/strict/fail-open/force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakeollama import FakeOllama, dead_host, make_model

from llmfit_core import shims

FAKE_REAL = """#!/bin/sh
# a stand-in for the real program: records its arguments NUL-separated, echoes stdin, exits as told
: > "$FAKE_ARGS_OUT"
for a in "$@"; do printf '%s\\0' "$a" >> "$FAKE_ARGS_OUT"; done
cat
exit "${FAKE_EXIT:-0}"
"""

NASTY_ARGS = ["two words", "quote'single", 'quote"double', "new\nline", "*", "[a-z]?", "$HOME", "", "-", "--x=y z",
              "back\\slash", "tab\there", "ünïcödé"]


@pytest.fixture
def shimenv(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    for tool in shims.shim_tools():
        p = real / tool
        p.write_text(FAKE_REAL)
        p.chmod(0o755)
    shim_dir = tmp_path / "shims"
    res = shims.install(shim_dir, python=sys.executable)
    assert len(res.written) == len(shims.shim_tools())
    models = tmp_path / "ollama-models"
    models.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMFIT_", "OLLAMA_"))}
    env.update(PATH=f"{shim_dir}:{real}:/usr/bin:/bin", FAKE_ARGS_OUT=str(tmp_path / "args.bin"),
               OLLAMA_HOST=dead_host(), LLMFIT_OLLAMA_REGISTRY=dead_host(), OLLAMA_MODELS=str(models),
               )
    return {"dir": shim_dir, "real": real, "env": env, "args": tmp_path / "args.bin", "tmp": tmp_path}


def run(shimenv, tool, args, stdin=b"", **env):
    e = dict(shimenv["env"], **env)
    if shimenv["args"].exists():
        shimenv["args"].unlink()
    return subprocess.run([tool, *args], input=stdin, capture_output=True, env=e, timeout=120)


def recorded(shimenv):
    if not shimenv["args"].exists():
        return None
    raw = shimenv["args"].read_bytes()
    return [a.decode() for a in raw.split(b"\0")[:-1]]


@pytest.mark.parametrize("tool,args,code", [
    ("ollama", ["list"], 0),
    ("ollama", ["show", "x y"], 7),
    ("hf", ["env"], 1),
    ("huggingface-cli", ["whoami"], 0),
    ("llama-cli", ["-m", "model file.gguf", "-p"], 42),
    ("llama-server", ["--port", "8080"], 0),
])
def test_passthrough_is_byte_exact(shimenv, tool, args, code):
    stdin = bytes(range(256)) * 4 + b"\xff\xfe not utf-8\n"
    r = run(shimenv, tool, args + NASTY_ARGS, stdin=stdin, FAKE_EXIT=str(code))
    assert r.returncode == code
    assert recorded(shimenv) == args + NASTY_ARGS
    assert r.stdout == stdin
    assert r.stderr == b""


def test_bypass_skips_check_even_for_downloads(shimenv):
    # with a dead registry the check would warn; bypass must not even try
    r = run(shimenv, "ollama", ["pull", "llama3"], LLMFIT_BYPASS="1", FAKE_EXIT="5")
    assert r.returncode == 5
    assert recorded(shimenv) == ["pull", "llama3"]
    assert r.stderr == b""


def test_check_failure_fails_open_with_one_warning(shimenv):
    r = run(shimenv, "ollama", ["pull", "some model"], FAKE_EXIT="4")
    assert r.returncode == 4
    assert recorded(shimenv) == ["pull", "some model"]
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmfit: warning:") and "running ollama anyway" in lines[0]


def test_check_failure_in_strict_mode_stops(shimenv):
    r = run(shimenv, "ollama", ["pull", "llama3"], LLMFIT_STRICT="1")
    assert r.returncode == 1
    assert recorded(shimenv) is None
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmfit: error:")


def test_missing_python_fails_open_or_stops_when_strict(shimenv):
    r = run(shimenv, "hf", ["download", "org/name"], LLMFIT_PYTHON="/nonexistent/python")
    assert r.returncode == 0 and recorded(shimenv) == ["download", "org/name"]
    assert "running hf anyway" in r.stderr.decode()
    r = run(shimenv, "hf", ["download", "org/name"], LLMFIT_PYTHON="/nonexistent/python", LLMFIT_STRICT="1")
    assert r.returncode != 0 and recorded(shimenv) is None


def test_real_program_missing_is_one_line(shimenv):
    (shimenv["real"] / "llama-cli").unlink()
    r = run(shimenv, "llama-cli", ["--version"])
    assert r.returncode == 127
    assert len(r.stderr.decode().splitlines()) == 1 and "not on PATH" in r.stderr.decode()


def test_two_shim_dirs_do_not_loop(shimenv):
    other = shimenv["tmp"] / "shims2"
    shims.install(other, python=sys.executable)
    env = dict(shimenv["env"], PATH=f"{other}:{shimenv['dir']}:{other}:{shimenv['real']}:/usr/bin:/bin")
    r = subprocess.run(["ollama", "ps", "a b"], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0
    assert recorded(shimenv) == ["ps", "a b"]


def test_hooks_dir_matches_installed_template():
    root = Path(__file__).resolve().parent.parent / "hooks"
    for tool in shims.shim_tools():
        assert (root / tool).read_text() == shims.render_shim(tool, "python3"), f"hooks/{tool} is stale"
        assert os.access(root / tool, os.X_OK)
    assert (root / "README.md").is_file()


def test_install_keeps_foreign_files_and_uninstall_only_removes_shims(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    (d / "ollama").write_text("#!/bin/sh\necho mine\n")
    res = shims.install(d, python=sys.executable)
    assert res.skipped == ["ollama"] and (d / "ollama").read_text() == "#!/bin/sh\necho mine\n"
    assert res.path_line == f'export PATH="{d}:$PATH"'
    removed = shims.uninstall(d)
    assert sorted(p.name for p in removed) == sorted(t for t in shims.shim_tools() if t != "ollama")
    assert (d / "ollama").exists()


def test_hooks_cli_install_status_uninstall(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from llmfit_core.cli.main import cli

    d = tmp_path / "my shims"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    r = CliRunner().invoke(cli, ["hooks", "install", "--dir", str(d)])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == f"export PATH='{d}:'\"$PATH\""
    assert all((d / t).is_file() for t in shims.shim_tools())
    r = CliRunner().invoke(cli, ["hooks", "status", "--dir", str(d)])
    assert r.exit_code == 0 and "not on PATH" in r.output and "installed" in r.output
    r = CliRunner().invoke(cli, ["hooks", "uninstall", "--dir", str(d)])
    assert r.exit_code == 0 and not any((d / t).exists() for t in shims.shim_tools())


def test_hooks_default_dir_is_in_LLMFIT_DATA_DIR(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from llmfit_core.cli.main import cli

    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    r = CliRunner().invoke(cli, ["hooks", "install"])
    assert r.exit_code == 0, r.output
    assert all((tmp_path / "data" / "shims" / t).is_file() for t in shims.shim_tools())
    r = CliRunner().invoke(cli, ["hooks", "status"])
    assert f"shim directory: {tmp_path / 'data' / 'shims'}" in r.output
    r = CliRunner().invoke(cli, ["hooks", "uninstall"])
    assert r.exit_code == 0 and not list((tmp_path / "data" / "shims").iterdir())


# ---- what counts as a download ---------------------------------------------------------------

@pytest.mark.parametrize("tool,args,expect", [
    ("hf", ["download", "org/m", "m-Q4_K_M.gguf"], ("org/m", "m-Q4_K_M.gguf", None, None)),
    ("hf", ["download", "org/m", "--include", "*Q8_0*"], ("org/m", None, None, None)),
    ("hf", ["download", "hf://datasets/org/d"], None),
    ("hf", ["download", "--repo-type=model", "org/m", "--local-dir", "x"], ("org/m", None, None, None)),
    ("hf", ["download", "org/m", "--repo-type", "dataset"], None),
    ("hf", ["download", "org/m", "--dry-run"], ("org/m", None, None, None)),  # checked: the verdict is printed
    ("hf", ["upload", "org/m"], None),
    ("llama-cli", ["-hf", "org/m:Q4_K_M", "-c", "8192"], ("org/m:Q4_K_M", None, None, 8192)),
    ("llama-server", ["--hf-repo=org/m", "--hf-file", "f.gguf"], ("org/m", "f.gguf", None, None)),
    ("llama-cli", ["-m", "local.gguf"], None),
    ("ollama", ["pull", "--insecure", "llama3:8b"], ("ollama:llama3:8b", None, None, None)),
    ("ollama", ["list"], None),
])
def test_target_for(tool, args, expect):
    t = shims.target_for(tool, args)
    assert (None if t is None else (t.ref, t.file, t.quant, t.context)) == expect


# ---- real checks against the fake Ollama registry -------------------------------------------

@pytest.fixture(scope="module")
def ollama_reg():
    with FakeOllama() as fake:
        fake.add(make_model("huge", "70b", "big"))
        fake.add(make_model("tiny", "latest", "tiny"))
        yield fake


@pytest.fixture
def small_machine(tmp_path):
    p = tmp_path / "hw.json"
    p.write_text(json.dumps({"name": "test-8g", "cpu": {"model": "test", "cores": 4, "threads": 4, "mem_bandwidth_gbs": 40},
                             "memory": {"total_gb": 8, "available_gb": 6}, "gpus": []}))
    return str(p)


def test_ollama_pull_that_does_not_fit_stops_after_header_bytes(shimenv, ollama_reg, small_machine):
    ollama_reg.blob_bytes.clear()
    r = run(shimenv, "ollama", ["pull", "huge:70b"], LLMFIT_HARDWARE=small_machine,
            OLLAMA_HOST=ollama_reg.url, LLMFIT_OLLAMA_REGISTRY=ollama_reg.url)
    assert r.returncode == 3, r.stderr
    assert recorded(shimenv) is None
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "no-fit" in lines[0] and "ollama:huge:70b" in lines[0]
    facts = make_model("huge", "70b", "big").facts
    served = ollama_reg.model_bytes_served()
    # at most the header (the reader may skip parts of it by seeking), never tensor data
    assert 0 < served <= 2 * facts["header_bytes"] + (1 << 20)
    assert not ollama_reg.pulls

    r = run(shimenv, "ollama", ["pull", "huge:70b"], LLMFIT_HARDWARE=small_machine, LLMFIT_FORCE="1",
            OLLAMA_HOST=ollama_reg.url, LLMFIT_OLLAMA_REGISTRY=ollama_reg.url)
    assert r.returncode == 0 and recorded(shimenv) == ["pull", "huge:70b"]
    assert "LLMFIT_FORCE=1" in r.stderr.decode()


def test_ollama_pull_that_fits_runs_the_real_program(shimenv, ollama_reg, small_machine):
    r = run(shimenv, "ollama", ["pull", "tiny"], LLMFIT_HARDWARE=small_machine, FAKE_EXIT="0",
            OLLAMA_HOST=ollama_reg.url, LLMFIT_OLLAMA_REGISTRY=ollama_reg.url)
    assert r.returncode == 0, r.stderr
    assert recorded(shimenv) == ["pull", "tiny"]
    line = r.stderr.decode().strip()
    assert line.startswith("llmfit: fits: ollama:tiny:latest") and "runs" in line


def test_ollama_run_of_an_installed_model_is_told_not_stopped(shimenv, ollama_reg, small_machine):
    from fakeollama import install_local

    install_local(Path(shimenv["env"]["OLLAMA_MODELS"]), make_model("huge", "70b", "big"))
    ollama_reg.requests.clear()
    r = run(shimenv, "ollama", ["run", "huge:70b", "say hi"], LLMFIT_HARDWARE=small_machine,
            OLLAMA_HOST=ollama_reg.url, LLMFIT_OLLAMA_REGISTRY=ollama_reg.url)
    assert r.returncode == 0 and recorded(shimenv) == ["run", "huge:70b", "say hi"]
    # issue 13: the context Ollama will use and that it does not fit are said, from the local store, without a stop
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmfit: warning: huge:70b: Ollama will use context")
    assert ollama_reg.requests == []
    # not installed: `ollama run` pulls it, so it is checked
    r = run(shimenv, "ollama", ["run", "--verbose", "tiny"], stdin=b"a prompt\x00\xff from stdin\n",
            LLMFIT_HARDWARE=small_machine, OLLAMA_HOST=ollama_reg.url, LLMFIT_OLLAMA_REGISTRY=ollama_reg.url)
    assert r.returncode == 0 and recorded(shimenv) == ["run", "--verbose", "tiny"]
    assert r.stdout == b"a prompt\x00\xff from stdin\n"  # the check did not consume stdin or write to stdout
    assert "ollama:tiny:latest" in r.stderr.decode()


def test_the_shim_execs_so_signals_reach_the_real_program(shimenv):
    import signal

    (shimenv["real"] / "ollama").write_text(
        "#!/bin/sh\ntrap 'echo got-term; exit 77' TERM\necho $$\nwhile :; do sleep 0.05; done\n")
    env = dict(shimenv["env"])
    p = subprocess.Popen(["ollama", "serve"], stdout=subprocess.PIPE, env=env)
    try:
        pid = int(p.stdout.readline())
        assert pid == p.pid  # same process: the shim was replaced by the real program (exec)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 77 and out.strip() == b"got-term"


def test_install_into_a_file_is_one_clear_error(tmp_path):
    from click.testing import CliRunner

    from llmfit_core.cli.main import cli

    f = tmp_path / "afile"
    f.write_text("x")
    r = CliRunner().invoke(cli, ["hooks", "install", "--dir", str(f / "sub")])
    assert r.exit_code == 1 and "cannot write shims" in r.output and "Traceback" not in r.output


def test_bypass_and_strict_accept_true_words(shimenv):
    r = run(shimenv, "ollama", ["pull", "x"], LLMFIT_BYPASS="true")
    assert r.returncode == 0 and r.stderr == b"" and recorded(shimenv) == ["pull", "x"]
    r = run(shimenv, "ollama", ["pull", "x"], LLMFIT_STRICT="yes")
    assert r.returncode == 1 and recorded(shimenv) is None


def test_adapters_name_the_shimmed_programs_and_what_may_download(capsys):
    from llmfit_core import plugins
    from llmfit_core.hookspecs import hookimpl
    from llmfit_core.plugin_types import ShimTool

    class Tools:
        @hookimpl
        def llmfit_shim_tools(self):
            return [ShimTool("mytool", commands=("fetch",), options=("--model=*",)), ShimTool("bad name", ("x",)),
                    ShimTool("evil", commands=("a;rm",)), ShimTool("hf", commands=("upload",))]

    plugins.register_plugin(Tools(), "shim-tools-test")
    try:
        tools = shims.shim_tools()
        assert {"hf", "huggingface-cli", "ollama", "llama-cli", "llama-server", "mytool"} <= set(tools)
        assert "bad name" not in tools and "evil" not in tools
        assert set(tools["hf"].commands) == {"download", "upload"}  # a plugin adds checks, never removes one
        assert capsys.readouterr().err.count("no shim for") == 2
        text = shims.render_shim("mytool", "python3")
        assert "case ${1:-} in fetch) need=1 ;; esac" in text and "case $a in --model=*) need=1; break ;; esac" in text
    finally:
        plugins.unregister_plugin("shim-tools-test")
    with pytest.raises(Exception, match="no shim for 'mytool'"):
        shims.render_shim("mytool")


def test_uninstall_removes_shims_of_programs_no_adapter_names_any_more(tmp_path):
    d = tmp_path / "bin"
    shims.install(d, python=sys.executable)
    (d / "gone-tool").write_text((d / "hf").read_text())  # a shim written when another adapter was installed
    (d / "mine").write_text("#!/bin/sh\n")
    removed = shims.uninstall(d)
    assert sorted(p.name for p in removed) == sorted([*shims.shim_tools(), "gone-tool"])
    assert [p.name for p in d.iterdir()] == ["mine"]
