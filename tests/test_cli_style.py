"""One command style in llmfit_core/cli (cli/common.py's docstring): every built-in command's callback goes through
friendly_errors, and an option several commands take reads the same everywhere (name, parameter, help)."""

from __future__ import annotations

import click
import pytest

from llmfit_core.cli import common, main
from llmfit_core.cli.main import COMMANDS, cli


def _commands(group: click.Group, path: str = ""):
    """(path, command) of every leaf command under `group`."""
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{path}{name} ")
        else:
            yield f"{path}{name}", cmd


def _builtin_commands():
    for module in main.COMMAND_MODULES:
        cli._import(module)
    return [(p, c) for p, c in _commands(cli) if p.split()[0] in COMMANDS]


def _shared(decorator) -> click.Option:
    """The click.Option a common.py decorator declares."""
    return decorator(click.Command("x", callback=lambda **_: None)).params[0]


SHARED = {"--json": _shared(common.json_option), "--csv": _shared(common.csv_option),
          "--hardware": _shared(common.hardware_option), "--offline": _shared(common.offline_option())}
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
