"""The model catalog: shipped data file + private registries, lookup by name, search and filters.

`load_catalog()` is lazy and cached per set of private paths; `resolve_catalog_ref(ref, quant)` is what
`resolve.resolve_model` calls for catalog names.
"""

from __future__ import annotations

from llmfit_core.catalog.entry import CatalogEntry
from llmfit_core.catalog.store import Catalog, load_catalog

__all__ = ["CatalogEntry", "Catalog", "load_catalog", "resolve_catalog_ref", "find_entry"]


def find_entry(ref: str, catalog: Catalog | None = None) -> CatalogEntry | None:
    """Catalog entry for `ref`: exact HF id, case-insensitive id, or a unique short name (None if unknown/ambiguous)."""
    cat = catalog or load_catalog()
    return cat.find(ref)


def resolve_catalog_ref(ref: str, quant: str | None = None):
    """ModelSpec for a catalog name (exact id, case-insensitive id, unique short name), or None.

    An ambiguous short name raises ResolveError listing the candidates.
    """
    if not isinstance(ref, str) or not ref.strip() or len(ref) > 300:
        return None
    entry = find_entry(ref.strip())
    if entry is None:
        return None
    return entry.to_spec(quant)
