"""`llmfit plugins [--json]`: the plugins found, their hooks, and whether their runner is installed."""

from __future__ import annotations

import json

import click

from llmfit_core.cli.common import Col, csv_option, friendly_errors, json_option, print_table, styled


@click.command("plugins")
@json_option
@csv_option
@friendly_errors
def plugins_command(as_json: bool, as_csv: bool) -> None:
    """List plugins (entry-point group `llmfit`): whether the adapter loaded, its hooks, and whether the runner it
    adapts (llama-cpp-python, Ollama, mlx, huggingface_hub) is installed.

    Filter with LLMFIT_PLUGINS=a,b (allow-list) or LLMFIT_DISABLE_PLUGINS=a,b.
    """
    from llmfit_core.plugins import plugin_infos  # lazy: start-up: --help and usage errors skip it

    infos = plugin_infos()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    rows = []
    for i in infos:
        if i.runner_ok is None:
            runner = None
        else:  # the adapter is llmfit's plugin; the runner is the program it adapts (llama-cpp-python, Ollama, ...)
            runner = styled(("installed: " if i.runner_ok else "missing: ") + i.runner_message,
                            "green" if i.runner_ok else "red")
        hooks = ", ".join(h.removeprefix("llmfit_") for h in i.hooks) or None
        adapter = styled(i.status, None if i.status == "loaded" else "yellow")
        rows.append([i.name, adapter, hooks, runner, i.origin or None])
    cols = [Col("plugin", key=True), Col("adapter", wrap=True), Col("hooks", wrap=True), Col("runner", wrap=True),
            Col("from", wrap=True)]
    print_table(cols, rows, title="llmfit plugins", as_csv=as_csv)
