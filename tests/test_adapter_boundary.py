"""The core knows runners only through hooks (issue 15): no module under llmfit_core imports a runner adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import llmfit_core

ADAPTERS = ("llmfit_hf", "llmfit_ollama", "llmfit_llamacpp", "llmfit_mlx")
CORE = Path(llmfit_core.__file__).resolve().parent


def adapter_imports(source: str) -> list[str]:
    """Adapter modules named by `import` / `from ... import` statements, or by importlib.import_module("...") and
    __import__("...") with a literal name, anywhere in `source` (function bodies included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            names = [node.args[0].value]
        else:
            continue
        found += [n for n in names if n.split(".")[0] in ADAPTERS]
    return found


def test_the_scan_finds_every_way_of_importing_an_adapter():
    source = ("import llmfit_hf\nfrom llmfit_ollama.names import parse_name\nimport os, llmfit_mlx.autopilot\n"
              "def f():\n    from llmfit_llamacpp import suggest_settings\n"
              "    importlib.import_module('llmfit_hf.cli')\n    __import__('llmfit_ollama')\n"
              "from . import llmfit_hf_like\nimport llmfit_core.shims\n")
    assert adapter_imports(source) == ["llmfit_hf", "llmfit_ollama.names", "llmfit_mlx.autopilot", "llmfit_llamacpp",
                                       "llmfit_hf.cli", "llmfit_ollama"]


def test_llmfit_core_imports_no_runner_adapter():
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        found = adapter_imports(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(path.relative_to(CORE.parent))] = found
    assert len(list(CORE.rglob("*.py"))) > 50  # the scan saw the package
    assert offenders == {}  # talk to the adapter through a hook (llmfit_core/hookspecs.py) instead


def test_every_hookspec_has_an_implementation_in_the_project():
    """A hook nobody implements is a promise nobody keeps: implement it (an adapter or the example plugin) or drop it."""
    import importlib
    import importlib.util
    import inspect

    from llmfit_core import hookspecs

    example = CORE.parent / "examples" / "third_party_plugin" / "llmfit_example_plugin" / "__init__.py"
    spec = importlib.util.spec_from_file_location("llmfit_example_plugin_probe", example)
    modules = [importlib.import_module(name) for name in ADAPTERS] + [importlib.util.module_from_spec(spec)]
    spec.loader.exec_module(modules[-1])
    implemented = {name for m in modules for name, fn in inspect.getmembers(m, inspect.isfunction)
                   if hasattr(fn, "llmfit_impl")}
    specs = {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "llmfit_spec")}
    assert len(specs) >= 10
    assert specs - implemented == set()
