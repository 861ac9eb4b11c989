"""`llmfit hf search|ls|download|install-extension`: Hub listings annotated for this machine, checked downloads.

The Hugging Face adapter adds the `hf` group to `llmfit` (hook `llmfit_register_commands`); this module is
imported only when the group runs.
"""

from __future__ import annotations

import json
import sys

import click

from llmfit_core.cli.common import (
    VERDICT_STYLE,
    Col,
    context_option,
    csv_option,
    friendly_errors,
    hardware_option,
    json_option,
    limit_option,
    print_table,
    styled,
)
from llmfit_core.errors import LlmfitError
from llmfit_core.units import fmt_gib
from llmfit_hf import parse_ref
from llmfit_hf.checked_download import DOWNLOAD_HELP, download_main
from llmfit_hf.extension import install_extension


def _best_cell(r, show_file: bool) -> str:
    """The "best here" cell: on `hf ls`, "yes" on the pick's row (or the what-if quant of a safetensors repo);
    on `hf search`, the repo's pick."""
    if not show_file:
        return r.best_quant or "-"
    if not r.best_quant:
        return "-"
    return "yes" if r.best_quant in (r.quant, r.file) else (f"as {r.best_quant}" if r.kind != "gguf" else "")


def _print_rows(rows, title: str, show_file: bool, as_csv: bool = False) -> None:
    cols = [Col("file" if show_file else "repo", key=True), Col("quant"), Col("size", right=True), Col("verdict"),
            Col("memory", right=True), Col("decode tok/s", right=True), Col("fit score", right=True), Col("best here")]
    show_note = any(r.note for r in rows)
    if show_note:
        cols.append(Col("note", wrap=True))
    table = []
    for r in rows:
        name = (r.file if show_file else r.repo_id) or r.repo_id
        verdict = (r.verdict or "?") + ("" if r.exact or r.verdict is None else "~")
        style = VERDICT_STYLE.get(r.verdict or "", "dim")
        table.append([name, r.quant, fmt_gib(r.size_bytes, none="?"), styled(verdict, style),
                      fmt_gib(r.memory_bytes) if r.memory_bytes else None,
                      f"{r.decode_tok_s:.1f}" if r.decode_tok_s is not None else None,
                      f"{r.score}/100" if r.score is not None else None, _best_cell(r, show_file),
                      *([r.note] if show_note else [])])
    print_table(cols, table, title=title, as_csv=as_csv)
    if as_csv:
        return
    if any(r.verdict and not r.exact for r in rows):
        click.echo("~ estimated from file sizes/config (use --exact to read headers)", err=True)
    if any(r.best_quant for r in rows):
        click.echo("best here: what `llmfit recommend` would pick (quality lost to quantization vs speed and "
                   "headroom); fit score: verdict + decode speed, 0-100", err=True)


@click.group("hf")
def hf_group():
    """Hugging Face Hub: annotated search and listings, checked downloads."""


@hf_group.command("search")
@click.argument("query")
@limit_option(20, "repos")
@click.option("--exact", is_flag=True, help="Read headers (slower; exact memory figures).")
@context_option()
@hardware_option
@json_option
@csv_option
@friendly_errors
def search_command(query, limit, exact, context, hardware, as_json, as_csv):
    """Search the Hub; each repo annotated with verdict, memory, decode tok/s and the best quant here."""
    from llmfit_hf.listing import search  # lazy: start-up time (`hf download`, `hf --help` need no listing: ~250 ms)

    rows = search(query, limit=limit, exact=exact, hardware=hardware, context=context)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"no models found for {query!r}", err=True)
        return
    _print_rows(rows, f"Hub search: {query}", show_file=False, as_csv=as_csv)


@hf_group.command("ls")
@click.argument("repo_id")
@click.option("--revision", default=None, help="Branch, tag or commit.")
@click.option("--exact", is_flag=True, help="Read every file's header (default: one header per repo).")
@context_option()
@click.option("--no-mmproj", is_flag=True, help="Leave out the vision projector llama-server -hf loads (text only).")
@hardware_option
@json_option
@csv_option
@friendly_errors
def ls_command(repo_id, revision, exact, context, no_mmproj, hardware, as_json, as_csv):
    """List a repo's model files (GGUF variants, safetensors/MLX weights), each annotated for this machine."""
    from llmfit_hf.listing import ls_repo  # lazy: start-up time (`hf download`, `hf --help` need no listing: ~250 ms)

    parsed = parse_ref(repo_id)
    if parsed is None:
        raise LlmfitError(f"not a Hugging Face repo id: {repo_id!r} (expected org/name)")
    rows = ls_repo(parsed[0], revision=revision, exact=exact, hardware=hardware, context=context, mmproj=not no_mmproj)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    _print_rows(rows, parsed[0], show_file=True, as_csv=as_csv)


@hf_group.command("download", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                                "help_option_names": []}, help=DOWNLOAD_HELP)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def download_command(args):
    if not args:
        click.echo("llmfit: error: hf download: missing REPO_ID (see 'llmfit hf download --help')", err=True)
        sys.exit(2)
    if args[0] in ("-h", "--help"):
        click.echo("usage: llmfit hf download ARGS...\n\n" + DOWNLOAD_HELP.replace("\b\n", ""))
        sys.exit(0)
    sys.exit(download_main(list(args), prog="llmfit hf download"))


@hf_group.command("install-extension")
@click.option("--dir", "root", default=None, help="hf extensions directory (default: ~/.local/share/hf/extensions).")
@friendly_errors
def install_extension_command(root):
    """Register `hf fit` as a local hf CLI extension (offline), so `hf fit download ARGS...` works."""
    path = install_extension(root)
    click.echo(f"registered `hf fit` ({path}); try: hf fit download ORG/NAME FILE.gguf")
