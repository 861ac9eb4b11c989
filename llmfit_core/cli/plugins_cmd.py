"""`llmfit plugins [--json]`: the plugins found, their hooks, and whether their runner is installed."""

from __future__ import annotations

import json

import click

from llmfit_core.cli.common import friendly_errors, json_option


@click.command("plugins")
@json_option
@friendly_errors
def plugins_command(as_json: bool) -> None:
    """List plugins (entry-point group `llmfit`), their hooks and whether their runner is installed.

    Filter with LLMFIT_PLUGINS=a,b (allow-list) or LLMFIT_DISABLE_PLUGINS=a,b.
    """
    from llmfit_core.plugins import plugin_infos

    infos = plugin_infos()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="llmfit plugins")
    for col in ("plugin", "status", "hooks", "runner"):
        table.add_column(col, overflow="fold")
    for i in infos:
        if i.runner_ok is None:
            runner = "-"
        else:
            runner = ("[green]yes[/green] " if i.runner_ok else "[red]no[/red] ") + i.runner_message
        hooks = ", ".join(h.removeprefix("llmfit_") for h in i.hooks) or "-"
        st = i.status if i.status == "loaded" else f"[yellow]{i.status}[/yellow]"
        table.add_row(f"{i.name}\n[dim]{i.origin}[/dim]" if i.origin else i.name, st, hooks, runner)
    Console().print(table)


def register(cli) -> None:
    """Add `plugins` to the `llmfit` group."""
    cli.add_command(plugins_command)
