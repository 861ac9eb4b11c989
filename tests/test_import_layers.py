"""The import graph of llmfit_core (a static AST scan, function-level imports included) has no circles, and lower
layers never import upper ones (docs/architecture.md draws the layers; no adapter imports: test_adapter_boundary)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "llmfit_core"


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_only(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every import statement, at any depth (functions, methods, try blocks), except `if TYPE_CHECKING:` ones."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the llmfit_core modules it imports. `from P import m` of a submodule m is an edge to P.m (not to P's
    __init__); the parent packages Python runs on the way are not edges (importing P.m does not import P's children)."""
    mods = _modules(root)
    top = root.name

    def deepest(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in _import_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == top]
            else:
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                if src.split(".")[0] != top:
                    continue
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src for a in node.names]
            deps.update(d for d in map(deepest, targets) if d and d != mod)
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one closed path through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules (~200)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(_path_through(sorted(comp), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path_through(comp: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest circle from the component's first module back to itself (what to read to break it)."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def test_the_scan_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "llmfit_core"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from llmfit_core.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nfrom typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from llmfit_core import c\n")
    (pkg / "c.py").write_text("import llmfit_core.sub.b\n")
    g = import_graph(pkg)
    assert g["llmfit_core.a"] == {"llmfit_core.sub.b"} and g["llmfit_core.sub.b"] == {"llmfit_core.a"}
    assert g["llmfit_core.c"] == {"llmfit_core.sub.b"}
    assert cycles(g) == [["llmfit_core.a", "llmfit_core.sub.b", "llmfit_core.a"]]


def test_llmfit_core_has_no_import_circles():
    found = cycles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


# Layers, lowest first (docs/architecture.md draws them). A module may import modules of its own layer and of the
# layers below, never of a layer above. Keys are llmfit_core's top-level modules and packages.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation: facts and types", {"errors", "dirs", "model_spec", "gguf_constants", "verdict", "defaults", "net",
                                     "hookspecs", "plugin_types", "settings", "units"}),
    ("model and machine facts", {"tensor_layout", "quant", "quant_quality", "recurrent", "backends", "ggml_devices",
                                 "plugins"}),
    ("readers and hardware", {"readers", "hardware", "settings_check"}),
    ("estimators", {"memory", "placement", "throughput", "scoring", "report", "runner_view", "context_fit",
                    "companions", "synth"}),
    ("catalog and model resolution", {"catalog", "constraints", "resolve"}),
    ("the pipeline", {"api"}),
    ("consumers of the pipeline", {"recommend", "plan", "cluster", "bench", "autopilot", "patching", "guard",
                                   "guard_startup", "shims", "downloads", "llamacpp_runner", "check_switches"}),
    ("command line and the package facade", {"cli", "__init__"}),
]


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(module: str) -> int | None:
    g = _group(module)
    return next((i for i, (_, members) in enumerate(LAYERS) if g in members), None)


def test_every_module_has_a_layer():
    missing = sorted({_group(m) for m in import_graph() if layer_of(m) is None})
    assert not missing, f"give these llmfit_core modules a layer in LAYERS ({__file__}): {missing}"


def test_lower_layers_never_import_upper_ones():
    graph = import_graph()
    bad = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
           for a, deps in sorted(graph.items()) for b in sorted(deps)
           if layer_of(a) is not None and layer_of(b) is not None and layer_of(b) > layer_of(a)]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_nothing_outside_cli_imports_cli():
    bad = [f"{a} -> {b}" for a, deps in sorted(import_graph().items()) for b in sorted(deps)
           if _group(b) == "cli" and _group(a) != "cli"]
    assert not bad, bad


def test_the_gguf_byte_parser_knows_nothing_of_what_the_header_means():
    # readers.gguf_header turns bytes into a GGUFHeader; readers.gguf turns that into a ModelSpec
    assert import_graph()["llmfit_core.readers.gguf_header"] <= {
        "llmfit_core.errors", "llmfit_core.gguf_constants", "llmfit_core.quant", "llmfit_core.readers.source"}
    assert "llmfit_core.readers.gguf_header" in import_graph()["llmfit_core.readers.gguf"]


def test_the_architecture_doc_draws_these_layers():
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    block = text.split("## Layers", 1)[1].split("```", 2)[1]
    drawn: dict[int, set[str]] = {}
    layer = None
    for line in block.splitlines():
        m = re.match(r"^\s*(\d+)\s", line)
        if m:
            layer = int(m.group(1)) - 1
        if layer is not None:
            drawn.setdefault(layer, set()).update(re.findall(r"[a-z_]+(?=[/ ]|$|\.py)", line))
    present = {_group(m) for m in import_graph()}
    for i, (name, members) in enumerate(LAYERS):
        missing = (members & present) - drawn.get(i, set()) - {"__init__"}
        assert not missing, f"docs/architecture.md does not draw {sorted(missing)} in layer {i + 1} ({name})"


# Imports sit at the top of a module. One inside a function is lazy on purpose and says why on its line, as
# `# lazy: <reason>` (it buys start-up time, or keeps an optional runner/dependency optional); anything else is
# an import that was forgotten there. plugins/ reuses this checker with its own root.
LAZY_REASON = re.compile(r"#\s*lazy:\s*\w")


def function_level_imports_without_reason(root: Path) -> list[str]:
    """`path:line: statement` of every import inside a function (or class) body under `root` that carries no
    `# lazy: <reason>` comment on one of its lines."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
        stack = [(ast.parse("\n".join(lines), str(path)), False)]
        while stack:
            node, nested = stack.pop()
            if nested and isinstance(node, (ast.Import, ast.ImportFrom)):
                span = lines[node.lineno - 1: node.end_lineno]
                if not any(LAZY_REASON.search(line) for line in span):
                    bad.append((path, node.lineno, f"{path.relative_to(root.parent)}:{node.lineno}: {span[0].strip()}"))
            nested = nested or isinstance(node, scopes)
            stack.extend((child, nested) for child in ast.iter_child_nodes(node))
    return [text for _, _, text in sorted(bad)]


def test_the_lazy_import_check_sees_nested_imports_and_reads_the_reason(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "import os\n"
        "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n"
        "def f():\n    import json\n    if True:\n        from os import path  # lazy: start-up time\n"
        "    from os import (sep,\n                    pathsep)  # lazy: keeps the runner optional\n"
        "class C:\n    def g(self):\n        import csv  # type: ignore\n"
        "    def h(self):\n        import io  # lazy:\n")
    assert function_level_imports_without_reason(pkg) == [
        "pkg/m.py:7: import json", "pkg/m.py:14: import csv  # type: ignore", "pkg/m.py:16: import io  # lazy:"]


def test_every_function_level_import_in_llmfit_core_says_why_it_is_lazy():
    found = function_level_imports_without_reason(PACKAGE)
    assert not found, (
        "imports inside functions without a `# lazy: <reason>` comment: move them to the top of the module, or say "
        "why they must stay lazy (start-up time, measured; an optional runner):\n" + "\n".join(found))


# The runner adapters follow the same rule: plugins/ and the example third-party adapter. What stays lazy there is
# the runner itself (`# lazy: optional runner`: a missing one disables only its adapter) or what the entry-point
# modules, imported at every `llmfit` start, need in some hooks only (`# lazy: start-up time`; test_cold_start checks
# that `llmfit --help` loads neither).
ADAPTER_ROOTS = (PACKAGE.parent / "plugins", PACKAGE.parent / "examples" / "third_party_plugin")


def test_every_function_level_import_in_the_adapters_says_why_it_is_lazy():
    found = [f for root in ADAPTER_ROOTS for f in function_level_imports_without_reason(root)]
    assert not found, ("imports inside functions without a `# lazy: <reason>` comment: move them to the top of the "
                       "module, or say why they must stay lazy (start-up time, measured; an optional runner):\n"
                       + "\n".join(found))
