"""The catalog as columns (one numpy array per fact, one row per entry) and the file the shipped ones load from.

`data/catalog_columns.npz` is built at build time from the JSON source (`catalog.json.gz`, training/build_catalog.py
→ `columnize.columns_of` → `write_columns`) and loads in milliseconds: the numbers and flags `recommend` ranks by,
the facts derived from each entry's name that cost ~0.4 s of regexes to derive (its own uses, a packed re-upload,
first-party, the publisher's own GGUF quantization), and each entry's JSON row, made into a CatalogEntry only when
that entry is asked for. The file records the SHA-256 of the JSON it was built from; a file that does not match the
shipped JSON is not used (the catalog is then read from the JSON). tests/test_catalog_columns.py checks that the
file holds exactly what the JSON source gives.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from llmfit_core.catalog.entry import FORMATS, USES
from llmfit_core.errors import CatalogError

COLUMNS_FILE = "catalog_columns.npz"
FORMAT_TAG = "llmfit-catalog-columns/2"  # 2: the recurrent_layers / recurrent_state columns
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member dates: the same JSON always gives the same bytes
_SEP = "\n"  # between the strings of a text column (ids, names and JSON rows never hold a raw newline)


def bits(values, names: tuple[str, ...]) -> int:
    """Bit mask of the known `names` among `values` (bit k: names[k]); unknown values are left out."""
    return sum(1 << k for k, n in enumerate(names) if n in values)


def use_bits(uses) -> int:
    return bits(uses, USES)


def format_bits(formats) -> int:
    return bits(formats, FORMATS)


@dataclass
class CatalogColumns:
    """One row per catalog entry, in catalog order."""

    id: list[str]
    arch: list[str]
    family: list[str]
    license: list[str]  # "" when unknown
    native_quant: list[str]  # the publisher's own GGUF quantization (defaults.default_quant) or ""
    mirrors: list[str]  # merged re-upload ids, tab-separated ("" for none)
    params: np.ndarray  # float64 from here on
    active_params: np.ndarray
    n_layers: np.ndarray
    hidden_size: np.ndarray
    n_heads: np.ndarray
    n_kv_heads: np.ndarray
    head_dim: np.ndarray
    vocab_size: np.ndarray
    max_context: np.ndarray
    ffn_size: np.ndarray
    sliding_window: np.ndarray  # 0: none
    n_experts: np.ndarray
    n_experts_used: np.ndarray
    expert_ffn_size: np.ndarray
    shared_ffn_size: np.ndarray
    n_gguf: np.ndarray  # known GGUF repos
    n_mirrors: np.ndarray
    released_year: np.ndarray  # NaN: no usable release date
    released_month: np.ndarray
    kv_layer_fraction: np.ndarray  # layers with a KV cache (recurrent.kv_layer_fraction; hybrids < 1)
    recurrent_layers: np.ndarray  # recurrent layers as fit reads the entry's config (hf_config.recurrent_of_config)
    recurrent_state: np.ndarray  # their f32 state elements per sequence, all layers (0: size not known)
    tied_embeddings: np.ndarray  # bool from here on
    variant: np.ndarray  # a quantized copy of another entry (variant_of)
    modified: np.ndarray  # uncensored / abliterated / merged / pruned ... (publishers)
    first_party: np.ndarray  # shown by default: first-party, a listed well-known tune, or a private entry
    packed: np.ndarray  # the repo id looks like a quantized re-upload (MLX/NVFP4/bnb/...) and it has no GGUF repos
    uses: np.ndarray  # uint8 bit masks over entry.USES
    name_uses: np.ndarray  # the uses the model's own name marks it as made for (entry.uses_from_name)
    formats: np.ndarray  # uint8 bit masks over entry.FORMATS (entry.formats)

    def __len__(self) -> int:
        return len(self.id)

    def take(self, idx) -> CatalogColumns:
        """The rows at `idx` (an integer array)."""
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
        return CatalogColumns(**kw)

    @classmethod
    def concat(cls, parts: list[CatalogColumns]) -> CatalogColumns:
        kw = {}
        for f in fields(cls):
            vals = [getattr(p, f.name) for p in parts]
            kw[f.name] = np.concatenate(vals) if isinstance(vals[0], np.ndarray) else [x for v in vals for x in v]
        return cls(**kw)


_TEXT = tuple(f.name for f in fields(CatalogColumns) if f.type == "list[str]")
_BOOL = ("tied_embeddings", "variant", "modified", "first_party", "packed")
_BITS = ("uses", "name_uses", "formats")


@dataclass
class StoredRows:
    """The JSON row of each entry (made into a CatalogEntry by the store when asked for) and the `src` defaults."""

    blob: bytes
    offsets: np.ndarray  # row i is blob[offsets[i]:offsets[i + 1] - 1]
    src_defaults: dict

    def row(self, i: int) -> dict:
        return json.loads(self.blob[self.offsets[i]:self.offsets[i + 1] - 1])


def source_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def write_columns(path: Path, cols: CatalogColumns, rows: list[dict], src_defaults: dict, digest: str) -> None:
    """Write the columns and the JSON rows of a catalog (deterministic bytes: fixed member dates and order)."""
    members: dict[str, np.ndarray] = {}
    for f in fields(cols):
        v = getattr(cols, f.name)
        if f.name in _TEXT:
            members[f.name] = np.frombuffer(_SEP.join(v).encode(), np.uint8)
        elif f.name in _BOOL:
            members[f.name] = np.asarray(v, bool)
        elif f.name in _BITS:
            members[f.name] = np.asarray(v, np.uint8)
        else:
            members[f.name] = np.asarray(v, np.float64)
    lines = [json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for r in rows]
    members["rows"] = np.frombuffer(b"".join(lines), np.uint8)
    members["row_offsets"] = np.cumsum([0] + [len(x) for x in lines], dtype=np.int64)
    meta = {"format": FORMAT_TAG, "source_sha256": digest, "entries": len(cols), "src_defaults": src_defaults}
    members["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, _array_bytes(arr))


class ColumnsFile:
    """An opened columns file whose members are read when first asked for: a lookup by name needs the ids, the
    mirror ids and one JSON row, not the ~30 numeric columns `recommend` ranks by."""

    def __init__(self, npz, meta: dict):
        self._npz = npz
        self.meta = meta
        self._columns: CatalogColumns | None = None
        self._rows: StoredRows | None = None

    def __len__(self) -> int:
        return int(self.meta["entries"])

    def text(self, name: str) -> list[str]:
        """A text column (`id`, `mirrors`, ...)."""
        values = self._npz[name].tobytes().decode().split(_SEP) if len(self) else []
        if len(values) != len(self):
            raise CatalogError(f"catalog columns file: column {name!r} has {len(values)} rows, not {len(self)}")
        return values

    def columns(self) -> CatalogColumns:
        if self._columns is None:
            kw = {}
            for f in fields(CatalogColumns):
                kw[f.name] = self.text(f.name) if f.name in _TEXT else self._npz[f.name]
                if len(kw[f.name]) != len(self):
                    raise CatalogError(f"catalog columns file: column {f.name!r} has {len(kw[f.name])} rows")
            self._columns = CatalogColumns(**kw)
        return self._columns

    def rows(self) -> StoredRows:
        if self._rows is None:
            offsets = self._npz["row_offsets"]
            if len(offsets) != len(self) + 1:
                raise CatalogError("catalog columns file: the row offsets do not match the entries")
            self._rows = StoredRows(blob=self._npz["rows"].tobytes(), offsets=offsets,
                                    src_defaults=self.meta["src_defaults"])
        return self._rows


def open_columns(path: Path, digest: str | None = None) -> ColumnsFile | None:
    """The columns file at `path`, or None when it is missing, unreadable or (with `digest`) built from another JSON
    source. Its members are read on first use (ColumnsFile)."""
    try:
        npz = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
        meta = json.loads(npz["meta"].tobytes())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if meta.get("format") != FORMAT_TAG or (digest is not None and meta.get("source_sha256") != digest):
        return None
    return ColumnsFile(npz, meta)


def read_columns(path: Path, digest: str | None = None) -> tuple[CatalogColumns, StoredRows] | None:
    """All the columns and rows of a columns file (open_columns, read whole), or None when it cannot be used."""
    stored = open_columns(path, digest)
    if stored is None:
        return None
    try:
        return stored.columns(), stored.rows()
    except (CatalogError, KeyError, ValueError, zipfile.BadZipFile):
        return None
