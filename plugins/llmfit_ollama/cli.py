"""`llmfit ollama ls` (installed models, annotated), `llmfit ollama pull NAME` (check, then pull) and
`llmfit ollama timings NAME` (Ollama's own generation counters into the local bench store).

The Ollama adapter adds the `ollama` group to `llmfit` (hook `llmfit_register_commands`); this module is
imported only when the group runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import click

from llmfit_core.cli.common import (
    Col,
    context_option,
    csv_option,
    fail,
    friendly_errors,
    hardware_option,
    json_option,
    print_table,
)
from llmfit_core.errors import LlmfitError, RemoteError
from llmfit_core.units import fmt_gib
from llmfit_ollama import localapi, timings
from llmfit_ollama.installed import installed_models
from llmfit_ollama.names import parse_name

# The predictor (llmfit_core.api: numpy, readers) and the bench store are imported by the commands that use them:
# `llmfit ollama --help` stays as quick as `llmfit --help` (start-up time).

EXIT_NO_FIT = 3


@click.group("ollama")
def ollama_group():
    """Ollama models: annotate installed ones, check before `ollama pull`."""


@ollama_group.command("ls")
@hardware_option
@context_option("what Ollama would use")
@json_option
@csv_option
@friendly_errors
def ls_cmd(hardware, context, as_json, as_csv):
    """Installed models (local store, else the local server), each with its fit on this machine."""
    from llmfit_core.api import fit, parse_count  # lazy: start-up time (predictor: 0.3 s; not for --help)

    context = parse_count(context)  # bad input: one error, not one per model
    rows = []
    for m in installed_models():
        row = {"name": m.name, "size_bytes": m.size_bytes, "quant": m.quant}
        try:
            rep = fit(m.ref, hardware=hardware, context=context)
            row.update(quant=rep.quant or m.quant, verdict=rep.verdict, fits=rep.fits, context=rep.context,
                       total_bytes=rep.memory.total_bytes, decode_tok_s=round(rep.decode_tok_s, 2))
        except LlmfitError as exc:
            row.update(verdict="error", error=" ".join(str(exc).split())[:200])
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no Ollama models installed (local store and local server)")
        return
    errors = any(r["verdict"] == "error" for r in rows)
    cols = [Col("name", key=True), Col("size", right=True), Col("quant"), Col("verdict"), Col("needs", right=True),
            Col("ctx", right=True), Col("tok/s", right=True)] + ([Col("error", wrap=True)] if errors else [])
    table = []
    for r in rows:
        if r["verdict"] == "error":
            cells = [None, None, None, r["error"]]
        else:
            cells = [fmt_gib(r["total_bytes"]), str(r["context"]), f"{r['decode_tok_s']:.1f}"] + ([None] if errors else [])
        table.append([r["name"], fmt_gib(r["size_bytes"]), r["quant"], r["verdict"], *cells])
    print_table(cols, table, as_csv=as_csv)


@ollama_group.command("timings")
@click.argument("name")
@click.option("--from", "from_file", type=click.Path(dir_okay=False),
              help="Import saved /api/generate answers (JSON lines) instead of asking the server.")
@click.option("--tokens", default=64, show_default=True, type=click.IntRange(4, 4096),
              help="Tokens to generate for one timing run.")
@json_option
@friendly_errors
def timings_cmd(name, from_file, tokens, as_json):
    """Record the timings Ollama reports for NAME (eval / prompt_eval counts and durations) as 'observed' runs."""
    from llmfit_core.bench.fingerprint import this_machine  # lazy: start-up time (only `timings` records)
    from llmfit_core.bench.store import append_record  # lazy: start-up time (only `timings` records)

    if from_file:
        answers = []
        try:
            with open(from_file, encoding="utf-8") as fh:
                for line in fh.readlines(64 << 20):
                    if line.strip():
                        answers.append(json.loads(line))
        except (OSError, ValueError) as exc:
            raise LlmfitError(f"cannot read Ollama answers from {from_file}: {exc}") from None
        on_gpu = None
    else:
        prompt = "Write a short paragraph about the sea. " * 8
        answers = [timings.generate_once(name, prompt, tokens)]
        on_gpu = timings._on_gpu(name)
    hw = this_machine()
    recs = [r for r in (timings.observed_record(name, a, hw, on_gpu) for a in answers if isinstance(a, dict)) if r]
    for r in recs:
        append_record(r)
    if as_json:
        click.echo(json.dumps(recs, indent=1))
        return
    if not recs:
        fail(f"no answer with Ollama timings (eval_count >= {timings.MIN_GEN_TOKENS}) for {name}")
    for r in recs:
        res = r["results"]
        pp = f"pp {res['pp']['tok_s']:.1f} tok/s ({res['pp']['n_tokens']}), " if "pp" in res else ""
        click.echo(f"recorded {name}: {pp}tg {res['tg']['tok_s']:.1f} tok/s ({res['tg']['n_tokens']}) "
                   f"[{r['runtime']['name']}]")


@ollama_group.command("pull")
@click.argument("name")
@hardware_option
@context_option("what Ollama would use")
@click.option("--force", is_flag=True, help="Pull even when the model does not fit.")
@click.option("--strict", is_flag=True, help="Stop when the check itself fails (default: warn and pull).")
@friendly_errors
def pull_cmd(name, hardware, context, force, strict):
    """Check NAME from its manifest and GGUF header, then run the real pull (exit 3 if it does not fit)."""
    from llmfit_core.downloads import summary  # lazy: start-up time (only `pull` checks)
    from llmfit_ollama.targets import OllamaDownload  # lazy: start-up time (only `pull` checks: 0.2 s)

    oname = parse_name(name)  # rejects path traversal and odd names before anything else
    try:
        res = OllamaDownload(oname.ref, f"ollama pull {oname.short}").check(
            hardware, context, options={"force": force, "strict": strict})
    except LlmfitError as exc:
        if strict:
            raise
        click.echo(f"llmfit: warning: could not check ollama:{oname.short}: {' '.join(str(exc).split())[:300]}; "
                   "pulling anyway", err=True)
        res = None
    if res is not None:
        rep = res.models[0].report
        line = summary(rep) + (f"; blocked by a plugin: {res.message}" if res.vetoed and rep.fits else "")
        if res.status == "no-fit" and not force:
            fail(f"{line}; does not fit; not pulling (use --force to pull anyway)", EXIT_NO_FIT)
        click.echo(f"llmfit: {line}" + ("; pulling anyway (--force)" if res.status == "no-fit" else ""), err=True)
    # the real CLI gets the user's own name (only our `ollama:` prefix removed), never a rewritten one
    sys.exit(_pull(oname.short, cli_name=name[len("ollama:"):] if name.startswith("ollama:") else name))


def _pull(name: str, cli_name: str | None = None) -> int:
    """Run the real pull: the `ollama` CLI when on PATH (shims bypassed), else the local API, streaming progress."""
    exe = shutil.which("ollama")
    if exe:
        env = dict(os.environ, LLMFIT_BYPASS="1")  # we already checked; do not let a shim check again
        return subprocess.call([exe, "pull", cli_name or name], env=env)
    last = None
    try:
        for item in localapi.pull(name):
            status = item.get("status") or ""
            total, done = item.get("total"), item.get("completed")
            line = f"{status} {100 * done // total}%" if total and done is not None else status
            if line != last:
                click.echo(line, err=True)
                last = line
    except RemoteError as exc:
        fail(f"ollama pull {name}: {exc}")
    except ImportError:
        fail("neither the `ollama` CLI nor the `ollama` Python client is installed; cannot pull")
    return 0
