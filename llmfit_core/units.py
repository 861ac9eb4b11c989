"""Units: bytes and token counts the way llmfit prints them, one convention for every command.

Bytes are binary and labelled binary: GiB = 2**30, MiB = 2**20, KiB = 2**10, like the memory the OS, drivers
and llama.cpp's logs report ("8GB" typed by a user also means 8 GiB: constraints.py, hardware profiles).
Decimal units appear only for rates a source states in them (bandwidth GB/s, weights read per token in GB).
"""

from __future__ import annotations

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
