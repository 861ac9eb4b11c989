"""Plugin layer: entry-point loading, allow/deny lists, a crashing plugin, `llmfit plugins`, a real third-party plugin."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmfit_core import plugins
from llmfit_core.errors import NotFoundError
from llmfit_core.hookspecs import hookimpl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "third_party_plugin"


def _llmfit(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or dict(os.environ))


class Crashes:
    def __init__(self):
        self.calls = 0

    @hookimpl
    def llmfit_list_models(self, query, options):
        self.calls += 1
        raise RuntimeError("kaboom")

    @hookimpl
    def llmfit_before_download(self, ref, report, options):
        raise ZeroDivisionError("boom")


class Answers:
    @hookimpl
    def llmfit_list_models(self, query, options):
        return ["ok:" + query]

    @hookimpl
    def llmfit_resolve_model(self, ref, options):
        if ref == "explained:missing":
            raise NotFoundError("explained: no such model")
        return None


@pytest.fixture
def registered():
    names = []

    def reg(obj, name):
        plugins.register_plugin(obj, name)
        names.append(name)
        return obj

    yield reg
    for n in names:
        plugins.unregister_plugin(n)


def test_a_crashing_plugin_is_reported_once_and_skipped(registered, hf_env, capsys):
    crash = registered(Crashes(), "crashy")
    registered(Answers(), "answers")
    first = plugins.call_hook("llmfit_list_models", query="q", options={})
    assert ["ok:q"] in first
    err = capsys.readouterr().err
    assert err.count("crashy") == 1 and "llmfit_list_models" in err and "kaboom" in err
    second = plugins.call_hook("llmfit_list_models", query="r", options={})
    assert ["ok:r"] in second
    assert capsys.readouterr().err == ""  # reported once, then disabled for the run
    assert crash.calls == 1
    assert plugins.status["crashy"].startswith("error in llmfit_list_models")


def test_an_explained_error_from_a_plugin_reaches_the_user(registered, hf_env):
    registered(Answers(), "answers")
    with pytest.raises(NotFoundError, match="explained"):
        plugins.call_hook("llmfit_resolve_model", ref="explained:missing", options={})
    assert plugins.call_hook("llmfit_resolve_model", ref="nothing-handles-this", options={}) is None


def test_a_crashing_before_download_hook_does_not_stop_a_download(registered, hf_env, capsys):
    from llmfit_hf.checked_download import check_download

    registered(Crashes(), "crashy-dl")
    assert check_download(["fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf"]) is None  # go ahead
    err = capsys.readouterr().err
    assert "crashy-dl" in err and "llmfit_before_download" in err and "fits" in err


class Vetoes:
    @hookimpl
    def llmfit_before_download(self, ref, report, options):
        from llmfit_core.plugin_types import Decision

        return Decision("block", "company policy: no downloads of " + ref, "veto")


def test_a_plugin_can_veto_a_download(registered, hf_env, capsys):
    from llmfit_hf.checked_download import check_download

    registered(Vetoes(), "veto")
    assert check_download(["fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf"]) == 3
    assert "company policy" in capsys.readouterr().err
    assert check_download(["fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf"], force=True) is None


def test_plugins_command_lists_builtins_hooks_and_runner(tmp_path):
    res = _llmfit("plugins", "--json")
    assert res.returncode == 0, res.stderr
    info = {p["name"]: p for p in json.loads(res.stdout)}
    assert {"huggingface", "llamacpp", "mlx", "ollama"} <= set(info)
    hf = info["huggingface"]
    assert hf["status"] == "loaded" and "llmfit_resolve_model" in hf["hooks"]
    assert hf["runner_installed"] is True and "huggingface_hub" in hf["runner"]
    assert hf["origin"].startswith("llmfit_hf (llmfit-core ")  # entry point (distribution version)


def test_loading_plugins_reads_no_distribution_metadata():
    """Start-up time: a distribution's name and version (email-parsed METADATA) are read for `llmfit plugins`
    only, not by every command that loads the plugins."""
    code = ("import sys; from llmfit_core import plugins; plugins.load_plugins(); "
            "print('email.parser' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "False", res.stderr


def test_plugins_table_shows_status_hooks_and_runner(monkeypatch):
    from click.testing import CliRunner

    from llmfit_core.cli.main import cli

    fake = [plugins.PluginInfo("alpha", "loaded", "alpha_mod (alpha 1.0)", ["llmfit_resolve_model"], True, "tool 2.1"),
            plugins.PluginInfo("beta", "failed to load: ImportError: x", "beta_mod", [], None, "")]
    monkeypatch.setattr(plugins, "plugin_infos", lambda: fake)
    monkeypatch.setenv("COLUMNS", "200")
    res = CliRunner().invoke(cli, ["plugins"])
    assert res.exit_code == 0, res.output
    for text in ("alpha", "resolve_model", "installed: tool 2.1", "beta", "failed to load"):
        assert text in res.stdout


_STATUS = "import json; from llmfit_core import plugins; plugins.load_plugins(); print(json.dumps(plugins.status))"


def _status(env) -> dict:
    res = subprocess.run([sys.executable, "-c", _STATUS], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_allow_and_deny_lists():
    st = _status(dict(os.environ, LLMFIT_DISABLE_PLUGINS="huggingface, mlx"))
    assert st["huggingface"] == st["mlx"] == "disabled by environment" and st["ollama"] == "loaded"
    st = _status(dict(os.environ, LLMFIT_PLUGINS="ollama"))
    assert st["ollama"] == "loaded"
    assert st["huggingface"] == st["mlx"] == st["llamacpp"] == "disabled by environment"


def _pip_install_target(src: Path, target: Path) -> None:
    """pip-install a source tree into `target` without touching site-packages (nor, if avoidable, the network)."""
    base = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    has_wheel = importlib.util.find_spec("wheel") is not None
    if not has_wheel:  # setuptools < 70.1 needs the `wheel` package to build: use a local wheel of it if there is one
        dirs = [d for d in (os.environ.get("PIP_FIND_LINKS", "") + " /opt/pypi/files /opt/wheels").split() if d]
        found = sorted(w for d in dirs for w in glob.glob(os.path.join(d, "wheel-*.whl")))
        if found:
            env["PYTHONPATH"] = found[-1]
            has_wheel = True
    args = base + (["--no-build-isolation", "--no-index"] if has_wheel else []) + [str(src)]
    res = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-2000:]


def test_third_party_plugin_installs_and_is_used(tmp_path):
    target = tmp_path / "site"
    _pip_install_target(EXAMPLE, target)
    assert (target / "llmfit_example_plugin").is_dir()
    assert list(target.glob("llmfit_example_plugin-*.dist-info/entry_points.txt"))
    # this tree's llmfit stays first on the path (a developer's PYTHONPATH; CI's editable install needs none)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(target)])))
    code = ("import json; from llmfit_core import plugins; "
            "print(json.dumps([i.to_dict() for i in plugins.plugin_infos() if i.name == 'zoo']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(env, LLMFIT_PLUGINS="zoo"))
    (zoo,) = json.loads(res.stdout)
    assert zoo["status"] == "loaded" and zoo["runner_installed"] is True
    assert set(zoo["hooks"]) == {"llmfit_resolve_model", "llmfit_list_models", "llmfit_backends", "llmfit_register_commands",
                                 "llmfit_shim_tools", "llmfit_download_target", "llmfit_before_download"}
    res = _llmfit("fit", "zoo:toy-1b", "--json", env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["model"]["ref"] == "zoo:toy-1b" and out["model"]["quant"] == "Q4_K_M"
    assert 1.0e9 < out["model"]["params"] < 1.6e9
    # an explained error from the plugin is one line
    res = _llmfit("fit", "zoo:nope", env=dict(env, LLMFIT_PLUGINS="zoo"))
    assert res.returncode == 1 and "zoo has no model" in res.stderr and "Traceback" not in res.stderr
    # disabled by the deny-list: the reference is unknown again
    res = _llmfit("fit", "zoo:toy-1b", env=dict(env, LLMFIT_PLUGINS="huggingface"))
    assert res.returncode == 1 and "unknown model" in res.stderr
    # its shim: `zoo pull` is checked (and vetoed by its own policy), other zoo commands go straight through
    shim_dir, real = tmp_path / "shims", tmp_path / "real"
    real.mkdir()
    (real / "zoo").write_text("#!/bin/sh\necho \"real zoo $*\"\n")
    (real / "zoo").chmod(0o755)
    res = _llmfit("hooks", "install", "--dir", str(shim_dir), env=env)
    assert res.returncode == 0 and (shim_dir / "zoo").is_file() and (shim_dir / "hf").is_file(), res.stderr
    path_env = dict(env, PATH=f"{shim_dir}:{real}:{os.environ['PATH']}", LLMFIT_HARDWARE="workstation-4090")
    for args, code, out, said in ((["pull", "toy-1b"], 0, "real zoo pull toy-1b", "llmfit: fits: zoo:toy-1b"),
                                  (["ls", "-l"], 0, "real zoo ls -l", "")):
        res = subprocess.run(["zoo", *args], capture_output=True, text=True, timeout=120, env=path_env)
        assert (res.returncode, res.stdout.strip()) == (code, out) and res.stderr.startswith(said), res.stderr
    res = subprocess.run(["zoo", "pull", "toy-1b"], capture_output=True, text=True, timeout=120,
                         env=dict(path_env, ZOO_MAX_DOWNLOAD_GB="0.2"))
    assert res.returncode == 3 and res.stdout == "" and "blocked by a plugin" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_without_huggingface_hub_the_adapter_says_how_to_install():
    code = ("import sys, json; sys.modules['huggingface_hub'] = None\n"
            "import llmfit_hf\n"
            "print(json.dumps(llmfit_hf.runner_status()))\n"
            "print(llmfit_hf.llmfit_resolve_model('org/name', {}))\n"
            "from llmfit_core.cli.main import main\n"
            "main(['hf', 'ls', 'org/name'])\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    ok, msg = json.loads(res.stdout.splitlines()[0])
    assert ok is False and "pip install" in msg
    assert res.stdout.splitlines()[1] == "None"  # the adapter stands aside; the catalog may still answer
    assert res.returncode == 1 and "huggingface_hub is not installed" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_unknown_plugin_name_in_env_is_reported_once():
    import os
    import subprocess
    import sys

    env = dict(os.environ, LLMFIT_DISABLE_PLUGINS="olama", LLMFIT_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", "check", "meta-llama/Llama-3.1-8B-Instruct",
                           "--hardware", "workstation-4090"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no plugin named 'olama'" in lines[0] and "ollama" in lines[0]


# ---- the example third-party runner adapter, through the plugin manager ----------------------------------------

@pytest.fixture
def zoo(registered, monkeypatch):
    """The example package, imported from examples/ and registered in process (its directory is not put on sys.path:
    a build's egg-info there would make the plugin manager load it a second time from its entry point)."""
    package = EXAMPLE / "llmfit_example_plugin"
    spec = importlib.util.spec_from_file_location("llmfit_example_plugin", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "llmfit_example_plugin", module)
    monkeypatch.delitem(sys.modules, "llmfit_example_plugin.cli", raising=False)
    spec.loader.exec_module(module)
    for var in ("LLMFIT_BYPASS", "LLMFIT_FORCE", "LLMFIT_STRICT", "LLMFIT_CONTEXT", "ZOO_MAX_DOWNLOAD_GB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LLMFIT_HARDWARE", "workstation-4090")
    yield registered(module, "zoo-example")
    sys.modules.pop("llmfit_example_plugin.cli", None)


def _shim_check(tool, args):
    import io

    from llmfit_core import shims

    err = io.StringIO()
    code = shims.run_check(tool, args, err=err)
    return code, err.getvalue().strip().splitlines()


def test_example_adapter_adds_its_command(zoo):
    from click.testing import CliRunner

    from llmfit_core.cli import main

    group = main.LazyGroup("llmfit", help=main.cli.help)
    res = CliRunner().invoke(group, ["--help"], terminal_width=200)
    assert res.exit_code == 0 and "The example zoo runner: its models and their fit." in res.output
    assert "llmfit_example_plugin.cli" not in sys.modules or "zoo" in group.commands  # listed, not imported
    res = CliRunner().invoke(group, ["zoo", "ls", "--hardware", "workstation-4090"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("zoo:toy-1b  runs  ~")


def test_example_adapters_backend_is_accepted_like_a_builtin_one(zoo, capsys):
    from llmfit_core.api import fit
    from llmfit_core.backends import get_backend
    from llmfit_core.cli.main import main
    from llmfit_core.cli.system_cmd import runtimes_here
    from llmfit_core.errors import UnsupportedSettingError
    from llmfit_core.hardware.registry import resolve_hardware

    report = fit("zoo:toy-1b", hardware="workstation-4090", backend="zoo")
    assert report.backend == "zoo" and report.fits and report.gpu_layers == 0  # the zoo runs on the CPU
    assert get_backend("ZOO") is zoo.BACKEND and get_backend("cuda").name == "llama.cpp-cuda"
    assert "zoo" in runtimes_here(resolve_hardware("workstation-4090"))  # `llmfit system` lists it, as before
    # a mistyped backend: one line naming the adapter's as the closest, and it among the valid ones
    with pytest.raises(UnsupportedSettingError, match=r"unknown backend 'zooo' \(closest: zoo; valid: llama.cpp-cuda, .*mlx, zoo\)"):
        fit("zoo:toy-1b", hardware="workstation-4090", backend="zooo")
    # a built-in backend the hardware cannot run: the adapter's is among those that do
    with pytest.raises(UnsupportedSettingError, match=r"backends that run there: llama.cpp-cuda, llama.cpp-vulkan, "
                                                      r"llama.cpp-cpu, zoo\)"):
        fit("zoo:toy-1b", hardware="workstation-4090", backend="mlx")
    for args in (["fit", "zoo:toy-1b"], ["check", "zoo:toy-1b"], ["recommend", "max 4GB", "--top", "2"]):
        with pytest.raises(SystemExit) as exit_:  # the CLI's --backend and --json, as with a built-in backend
            main([*args, "--backend", "zoo", "--json"])
        assert exit_.value.code == 0 and json.loads(capsys.readouterr().out)["backend"] == "zoo"
    with pytest.raises(SystemExit) as exit_:
        main(["check", "zoo:toy-1b", "--backend", "zoo-cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 1 and len(err) == 1 and "unknown backend 'zoo-cpu' (closest: zoo, llama.cpp-cpu;" in err[0]


def test_a_plugin_backend_is_unknown_without_its_adapter():
    from llmfit_core.backends import get_backend
    from llmfit_core.errors import UnsupportedSettingError

    with pytest.raises(UnsupportedSettingError, match=r"unknown backend 'zoo' \(valid: llama.cpp-cuda, .*, mlx\)"):
        get_backend("zoo")


def test_example_adapter_reads_its_command_line_into_a_download(zoo, tmp_path, monkeypatch):
    from llmfit_core import shims

    target = shims.target_for("zoo", ["pull", "toy-1b:Q8_0"])
    assert (target.ref, target.label, target.downloads) == ("zoo:toy-1b:Q8_0", "zoo pull toy-1b:Q8_0", True)
    assert shims.target_for("zoo", ["ls"]) is None
    code, lines = _shim_check("zoo", ["pull", "toy-1b"])
    assert code == 0 and len(lines) == 1 and lines[0].startswith("llmfit: fits: zoo:toy-1b Q4_K_M") and "runs" in lines[0]
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps({"name": "tiny", "cpu": {"model": "x", "cores": 2, "threads": 2},
                                "memory": {"total_gb": 0.5, "available_gb": 0.3}, "gpus": []}))
    monkeypatch.setenv("LLMFIT_HARDWARE", str(tiny))
    code, lines = _shim_check("zoo", ["pull", "toy-1b"])
    assert code == 3 and len(lines) == 1 and lines[0].startswith("llmfit: stopped: zoo:toy-1b") and "no-fit" in lines[0]


def test_example_adapter_vetoes_a_download(zoo, monkeypatch):
    monkeypatch.setenv("ZOO_MAX_DOWNLOAD_GB", "0.2")
    code, lines = _shim_check("zoo", ["pull", "toy-1b"])
    assert code == 3 and len(lines) == 1
    assert "runs" in lines[0] and "blocked by a plugin: zoo:toy-1b is" in lines[0] and "ZOO_MAX_DOWNLOAD_GB=0.2" in lines[0]
    monkeypatch.setenv("LLMFIT_FORCE", "1")
    code, lines = _shim_check("zoo", ["pull", "toy-1b"])
    assert code == 0 and "downloading anyway (LLMFIT_FORCE=1)" in lines[0]
    monkeypatch.delenv("LLMFIT_FORCE")
    monkeypatch.setenv("ZOO_MAX_DOWNLOAD_GB", "50")
    assert _shim_check("zoo", ["pull", "toy-1b"])[0] == 0


class BrokenAdapter:
    """A third-party adapter that raises in every hook a runner adapter implements."""

    @hookimpl
    def llmfit_register_commands(self, cli):
        raise RuntimeError("commands kaboom")

    @hookimpl
    def llmfit_download_target(self, tool, args):
        raise RuntimeError("target kaboom")

    @hookimpl
    def llmfit_guard_downloads(self, guard):
        raise RuntimeError("guard kaboom")

    @hookimpl
    def llmfit_before_download(self, ref, report, options):
        raise RuntimeError("veto kaboom")


@pytest.mark.parametrize("hook", ["commands", "target", "guard"])
def test_a_broken_adapter_never_stops_the_builtin_ones(registered, hook, capsys, monkeypatch):
    from click.testing import CliRunner

    from llmfit_core import guard, shims
    from llmfit_core.cli import main

    registered(BrokenAdapter(), "broken-adapter")
    said = ""  # the CLI's stderr (CliRunner keeps it)
    for _ in range(2):  # reported once, then disabled for the run
        if hook == "commands":
            group = main.LazyGroup("llmfit", help=main.cli.help)
            res = CliRunner().invoke(group, ["--help"])
            assert res.exit_code == 0 and "hf " in res.output and "ollama " in res.output
            said += res.stderr
        elif hook == "target":
            target = shims.target_for("llama-server", ["-hf", "org/m:Q4_K_M", "-c", "4096"])
            assert (target.ref, target.context) == ("org/m:Q4_K_M", 4096)
        else:
            functions = guard._adapters_functions(guard.DownloadGuard("warn"))
            assert {f.attr for f in functions} >= {"hf_hub_download", "snapshot_download", "HfFileSystem.get"}
    err = said + capsys.readouterr().err
    assert err.count("broken-adapter") == 1 and "kaboom" in err and "disabled for this run" in err
    assert plugins.status["broken-adapter"].startswith("error in llmfit_")
