"""Display of `llmfit plan MODEL --cluster FILE` (registered by catalog_cmd's `plan`): the ranked engines, memory per
device, speed, the launch lines; or (--target-tps) the fewest machines that reach a decode speed."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from llmfit_core.cluster.plan import plan_cluster, plan_cluster_target
from llmfit_core.errors import LlmfitError
from llmfit_core.units import fmt_gib


def _engine_block(con, p, title: str) -> None:
    d = p.to_dict()
    if p.verdict == "unavailable":
        con.print(f"[bold]{title}[/] {p.engine}: [dim]{escape(d['reasons'][0])}[/]")
        return
    sp = d["split"]
    head = (f"[bold]{title}[/] {p.engine} ({p.quant}) — {p.verdict}, decode {d['decode_tok_s']:.1f} tok/s "
            f"({d['decode_tok_s_range'][0]:.1f}-{d['decode_tok_s_range'][1]:.1f}), prefill {d['prefill_tok_s']:.0f} tok/s "
            f"({d['prefill_tok_s_range'][0]:.0f}-{d['prefill_tok_s_range'][1]:.0f}), "
            f"{sp['mode']} TP {sp['tp']} x PP {sp['pp']}")
    if d["kv_capacity_tokens"] is not None:
        head += f", KV {d['kv_capacity_tokens']:,} tokens = {d['max_concurrency']:.1f} x context"
    con.print(head)
    # 80 columns: the device name folds; compute + engine reserve share one column ("other"); sizes in GiB with one
    # decimal (units.fmt_gib, as fit's and recommend's columns), two would fold every size column at 80
    t = Table(show_header=True, header_style="bold", pad_edge=False, box=None)
    for h in ("node", "device", "layers", "weights", "KV", "other", "total", "of", "fits"):
        t.add_column(h, justify="left" if h in ("node", "device") else "right", overflow="fold",
                     max_width=22 if h == "device" else None)
    for dev in p.memory.devices:
        m = dev.memory
        t.add_row(escape(dev.node), escape(dev.device), str(dev.layers), fmt_gib(m.weights_bytes),
                  fmt_gib(m.kv_cache_bytes), fmt_gib(m.compute_bytes + m.engine_reserve_bytes), fmt_gib(m.total_bytes),
                  fmt_gib(m.capacity_bytes),
                  "yes" if dev.fits else "[red]no[/]")
    con.print(t)
    for c in d["commands"]:
        con.print(escape(f"  [{c['node']}] $ {c['command']}"), soft_wrap=True)
    for r in d["reasons"]:
        con.print(escape(f"  - {r}"), soft_wrap=True)


def show_cluster_plan(plan, as_json: bool, console) -> None:
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    con = console
    con.print(f"{plan.model} on {plan.cluster.describe()}, context {plan.context}"
              + (f" x {plan.concurrency}" if plan.concurrency > 1 else ""))
    _engine_block(con, plan.best, "best:" if plan.best.fits else "closest:")
    for a in plan.alternatives:
        _engine_block(con, a, "alternative:")


def show_cluster_target(target, as_json: bool, console) -> None:
    if as_json:
        click.echo(json.dumps(target.to_dict(), indent=2))
        return
    if target.plan is not None:
        console.print(f"smallest part of the cluster reaching {target.target_tps:g} tok/s: [bold]{target.subset.describe()}[/] "
                      f"({target.tried} subsets tried)")
        _engine_block(console, target.plan, "plan:")
    else:
        console.print(f"[red]no part of the cluster reaches {target.target_tps:g} tok/s[/] with {target.model}")

    for line in target.lacks:
        console.print(escape(f"  - {line}"))


def run_cluster_plan(models, cluster, engine, target_tps, quant, context, concurrency, tp, pp, exo_mode, hardware,
                     as_json, as_csv, console_factory) -> None:
    """`llmfit plan MODEL --cluster FILE [...]` (catalog_cmd's plan hands over here)."""

    if len(models) != 1:
        raise LlmfitError(f"--cluster plans one model at a time, got {len(models)}")
    if hardware is not None or as_csv:
        raise LlmfitError("--cluster takes its machines from the cluster file: drop --hardware / --csv")
    if target_tps is not None:
        if tp is not None or pp is not None or exo_mode is not None:
            raise LlmfitError("--target-tps picks the layout itself: drop --tp / --pp / --exo-mode")
        target = plan_cluster_target(models[0], cluster, target_tps, engine=engine, context=context, quant=quant,
                                     concurrency=concurrency)
        show_cluster_target(target, as_json, None if as_json else console_factory())
        return
    plan = plan_cluster(models[0], cluster, engine=engine, context=context, quant=quant, concurrency=concurrency,
                        tp=tp, pp=pp, exo_mode=exo_mode)
    show_cluster_plan(plan, as_json, None if as_json else console_factory())
