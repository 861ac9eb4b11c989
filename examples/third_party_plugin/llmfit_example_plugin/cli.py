"""`llmfit zoo ls`: the example runner's models and their fit on this machine (or --hardware)."""

from __future__ import annotations

import click

from llmfit_core.api import fit
from llmfit_core.cli.common import friendly_errors, hardware_option
from llmfit_example_plugin import ZOO


@click.group("zoo")
def zoo_group():
    """The example zoo runner: its models and their fit."""


@zoo_group.command("ls")
@hardware_option
@friendly_errors
def ls_command(hardware):
    """Every zoo model with its verdict and decode speed."""
    for name in sorted(ZOO):
        report = fit(f"zoo:{name}", hardware=hardware)
        click.echo(f"zoo:{name}  {report.verdict}  ~{report.decode_tok_s:.1f} tok/s")
