"""`llmfit bench`, `llmfit calibrate`, `llmfit data import`: real measurements on this machine."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from llmfit_core.bench.history import history_rows
from llmfit_core.cli.common import Col, friendly_errors, json_option, make_console, print_table
from llmfit_core.errors import BenchError
from llmfit_core.units import fmt_bytes


def _local_gguf(ref: str) -> Path:
    """A local GGUF for REF: a path, or what the resolver maps REF to on this disk."""
    p = Path(ref).expanduser()
    if p.exists():
        return p
    try:
        from llmfit_core.resolve import resolve_model  # lazy: start-up: --help and usage errors skip it

        spec = resolve_model(ref, offline=True)
        for f in spec.files or []:
            fp = Path(f).expanduser()
            if fp.is_file() and fp.suffix == ".gguf":
                return fp
    except ImportError:
        pass
    except Exception:  # the resolver could not map it: say what bench needs instead
        pass
    raise BenchError(f"no local GGUF file for {ref!r}: llmfit bench runs a GGUF on this disk "
                     "(or use --synthetic SHAPE:QUANT, e.g. llama-0.5b:Q4_K_M)")


def _progress_console():
    from rich.console import Console  # lazy: start-up: rich, only while benchmarking

    return Console(stderr=True)


@click.command("bench")
@click.argument("ref", required=False)
@click.option("--synthetic", metavar="SHAPE:QUANT", help="Bench a random-weight model of a real shape, e.g. llama-0.5b:Q4_K_M.")
@click.option("--pp", default=512, show_default=True, type=int, help="Prompt tokens (one batch from an empty cache).")
@click.option("--tg", default=128, show_default=True, type=int, help="Generated tokens (single-token decode steps).")
@click.option("--repeats", "-r", default=3, show_default=True, type=int, help="Timed repetitions (after one warm-up).")
@click.option("--threads", "-t", default=None, type=int, help="Threads (default: physical cores).")
@click.option("--ctx", "n_ctx", default=None, type=int, help="Context size (default: enough for pp/tg, at least 512).")
@click.option("--batch-size", "n_batch", default=2048, show_default=True, type=int)
@click.option("--ubatch-size", "n_ubatch", default=512, show_default=True, type=int)
@click.option("--cache-type-k", default="f16", show_default=True)
@click.option("--cache-type-v", default="f16", show_default=True)
@click.option("--flash-attn", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True)
@click.option("--repack/--no-repack", default=False, show_default=True,
              help="llama.cpp CPU weight repacking (extra buffer types); crashes on some AMX CPUs.")
@click.option("--gpu-layers", "-ngl", "gpu_layers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Layers to offload to the GPU (999 = all); needs a GPU build of llama-cpp-python.")
@click.option("--timeout", default=3600.0, show_default=True, type=float, help="Stop a run after this many seconds.")
@click.option("--no-record", is_flag=True, help="Do not append the result to the local store.")
@click.option("--export", "export_file", metavar="FILE", default=None,
              help="Write the local runs, anonymised, to FILE (for sharing) instead of benchmarking.")
@click.option("--history", is_flag=True,
              help="List the recorded runs (bench and 'observed' ones from normal use under the guard).")
@json_option
@friendly_errors
def bench_command(ref, synthetic, pp, tg, repeats, threads, n_ctx, n_batch, n_ubatch, cache_type_k, cache_type_v,
                  flash_attn, repack, gpu_layers, timeout, no_record, export_file, history, as_json):
    """Run a GGUF like llama-bench (pp/tg tok/s, peak memory) and record it; REF is a local GGUF path."""
    from llmfit_core.bench import store  # lazy: start-up: --help and usage errors skip it

    if history:
        if ref or synthetic or export_file:
            raise BenchError("--history lists the recorded runs; do not give a model or --export with it")
        _print_history(store.read_records(), as_json)
        return

    if export_file:
        if ref or synthetic:
            raise BenchError("--export writes the recorded runs; do not give a model with it")
        from llmfit_core.bench.exchange import export_records  # lazy: start-up: --help and usage errors skip it

        n = export_records(store.read_records(), export_file)
        if as_json:
            click.echo(json.dumps({"exported": n, "file": str(export_file)}))
        else:
            click.echo(f"exported {n} anonymised bench records to {export_file}")
        return
    if bool(ref) == bool(synthetic):
        raise BenchError("give either a local GGUF path or --synthetic SHAPE:QUANT")

    from llmfit_core.bench.fingerprint import this_machine  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.bench.records import (  # lazy: start-up: --help and usage errors skip it
        make_record,
        predict_for,
        read_spec,
        used_backend,
    )
    from llmfit_core.bench.runner import (  # lazy: start-up: --help and usage errors skip it
        BenchSettings,
        default_threads,
    )

    settings = BenchSettings(pp=pp, tg=tg, repeats=repeats, threads=threads or default_threads(), n_ctx=n_ctx,
                             n_batch=n_batch, n_ubatch=n_ubatch, cache_type_k=cache_type_k, cache_type_v=cache_type_v,
                             flash_attn=flash_attn, repack=repack, n_gpu_layers=gpu_layers, timeout_s=timeout)
    settings.validate()
    console = _progress_console()
    if synthetic:
        from llmfit_core.bench.synthetic import (  # lazy: start-up: --help and usage errors skip it
            parse_ref,
            synthetic_model,
            synthetic_spec,
        )

        parse_ref(synthetic)
        with console.status(f"generating synthetic {synthetic} (first use only)..."):
            path = synthetic_model(synthetic)
        spec = synthetic_spec(synthetic, path)
        source = "synthetic"
    else:
        from llmfit_core.bench.runner import check_gguf_file  # lazy: start-up: --help and usage errors skip it

        path = check_gguf_file(_local_gguf(ref))
        spec = read_spec(path)
        source = "local"

    from llmfit_core.bench.runner import check_memory  # lazy: start-up: --help and usage errors skip it

    mem_estimate = check_memory(spec, settings)
    hw = this_machine()
    try:
        result = _run_with_progress(path, settings, console, quiet=as_json)
    except KeyboardInterrupt:
        # the child is already stopped (run_bench) and nothing was recorded; leave at once, without the
        # interpreter's shutdown (thread joins, atexit hooks of native libraries) standing between Ctrl-C and exit
        click.echo("llmfit: interrupted (benchmark stopped, nothing recorded)", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    backend = used_backend(result, hw)
    prediction = None
    try:
        prediction = predict_for(spec, hw, settings.context, pp, tg, backend=backend, gpu_layers=result.n_gpu_layers)
    except Exception as exc:  # the measurement stands even if the predictor cannot handle this model
        console.print(f"[yellow]llmfit: warning: no prediction ({type(exc).__name__}: {exc})[/yellow]")
    record = make_record(result, hw, spec, prediction, source=source, memory_estimate_bytes=mem_estimate)
    store_file = None if no_record else store.append_record(record)
    if as_json:
        click.echo(json.dumps({**record, "store": str(store_file) if store_file else None}, indent=1))
        return
    _print_result(record, path, store_file)


def _print_history(records: list[dict], as_json: bool) -> None:
    rows = history_rows(records)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=1))
        return
    if not rows:
        click.echo("no recorded runs yet (llmfit bench, or generations under the guard: LLMFIT_GUARD=auto)")
        return
    from rich.console import Console  # lazy: start-up: rich, only for the history table
    from rich.table import Table  # lazy: start-up: rich, only for the history table

    t = Table(title=f"Recorded runs ({len(rows)})", title_justify="left")
    for col, just in (("when", "left"), ("source", "left"), ("model", "left"), ("backend", "left"), ("ctx", "right"),
                      ("pp tok/s", "right"), ("tg tok/s", "right")):
        t.add_column(col, justify=just)

    def speed(v, n):
        return "-" if v is None else f"{v:,.1f}" + (f" ({n})" if n else "")

    for r in rows:
        t.add_row(r.timestamp[:16].replace("T", " "), r.source, r.model, r.backend.replace("llama.cpp-", "llama.cpp "),
                  str(r.n_ctx or "-"), speed(r.pp_tok_s, r.pp_tokens), speed(r.tg_tok_s, r.tg_tokens))
    Console().print(t)


def _run_with_progress(path, settings, console, quiet: bool):
    from rich.progress import (  # lazy: start-up: rich.progress, only while benchmarking
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from llmfit_core.bench.runner import offload_warning, run_bench  # lazy: start-up: --help and usage errors skip it

    steps = 1 + settings.repeats * ((settings.pp > 0) + (settings.tg > 0))
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=quiet or not console.is_terminal) as prog:
        task = prog.add_task(f"loading {Path(path).name}", total=steps)

        def on_event(ev):
            if ev.get("event") == "loaded":
                warning = offload_warning(settings.n_gpu_layers, int(ev.get("n_gpu_layers") or 0),
                                          bool(ev.get("gpu_offload_supported")))
                if warning:  # asked for the GPU, runs on the CPU: say so once, the run goes on
                    console.print(f"llmfit: warning: {warning}", soft_wrap=True, markup=False, highlight=False,
                                  style="yellow")
                prog.update(task, advance=1, description="warm-up + timing")
            elif ev.get("event") == "progress":
                n = settings.pp if ev["test"] == "pp" else settings.tg
                prog.update(task, advance=1, description=f"{ev['test']}{n} run {ev['rep']}/{settings.repeats}: "
                                                         f"{n / ev['seconds']:.1f} tok/s")

        return run_bench(path, settings, on_event)


def _print_result(record: dict, path, store_file) -> None:
    model = record["model"]
    title = f"{Path(path).name}  ({model.get('arch', '?')}, {model.get('quant', '?')}, " \
            f"{(model.get('params') or 0) / 1e9:.2f} B params)" if model.get("params") else Path(path).name
    pred = record.get("prediction") or {}
    rows = []
    for kind, r in record["results"].items():
        p = pred.get(f"{kind}_tok_s")
        rows.append([r["test"], f"{r['tok_s']:.2f} ± {r['tok_s_std']:.2f}", f"{p:.2f}" if p else None,
                     f"{r['tok_s'] / p:.2f}" if p else None])
    c = make_console()
    print_table([Col("test", key=True), Col("measured tok/s", right=True), Col("predicted tok/s", right=True),
                 Col("measured / predicted", right=True)], rows, title=title, console=c)
    st = record["settings"]
    est = record.get("memory_estimate_bytes")
    c.print(f"peak memory (RSS) {fmt_bytes(record['peak_rss_bytes'], 2)}"
            f"{f' (estimate {fmt_bytes(est, 2)})' if est else ''}; {st['threads']} threads, n_ctx {st['n_ctx']}, "
            f"{st['repeats']} repeats, repack {'on' if st['repack'] else 'off'}; {record['runtime']['name']}"
            f"{_gpu_note(record)}; llama-cpp-python {record['runtime']['llama_cpp_python']}")
    if not pred:
        c.print("(no prediction: the throughput predictor or GGUF reader is not available)")
    if store_file:
        c.print(f"recorded in {store_file}", markup=False)


def _gpu_note(record: dict) -> str:
    ngl = (record.get("settings") or {}).get("n_gpu_layers") or 0
    if not ngl:
        return ""
    dev = (record.get("runtime") or {}).get("device")
    return f" ({ngl} GPU layers{f' on {dev}' if dev else ''})"


@click.command("calibrate")
@click.option("--dry-run", is_flag=True, help="Report the fit and what would be saved, without saving it.")
@json_option
@friendly_errors
def calibrate_command(dry_run, as_json):
    """Fit this machine's correction (per backend, test and quant family) from the local bench records.

    Only factors that lower the left-out error (one model left out at a time, or one record with a single
    model) are saved; a saved factor is tied to the bandwidth, ISA and correction version it was fitted against.
    """
    from llmfit_core.bench.calibration import calibrate  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.bench.fingerprint import this_machine  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.bench.store import read_records  # lazy: start-up: --help and usage errors skip it
    from llmfit_core.throughput.calibration import calibration_path  # lazy: start-up: --help and usage errors skip it

    hw = this_machine()
    cal, report = calibrate(read_records(), hw, save=not dry_run)
    if not report:
        raise BenchError("no bench records with a prediction for this machine yet; "
                         "run e.g. `llmfit bench --synthetic llama-0.5b:Q4_K_M` first")
    kept = sum(r["kept"] for tests in report.values() for r in tests.values())
    if as_json:
        click.echo(json.dumps({"calibration": cal.to_dict(), "error": report, "kept": kept,
                               "saved": None if dry_run else str(calibration_path())}, indent=1))
        return
    c = make_console()
    if kept:
        rows = []
        for be in cal.calibrated_backends():
            factors, counts, _ = cal.table(be)
            for test, fams in factors.items():
                for fam, f in sorted(fams.items()):
                    rows.append([be, test, "all" if fam == "*" else fam, str(counts[test][fam]), f"x{f:.3f}"])
        print_table([Col("backend", key=True), Col("test"), Col("quant family"), Col("records", right=True),
                     Col("factor", right=True)], rows, title=f"calibration for this machine ({cal.fingerprint})",
                    console=c)
    for be, tests in report.items():
        for test, r in tests.items():
            how = "leave-one-model-out" if r["method"] == "model" else "leave-one-out"
            verdict = ("would be saved" if dry_run else "saved") if r["kept"] else (
                "does not improve: " + ("would not be saved" if dry_run else "not saved"))
            c.print(f"{be} {test}: MAPE {r['mape_before']:.1f}% uncalibrated -> {r['mape_after_loo']:.1f}% calibrated "
                    f"({how} over {r['n']} records): {verdict}", markup=False)
    if dry_run:
        c.print("not saved (--dry-run)" + ("" if kept else "; no factor lowers the left-out error, "
                                          "so `llmfit calibrate` would save none"), markup=False)
    elif kept:
        c.print(f"saved to {calibration_path()}", markup=False)
    if kept and cal.inputs is not None:
        i = cal.inputs
        bw = "?" if i.cpu_bandwidth_gbs is None else f"{i.cpu_bandwidth_gbs:g}"
        c.print(f"fitted against RAM bandwidth {bw} GB/s ({i.cpu_bandwidth_source or 'unknown'})"
                f"{', ' + '; '.join(i.gpus) if i.gpus else ''} and correction {i.correction}: when these change "
                "(e.g. `llmfit system --measure-bandwidth`), `fit` stops applying the factors until you calibrate "
                "again", markup=False)
    else:
        c.print(f"no factor lowers the left-out error: none saved, predictions stay uncalibrated "
                f"({calibration_path()} says so)", markup=False)


@click.group("data")
def data_group():
    """Shared benchmark data: import exported bench files into the training rows."""


@data_group.command("import")
@click.argument("files", nargs=-1, required=True)
@json_option
@friendly_errors
def data_import_command(files, as_json):
    """Validate and merge `llmfit bench --export` files (deduplicated by record id)."""
    from llmfit_core.bench.exchange import import_file  # lazy: start-up: --help and usage errors skip it

    out = []
    for f in files:
        r = import_file(f)
        out.append({"file": f, "added": r.added, "duplicates": r.duplicates, "rejected": r.rejected,
                    "total": r.total, "rows": str(r.rows_path)})
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    for o in out:
        click.echo(f"{o['file']}: {o['added']} added, {o['duplicates']} already present, {len(o['rejected'])} rejected; "
                   f"{o['total']} records in {o['rows']}")
        for why in o["rejected"][:10]:
            click.echo(f"  rejected {why}", err=True)
