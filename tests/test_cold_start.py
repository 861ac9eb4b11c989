"""Start-up time work (issue 15) must not change what is loaded: these pin the fast paths to the slow ones."""

import gzip
import json

from llmfit_core.catalog import store
from llmfit_core.catalog.entry import CatalogEntry


def test_fast_shipped_catalog_equals_the_dataclass_built_from_the_json_source():
    doc = json.loads(gzip.decompress(store.shipped_path().read_bytes()))
    expected = []
    for d in doc["models"]:
        e = CatalogEntry(**d)  # raises on a key that is not a field: the fast path must not hide one
        e.src = {**doc["src_defaults"], **e.src}
        expected.append(e)
    got = store._load_shipped()
    assert len(got) == len(expected) > 1000
    assert got == expected
    assert [vars(e) for e in got] == [vars(e) for e in expected]
    # every entry owns its lists and dicts (no shared mutable default between entries)
    assert len({id(e.uses) for e in got}) == len(got) and len({id(e.src) for e in got}) == len(got)


def test_command_table_matches_the_registered_commands():
    from llmfit_core.cli.main import COMMANDS, load_target

    real = {}
    for name, (target, _) in COMMANDS.items():
        cmd = load_target(target)
        real[name] = (target, cmd.get_short_help_str(limit=10**6))
        assert cmd.name == name, target  # the table's name is the command's own
    assert COMMANDS == real  # a new, renamed or re-documented command updates the table in cli/main.py


def _plugin_commands() -> dict:
    """The commands the installed adapters add (hook llmfit_register_commands), imported."""
    from llmfit_core.cli import main

    group = main.LazyGroup("probe")
    group._plugin_commands()
    return {name: main.load_target(target) for name, (target, _) in group._lazy.items()}


def test_plugin_command_help_matches_the_real_commands():
    from llmfit_core.cli import main

    group = main.LazyGroup("probe")
    group._plugin_commands()
    assert {"hf", "ollama"} <= set(group._lazy)  # the built-in adapters' groups
    for name, command in _plugin_commands().items():
        # a renamed or re-documented command updates the adapter's llmfit_register_commands
        assert group._lazy[name][1] == command.get_short_help_str(limit=10**6), name


def test_help_lists_the_same_as_an_eagerly_loaded_group():
    import click
    from click.testing import CliRunner

    from llmfit_core.cli import main

    eager = click.Group("llmfit", help=main.cli.help, context_settings=main.cli.context_settings)
    for name, (target, _) in main.COMMANDS.items():
        eager.add_command(main.load_target(target), name)
    for name, command in _plugin_commands().items():
        eager.add_command(command, name)
    for width in ("80", "200", "50"):
        lazy = main.LazyGroup("llmfit", help=main.cli.help, context_settings=main.cli.context_settings)
        want = CliRunner().invoke(eager, ["--help"], env={"COLUMNS": width}, terminal_width=int(width))
        got = CliRunner().invoke(lazy, ["--help"], env={"COLUMNS": width}, terminal_width=int(width))
        assert got.exit_code == 0 and got.output == want.output
        assert "fit " in got.output and "recommend " in got.output


def test_help_and_fit_import_only_what_they_need():
    import subprocess
    import sys

    code = ("import sys; from llmfit_core.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('llmfit_core.cli.') or m in "
            "('gguf', 'numpy', 'onnxruntime', 'rich', 'huggingface_hub', 'llmfit_hf.cli', 'llmfit_ollama.cli'))), "
            "file=sys.stderr)")
    help_ = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0 and "recommend" in help_.stdout
    assert help_.stderr.split() == ["llmfit_core.cli.main"]
    fit = subprocess.run([sys.executable, "-c", code, "fit", "--help"], capture_output=True, text=True, timeout=60)
    assert fit.stderr.split()[-1] == "llmfit_core.cli.main" and "llmfit_core.cli.fit_cmd" in fit.stderr.split()
    assert "llmfit_core.cli.catalog_cmd" not in fit.stderr.split()


def test_help_loads_the_adapters_without_their_runners_or_the_predictor():
    """Every `llmfit` start imports the built-in adapters (entry points): what only some of their hooks need, and
    the runners they adapt, stay out of `llmfit --help` (their `# lazy: start-up time` / `optional runner` imports)."""
    import subprocess
    import sys

    code = ("import sys; from llmfit_core.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "recommend" in res.stdout, res.stderr
    loaded = set(res.stderr.split())
    adapters = ("llmfit_hf", "llmfit_llamacpp", "llmfit_mlx", "llmfit_ollama")
    assert {m for m in loaded if m.split(".")[0] in adapters} == {*adapters, "llmfit_ollama.names"}
    heavy = {"huggingface_hub", "llama_cpp", "mlx", "mlx_lm", "ollama", "httpx", "llmfit_core.api",
             "llmfit_core.backends", "llmfit_core.hardware.profile", "llmfit_core.guard", "llmfit_core.autopilot"}
    assert not loaded & heavy



def test_a_commands_help_loads_none_of_what_it_runs():
    """The `# lazy: start-up: --help and usage errors skip it` imports of llmfit_core/cli are claims: `llmfit CMD --help`
    of every built-in command imports its module, but not the pipeline, catalog, plugins, bench runner or rich."""
    import subprocess
    import sys

    code = ("import sys; from llmfit_core.cli.main import COMMANDS, main\n"
            "for name in COMMANDS:\n"
            "    try:\n        main([name, '--help'])\n    except SystemExit:\n        pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "Usage: llmfit recommend" in res.stdout, res.stderr
    loaded = set(res.stderr.split())
    assert {m for m in loaded if m.startswith("llmfit_core.cli.") and m.endswith("_cmd")} >= {
        "llmfit_core.cli.fit_cmd", "llmfit_core.cli.bench_cmd", "llmfit_core.cli.catalog_cmd"}
    heavy = {"numpy", "rich", "onnxruntime", "pluggy", "gguf", "huggingface_hub", "psutil", "llama_cpp",
             "llmfit_core.api", "llmfit_core.catalog", "llmfit_core.plugins", "llmfit_core.hardware.registry",
             "llmfit_core.recommend", "llmfit_core.bench.runner", "llmfit_core.shims", "llmfit_core.cluster"}
    assert not loaded & heavy


def test_a_builtin_backend_name_loads_no_plugin(tmp_path):
    """`--backend` accepts the adapters' backends too, but a built-in name is resolved without loading them."""
    import subprocess
    import sys

    from llmfit_core.synth import write_synthetic_gguf

    gguf = tmp_path / "llama-tiny-F16.gguf"
    write_synthetic_gguf(gguf, "llama-tiny", "F16")
    code = ("import sys; from llmfit_core.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('llmfit_') and not m.startswith('llmfit_core')"
            " or m == 'llmfit_core.plugins')), file=sys.stderr)")
    for backend in ("cuda", "llama.cpp-vulkan", "cpu"):
        res = subprocess.run([sys.executable, "-c", code, "check", str(gguf), "--hardware", "workstation-4090",
                              "--backend", backend], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and res.stdout.startswith("runs"), res.stderr
        assert res.stderr.split() == [], res.stderr


def test_a_plugin_command_is_listed_and_runs():
    import click
    from click.testing import CliRunner

    from llmfit_core import plugins
    from llmfit_core.cli import main
    from llmfit_core.hookspecs import hookimpl

    class Hello:
        @hookimpl
        def llmfit_register_commands(self, cli):
            @cli.command("hello-plugin")
            def hello():
                """Say hello from a plugin."""
                click.echo("hello from the plugin")

    class Broken:
        @hookimpl
        def llmfit_register_commands(self, cli):
            cli.add_lazy_command("broken-plugin", "no_such_module_llmfit:cmd", "A command that cannot load.")
            cli.add_lazy_command("fit", "no_such_module_llmfit:cmd", "Tries to replace a built-in.")

    plugins.register_plugin(Hello(), "hello-plugin-test")
    plugins.register_plugin(Broken(), "broken-plugin-test")
    try:
        for argv, text in ((["--help"], "Say hello from a plugin."), (["hello-plugin"], "hello from the plugin")):
            group = main.LazyGroup("llmfit", help=main.cli.help)
            res = CliRunner().invoke(group, argv)
            assert res.exit_code == 0 and text in res.output, res.output
        group = main.LazyGroup("llmfit", help=main.cli.help)
        res = CliRunner().invoke(group, ["--help"])
        assert "A command that cannot load." in res.output and "Tries to replace" not in res.output
        # a plugin command whose module does not import: one warning, then click's "no such command"
        res = CliRunner().invoke(group, ["broken-plugin"])
        assert res.exit_code == 2 and "failed to load" in res.output and "Traceback" not in res.output
        res = CliRunner().invoke(group, ["fit", "--help"])  # the built-in stays
        assert res.exit_code == 0 and "Will REF run here?" in res.output
    finally:
        plugins.unregister_plugin("hello-plugin-test")
        plugins.unregister_plugin("broken-plugin-test")


def test_offline_lookup_of_an_uncached_repo_does_not_scan_the_hf_cache(tmp_path):
    import os
    import subprocess
    import sys

    repo = tmp_path / "hub" / "models--org--cached"  # huggingface_hub's cache layout: blobs, refs, snapshots
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "0123abcd").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "config.json").symlink_to("../../blobs/0123abcd")
    code = ("import sys; from llmfit_hf.resolver import cached_listing\n"
            "print(cached_listing('org/missing'), 'huggingface_hub._cache_manager' in sys.modules)\n"
            "found = cached_listing('org/cached')\n"
            "print(found is not None and 'config.json' in found[0].files)\n")
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["None", "False", "True"]
