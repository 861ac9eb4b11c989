"""One units module: byte sizes binary and labelled binary (GiB / MiB / KiB) in every command's output."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from llmfit_core.cli.main import cli
from llmfit_core.units import GIB, MIB, context_text, fmt_bytes, fmt_ctx, fmt_gib, fmt_number

DECIMAL_SIZE = re.compile(r"\d (GB|MB)\b(?!/s)")  # "8.0 GB": a binary figure under a decimal label


@pytest.mark.parametrize("n, text", [(12.34 * GIB, "12.3 GiB"), (GIB, "1.0 GiB"), (300 * MIB, "300 MiB"),
                                     (12 * 1024, "12 KiB"), (0, "0 KiB")])
def test_fmt_bytes_picks_the_unit(n, text):
    assert fmt_bytes(n) == text


def test_fmt_gib_keeps_gib_for_columns_but_never_reads_zero():
    assert fmt_gib(4.6 * GIB) == "4.6 GiB" and fmt_gib(0.3 * GIB, 2) == "0.30 GiB"
    assert fmt_gib(MIB) == "1 MiB" and fmt_gib(None) == "-" and fmt_gib(-2 * GIB) == "-2.0 GiB"


def test_numbers_and_contexts():
    assert fmt_number(16.0, " GiB") == "16 GiB" and fmt_number(936.25, " GB/s") == "936.2 GB/s"
    assert fmt_number(None) == "-" and fmt_number(8, " KiB") == "8 KiB"
    assert fmt_ctx(32768) == "32k" and fmt_ctx(1000) == "1000" and context_text(92672) == "92,672"


@pytest.mark.parametrize("args", [
    ["recommend", "--top", "3", "--hardware", "cpu-only-16gb"],
    ["recommend", "max 1GB", "--hardware", "cpu-only-16gb"],
    ["fit", "llama-3.1-8b", "--offline", "--hardware", "cpu-only-16gb"],
    ["check", "llama-3.1-8b", "--offline", "--hardware", "cpu-only-16gb"],
    ["plan", "llama-3.1-8b", "--target-tps", "5", "--quant", "Q4_K_M"],
])
def test_commands_label_sizes_in_binary_units(args, isolated_catalog):
    res = CliRunner().invoke(cli, args)  # output: stdout and stderr (a refusal's one line)
    assert "GiB" in res.output, res.output
    # the figures llmfit formats; reasons may quote a source's decimal units (GB/s, "4.7 GB read per token")
    figures = [line for line in res.output.splitlines() if not line.lstrip().startswith("•")]
    assert not [line for line in figures if DECIMAL_SIZE.search(line)], res.output


def test_a_size_over_a_limit_never_reads_equal():
    from llmfit_core.units import GIB, fmt_gib_over

    assert fmt_gib_over(9.1 * GIB, 8 * GIB) == "9.1 GiB > 8.0 GiB"
    assert fmt_gib_over(8.04 * GIB, 8 * GIB) == "8.04 GiB > 8.00 GiB"  # was "8.0 GiB > 8.0 GiB"
    assert fmt_gib_over(8.0004 * GIB, 8 * GIB) == "8.000 GiB > 8.000 GiB"  # three digits at most


def test_cluster_table_sizes_read_in_one_unit():
    """`plan --cluster`'s per-device columns are compared down the column: GiB (fmt_gib), as fit's and recommend's
    columns, not a mix of "983 MiB" above "1.1 GiB" and "0 KiB" (its own formatter before)."""
    from rich.console import Console

    from llmfit_core.cli.cluster_cmd import show_cluster_plan
    from llmfit_core.cluster.plan import plan_cluster

    plan = plan_cluster("meta-llama/Llama-3.1-8B-Instruct", "examples/cluster.json", engine="llama.cpp-rpc")
    console = Console(width=300, record=True, highlight=False)
    show_cluster_plan(plan, False, console)
    devices = plan.best.memory.devices
    nodes = {dev.node for dev in devices}
    rows = [line for line in console.export_text().splitlines() if line.split(" ")[0] in nodes][:len(devices)]
    assert len(rows) == len(devices) >= 2
    for dev, row in zip(devices, rows):
        m = dev.memory
        want = [fmt_gib(m.weights_bytes), fmt_gib(m.kv_cache_bytes), fmt_gib(m.compute_bytes + m.engine_reserve_bytes),
                fmt_gib(m.total_bytes), fmt_gib(m.capacity_bytes)]
        assert re.split(r"\s{2,}", row.strip())[-6:-1] == want, row
