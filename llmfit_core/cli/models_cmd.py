"""`llmfit models`: what the installed sources offer (hook `llmfit_list_models`), each annotated with its fit."""

from __future__ import annotations

import json

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
    make_console,
    offline_option,
    print_table,
    styled,
)
from llmfit_core.errors import LlmfitError
from llmfit_core.plugin_types import ModelRef
from llmfit_core.units import fmt_gib

CATALOG_SOURCE = "catalog"


def catalog_models(query: str, limit: int) -> list[ModelRef]:
    """Shipped-catalog models matching QUERY (the rule of `llmfit search`): the source that needs no network.
    The models `recommend` shows by default (first-party releases, well-known tunes) come first, modified uploads
    (abliterated, merges, ...) last."""
    from llmfit_core.catalog import load_catalog  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.catalog.publishers import visible  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.catalog.search import search_entries  # lazy: start-up: --help and usage errors skip it

    hits = sorted(search_entries(load_catalog().entries, query), key=lambda e: (not visible(e), bool(e.modified)))
    return [ModelRef(ref=e.id, source=CATALOG_SOURCE, name=e.id) for e in hits[:limit]]


def list_source_models(query: str, source: str | None = None, limit: int = 20, offline: bool = False) -> list:
    """ModelRefs from every source plugin (Hub search, installed Ollama models, third-party sources); offline (or
    `source="catalog"`) the shipped catalog's matches follow them, since the Hub cannot be searched then."""
    from llmfit_core.plugins import call_hook  # lazy: start-up: --help and usage errors skip it

    options = {"source": source, "limit": limit, "offline": offline}
    refs = []
    if source != CATALOG_SOURCE:
        for result in call_hook("llmfit_list_models", query=query, options=options):
            refs.extend(result or [])
    if (offline and source is None) or source == CATALOG_SOURCE:
        refs += catalog_models(query, limit)
    return refs[:limit] if limit else refs


def annotate(refs: list, hardware=None, context=None, offline: bool = False) -> list[dict]:
    """One row per ModelRef: the ref's facts plus verdict, memory, speed and score (or the error)."""
    from llmfit_core.api import fit  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.hardware.registry import resolve_hardware  # lazy: start-up: --help and usage errors skip it

    hw = resolve_hardware(hardware)
    rows = []
    for r in refs:
        row = {"ref": r.ref, "source": r.source, "name": r.name or r.ref, "quant": r.quant, "size_bytes": r.size_bytes,
               "format": r.format}
        try:
            rep = fit(r.ref, hardware=hw, context=context, offline=offline)
            row.update(verdict=rep.verdict, score=rep.score, memory_bytes=rep.memory.total_bytes,
                       decode_tok_s=round(rep.decode_tok_s, 2), quant=row["quant"] or rep.quant)
        except LlmfitError as exc:
            row.update(verdict="error", error=" ".join(str(exc).split()))
        rows.append(row)
    return rows


@click.command("models")
@click.argument("query", required=False, default="")
@click.option("--source", help="Only this source (huggingface, ollama, catalog, or a plugin's source name).")
@limit_option(20, "models", minimum=1, maximum=500)
@context_option()
@offline_option("Only sources that need no network (local stores, the shipped catalog).")
@click.option("--no-fit", is_flag=True, help="List only; do not resolve and score each model.")
@hardware_option
@json_option
@csv_option
@friendly_errors
def models_command(query, source, limit, context, offline, no_fit, hardware, as_json, as_csv):
    """Models the installed sources offer for QUERY (Hub search, installed Ollama models, plugins; offline the
    shipped catalog), with their fit."""
    refs = list_source_models(query, source=source, limit=limit, offline=offline)
    if no_fit:
        rows = [{"ref": r.ref, "source": r.source, "name": r.name or r.ref, "quant": r.quant,
                 "size_bytes": r.size_bytes, "format": r.format} for r in refs]
    else:
        rows = annotate(refs, hardware=hardware, context=context, offline=offline)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no models found for {query!r}" + (f" in source {source!r}" if source else ""))
        return
    cols = [Col("source"), Col("model", key=True), Col("quant"), Col("size", right=True), Col("verdict"),
            Col("memory", right=True), Col("decode tok/s", right=True), Col("fit score", right=True)]
    table = []
    for row in rows:
        table.append([
            row["source"], row["ref"], row.get("quant"),
            fmt_gib(row.get("size_bytes") or None),
            styled(row.get("verdict", "-"), VERDICT_STYLE.get(row.get("verdict"))),
            fmt_gib(row.get("memory_bytes") or None),
            f"{row['decode_tok_s']:.1f}" if row.get("decode_tok_s") else None,
            f"{row['score']}/100" if row.get("score") is not None else None,
        ])
    print_table(cols, table, title=f"models for {query!r}" if query else "models", as_csv=as_csv)
    if as_csv:
        return
    console = make_console()
    for row in rows:
        if row.get("error"):
            console.print(f"  • {row['ref']}: {row['error']}", markup=False)
