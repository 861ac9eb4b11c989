"""`llmfit hf search|ls|download|install-extension`: Hub listings annotated for this machine, checked downloads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import click

from llmfit_core.cli.common import Col, csv_option, friendly_errors, hardware_option, json_option, print_table, styled
from llmfit_core.errors import LlmfitError

EXIT_NO_FIT = 3

DOWNLOAD_HELP = """Check that the model fits, then run `hf download` with the same arguments.

\b
ARGS are exactly those of `hf download`: REPO_ID [FILES...] --include/--exclude/
--revision/... llmfit's own options (anywhere in ARGS):
  --force            download even if it does not fit
  --strict           stop when the check itself fails (default: warn, download)
  --hardware NAME    check against another device/profile, not this machine
  --context N        context length the memory estimate reserves
Exit code 3 when the model does not fit (nothing downloaded). With --dry-run
the verdict is printed, then hf's own dry run. LLMFIT_FORCE=1, LLMFIT_STRICT=1,
LLMFIT_BYPASS=1 act like --force, --strict, no check.
"""


def _human(n) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "?"


def _verdict_style(v: str | None) -> str:
    return {"runs": "green", "tight": "yellow", "offload": "cyan", "no-fit": "red"}.get(v or "", "dim")


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
        table.append([name, r.quant, _human(r.size_bytes), styled(verdict, _verdict_style(r.verdict)),
                      _human(r.memory_bytes) if r.memory_bytes else None,
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
@click.option("--limit", default=20, show_default=True, type=int, help="How many repos to list.")
@click.option("--exact", is_flag=True, help="Read headers (slower; exact memory figures).")
@click.option("--context", default=None, help="Context length to reserve (e.g. 8192, 32k).")
@hardware_option
@json_option
@csv_option
@friendly_errors
def search_command(query, limit, exact, context, hardware, as_json, as_csv):
    """Search the Hub; each repo annotated with verdict, memory, decode tok/s and the best quant here."""
    from llmfit_hf.listing import search

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
@click.option("--context", default=None, help="Context length to reserve (e.g. 8192, 32k).")
@hardware_option
@json_option
@csv_option
@friendly_errors
def ls_command(repo_id, revision, exact, context, hardware, as_json, as_csv):
    """List a repo's model files (GGUF variants, safetensors/MLX weights), each annotated for this machine."""
    from llmfit_hf import parse_ref
    from llmfit_hf.listing import ls_repo

    parsed = parse_ref(repo_id)
    if parsed is None:
        raise LlmfitError(f"not a Hugging Face repo id: {repo_id!r} (expected org/name)")
    rows = ls_repo(parsed[0], revision=revision, exact=exact, hardware=hardware, context=context)
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


def split_llmfit_options(args: list[str]) -> tuple[dict, list[str]]:
    """Take llmfit's own options out of a `hf download` argument list; the rest is passed on untouched."""
    mine = {"force": False, "strict": False, "hardware": None, "context": None}
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest.extend(args[i:])
            break
        name, eq, val = a.partition("=")
        if a in ("--force", "--strict"):
            mine[a[2:]] = True
        elif name in ("--hardware", "--context"):
            if not eq:
                i += 1
                if i >= len(args):
                    raise LlmfitError(f"{name} needs a value")
                val = args[i]
            mine[name[2:]] = val
        else:
            rest.append(a)
        i += 1
    return mine, rest


def hf_command() -> list[str]:
    """How to run the real `hf` CLI: the program on PATH, else huggingface_hub's module entry point."""
    exe = shutil.which("hf")
    if exe:
        return [exe]
    return [sys.executable, "-c", "import sys; from huggingface_hub.cli.hf import main; sys.exit(main())"]


def download_main(argv: list[str], prog: str = "llmfit hf download") -> int:
    """Check, then run `hf download ARGS` (untouched). Returns the exit code (3: does not fit)."""
    try:
        mine, rest = split_llmfit_options(argv)
    except LlmfitError as exc:
        click.echo(f"llmfit: error: {exc}", err=True)
        return 2
    code = check_download(rest, **mine)
    if code is not None:
        return code
    try:
        # checked once here: neither llmfit's shim (hooks/) nor the Python guard's start-up hook in `hf` checks again
        return subprocess.call(hf_command() + ["download", *rest], env=dict(os.environ, LLMFIT_BYPASS="1",
                                                                             LLMFIT_GUARD=""))
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        click.echo(f"llmfit: error: cannot run hf: {exc}", err=True)
        return 1


def check_download(args: list[str], force=False, strict=False, hardware=None, context=None) -> int | None:
    """The pre-download check. None: go ahead; an int: stop with that exit code. Messages go to stderr.

    `--dry-run` is checked too: the verdict is printed and the dry run goes ahead (it fetches nothing).
    LLMFIT_BYPASS / LLMFIT_FORCE / LLMFIT_STRICT (check_switches) act like no check / --force / --strict.
    """
    from llmfit_core.check_switches import CheckSwitches

    switches = CheckSwitches.from_env()
    if switches.bypass:
        return None
    force, strict = force or switches.force, strict or switches.strict
    from llmfit_hf.predownload import check_plan, describe, parse_download_args, plan_download

    try:
        d = parse_download_args(args)
    except LlmfitError as exc:  # bad input (missing repo, traversal in a file name): refuse, do not pass on
        click.echo(f"llmfit: error: {' '.join(str(exc).split())}", err=True)
        return 2
    if d.repo_type not in (None, "model"):
        return None  # datasets/spaces are not models
    dry = "dry run: " if d.dry_run else ""
    try:
        from llmfit_hf.hub import token_override

        with token_override(d.token):
            planned = plan_download(d)
            res = check_plan(d.repo_id, planned, revision=d.revision, hardware=hardware, context=context,
                             options={"force": force, "strict": strict})
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # fail open unless --strict: the user's command is never lost
        msg = " ".join(str(exc).split())[:300] or type(exc).__name__
        if strict and not d.dry_run:
            click.echo(f"llmfit: error: fit check failed ({msg}); stopping (--strict)", err=True)
            return 1
        click.echo(f"llmfit: warning: fit check failed ({msg}); {'running the dry run' if d.dry_run else 'downloading'}"
                   " anyway", err=True)
        return None
    if res.status == "nothing":
        if d.dry_run:
            click.echo(f"llmfit: {dry}{d.repo_id}: no model weights to download", err=True)
        return None
    if res.status == "unchecked":
        click.echo(f"llmfit: note: {res.message}", err=True)
        return None
    size = _human(res.download_bytes)
    lines = describe(res)
    hw_names = sorted({m.report.hardware_name for m in res.models if m.report is not None})
    where = f"on {', '.join(hw_names)}" if hardware and hw_names else "on this machine"
    if res.status == "fits":
        click.echo(f"llmfit: {dry}fits: {d.repo_id} {where} ({size} to download)", err=True)
        for line in lines:
            click.echo(line, err=True)
        return None
    if res.status == "error":
        if strict and not d.dry_run:
            click.echo(f"llmfit: error: fit check failed ({res.message}); stopping (--strict)", err=True)
            return 1
        click.echo(f"llmfit: warning: fit check incomplete ({res.message}); "
                   f"{'running the dry run' if d.dry_run else 'downloading'} anyway", err=True)
        return None
    # no-fit
    click.echo(f"llmfit: {dry}{d.repo_id}: does NOT fit {where} ({size} would be downloaded)", err=True)
    for line in lines:
        click.echo(line, err=True)
    if d.dry_run:
        return None  # a dry run fetches nothing: it shows what hf would download, after the verdict
    if force:
        click.echo(f"llmfit: {'LLMFIT_FORCE=1' if switches.force else '--force'} given: downloading anyway", err=True)
        return None
    click.echo("llmfit: stopped before download (use --force to download anyway, `llmfit hf ls "
               f"{d.repo_id}` to see what fits)", err=True)
    return EXIT_NO_FIT


@hf_group.command("install-extension")
@click.option("--dir", "root", default=None, help="hf extensions directory (default: ~/.local/share/hf/extensions).")
@friendly_errors
def install_extension_command(root):
    """Register `hf fit` as a local hf CLI extension (offline), so `hf fit download ARGS...` works."""
    from llmfit_core.cli.hf_extension import install_extension

    path = install_extension(root)
    click.echo(f"registered `hf fit` ({path}); try: hf fit download ORG/NAME FILE.gguf")


def register(cli) -> None:
    """Add the `hf` group to the `llmfit` CLI."""
    cli.add_command(hf_group)
