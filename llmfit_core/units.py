"""Units: bytes and token counts the way llmfit prints them, one convention for every command.

Bytes are binary and labelled binary: GiB = 2**30, MiB = 2**20, KiB = 2**10, like the memory the OS, drivers
and llama.cpp's logs report ("8GB" typed by a user also means 8 GiB: parse_size below, hardware profiles).
Decimal units appear only for rates a source states in them (bandwidth GB/s, weights read per token in GB).
"""

from __future__ import annotations

import re

from llmfit_core.errors import ConstraintError

KIB = 1024
MIB = 1024**2
GIB = 1024**3


def fmt_bytes(n: float, digits: int = 1) -> str:
    """A size in the unit that reads best: "12.3 GiB", "300 MiB", "12 KiB" (`digits` after the point for GiB)."""
    if abs(n) >= GIB:
        return f"{n / GIB:.{digits}f} GiB"
    if abs(n) >= MIB:
        return f"{n / MIB:.0f} MiB"
    return f"{n / KIB:.0f} KiB"


def fmt_gib(n: float | None, digits: int = 1, none: str = "-") -> str:
    """A size in GiB for columns and lists that are compared ("4.6 GiB", "0.30 GiB"); below 0.1 GiB in MiB, so
    a small figure never reads "0.0 GiB"; None as `none`."""
    if n is None:
        return none
    if abs(n) < GIB / 10:
        return f"{n / MIB:.0f} MiB"
    return f"{n / GIB:.{digits}f} GiB"


def fmt_gib_over(need: float, limit: float) -> str:
    """"9.1 GiB > 8.0 GiB" for a size over a limit, with as many digits (up to 3) as it takes for the two to read
    differently: "8.0 GiB > 8.0 GiB" tells the reader nothing."""
    for digits in (1, 2, 3):
        a, b = fmt_gib(need, digits), fmt_gib(limit, digits)
        if a != b:
            break
    return f"{a} > {b}"


def fmt_number(value, unit: str = "", digits: int = 1) -> str:
    """A measured figure with its unit and no trailing zeros ("16 GiB", "936.2 GB/s"); None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{value}{unit}"


def fmt_ctx(n: int) -> str:
    """A context length the way people say it: 32768 -> "32k" (k = 1024 tokens), else the number."""
    return f"{n // 1024}k" if n >= 1024 and n % 1024 == 0 else str(n)


def context_text(n: int) -> str:
    """A context length for prose: 32768 -> "32k", 92672 -> "92,672"."""
    return fmt_ctx(n) if n % 1024 == 0 else f"{n:,}"


# -- what people type: sizes and token counts ------------------------------------------------------------------


def parse_size(text: str) -> int:
    """'8GB', '8 GiB', '512MB', '1.5T', '8' (GiB) -> bytes (GiB-based, like hardware profiles)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(t|tb|tib|g|gb|gib|m|mb|mib|k|kb|kib)?\s*", str(text), re.I)
    if not m:
        raise ConstraintError(f"not a memory size: {text!r} (use e.g. 8GB or 512MB)")
    unit = (m.group(2) or "g").lower()[0]
    mult = {"t": 1024**4, "g": GIB, "m": 1024**2, "k": 1024}[unit]
    value = int(float(m.group(1)) * mult)
    if value <= 0:
        raise ConstraintError(f"memory size must be positive: {text!r}")
    return value


def parse_tokens(text: str) -> int:
    """'16k', '16K', '16384', '1m' -> tokens (k = 1024, as llama.cpp users mean it)."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(k|m)?\s*(tokens?)?\s*", str(text), re.I)  # '-' only to say "positive"
    if not m:
        raise ConstraintError(f"not a token count: {text!r} (use e.g. 16k or 8192)")
    mult = {"k": 1024, "m": 1024 * 1024}.get((m.group(2) or "").lower(), 1)
    value = int(float(m.group(1)) * mult)
    if value <= 0:
        raise ConstraintError(f"token count must be positive: {text!r}")
    return value
