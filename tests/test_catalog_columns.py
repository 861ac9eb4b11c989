"""The fast catalog format (catalog.columns, data/catalog_columns.npz) holds exactly what the JSON source gives."""

import json
from dataclasses import fields

import numpy as np
import pytest

from llmfit_core.catalog import store
from llmfit_core.catalog.columnize import columns_of, write_catalog_columns
from llmfit_core.catalog.columns import CatalogColumns, read_columns, source_digest
from llmfit_core.catalog.store import Catalog, load_catalog

pytestmark = pytest.mark.usefixtures("isolated_catalog")


def _assert_same_columns(got: CatalogColumns, want: CatalogColumns) -> None:
    assert len(got) == len(want)
    for f in fields(CatalogColumns):
        g, w = getattr(got, f.name), getattr(want, f.name)
        if isinstance(w, np.ndarray):
            assert g.dtype == w.dtype or g.dtype.kind == w.dtype.kind == "f", f.name
            assert np.array_equal(g, w, equal_nan=g.dtype.kind == "f"), f.name
        else:
            assert list(g) == list(w), f.name


def test_shipped_columns_file_matches_its_json_source():
    # a rebuilt JSON, or a change to what columnize derives (publishers, uses from the name, packed re-uploads,
    # default quantizations, hybrid layouts): run training/build_catalog.py to rebuild both files
    json_entries = store._load_shipped()
    stored = read_columns(store.shipped_columns_path(), digest=source_digest(store.shipped_path().read_bytes()))
    assert stored is not None, "catalog_columns.npz was built from another catalog.json.gz"
    columns, rows = stored
    _assert_same_columns(columns, columns_of(json_entries))
    assert len(json_entries) > 8000


def test_entries_made_from_stored_rows_equal_the_json_ones():
    cat = load_catalog()
    assert cat._stored is not None  # the fast path was taken
    json_entries = store._load_shipped()
    assert [vars(e) for e in cat.entries] == [vars(e) for e in json_entries]
    assert len({id(e.src) for e in cat.entries}) == len(json_entries)  # no shared mutable dicts


def test_loading_makes_only_the_entries_asked_for():
    cat = load_catalog()
    e = cat.find("meta-llama/Llama-3.1-8B-Instruct")
    assert e is not None and e.params > 7e9
    made = [s for s in cat.entries._slots if not isinstance(s, int)]
    assert made == [e]
    assert cat._stored._columns is None  # a lookup reads the ids, mirror ids and one row, not the numeric columns
    assert cat.find("llama-3.1-8b-instruct") is e  # short name, case-insensitive
    assert cat.columns is cat._stored.columns() and len(cat.columns) == len(cat)


def test_a_columns_file_built_from_another_json_is_not_used(tmp_path, monkeypatch):
    src = tmp_path / "catalog.json.gz"
    src.write_bytes(store.shipped_path().read_bytes())
    out = tmp_path / "cols.npz"
    write_catalog_columns(src, out)
    assert read_columns(out, digest=source_digest(src.read_bytes())) is not None
    assert read_columns(out, digest=source_digest(b"another catalog")) is None
    assert read_columns(tmp_path / "missing.npz") is None
    (tmp_path / "broken.npz").write_bytes(b"PK not a zip")
    assert read_columns(tmp_path / "broken.npz") is None
    # the store then reads the JSON: the same catalog, slower
    monkeypatch.setattr(store, "shipped_columns_path", lambda: tmp_path / "broken.npz")
    store.clear_cache()
    cat = load_catalog()
    assert cat._stored is None and isinstance(cat.entries, list)
    assert [vars(e) for e in cat.entries] == [vars(e) for e in store._load_shipped()]
    _assert_same_columns(cat.columns, columns_of(cat.entries))


def test_columns_file_bytes_are_deterministic(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    write_catalog_columns(store.shipped_path(), a)
    write_catalog_columns(store.shipped_path(), b)
    assert a.read_bytes() == b.read_bytes() == store.shipped_columns_path().read_bytes()


def test_private_entries_replace_shipped_rows_in_place_and_append_new_ones(tmp_path, monkeypatch):
    shipped = store._load_shipped()
    first, later = shipped[0], shipped[5]
    private = [
        {**first.to_dict(), "license": "corp-approved", "released": "2026-11-01"},
        {**later.to_dict(), "id": "acme/Our-Model-7B", "mirrors": ["acme/our-model-7b-mirror"]},
    ]
    f = tmp_path / "ours.jsonl"
    f.write_text("".join(json.dumps(d) + "\n" for d in private))
    monkeypatch.setenv("LLMFIT_CATALOG_PATH", str(f))
    store.clear_cache()
    cat = load_catalog()
    # the same entries, in the same order, as merging the JSON entries by id
    merged = {e.id: e for e in shipped}
    for e in store.load_file(f, f"private catalog {f}")[0]:
        merged[e.id] = e
    want = list(merged.values())
    assert [vars(e) for e in cat.entries] == [vars(e) for e in want]
    assert cat.entries[0].license == "corp-approved" and cat.entries[-1].id == "acme/Our-Model-7B"
    _assert_same_columns(cat.columns, columns_of(want))
    assert cat.find("acme/our-model-7b-mirror").id == "acme/Our-Model-7B"


def test_a_catalog_of_entries_gets_its_columns_on_first_use():
    entries = store._load_shipped()[:50]
    cat = Catalog(entries)
    _assert_same_columns(cat.columns, columns_of(entries))
    assert list(cat.model_rows) == [i for i, e in enumerate(entries) if not e.variant_of]
