"""docs/architecture.md's table of the hooks each adapter implements matches the adapters' @hookimpl functions."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADAPTERS = {"hf": REPO / "plugins" / "llmfit_hf", "llamacpp": REPO / "plugins" / "llmfit_llamacpp",
            "mlx": REPO / "plugins" / "llmfit_mlx", "ollama": REPO / "plugins" / "llmfit_ollama",
            "example": REPO / "examples" / "third_party_plugin" / "llmfit_example_plugin"}


def implemented_hooks(package: Path) -> set[str]:
    """Names of the functions decorated with `hookimpl` (or `x.hookimpl`) anywhere in a package."""
    out = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                    getattr(d, "id", getattr(d, "attr", None)) == "hookimpl"
                    or getattr(getattr(d, "func", None), "id", getattr(getattr(d, "func", None), "attr", None)) == "hookimpl"
                    for d in node.decorator_list):
                out.add(node.name)
    return out


def documented_hooks() -> dict[str, set[str]]:
    """adapter column -> hooks ticked in the doc's table."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("## Hooks each adapter implements", 1)[1].split("\n\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines() if line.startswith("|")]
    header, body = rows[0], rows[2:]
    out: dict[str, set[str]] = {col: set() for col in header[2:]}
    for row in body:
        hook = row[0].strip("`").split("(")[0]
        for col, cell in zip(header[2:], row[2:], strict=True):
            if cell:
                out[col].add(hook)
    return out


def test_the_hook_table_matches_the_adapters():
    doc = documented_hooks()
    assert set(doc) == set(ADAPTERS)
    for name, package in ADAPTERS.items():
        assert doc[name] == implemented_hooks(package), f"docs/architecture.md hook table, column {name}"


def test_the_scan_sees_decorated_hooks(tmp_path):
    (tmp_path / "m.py").write_text("import pluggy\nhookimpl = pluggy.HookimplMarker('llmfit')\n"
                                   "@hookimpl\ndef llmfit_backends(hardware):\n    pass\n"
                                   "@hookimpl(tryfirst=True)\ndef llmfit_list_models(query, options):\n    pass\n"
                                   "def llmfit_helper():\n    pass\n")
    assert implemented_hooks(tmp_path) == {"llmfit_backends", "llmfit_list_models"}
