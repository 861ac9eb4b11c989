"""`hf download` with a fit check first: llmfit's own options split off, the check, then the real `hf download`.

Shared by `llmfit hf download ARGS...` (llmfit_hf.cli) and the `hf fit download ARGS...` extension
(llmfit_hf.extension).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click

from llmfit_core.check_switches import CheckSwitches
from llmfit_core.downloads import describe
from llmfit_core.errors import LlmfitError
from llmfit_core.units import fmt_bytes
from llmfit_hf.predownload import offline_refusal, parse_download_args
from llmfit_hf.targets import HubDownload

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
    switches = CheckSwitches.from_env()
    if switches.bypass:
        return None
    force, strict = force or switches.force, strict or switches.strict
    try:
        d = parse_download_args(args)
    except LlmfitError as exc:  # bad input (missing repo, traversal in a file name): refuse, do not pass on
        click.echo(f"llmfit: error: {' '.join(str(exc).split())}", err=True)
        return 2
    if d.repo_type not in (None, "model"):
        return None  # datasets/spaces are not models
    dry = "dry run: " if d.dry_run else ""
    try:
        res = HubDownload(d.repo_id, f"hf download {d.repo_id}", dry_run=d.dry_run, args=d).check(
            hardware, context, options={"force": force, "strict": strict})
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # fail open unless --strict: the user's command is never lost
        refusal = offline_refusal(d, exc)  # ... unless it can only fail: one line, not hf's own error
        if refusal:
            click.echo(f"llmfit: error: {refusal}", err=True)
            return 1
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
    size = "?" if res.download_bytes is None else fmt_bytes(res.download_bytes)
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
