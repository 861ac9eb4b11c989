"""Catalog entries → CatalogColumns: the facts of each entry, and those derived from its name and publisher.

Used by the build (the shipped columns file), by the store for private entries, and for any list of entries
(`recommend --model`, `list --fits`). Deriving the name facts costs ~50 µs an entry (regexes), which is why the
shipped catalog's are precomputed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from llmfit_core.catalog.columns import CatalogColumns, format_bits, source_digest, use_bits, write_columns
from llmfit_core.catalog.entry import CatalogEntry, trusted_entry, uses_from_name
from llmfit_core.catalog.publishers import visible
from llmfit_core.catalog.sizes import entry_config
from llmfit_core.catalog.validate import _PACKED
from llmfit_core.defaults import LLAMACPP_DEFAULT_QUANT, default_quant
from llmfit_core.errors import LlmfitError
from llmfit_core.readers.hf_config import recurrent_of_config
from llmfit_core.recurrent import kv_layer_fraction

_PACKED_HINTS = ("bit", "fp4", "fp8", "int4", "int8", "awq", "gptq", "bnb", "mlx", "autoround", "hqq", "exl2", "w4a16",
                 "w8a8", "dwq", "q2", "q3", "q4", "q5", "q6", "q8")
_NUMBERS = ("params", "active_params", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim", "vocab_size",
            "max_context", "ffn_size", "sliding_window", "n_experts", "n_experts_used", "expert_ffn_size",
            "shared_ffn_size")


def native_quant(e: CatalogEntry) -> str:
    """The publisher's own GGUF quantization of `e` when it was released as one (defaults.default_quant), else ""."""
    dq = default_quant(e.id, e.arch).quant
    return "" if dq == LLAMACPP_DEFAULT_QUANT else dq


def looks_packed(model_id: str) -> bool:
    """validate._PACKED, with a cheap substring pre-check (the regex is slow over thousands of ids)."""
    low = model_id.lower()
    return any(h in low for h in _PACKED_HINTS) and bool(_PACKED.search(model_id))


def release_year_month(released: str | None) -> tuple[float, float]:
    """(year, month) of a YYYY-MM[-DD] release date, NaN when there is none."""
    rel = released or ""
    if len(rel) >= 7 and rel[:4].isdigit() and rel[5:7].isdigit():
        return float(rel[:4]), float(rel[5:7])
    return np.nan, np.nan


def recurrent_facts(e: CatalogEntry) -> tuple[int, int]:
    """(recurrent layers, their state elements per sequence) fit's config reader gives the entry (0, 0 for none; the
    state 0 when the catalog's config does not fix its size)."""
    try:
        n, r, s = recurrent_of_config(entry_config(e), e.id)
    except LlmfitError:  # a size the reader refuses: priced as attention layers, as fit's reader would fail
        return 0, 0
    return n, n * (r + s)


def columns_of(entries) -> CatalogColumns:
    """The columns of a list of entries, in order."""
    n = len(entries)

    def number(name):
        return np.fromiter((getattr(e, name) or 0 for e in entries), dtype=np.float64, count=n)

    released = [release_year_month(e.released) for e in entries]
    rec = [recurrent_facts(e) for e in entries]
    return CatalogColumns(
        id=[e.id for e in entries], arch=[e.arch for e in entries], family=[e.family for e in entries],
        license=[e.license or "" for e in entries], native_quant=[native_quant(e) for e in entries],
        mirrors=["\t".join(e.mirrors) for e in entries],
        **{name: number(name) for name in _NUMBERS},
        n_gguf=np.array([len(e.gguf) for e in entries], np.float64),
        n_mirrors=np.array([len(e.mirrors) for e in entries], np.float64),
        released_year=np.array([y for y, _ in released], np.float64),
        released_month=np.array([m for _, m in released], np.float64),
        kv_layer_fraction=np.array([kv_layer_fraction(e.arch, e.n_layers, e.hidden_size) for e in entries], np.float64),
        recurrent_layers=np.array([r[0] for r in rec], np.float64),
        recurrent_state=np.array([r[1] for r in rec], np.float64),
        tied_embeddings=np.array([bool(e.tied_embeddings) for e in entries], bool),
        variant=np.array([bool(e.variant_of) for e in entries], bool),
        modified=np.array([bool(e.modified) for e in entries], bool),
        first_party=np.array([bool(visible(e)) for e in entries], bool),
        packed=np.array([not e.gguf and looks_packed(e.id) for e in entries], bool),
        uses=np.array([use_bits(e.uses) for e in entries], np.uint8),
        name_uses=np.array([use_bits(uses_from_name(e.short_name)) for e in entries], np.uint8),
        formats=np.array([format_bits(e.formats) for e in entries], np.uint8),
    )


def write_catalog_columns(source: Path, out: Path) -> None:
    """Build the columns file of a catalog JSON written by training/build_catalog.py (the shipped one: the build
    calls this after writing catalog.json.gz)."""
    data = source.read_bytes()
    doc = json.loads(gzip.decompress(data))
    defaults = doc.get("src_defaults") or {}
    entries = [trusted_entry(d, defaults) for d in doc["models"]]
    write_columns(out, columns_of(entries), doc["models"], defaults, source_digest(data))
