"""Search the catalog by name (`llmfit search`); filtering by constraints and hardware is recommend.listing."""

from __future__ import annotations

import re


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9.]+", text.lower()) if t]


def search_entries(entries, query: str) -> list:
    """Entries whose id/family/arch contain every query word, best matches first
    (exact short name, then name prefix, then models with more GGUF repos)."""
    q = query.strip().lower()
    if not q:
        return list(entries)
    words = _tokens(q) or [q]
    out = []
    for e in entries:
        hay = f"{e.id.lower()} {e.family} {e.arch.lower()} {' '.join(e.uses)}"
        if all(w in hay for w in words):
            short = e.short_name.lower()
            rank = (0 if short == q or e.id.lower() == q else 1 if short.startswith(q) else 2, -len(e.gguf), len(e.id))
            out.append((rank, e))
    out.sort(key=lambda t: t[0])
    return [e for _, e in out]
