"""`llmfit hooks install|uninstall|status`: the drop-in shims for hf, huggingface-cli, ollama, llama-cli, llama-server."""

from __future__ import annotations

from pathlib import Path

import click

from llmfit_core.cli.common import friendly_errors


def dir_option(fn):
    """`--dir DIR` (parameter `directory`): the shim directory."""
    return click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="The shim directory (default: shims/ in llmfit's data dir, $LLMFIT_DATA_DIR if set).")(fn)


@click.group("hooks")
def hooks_group():
    """Shims that check a model fits before `hf download`, `ollama pull`, `llama-cli -hf` download it."""


@hooks_group.command("install")
@dir_option
@click.option("--python", "python", default=None, help="Interpreter the shims use for the check (default: this one).")
@click.option("--overwrite", is_flag=True, help="Replace files of the same name that are not llmfit shims.")
@friendly_errors
def install_cmd(directory, python, overwrite):
    """Write the shims and print the line to add to your shell profile."""
    from llmfit_core import shims  # lazy: start-up: --help and usage errors skip it

    res = shims.install(directory, python=python, overwrite=overwrite)
    for path in res.written:
        click.echo(f"wrote {path}")
    for tool in res.skipped:
        click.echo(f"llmfit: warning: kept {res.directory / tool}: not an llmfit shim (use --overwrite)", err=True)
    if res.on_path:
        click.echo(f"{res.directory} is already on PATH.")
    else:
        click.echo("Add this line to your shell profile (~/.profile, ~/.bashrc or ~/.zshrc):")
        click.echo(res.path_line)


@hooks_group.command("uninstall")
@dir_option
@friendly_errors
def uninstall_cmd(directory):
    """Remove the shims (other files in the directory stay)."""
    from llmfit_core import shims  # lazy: start-up: --help and usage errors skip it

    removed = shims.uninstall(directory)
    for path in removed:
        click.echo(f"removed {path}")
    if not removed:
        click.echo("no llmfit shims found")
    else:
        click.echo("You can remove the PATH line from your shell profile.")


@hooks_group.command("status")
@dir_option
@friendly_errors
def status_cmd(directory):
    """Which shims are installed and active, and the real programs they run."""
    from llmfit_core import shims  # lazy: start-up: --help and usage errors skip it

    d, on_path, rows = shims.status(directory)
    click.echo(f"shim directory: {d} ({'on PATH' if on_path else 'not on PATH'})")
    for row in rows:
        state = "active" if row.active else ("installed" if row.shim else "not installed")
        click.echo(f"  {row.tool:<16} {state:<14} real: {row.real or 'not found'}")
