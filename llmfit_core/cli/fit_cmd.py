"""`llmfit fit` and `llmfit check`: one model on one machine (or a JSONL batch of queries)."""

from __future__ import annotations

import json
import sys

import click

from llmfit_core.cli.common import (
    VERDICT_STYLE,
    Col,
    PairTable,
    backend_option,
    context_option,
    friendly_errors,
    hardware_option,
    json_option,
    make_console,
    offline_option,
    print_bullet,
    print_pairs,
    print_table,
    styled,
)
from llmfit_core.errors import LlmfitError
from llmfit_core.settings import RunSettings, did_you_mean
from llmfit_core.units import context_text, fmt_ctx, fmt_gib

# The options of `fit` / `check`, also the keys a --batch line may use (with '-' or '_'), in two kinds:
# CLI option name -> RunSettings field (what the runner is asked) ...
SETTINGS_KEYS = {
    "context": "context", "backend": "backend", "cache_type": "cache_type", "cache_type_k": "cache_type_k",
    "cache_type_v": "cache_type_v", "prompt_tokens": "prompt_tokens", "gen_tokens": "gen_tokens", "depth": "depth",
    "gpu_layers": "gpu_layers", "flash_attn": "flash_attn", "parallel": "n_seq", "cpu_moe": "cpu_moe",
    "n_cpu_moe": "n_cpu_moe", "total": "total_memory", "mmproj": "mmproj", "draft": "draft",
}
# ... and the fit() keywords that pick the model and the machine.
MODEL_KEYS = ("quant", "file", "hardware", "offline", "allow_context_extension")


def fit_options(fn):
    """The options `fit` and `check` share."""
    opts = [
        click.option("--quant", help="Quantization: picks the GGUF file of a repo, or a what-if for other formats."),
        click.option("--file", "file", help="The exact file in a repo (e.g. model-Q4_K_M.gguf)."),
        context_option(),
        backend_option,
        click.option("--allow-context-extension", "allow_context_extension", is_flag=True,
                     default=None, help="Allow a --context above the model's trained length (priced with RoPE scaling)."),
        click.option("--cache-type", help="KV cache type for K and V (llama.cpp): f32, f16, bf16, q8_0, q4_0, q4_1, "
                                          "iq4_nl, q5_0, q5_1."),
        click.option("--cache-type-k", help="KV cache type for K."),
        click.option("--cache-type-v", help="KV cache type for V."),
        click.option("--prompt-tokens", default="512", show_default=True, help="Prompt length for prefill speed."),
        click.option("--gen-tokens", default="128", show_default=True, help="Generated tokens for decode speed."),
        click.option("--depth", help="Tokens already in the context before the prompt (llama-bench -d; 32k ok)."),
        click.option("--gpu-layers", type=int, help="Force this many layers on the GPU (default: as many as fit)."),
        click.option("--cpu-moe/--no-cpu-moe", "cpu_moe", default=None,
                     help="MoE models: keep expert weights in RAM, all else on the GPU (llama.cpp -ngl 999 --n-cpu-moe N, "
                          "N the fewest layers that fit) / only layer offload. Default: the faster predicted decode."),
        click.option("--n-cpu-moe", "n_cpu_moe", type=int,
                     help="MoE models: exactly N layers' experts in RAM (llama.cpp --n-cpu-moe; all layers = --cpu-moe)."),
        click.option("--flash-attn/--no-flash-attn", default=None, help="Flash attention (default: backend's default)."),
        click.option("--parallel", type=int, help="Parallel sequences (multiplies the KV cache)."),
        offline_option(),
        click.option("--mmproj", metavar="FILE|auto",
                     help="Count a vision projector GGUF (llama.cpp --mmproj); auto = the one llama-server -hf loads."),
        click.option("--draft", metavar="REF", help="Count a draft model for speculative decoding (llama.cpp -md)."),
        click.option("--total", is_flag=True, default=None,
                     help="Plan for an idle machine (all RAM/VRAM) instead of the memory free now."),
        hardware_option,
        json_option,
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def split_options(options: dict, base: RunSettings | None = None) -> tuple[RunSettings, dict]:
    """(RunSettings, fit() keywords) of CLI options or a --batch line's keys (unset = None: left out); `base` the
    settings they go over. An unknown key is an error naming the closest valid one."""
    fields, model = {}, {}
    for key, value in options.items():
        name = key.replace("-", "_")
        if name not in SETTINGS_KEYS and name not in MODEL_KEYS:
            valid = [*SETTINGS_KEYS, *MODEL_KEYS]
            raise LlmfitError(f"unknown key {key!r}{did_you_mean(name, valid, '-' if '-' in key else '_')}")
        if value is None:
            continue
        if name in SETTINGS_KEYS:
            fields[SETTINGS_KEYS[name]] = value
        else:
            model[name] = value
    return RunSettings.build(base, **fields), model


@click.command("fit")
@click.argument("ref", required=False)
@fit_options
@click.option("--batch", "batch", type=click.Path(allow_dash=True), help="JSONL file of queries ('-' = stdin).")
@click.option("--max-context", "context_table", is_flag=True,
              help="Print a context-vs-memory table (4k ... trained) per KV cache type, with the largest that fits.")
@friendly_errors
def fit_command(ref, batch, as_json, context_table=False, **params):
    """Will REF run here? Memory, placement, speed and verdict.

    REF: a local GGUF / model dir / config.json, org/name[:QUANT], ollama:NAME[:TAG], or a catalog name.
    """
    settings, model = split_options(params)
    if batch:
        run_batch(batch, settings, model)
        return
    if not ref:
        raise LlmfitError("missing model reference (or use --batch FILE)")
    from llmfit_core.api import fit  # lazy: start-up: --help and usage errors skip it

    report = fit(ref, settings=settings, **model)
    if context_table:
        print_context_table(report, as_json)
    elif as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report)


@click.command("check")
@click.argument("ref")
@fit_options
@friendly_errors
def check_command(ref, as_json, **params):
    """Exit 0 if REF fits here, 3 if it does not, 1 on an error (for scripts).

    \b
    Exit codes (also with --json):
      0  it fits (runs, or runs with offload)
      3  it does not fit
      1  no verdict: unknown model or hardware, bad option, no network,
         or a file llama.cpp will not load
    """
    from llmfit_core.api import fit  # lazy: start-up: --help and usage errors skip it

    settings, model = split_options(params)
    report = fit(ref, settings=settings, **model)
    load_error = report.spec.load_error if report.spec is not None and report.backend.startswith("llama.cpp") else ""
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif not load_error:
        click.echo(one_line(report))
    if load_error:  # memory may fit, but the runner refuses the file: no "fits" for a script to act on
        click.echo(f"error: {report.model_ref}: {load_error}", err=True)
        sys.exit(1)
    if not report.fits:
        sys.exit(3)


def one_line(report) -> str:
    """A one-line summary: verdict, memory, speed."""
    return (f"{report.verdict}: {report.model_ref} ({report.quant or '?'}) needs {fmt_gib(report.memory.total_bytes)} "
            f"at {report.context} ctx on {report.hardware_name} [{report.backend}], ~{report.decode_tok_s:.1f} tok/s "
            f"decode, score {report.score}/100")


MAX_BATCH_LINE = 1 << 20


def _bounded_lines(stream, limit: int = MAX_BATCH_LINE):
    """(line number, line) pairs; a line longer than `limit` (`--batch /dev/zero`) is an error, not a memory hog."""
    lineno = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limit:
            raise LlmfitError(f"batch line {lineno} is longer than {limit >> 20} MiB")
        yield lineno, line


def run_batch(path: str, settings: RunSettings, model: dict) -> None:
    """One JSON query per input line → one JSON report (or an `error` object) per output line, in order.
    A line's keys go over the command line's `settings` and model options (`model`: fit() keywords)."""
    from llmfit_core.api import fit  # lazy: start-up: --help and usage errors skip it

    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        raise LlmfitError(f"cannot read batch file {path}: {exc.strerror}") from None
    hw_cache: dict = {}
    with stream:
        for lineno, line in _bounded_lines(stream):
            if not line.strip():
                continue
            out: dict
            try:
                query = json.loads(line)
                if not isinstance(query, dict) or not isinstance(query.get("ref"), str):
                    raise LlmfitError("each line must be a JSON object with a string 'ref'")
                line_settings, line_model = split_options({k: v for k, v in query.items() if k != "ref"}, settings)
                opts = {**model, **line_model}
                hw_key = json.dumps(opts.get("hardware"), sort_keys=True, default=str)
                if hw_key not in hw_cache:
                    from llmfit_core.hardware.registry import resolve_hardware  # lazy: start-up: not for --help

                    hw_cache[hw_key] = resolve_hardware(opts.get("hardware"))
                opts["hardware"] = hw_cache[hw_key]
                out = fit(query["ref"], settings=line_settings, **opts).to_dict()
            except json.JSONDecodeError as exc:
                out = {"error": {"type": "InvalidJSON", "message": f"line {lineno}: {exc.msg}"}}
            except LlmfitError as exc:
                out = {"error": {"type": type(exc).__name__, "message": " ".join(str(exc).split())}}
            except Exception as exc:  # one bad line must not end the batch
                out = {"error": {"type": type(exc).__name__, "message": " ".join(str(exc).split()) or type(exc).__name__}}
            if "error" in out:
                out["line"] = lineno
            click.echo(json.dumps(out))


def print_report(report) -> None:
    """A rich table with the memory breakdown, placement, speed and the reasons (sizes in GiB with two decimals,
    so the parts read against the total)."""
    console = make_console()
    m = report.memory
    title = f"{report.model_ref}  ·  {report.quant or '?'}  ·  {report.hardware_name}  ·  {report.backend}"
    table = PairTable(title)  # a rich table on a terminal, plain lines when piped (cli.common)
    params = f"{report.params / 1e9:.2f}B"
    if report.active_params and report.active_params != report.params:
        params += f" ({report.active_params / 1e9:.2f}B active)"
    file = f", file {fmt_gib(report.file_bytes, 2)}" if report.file_bytes else ""
    table.add_row("model", f"{report.arch}, {params} params{file}")
    table.add_row("weights", fmt_gib(m.weights_bytes, 2))
    ctk = report.settings.cache_types()[0]
    table.add_row("KV cache", f"{fmt_gib(m.kv_cache_bytes, 2)}  ({report.context} tokens, {ctk})")
    table.add_row("compute buffers", fmt_gib(m.compute_bytes, 2))
    table.add_row("runtime overhead", fmt_gib(m.overhead_bytes, 2))
    table.add_row("total", f"[bold]{fmt_gib(m.total_bytes, 2)}[/bold]  "
                           f"(GPU {fmt_gib(m.gpu_bytes, 2)}, RAM {fmt_gib(m.cpu_bytes, 2)})")
    if m.detail is not None and m.detail.repack_mapped_bytes:  # mmap + CPU repacking: llama.cpp maps more than must stay resident
        table.add_row("llama.cpp allocates",
                      f"{fmt_gib(m.detail.allocated_bytes, 2)}  (incl. repacked weights' mapped originals)")
    layers = f"{report.gpu_layers} / {report.total_layers}"
    if report.n_cpu_moe:
        n = report.total_layers - 1
        layers += (f", expert weights of all {n} in RAM (--cpu-moe)" if report.n_cpu_moe >= n else
                   f", expert weights of the first {report.n_cpu_moe} in RAM (--n-cpu-moe {report.n_cpu_moe})")
    table.add_row("layers on GPU", layers)
    table.add_row("max context", _max_context_text(report))
    style = VERDICT_STYLE.get(report.verdict, "bold")
    table.add_row("verdict", f"[{style}]{report.verdict}[/{style}]   score {report.score}/100")
    lo, hi = report.decode_tok_s_range
    at = f" @ depth {report.depth}" if report.depth else ""
    prefill = f"{report.prefill_tok_s:,.1f} tok/s"
    if report.prefill_tok_s_range is not None:
        plo, phi = report.prefill_tok_s_range
        prefill += f"  (likely {plo:,.0f}–{phi:,.0f})"
    table.add_row(f"prefill (pp{report.prompt_tokens}{at})", prefill)
    table.add_row(f"decode (tg{report.gen_tokens}{at})", f"{report.decode_tok_s:,.1f} tok/s  (likely {lo:,.1f}–{hi:,.1f})")
    print_pairs(table, console)
    for reason in report.reasons:
        print_bullet(reason, console)


def _max_context_text(report) -> str:
    """The report's max_context the way people say it, with the trained context beside it."""
    trained = getattr(report.spec, "max_context", 0) or 0
    if report.max_context is None:
        return "none (not even 512 tokens fit)"
    return f"{context_text(report.max_context)} tokens" + (f" (trained {context_text(trained)})" if trained
                                                            else " (trained: unknown)")


def print_context_table(report, as_json: bool = False) -> None:
    """`fit REF --max-context`: resident memory at 4k, 8k, ... up to the trained context, per KV cache type."""
    from llmfit_core.context_fit import context_table  # lazy: start-up: --help and usage errors skip it

    rows, best = context_table(report.spec, report.hardware, report.backend, report.max_context_settings)
    types = list(best)
    if as_json:
        click.echo(json.dumps({
            "model": report.model_ref, "hardware": report.hardware_name, "backend": report.backend,
            "max_context": {t: b.max_context for t, b in best.items()},
            "rows": [{"context": r.context, "cache_type": r.cache_type, "total_bytes": r.total_bytes, "fits": r.fits}
                     for r in rows],
        }, indent=2))
        return
    cell = {(r.context, r.cache_type): r for r in rows}
    table = []
    for c in dict.fromkeys(r.context for r in rows):
        out = []
        for t in types:
            r = cell[(c, t)]
            out.append("n/a" if r.total_bytes is None else
                       styled(f"{fmt_gib(r.total_bytes)} " + ("fits" if r.fits else "no-fit"), "green" if r.fits else "red"))
        table.append([fmt_ctx(c), *out])
    table.append(["max", *[context_text(best[t].max_context) if best[t].max_context else "none" for t in types]])
    console = make_console()
    print_table([Col("context", right=True), *[Col(f"KV {t}", right=True) for t in types]], table,
                title=f"{report.model_ref} · {report.quant or '?'} · {report.hardware_name} · {report.backend}",
                console=console)
    notes = dict.fromkeys(r for b in best.values() for r in b.reasons if not r.startswith("max context"))
    for note in notes:
        print_bullet(note, console)
    print_bullet("memory is what must be resident (weights, KV cache, compute buffers, runtime)", console)
