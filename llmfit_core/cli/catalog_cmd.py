"""`llmfit catalog update|add|validate|info|show`, `llmfit search`, `llmfit list`, `llmfit recommend`, `llmfit plan`.

Heavy modules (numpy, the catalog, rich) are imported inside the commands: `llmfit --help` stays fast.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from pathlib import Path

import click

from llmfit_core.cli.common import (
    VERDICT_STYLE,
    Col,
    backend_option,
    context_option,
    csv_option,
    friendly_errors,
    hardware_option,
    json_option,
    limit_option,
    make_console,
    print_table,
    styled,
)
from llmfit_core.errors import LlmfitError, ResolveError
from llmfit_core.units import fmt_gib


def _console(stderr: bool = False):
    from rich.console import Console  # lazy: start-up: rich, not for --json, --csv or --help

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 200)


def _status(text: str):
    """A spinner on stderr while something loads (silent when stderr is not a terminal)."""

    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    return _console(stderr=True).status(text)


def _load():
    from llmfit_core.catalog import load_catalog  # lazy: start-up: --help and usage errors skip it

    with _status("loading the model catalog..."):
        cat = load_catalog()
    for w in cat.warnings[:20]:
        click.echo(f"llmfit: warning: skipped catalog entry: {w}", err=True)
    if len(cat.warnings) > 20:
        click.echo(f"llmfit: warning: ... and {len(cat.warnings) - 20} more skipped entries", err=True)
    return cat


def _params(n) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def _print_csv(header: list[str], rows: list[list]) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)


def filter_options(fn):
    for opt in reversed([
        click.option("--family", multiple=True, help="Model family, e.g. llama-3.1, qwen-2.5 (repeatable)."),
        click.option("--min-params", default=None, help="Smallest size, e.g. 1B."),
        click.option("--max-params", default=None, help="Largest size, e.g. 14B."),
        click.option("--use", multiple=True, help="chat, coding, reasoning, vision, embedding, tool-use (repeatable)."),
        click.option("--format", "fmt", multiple=True, help="gguf, safetensors, mlx, awq, gptq (repeatable)."),
        click.option("--license", multiple=True, help="Licence id, e.g. apache-2.0, mit (repeatable)."),
        click.option("--context", default=None, help="Needed context, e.g. 16k."),
    ]):
        fn = opt(fn)
    return fn


def _entry_rows(entries):
    return [[e.id, e.family, _params(e.params), e.max_context, ",".join(e.uses), ",".join(e.formats), e.license or ""]
            for e in entries]


def _show_entries(entries, total: int, as_json: bool, as_csv: bool, limit: int) -> None:
    shown = entries[:limit]
    if as_json:
        _print_json({"count": len(entries), "models": [e.to_dict() for e in shown]})
        return

    columns = [Col("id", key=True), Col("family"), Col("params", right=True), Col("context", right=True),
               Col("uses", wrap=True), Col("formats", wrap=True), Col("license")]
    rows = _entry_rows(shown)
    if not as_csv:  # lists wrap at their commas, not inside a word
        rows = [[i, f, p, c, u.replace(",", ", "), fm.replace(",", ", "), lic] for i, f, p, c, u, fm, lic in rows]
    title = f"{len(entries):,} of {total:,} catalog models" + (f" (first {limit})" if len(entries) > limit else "")
    print_table(columns, rows, title=None if as_csv else title, as_csv=as_csv)


def _ctx(n) -> str:
    """A context as people write it: 131072 -> 128k; None (not even 512 tokens fit) -> '-'."""
    if not n:
        return "-"
    return f"{n // 1024}k" if n % 1024 == 0 else f"{n / 1024:.1f}k"


def _constraints_from(family, min_params, max_params, use, fmt, license, context, fits=False):
    from llmfit_core.constraints import from_flags  # lazy: start-up: --help and usage errors skip it

    return from_flags(context=context, use=use, license=license, family=family, fmt=fmt,
                      min_params=min_params, max_params=max_params, fits=fits)


REC_COLUMNS = (("rank", True), ("model", False), ("quant", False), ("params", True), ("memory", True),
               ("verdict", False), ("decode tok/s", True), ("prefill tok/s", True), ("max ctx", True),
               ("rank pts", True), ("why not better", False))


def _print_recommendations(res, c, as_csv: bool, explain: bool, per_quant: bool = False) -> None:
    """The recommend table through cli.common.print_table: a rich table when it fits the terminal, the narrow layout
    at 80 columns (the model name whole on its own line), one plain line per row when piped; --csv for scripts."""

    rows = []
    for n, r in enumerate(res.items, 1):
        name = r.entry.id + (f" (+{len(r.similar)} similar)" if r.similar and not as_csv else "")
        verdict = r.verdict if as_csv else styled(r.verdict, VERDICT_STYLE.get(r.verdict, "bold"))
        rows.append([n, name, r.quant, _params(r.entry.params), fmt_gib(r.total_bytes), verdict, f"{r.decode_tok_s:.1f}",
                     f"{r.prefill_tok_s:.0f}", _ctx(r.max_context), f"{r.rank_score:.1f}",
                     r.rejected_better or (("chosen" if n == 1 else "passes") if per_quant else "best quant")])
    columns = [Col(h, right=right, key=h == "model", wrap=h == "why not better") for h, right in REC_COLUMNS]
    if as_csv:
        print_table(columns, rows, as_csv=True)
        return
    con = make_console()
    cons = ", ".join(t for _, t in c.describe()) or "no constraints"
    print_table(columns, rows, title=f"Best models for {res.hardware_name} ({res.backend}) — {cons}", console=con)
    con.print(f"{res.pairs_passing:,} of {res.pairs_considered:,} model × quant pairs pass; ranked in {res.rank_ms:.0f} ms "
              "(rank pts: higher is better, not fit's 0-100 score; --explain shows the terms)", style="dim")
    if explain:
        for n, r in enumerate(res.items, 1):
            terms = ", ".join(f"{k.replace('_', ' ')} {v:+.1f}" for k, v in r.rank_terms.items())
            con.print(f"{n:>2}. {r.entry.id} {r.quant}: {r.rank_score:.1f} = {terms}")
    for note in res.notes:
        con.print(f"note: {note}", style="dim")


@click.group("catalog")
def catalog_group():
    """The model catalog: shipped data, private registries (LLMFIT_CATALOG_PATH), Hub updates."""


@catalog_group.command("info")
@json_option
@friendly_errors
def catalog_info(as_json):
    """How many models the catalog holds and where they come from."""
    cat = _load()
    d = {"entries": len(cat), "models": len(cat.models), "variants": len(cat) - len(cat.models),
         "sources": cat.sources, "skipped": cat.warnings}
    if as_json:
        _print_json(d)
    else:
        click.echo(f"{d['entries']:,} entries ({d['models']:,} models + {d['variants']:,} quantized variants)")
        for s in cat.sources:
            click.echo(f"  from {s}")
        if cat.warnings:
            click.echo(f"  {len(cat.warnings)} entries skipped (see warnings above)")


@catalog_group.command("show")
@click.argument("ref")
@friendly_errors
def catalog_show(ref):
    """All catalog facts of one model, with the source of each field."""

    e = _load().find(ref)
    if e is None:
        raise ResolveError(f"{ref!r} is not in the catalog (try `llmfit search {ref.split('/')[-1]}`)")
    _print_json(e.to_dict())


@catalog_group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
@friendly_errors
def catalog_validate(file, as_json):
    """Check a catalog file; every bad entry is reported with the reason (exit 1 if any)."""

    from llmfit_core.catalog.store import load_file  # lazy: start-up: --help and usage errors skip it

    good, problems = load_file(Path(file), f"file {file}")
    fixed = [p for p in problems if ": fixed " in p]
    invalid = [p for p in problems if ": fixed " not in p]
    if as_json:
        _print_json({"file": file, "valid": len(good), "invalid": len(invalid), "problems": invalid,
                     "fixed": fixed})
    else:
        for p in invalid:
            click.echo(f"invalid: {p}", err=True)
        for p in fixed:
            click.echo(f"wrong fact: {p}", err=True)
        click.echo(f"{file}: {len(good)} valid, {len(invalid)} invalid entries" + (f"; {len(fixed)} wrong facts fixed" if fixed else ""))
    if problems:
        sys.exit(1)


@catalog_group.command("add")
@click.argument("ref")
@friendly_errors
def catalog_add(ref):
    """Record a local model (GGUF, model dir, config.json) or a Hub repo in your catalog."""
    from llmfit_core.catalog.hub import add_ref  # lazy: start-up: huggingface_hub, only catalog add/update

    with _status(f"reading {ref}..."):
        e = add_ref(ref)
    click.echo(f"added {e.id}: {e.arch}, {_params(e.params)} parameters, context {e.max_context:,}")


@catalog_group.command("update")
@click.option("--search", default=None, help="Hub search text (e.g. 'qwen3').")
@click.option("--author", default=None, help="Only models of this author/org.")
@limit_option(50, "models to list from the Hub (0: none)")
@click.option("--refresh-gguf", default=0, show_default=True,
              help="Also read real GGUF file lists and sizes for the N catalog models with the most GGUF repos.")
@json_option
@friendly_errors
def catalog_update(search, author, limit, refresh_gguf, as_json):
    """Fetch models (and exact GGUF file sizes) from the Hub into your catalog (HF_ENDPOINT honoured)."""
    from llmfit_core.catalog.hub import update_catalog  # lazy: start-up: huggingface_hub, only catalog add/update

    if sys.stderr.isatty() and not as_json:
        from rich.progress import Progress  # lazy: start-up: rich.progress, only catalog update

        with Progress(console=_console(stderr=True), transient=True) as prog:
            task = prog.add_task("querying the Hub", total=None)

            def progress(n, total, rid):
                prog.update(task, completed=n, total=total, description=rid[:50])

            res = update_catalog(search=search, author=author, limit=limit, progress=progress,
                                 refresh_gguf=refresh_gguf)
    else:
        res = update_catalog(search=search, author=author, limit=limit, refresh_gguf=refresh_gguf)
    if as_json:
        _print_json(res.to_dict())
        return
    click.echo(f"{len(res.added)} models added/refreshed, {len(res.updated)} with GGUF sizes, "
               f"{len(res.skipped)} skipped -> {res.path}")
    for s in res.updated[:20]:
        click.echo(f"  gguf: {s}")
    for s in res.skipped[:20]:
        click.echo(f"  skipped: {s}", err=True)


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@filter_options
@limit_option(30, "models")
@json_option
@csv_option
@friendly_errors
def search_command(query, family, min_params, max_params, use, fmt, license, context, limit, as_json, as_csv):
    """Find catalog models by name (all words must match)."""
    from llmfit_core.catalog.search import search_entries  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.recommend.listing import filter_entries  # lazy: start-up: --help and usage errors skip it

    query = " ".join(query)
    if len(query) > 200:
        raise LlmfitError("search query longer than 200 characters")
    cat = _load()
    c = _constraints_from(family, min_params, max_params, use, fmt, license, context)
    hits = filter_entries(search_entries(cat.entries, query), c)
    _show_entries(hits, len(cat), as_json, as_csv, limit)


@click.command("list")
@filter_options
@click.option("--fits", is_flag=True, help="Only models with a quantization that fits the hardware.")
@hardware_option
@limit_option(50, "models")
@click.option("--all", "show_all", is_flag=True, help="Include quantized variants (MLX/AWQ/GPTQ copies).")
@json_option
@csv_option
@friendly_errors
def list_command(family, min_params, max_params, use, fmt, license, context, fits, hardware, limit, show_all, as_json, as_csv):
    """List catalog models, filtered."""
    from llmfit_core.recommend.listing import filter_entries  # lazy: start-up: --help and usage errors skip it

    cat = _load()
    c = _constraints_from(family, min_params, max_params, use, fmt, license, context, fits=fits)
    base = cat.entries if show_all else cat.models
    with _status("checking fit..." if fits else "filtering..."):
        hits = filter_entries(base, c, hardware=hardware if fits else None) if (fits or c.describe()) else list(base)
    hits.sort(key=lambda e: (-len(e.gguf), e.id.lower()))
    _show_entries(hits, len(base), as_json, as_csv, limit)


@click.command("recommend")
@click.argument("constraints", nargs=-1)
@hardware_option
@backend_option
@click.option("--top", default=10, show_default=True, help="How many models.")
@click.option("--min-tps", default=None, help="Minimum decode tokens/s.")
@click.option("--prefill-min", default=None, help="Minimum prefill tokens/s.")
@click.option("--max-memory", default=None, help="Most memory the model may take, e.g. 8GB.")
@click.option("--max-vram", default=None, help="Most VRAM the model may take, e.g. 12GB.")
@filter_options
@click.option("--quant", multiple=True, help="Only these quantizations (repeatable).")
@click.option("--include-no-fit", is_flag=True, help="Also rank models that do not fit.")
@click.option("--all-variants", is_flag=True, help="List fine-tunes of the same size and architecture separately.")
@click.option("--community", is_flag=True, help="Also community fine-tunes (default: first-party models and a few "
                                                  "well-known tunes).")
@click.option("--modified", is_flag=True, help="Also uncensored / abliterated / merged / pruned uploads.")
@click.option("--sort", "sort", default="rank", help="rank (default), speed, quality, memory or context.")
@click.option("--explain", is_flag=True, help="Print the terms of each row's rank points.")
@click.option("--model", "model_ref", default=None, help="Which quantization of THIS model (catalog name).")
@json_option
@csv_option
@friendly_errors
def recommend_command(constraints, hardware, backend, top, min_tps, prefill_min, max_memory, max_vram, family,
                      min_params, max_params, use, fmt, license, context, quant, include_no_fit, all_variants, community,
                      modified, sort, explain, model_ref, as_json, as_csv):
    """Best models for this machine (or --hardware), e.g. `llmfit recommend "min 20 tok/s, max 8GB" use coding`.

    The "rank" column is rank points (higher is better, no upper bound; --explain shows its terms), not fit's
    0-100 score. `--model NAME` lists every quantization of one model instead.
    """
    from llmfit_core.constraints import from_flags, parse_constraints  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.recommend import recommend, recommend_quants  # lazy: start-up: --help and usage errors skip it

    c = parse_constraints(list(constraints)).merge(from_flags(
        min_tps=min_tps, prefill_min=prefill_min, max_memory=max_memory, max_vram=max_vram, context=context, use=use,
        license=license, family=family, fmt=fmt, quant=quant, min_params=min_params, max_params=max_params,
        fits=not include_no_fit))
    cat = _load()
    with _status("ranking models × quantizations..."):
        if model_ref:
            res = recommend_quants(model_ref, c, hardware=hardware, catalog=cat, sort=sort, backend=backend)
        else:
            res = recommend(c, hardware=hardware, top=top, catalog=cat, distinct=not all_variants,
                            community=community or modified, modified=modified, sort=sort, backend=backend)
    if as_json:
        _print_json(res.to_dict())
        return
    _print_recommendations(res, c, as_csv, explain, per_quant=bool(model_ref))


@click.command("plan")
@click.argument("models", nargs=-1, required=True)
@hardware_option
@click.option("--target-tps", type=float, default=None, help="Find the smallest device reaching this decode speed.")
@click.option("--quant", default=None, help="Quantization for catalog/config models (default Q4_K_M).")
@context_option("each model's min(max, 4096)")
@json_option
@csv_option
@click.option("--cluster", "cluster", default=None, metavar="FILE",
              help="Plan one model across the machines of a cluster file (README: Plan across machines).")
@click.option("--engine", default=None, help="With --cluster: llama.cpp-rpc, vllm, sglang or exo (default: rank them all).")
@click.option("--concurrency", type=int, default=1, help="With --cluster: sequences served at once.")
@click.option("--tp", type=int, default=None, help="With --cluster --engine vllm/sglang: tensor-parallel size.")
@click.option("--pp", type=int, default=None, help="With --cluster --engine vllm/sglang: pipeline-parallel size.")
@click.option("--exo-mode", default=None, help="With --cluster --engine exo: tensor or pipeline.")
@friendly_errors
def plan_command(models, hardware, target_tps, quant, context, as_json, as_csv, cluster, engine, concurrency, tp, pp,
                 exo_mode):
    """Several models on one machine, or (--target-tps) the smallest device for one model; with --cluster, one
    model across machines (engines ranked, memory per device, launch lines)."""
    from llmfit_core.plan import plan_models, plan_target  # lazy: start-up: --help and usage errors skip it

    if cluster is not None:
        from llmfit_core.cli.cluster_cmd import run_cluster_plan  # lazy: start-up: plan --cluster only

        return run_cluster_plan(models, cluster, engine, target_tps, quant, context, concurrency, tp, pp, exo_mode,
                                hardware, as_json, as_csv, _console)
    if any(v is not None for v in (engine, tp, pp, exo_mode)) or concurrency != 1:
        raise LlmfitError("--engine, --concurrency, --tp, --pp and --exo-mode plan across machines: add --cluster FILE")
    if target_tps is not None:
        if len(models) != 1:
            raise LlmfitError("--target-tps takes exactly one model")
        with _status("checking every device of the table..."):
            tp = plan_target(models[0], target_tps, hardware=hardware, quant=quant, context=context)
        if as_json:
            _print_json(tp.to_dict())
            return
        rows = [[d.device, d.kind, f"{d.memory_gb:g} GiB", f"{d.bandwidth_gbs or 0:.0f}", f"{d.decode_tok_s:.1f}", d.verdict]
                for d in tp.reaching[:15]]
        if as_csv:
            _print_csv(["device", "kind", "memory", "bandwidth GB/s", "decode tok/s", "verdict"], rows)
            return
        con = _console()
        here = tp.here
        con.print(f"{tp.ref} ({tp.quant}) here on {here.hardware_name}: {here.decode_tok_s:.1f} tok/s, "
                  f"[{VERDICT_STYLE.get(here.verdict, 'bold')}]{here.verdict}[/], needs {fmt_gib(here.memory.total_bytes)}")
        if tp.smallest:
            s = tp.smallest
            con.print(f"smallest device reaching {target_tps:g} tok/s: [bold]{s.device}[/] ({s.memory_gb:g} GiB, "
                      f"{s.decode_tok_s:.1f} tok/s)")
        for line in tp.lacks:
            con.print(f"  - {line}")
        if rows:
            from rich.table import Table  # lazy: start-up: rich, not for --json

            t = Table(title=f"devices reaching {target_tps:g} tok/s (smallest first)")
            for h in ("device", "kind", "memory", "bandwidth GB/s", "decode tok/s", "verdict"):
                t.add_column(h)
            for r in rows:
                t.add_row(*r)
            con.print(t)
        return
    with _status("estimating each model..."):
        p = plan_models(list(models), hardware=hardware, quant=quant, context=context)
    if as_json:
        _print_json(p.to_dict())
        return
    header = ["model", "quant", "where", "memory", "decode tok/s", "prefill tok/s"]
    rows = [[i.ref, i.quant or "", i.device, fmt_gib(i.total_bytes), f"{i.decode_tok_s:.1f}", f"{i.prefill_tok_s:.0f}"]
            for i in p.items]
    if as_csv:
        _print_csv(header, rows)
        return
    from rich.table import Table  # lazy: start-up: rich, not for --json

    verdict = "[bold green]fits[/]" if p.fits else "[bold red]does not fit together[/]"
    t = Table(title=f"{len(p.items)} models on {p.hardware_name}: {verdict}",
              caption=f"total {fmt_gib(p.total_bytes)} (GPU {fmt_gib(p.gpu_bytes)} of {fmt_gib(p.vram_bytes)}, "
                      f"CPU/RAM {fmt_gib(p.cpu_bytes)} of {fmt_gib(p.ram_bytes)}); speeds when run one at a time")
    for h in header:
        t.add_column(h, justify="right" if h in ("memory", "decode tok/s", "prefill tok/s") else "left")
    for r in rows:
        t.add_row(*r)
    con = _console()
    con.print(t)
    for n in p.notes:
        con.print(f"note: {n}")
