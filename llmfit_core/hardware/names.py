"""Hardware names people type (`--hardware RTX4090`, `rpi5`, `7900xtx`, `m3-max-64gb`, `cpu-16gb`) -> one device.

Strict by design: a name either means exactly one device of the table (or one chip whose variants differ only in
GPU cores or memory, picked with a note saying which), or it is an error naming the closest valid names. It never
becomes another device (`16gb` used to match the P100's alias "Tesla P100-PCIE-16GB").

Matching is token-based on both sides: lower case, vendor words dropped (devices.normalize), letters and digits
split (`RTX4090` = `rtx-4090` = `RTX 4090`), a memory size (`16GB`) and a GPU core count (`40-core GPU`) read as
variant choices rather than identity. The typed tokens must all be in a device's name or alias; the entries with the
fewest extra tokens win. Winners from different devices are an ambiguity error listing them. Driver strings of
detected hardware keep using the lenient `devices.lookup_device`.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field

from llmfit_core.errors import HardwareProfileError
from llmfit_core.hardware import devices

_MEM = re.compile(r"(\d+(?:\.\d+)?)\s*gi?b(?![a-z0-9])")
_GPU_CORES_IN_NAME = re.compile(r"\((\d+)-core gpu\)")
_GPU_CORES_TYPED = re.compile(r"(\d+)[- ]?core(?:s)?(?:[- ]?gpu)?(?![a-z0-9])")
_SPLIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_MEM_TOLERANCE_GB = 0.75  # 7.8 GiB reported for an 8 GB board
# words that say "a machine with only a CPU" in the generic shape `cpu-16gb` / `cpu-only-32gb`
_GENERIC_CPU_WORDS = {"cpu", "only", "generic", "ram"}
MAX_LISTED = 6


@dataclass(frozen=True)
class NameKey:
    """A name read as identity tokens plus the variant choices it carries."""

    tokens: frozenset[str]
    mem_gb: float | None = None
    gpu_cores: int | None = None
    prefixes: frozenset[str] = frozenset()  # letters written onto a number ("W7900" -> "w"): part of its model number


def name_key(name: str, typed: bool = False) -> NameKey:
    """Tokens of a device name or alias (`typed`: a user's query, where `30-core` alone is a GPU core count)."""
    s = re.sub(r"\d+-core processor", " ", name.lower())  # AMD brand strings: CPU cores, not a GPU variant
    mem = None
    m = _MEM.search(s)
    if m:
        mem = float(m.group(1))
        s = s[: m.start()] + " " + s[m.end():]
    cores = None
    m = (_GPU_CORES_TYPED if typed else _GPU_CORES_IN_NAME).search(s)
    if m:
        cores = int(m.group(1))
        s = s[: m.start()] + " " + s[m.end():]
    s = devices.normalize(s)
    prefixes = frozenset(re.findall(r"(?<![a-z0-9])([a-z]+)(?=\d)", s))
    tokens = frozenset(t for t in _SPLIT.sub(" ", s).split() if t not in ("apple", "cpu", "core", "cores"))
    return NameKey(tokens, mem, cores, prefixes)


def compact(name: str) -> str:
    """`Raspberry Pi 5` / `raspberry-pi-5` / `RaspberryPi5` -> `raspberrypi5` (for profile names)."""
    return re.sub(r"[^a-z0-9]+", "", name.lower())


@dataclass
class DeviceMatch:
    """What a typed name means: a device row, the memory (GiB) the name asked for (VRAM for a discrete GPU, else the
    machine's RAM), notes on any assumption."""

    device: devices.Device
    mem_gb: float | None = None
    notes: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def _entries() -> tuple[tuple[NameKey, devices.Device], ...]:
    out = []
    for d in devices.all_devices():
        for n in (d.name, *d.aliases):
            out.append((name_key(n), d))
    return tuple(out)


def _family(dev: devices.Device) -> frozenset[str]:
    """Rows that are one product in several memory / GPU-core variants share their name's identity tokens."""
    return name_key(dev.name).tokens


def _accepts_memory(dev: devices.Device, key: NameKey, mem: float) -> bool:
    sizes = (key.mem_gb,) if key.mem_gb is not None else dev.mem_gb
    if not sizes:
        return True  # a CPU row without listed sizes: the RAM is the user's to say
    if dev.kind == "gpu" and dev.unified:
        return True  # unified-memory boxes (Strix Halo 32/64/128 GB) ship in more sizes than the table lists
    return any(abs(s - mem) < _MEM_TOLERANCE_GB for s in sizes)


def _rank(entry: NameKey, dev: devices.Device, query: NameKey, typed_cpu: bool) -> tuple:
    apple_cpu_row = dev.kind == "cpu" and dev.vendor == "apple" and not typed_cpu
    carries_memory_not_asked = entry.mem_gb is not None and query.mem_gb is None
    # "7900" names the RX 7900 cards more than the W7900, "100" no more the P100 than the A100
    model_prefix_not_typed = bool(entry.prefixes - query.tokens)
    return (apple_cpu_row, model_prefix_not_typed, len(entry.tokens - query.tokens), carries_memory_not_asked)


def _listing(names) -> str:
    names = list(dict.fromkeys(names))
    more = f" (and {len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def suggestions(query: str, extra_names: tuple[str, ...] = ()) -> list[str]:
    """Close valid names: devices sharing a model-number token with the query, then difflib on the whole name."""
    key = name_key(query, typed=True)
    shared = []
    numbers = {t for t in key.tokens if t.isdigit()}
    if numbers:
        for entry, dev in _entries():
            if numbers & entry.tokens:
                shared.append((len(entry.tokens ^ key.tokens), dev.name))
    names = [n for _, n in sorted(shared)][:3]
    by_compact: dict[str, str] = {}
    for entry_name in [n for d in devices.all_devices() for n in (d.name, *d.aliases)] + list(extra_names):
        canonical = next((d.name for d in devices.all_devices() if entry_name in (d.name, *d.aliases)), entry_name)
        by_compact.setdefault(compact(entry_name), canonical)
    for close in difflib.get_close_matches(compact(query), list(by_compact), n=4, cutoff=0.6):
        names.append(by_compact[close])
    return list(dict.fromkeys(names))[:4]


def unknown_name_error(query: str, extra_names: tuple[str, ...] = (), why: str = "") -> HardwareProfileError:
    close = suggestions(query, extra_names)
    hint = f"closest: {', '.join(close)}; " if close else ""
    return HardwareProfileError(f"unknown device or profile {query!r}{why} ({hint}see `llmfit hardware list`)")


def is_generic_cpu(query: str) -> float | None:
    """`cpu-16gb`, `cpu only 32 GB`: the RAM size of a generic CPU-only machine, else None."""
    s = query.lower()
    m = _MEM.search(s)
    if not m:
        return None
    rest = set(re.sub(r"[^a-z0-9]+", " ", s[: m.start()] + " " + s[m.end():]).split())
    return float(m.group(1)) if rest and rest <= _GENERIC_CPU_WORDS and "cpu" in rest else None


def match_device_name(query: str, extra_names: tuple[str, ...] = ()) -> DeviceMatch:
    """The one device a typed name means, or HardwareProfileError (unknown: closest names; ambiguous: the candidates).

    `extra_names` (the built-in profile names) only widen the suggestions.
    """
    key = name_key(query, typed=True)
    typed_cpu = bool(re.search(r"\bcpu\b", query.lower()))
    if not key.tokens:
        if re.fullmatch(r"[^a-z0-9]*cpu[^a-z0-9]*(only)?[^a-z0-9]*", query.lower()):
            raise HardwareProfileError(f"{query!r}: say the RAM size, e.g. `cpu-16gb` for a generic CPU-only machine "
                                       "with 16 GiB, or name the CPU (see `llmfit hardware list --kind cpu`)")
        if key.mem_gb is not None:
            raise HardwareProfileError(
                f"{query!r} gives a memory size but no device: name the device (e.g. `RTX 4060 Ti 16GB`, `rpi5-8gb`) "
                f"or say `cpu-{key.mem_gb:g}gb` for a generic CPU-only machine with {key.mem_gb:g} GiB RAM")
        raise unknown_name_error(query, extra_names)
    exact = [d for d in devices.all_devices() if query.strip().lower() in (n.lower() for n in (d.name, *d.aliases))]
    if len(exact) == 1 and key.gpu_cores is None:
        return DeviceMatch(exact[0], key.mem_gb)
    best: dict[str, tuple[tuple, devices.Device]] = {}
    refused_memory: list[tuple[tuple, devices.Device]] = []
    for entry, dev in _entries():
        if not key.tokens <= entry.tokens:
            continue
        if key.gpu_cores is not None and dev.gpu_cores is not None and dev.gpu_cores != key.gpu_cores:
            continue
        rank = _rank(entry, dev, key, typed_cpu)
        if key.mem_gb is not None and not _accepts_memory(dev, entry, key.mem_gb):
            refused_memory.append((rank, dev))
            continue
        if dev.name not in best or rank < best[dev.name][0]:
            best[dev.name] = (rank, dev)
    if not best:
        if refused_memory:
            closest = min(rank for rank, _ in refused_memory)
            refused = [d for rank, d in refused_memory if rank == closest]
            sizes = sorted({m for d in refused for m in d.mem_gb})
            names = _listing(d.name for d in refused)
            raise HardwareProfileError(
                f"no {query!r}: {names} comes with {'/'.join(f'{s:g}' for s in sizes)} GB (the size in a name picks "
                "one of those; for another size give a hardware-profile JSON file as --hardware PATH, see docs/hardware-profile.md)")
        raise unknown_name_error(query, extra_names)
    top = min(rank for rank, _ in best.values())
    winners = [dev for rank, dev in best.values() if rank == top]
    families = {_family(d) for d in winners}
    if len(families) > 1:
        raise HardwareProfileError(
            f"ambiguous hardware name {query!r}: it matches {_listing(sorted(d.name for d in winners))}; "
            "say which (e.g. --hardware \"" + sorted(d.name for d in winners)[0] + "\")")
    return _pick_variant(query, key, winners)


def _pick_variant(query: str, key: NameKey, variants: list[devices.Device]) -> DeviceMatch:
    """One product in several variants: the one the memory size names, else the biggest (said in a note)."""
    notes = []

    def biggest(d: devices.Device):
        return (d.gpu_cores or 0, d.main_mem_gb or 0)

    if key.mem_gb is not None:
        sized = [d for d in variants if any(abs(m - key.mem_gb) < _MEM_TOLERANCE_GB for m in d.mem_gb)]
        variants = sized or variants
    pick = max(variants, key=biggest)
    if len(variants) > 1:
        others = ", ".join(d.name for d in sorted(variants, key=biggest, reverse=True) if d is not pick)
        notes.append(f"{query!r} has several variants: assumed {pick.name} (the largest; others: {others})")
    if key.mem_gb is None and pick.kind == "cpu" and len(pick.mem_gb) > 1:  # Apple rows say it in device_profile
        notes.append(f"{pick.name} comes with {'/'.join(f'{m:g}' for m in pick.mem_gb)} GB: assumed "
                     f"{pick.main_mem_gb:g} GiB (add the size to the name, e.g. {query}-{min(pick.mem_gb):g}gb)")
    return DeviceMatch(pick, key.mem_gb, notes)
