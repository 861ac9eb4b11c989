"""One command style in llmfit_core/cli and the adapters' CLIs (cli/common.py's docstring): every command is a
module-level click command or group named "module:attribute" (built-ins in cli/main.py's COMMANDS, plugins through
`cli.add_lazy_command`), every built-in command's callback goes through friendly_errors, and an option several
commands take reads the same everywhere (name, parameter, help)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import click
import pytest

from llmfit_core.cli import common
from llmfit_core.cli.main import COMMANDS, LazyGroup, cli, load_all_commands, load_target

ROOT = Path(__file__).resolve().parents[1]
# where commands are declared: the core's CLI, the adapters' and the example third-party plugin's
COMMAND_SOURCES = sorted([*(ROOT / "llmfit_core" / "cli").glob("*.py"), *(ROOT / "plugins").glob("*/cli.py"),
                          *(ROOT / "examples" / "third_party_plugin").rglob("cli.py")])


def _is_command_decorator(node: ast.expr) -> bool:
    """`@click.command(...)`, `@click.group(...)`, `@cli.command(...)`, `@some_group.group(...)`, with or without
    arguments."""
    func = node.func if isinstance(node, ast.Call) else node
    return isinstance(func, ast.Attribute) and func.attr in ("command", "group")


def style_problems(source: str, filename: str = "<source>") -> list[str]:
    """What in `source` breaks the one command style: a `register(cli)` function, or a command declared inside a
    function (which only exists once that function runs, so the table cannot name it as "module:attribute")."""
    problems = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.name == "register" and not in_function:
                    problems.append(f"{filename}:{child.lineno}: register() function")
                if in_function and any(_is_command_decorator(d) for d in child.decorator_list):
                    problems.append(f"{filename}:{child.lineno}: command {child.name!r} declared inside a function")
                visit(child, True)
            else:
                visit(child, in_function)

    visit(ast.parse(source), False)
    return problems


def test_the_style_check_rejects_commands_declared_in_register():
    old_style = textwrap.dedent("""
        import click

        def register(cli) -> None:
            @cli.command("fit")
            def fit_command():
                pass

            @cli.group("hooks")
            def hooks():
                pass

            @hooks.command("install")
            def install():
                pass
    """)
    assert len(style_problems(old_style)) == 4
    new_style = textwrap.dedent("""
        import click

        @click.command("fit")
        def fit_command():
            pass

        @click.group("hooks")
        def hooks_group():
            pass

        @hooks_group.command("install")
        def install():
            pass
    """)
    assert style_problems(new_style) == []


@pytest.mark.parametrize("path", COMMAND_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_are_declared_at_module_level(path):
    assert style_problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


def _targets() -> list[tuple[str, str]]:
    """(name, "module:attribute") of every built-in command and every command the installed adapters add."""
    group = LazyGroup("probe")
    group._plugin_commands()
    return [(name, target) for name, (target, _) in [*COMMANDS.items(), *group._lazy.items()]]


@pytest.mark.parametrize("name, target", _targets())
def test_every_command_is_a_module_level_click_command_of_its_name(name, target):
    module, _, attr = target.partition(":")
    assert module and attr and "." not in attr, target
    cmd = load_target(target)
    assert isinstance(cmd, click.Command) and cmd.name == name, target
    kind = "group" if isinstance(cmd, click.Group) else "command"
    assert attr == f"{name.replace('-', '_')}_{kind}", f"{target}: name it {name}_{kind}"


def _commands(group: click.Group, path: str = ""):
    """(path, command) of every leaf command under `group`."""
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{path}{name} ")
        else:
            yield f"{path}{name}", cmd


def _builtin_commands():
    load_all_commands()
    return [(p, c) for p, c in _commands(cli) if p.split()[0] in COMMANDS]


def _shared(decorator) -> click.Option:
    """The click.Option a common.py decorator declares."""
    return decorator(click.Command("x", callback=lambda **_: None)).params[0]


SHARED = {"--json": _shared(common.json_option), "--csv": _shared(common.csv_option),
          "--hardware": _shared(common.hardware_option), "--backend": _shared(common.backend_option),
          "--offline": _shared(common.offline_option())}
OWN_HELP = {"--offline"}  # the same option, its help says what it leaves out for that command
FILTERS = ("search", "list", "recommend")  # their --context is catalog_cmd's filter (a needed context)


def test_every_builtin_command_is_listed():
    assert {p.split()[0] for p, _ in _builtin_commands()} == set(COMMANDS)


@pytest.mark.parametrize("path, cmd", _builtin_commands(), ids=lambda x: x if isinstance(x, str) else "")
def test_errors_go_through_friendly_errors(path, cmd):
    assert getattr(cmd.callback, "friendly_errors", False), f"llmfit {path}: callback not wrapped in friendly_errors"


@pytest.mark.parametrize("path, cmd", _builtin_commands(), ids=lambda x: x if isinstance(x, str) else "")
def test_shared_options_are_declared_once(path, cmd):
    for opt in cmd.params:
        if not isinstance(opt, click.Option):
            continue
        for flag in opt.opts:
            want = SHARED.get(flag)
            if want is not None:
                help_ = want.help if flag in OWN_HELP else opt.help
                assert (opt.name, help_, opt.is_flag) == (want.name, want.help, want.is_flag), f"llmfit {path} {flag}"
        if "--context" in opt.opts and path.split()[0] not in FILTERS:
            assert opt.name == "context" and "-c" in opt.opts and opt.metavar == "TOKENS", f"llmfit {path} --context"
        if "--limit" in opt.opts:
            assert isinstance(opt.type, click.IntRange), f"llmfit {path} --limit"
