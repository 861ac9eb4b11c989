"""`llmfit system` (this machine or --hardware) and `llmfit hardware list|show|validate`."""

from __future__ import annotations

import json

import click

from llmfit_core.backends import reported_backends
from llmfit_core.cli.common import (
    Col,
    PairTable,
    csv_option,
    friendly_errors,
    hardware_option,
    json_option,
    make_console,
    print_pairs,
    print_table,
)
from llmfit_core.errors import UnsupportedSettingError
from llmfit_core.units import GIB, fmt_number


def _src(profile, key: str) -> str:
    src = profile.sources.get(key)
    if key in profile.estimated:
        src = "estimated"
    return f" ({src})" if src else ""


def runtimes_here(profile) -> list[str]:
    """Backends the installed runner adapters report for this machine (hook `llmfit_backends`)."""
    return [backend.name for backend in reported_backends(profile)]


def _print_profile(profile, runtimes: list[str] | None = None) -> None:
    """A table of a HardwareProfile (CPU, ISA, cores, RAM, bandwidth and where it came from, GPUs)."""
    from rich.markup import escape  # lazy: start-up: --help and usage errors skip it

    console = make_console()
    t = PairTable(f"Hardware: {profile.name}")
    c = profile.cpu
    t.add_row("OS", profile.os or "-")
    if profile.board:
        t.add_row("Board", profile.board)
    t.add_row("CPU", f"{c.model} ({c.arch})")
    cores = f"{c.cores} cores / {c.threads} threads"
    if c.p_cores is not None and c.e_cores is not None:
        cores += f" ({c.p_cores} P + {c.e_cores} E)"
    t.add_row("Cores", cores)
    t.add_row("ISA", ", ".join(c.isa) or "-")
    if c.runner_isa is not None and set(c.runner_isa) != set(c.isa):
        t.add_row("ISA llama.cpp uses", (", ".join(c.runner_isa) or "-") + " (the installed build's CPU kernels)")
    if c.l2_cache_kb or c.l3_cache_kb:
        t.add_row("Cache", f"L2 {fmt_number(c.l2_cache_kb, ' KiB')}, L3 {fmt_number(c.l3_cache_kb, ' KiB')}")
    mem = f"{fmt_number(profile.memory.total_gb, ' GiB')} total"
    if profile.memory.available_gb is not None:
        mem += f", {fmt_number(profile.memory.available_gb, ' GiB')} available"
    if profile.unified_memory:
        mem += " (unified with the GPU)"
    t.add_row("RAM", mem)
    for h in profile.memory_holders:
        held = ", ".join(x for x in (f"{fmt_number(h.vram_bytes / GIB, ' GiB')} VRAM" if h.vram_bytes else "",
                                     f"{fmt_number(h.ram_bytes / GIB, ' GiB')} RAM" if h.ram_bytes else "") if x)
        t.add_row("In use", f"{h.name}: {held or '0 GiB'} ({h.source})")
    t.add_row("RAM bandwidth", f"{fmt_number(c.mem_bandwidth_gbs, ' GB/s')}{_src(profile, 'cpu.mem_bandwidth_gbs')}")
    if not profile.gpus:
        t.add_row("GPU", "none (CPU-only)")
    for i, g in enumerate(profile.gpus):
        parts = [f"{g.vendor}"]
        if g.vram_gb is not None:
            vram = f"{fmt_number(g.vram_gb, ' GiB')} VRAM{_src(profile, f'gpus[{i}].vram_gb')}"
            if g.vram_free_gb is not None:
                vram += f", {fmt_number(g.vram_free_gb, ' GiB')} free{_src(profile, f'gpus[{i}].vram_free_gb')}"
            parts.append(vram)
        parts.append(f"{fmt_number(g.bandwidth_gbs, ' GB/s')}{_src(profile, f'gpus[{i}].bandwidth_gbs')}")
        parts.append(f"FP16 {fmt_number(g.fp16_tflops, ' TFLOPS')}{_src(profile, f'gpus[{i}].fp16_tflops')}")
        if g.compute_capability:
            parts.append(f"CC {g.compute_capability}")
        if g.gpu_cores:
            parts.append(f"{g.gpu_cores} cores")
        if g.power_limit_w:
            parts.append(f"power limit {g.power_limit_w:.0f} W" + (
                f" (default {g.default_power_limit_w:.0f} W)" if g.default_power_limit_w and
                abs(g.default_power_limit_w - g.power_limit_w) >= 1 else ""))
        if g.driver:
            parts.append(f"driver {g.driver}" + (f" / CUDA {g.cuda_version}" if g.cuda_version else ""))
        t.add_row(f"GPU {i}", f"{g.name}: " + ", ".join(parts))
    if runtimes is not None:
        t.add_row("Runtimes here", ", ".join(runtimes) or "none installed (pip install 'llmfit-core[llamacpp]')")
    t.rows = [(k, escape(v)) for k, v in t.rows]  # names and notes are text, not markup
    print_pairs(t, console)
    for n in profile.notes:
        console.print(f"note: {n}", markup=False)


def _calibration_note(profile) -> None:
    """After a new bandwidth measurement: say (on stderr) that a calibration fitted against the old figure is
    no longer applied, and how to refit it."""
    from llmfit_core.throughput.calibration import (  # lazy: start-up: --help and usage errors skip it
        machine_calibration,
        stale_note,
    )

    cal = machine_calibration(profile)
    if cal is not None and cal.calibrated_backends():
        note = stale_note(cal, profile)
        if note:
            click.echo(f"llmfit: note: {note}", err=True)


@click.command("system")
@hardware_option
@click.option("--measure-bandwidth", is_flag=True, help="Measure RAM bandwidth (a ~1 s multi-threaded streaming-read test) and cache it.")
@click.option("--seconds", default=1.0, show_default=True, type=click.FloatRange(0.1, 30.0),
              help="Duration of the bandwidth test.")
@json_option
@friendly_errors
def system_command(hardware, measure_bandwidth, seconds, as_json):
    """Show this machine's profile (CPU, ISA, RAM, bandwidth, GPUs) or a named/file profile."""
    from llmfit_core.hardware import registry  # lazy: start-up: --help and usage errors skip it

    if measure_bandwidth:
        if hardware:
            raise UnsupportedSettingError("--measure-bandwidth measures this machine; it cannot be combined with "
                                          "--hardware")
        from llmfit_core.hardware.bandwidth import measure_bandwidth as measure  # lazy: start-up: not for --help

        detected = registry.resolve_hardware(None)
        gbs = measure(seconds, cpu_model=detected.cpu.model)
        registry.clear_detection_cache()
        if not as_json:
            click.echo(f"measured RAM bandwidth: {gbs:.1f} GB/s (for {detected.cpu.model!r})")
    profile = registry.resolve_hardware(hardware)
    if measure_bandwidth:
        _calibration_note(profile)
    runtimes = None if hardware else runtimes_here(profile)  # installed runners only describe this machine
    if measure_bandwidth and profile.sources.get("cpu.mem_bandwidth_gbs") != "measured":
        # the cache could not be written: show the measurement anyway
        profile.cpu.mem_bandwidth_gbs = round(gbs, 1)
        profile.sources["cpu.mem_bandwidth_gbs"] = "measured"
        profile.estimated = [e for e in profile.estimated if e != "cpu.mem_bandwidth_gbs"]
        profile.notes = [n for n in profile.notes if "bandwidth" not in n.lower()]
    if as_json:
        data = profile.to_dict()
        if runtimes is not None:
            data["runtimes"] = runtimes
        click.echo(json.dumps(data, indent=2))
    else:
        _print_profile(profile, runtimes)


@click.group("hardware")
def hardware_group():
    """The built-in device table and hardware profiles.

    A profile file is JSON (sizes ending in _gb are GiB, bandwidths in GB/s); every field, its unit and what
    is filled in from the device table: docs/hardware-profile.md in the llmfit-core repository.
    """


@hardware_group.command("list")
@click.option("--kind", type=click.Choice(["gpu", "cpu", "apple", "profile"]), default=None,
              help="Only one kind of entry.")
@json_option
@csv_option
@friendly_errors
def list_cmd(kind, as_json, as_csv):
    """Devices of the built-in table and the built-in profiles."""
    from llmfit_core.hardware import devices, registry  # lazy: start-up: --help and usage errors skip it

    devs = [] if kind == "profile" else devices.all_devices(kind)
    profiles = registry.builtin_profile_names() if kind in (None, "profile") else []
    if as_json:
        rows = [d.to_dict() for d in devs]
        rows += [{"name": n, "kind": "profile"} for n in profiles]
        click.echo(json.dumps(rows, indent=2))
        return
    console = make_console()
    if devs:
        cols = [Col("name", key=True), Col("kind"), Col("memory GiB", right=True), Col("GB/s", right=True),
                Col("FP16 TFLOPS", right=True), Col("CC / cores")]
        rows = []
        for d in devs:
            mem = "/".join(fmt_number(m) for m in d.mem_gb) or "-"
            extra = d.compute_capability or (f"{d.gpu_cores} GPU cores" if d.gpu_cores else
                                             (f"{d.cpu_cores} cores" if d.cpu_cores else "-"))
            rows.append([d.name, d.kind, mem, fmt_number(d.bandwidth_gbs), fmt_number(d.fp16_tflops), extra])
        print_table(cols, rows, title=f"Devices ({len(devs)})", as_csv=as_csv, console=console)
        if as_csv:
            return
    if profiles:
        console.print("Built-in profiles: " + ", ".join(profiles), markup=False)


@hardware_group.command("show")
@click.argument("name_or_path")
@json_option
@friendly_errors
def show_cmd(name_or_path, as_json):
    """A profile for a device name, built-in profile or profile file, with gaps filled."""
    from llmfit_core.hardware import registry  # lazy: start-up: --help and usage errors skip it

    profile = registry.resolve_hardware(name_or_path)
    if as_json:
        click.echo(json.dumps(profile.to_dict(), indent=2))
    else:
        _print_profile(profile)


@hardware_group.command("validate")
@click.argument("path", type=click.Path(dir_okay=True))
@friendly_errors
def validate_cmd(path):
    """Check a hardware-profile JSON file: exit 0 when valid, 1 with what is wrong."""
    from llmfit_core.hardware import registry  # lazy: start-up: --help and usage errors skip it

    profile = registry.fill_missing(registry.load_profile_file(path))
    est = f"; estimated: {', '.join(profile.estimated)}" if profile.estimated else ""
    click.echo(f"{path}: valid ({profile.name}: {len(profile.gpus)} GPU(s), {profile.memory.total_gb:g} GiB RAM{est})")
