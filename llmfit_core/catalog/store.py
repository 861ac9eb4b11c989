"""Loading the catalog: the shipped data file merged with private registries.

The shipped catalog loads from its columns file (catalog.columns: built from the JSON source at build time, checked
against it) in milliseconds; its entries are made from their JSON rows when asked for. `load_catalog()` and
`Catalog.find(name)` (`catalog.find_entry`) are the lookup API.

Private registries: files or directories listed in `LLMFIT_CATALOG_PATH` (os.pathsep-separated) plus
the user's own additions (`llmfit catalog add`, in the user data dir). Files are `.json` (a list, or
{"models": [...]}), `.jsonl` or `.json.gz`; entries use the CatalogEntry field names. A malformed
entry is reported (file, entry, reason) and skipped; the rest is kept. Later sources override earlier
ones by id.
"""

from __future__ import annotations

import difflib
import gc
import gzip
import json
import os
import re
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from platformdirs import user_data_dir

from llmfit_core.catalog.columns import COLUMNS_FILE, CatalogColumns, ColumnsFile, open_columns, source_digest
from llmfit_core.catalog.entry import ARCH_FIELDS, CatalogEntry, trusted_entry
from llmfit_core.errors import CatalogError, ResolveError

ENV_PATH = "LLMFIT_CATALOG_PATH"
SHIPPED = "catalog.json.gz"
MAX_FILE_BYTES = 64 << 20  # a private catalog larger than this is refused (bounded memory)
CATALOG_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
HUB_UPDATES = "hub.jsonl"  # what `llmfit catalog update` fetched from the Hub (not the user's own models)


class StoredEntries(Sequence):
    """Catalog entries made from their stored JSON row when first asked for (the shipped ~8,500 take ~0.1 s to make
    all at once; `fit NAME` needs one, `recommend` a few dozen). A slot holds a row number or an entry made already
    (or a private entry that replaced the shipped one)."""

    def __init__(self, stored: ColumnsFile, slots: list):
        self._stored = stored  # its JSON rows are read on the first entry made
        self._slots = slots

    def __len__(self) -> int:
        return len(self._slots)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self._slots)))]
        slot = self._slots[i]
        if isinstance(slot, CatalogEntry):
            return slot
        rows = self._stored.rows()
        entry = trusted_entry(rows.row(slot), rows.src_defaults)
        self._slots[i] = entry
        return entry

    def __iter__(self):
        with _gc_paused():
            return iter([self[i] for i in range(len(self._slots))])


class Catalog:
    """All catalog entries, with lookups by id, short name and mirror id."""

    def __init__(self, entries: Sequence[CatalogEntry], warnings: list[str] | None = None,
                 sources: list[str] | None = None, columns: CatalogColumns | ColumnsFile | None = None):
        self.entries = entries
        self.warnings = list(warnings or [])  # skipped entries: "file: entry: reason"
        self.sources = list(sources or [])
        # the entries' columns: given, read from the columns file when first used, or derived on first use
        self._stored = columns if isinstance(columns, ColumnsFile) else None
        self._columns = columns if isinstance(columns, CatalogColumns) else None
        self._models: list[CatalogEntry] | None = None
        self._by_id: dict[str, int] | None = None
        self._by_name: tuple[dict, dict] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    @property
    def columns(self) -> CatalogColumns:
        """One numpy array per fact, one row per entry (catalog.columns)."""
        if self._columns is None:
            if self._stored is not None:
                self._columns = self._stored.columns()
            else:
                from llmfit_core.catalog.columnize import columns_of  # lazy: start-up: regexes, for unstored entries

                self._columns = columns_of(list(self.entries))
        return self._columns

    def _text(self, name: str) -> list[str]:
        """A text column (ids, tab-separated mirror ids) without reading the numeric ones."""
        if self._columns is None and self._stored is not None:
            return self._stored.text(name)
        return getattr(self.columns, name) if self._columns is not None else [
            e.id if name == "id" else "\t".join(e.mirrors) for e in self.entries]

    def _ids(self) -> dict[str, int]:
        """Entry positions by exact id (a lookup by full id needs no more)."""
        if self._by_id is None:
            self._by_id = {model_id: i for i, model_id in enumerate(self._text("id"))}
        return self._by_id

    def _names(self) -> tuple[dict, dict]:
        """Entry positions by lower-case id or mirror id, and by lower-case short name."""
        if self._by_name is None:
            by_lower: dict[str, list[int]] = {}
            by_short: dict[str, list[int]] = {}
            for i, (model_id, mirrors) in enumerate(zip(self._text("id"), self._text("mirrors"))):
                key = model_id.lower()
                by_lower.setdefault(key, []).append(i)
                by_short.setdefault(key.rpartition("/")[2], []).append(i)
                for m in mirrors.split("\t") if mirrors else ():
                    by_lower.setdefault(m.lower(), []).append(i)
            self._by_name = (by_lower, by_short)
        return self._by_name

    def get(self, model_id: str) -> CatalogEntry | None:
        i = self._ids().get(model_id)
        return None if i is None else self.entries[i]

    @property
    def model_rows(self) -> np.ndarray:
        """Positions of the entries that are models in their own right (not a quantized copy of another entry)."""
        return np.nonzero(~self.columns.variant)[0]

    @property
    def models(self) -> list[CatalogEntry]:
        """Entries that are models in their own right (not a quantized copy of another entry)."""
        if self._models is None:
            self._models = [e for e in self.entries if not e.variant_of]
        return self._models

    def find(self, ref: str) -> CatalogEntry | None:
        """Exact id, case-insensitive id or mirror id, or a unique short name; ResolveError if ambiguous."""
        by_id = self._ids()
        if ref in by_id:
            return self.entries[by_id[ref]]
        by_lower, by_short = self._names()
        key = ref.lower()
        hits = by_lower.get(key)
        if hits:
            return self.entries[hits[0]]
        if "/" in key:
            return None
        hits = [self.entries[i] for i in by_short.get(key) or []]
        if len(hits) > 1:
            originals = [e for e in hits if not e.variant_of]
            hits = originals or hits
        if len(hits) > 1:
            # the model most GGUF publishers converted is the one people mean
            hits = sorted(hits, key=lambda e: (-len(e.gguf) - len(e.mirrors), e.released or "9999"))
            if len(hits[0].gguf) + len(hits[0].mirrors) > len(hits[1].gguf) + len(hits[1].mirrors):
                return hits[0]
            names = ", ".join(e.id for e in hits[:5])
            raise ResolveError(f"{ref!r} is ambiguous in the catalog: {names}{' ...' if len(hits) > 5 else ''}; use the full id")
        return hits[0] if hits else None


_NAME_NOISE = re.compile(r"[^a-z0-9]+")


def _squash(name: str) -> str:
    """A name without case and separators, so `llama3.1-8b` and `Llama-3.1-8B` compare alike."""
    return _NAME_NOISE.sub("", name.lower())


def closest_ids(catalog: Catalog, ref: str, n: int = 3) -> list[str]:
    """Up to `n` catalog ids nearest to an unknown `ref` (by the short name, case and separators ignored), models
    before their quantized copies; for the one error line that names the closest valid choices."""
    want = _squash(ref.rpartition("/")[2] if "/" in ref else ref)
    if not want:
        return []
    shorts: dict[str, list[CatalogEntry]] = {}
    for e in catalog.models:
        shorts.setdefault(_squash(e.id.rpartition("/")[2]), []).append(e)
    near = [k for k in shorts if want in k] if len(want) >= 4 else []
    near.sort(key=lambda k: (len(k), k))
    near += [k for k in difflib.get_close_matches(want, list(shorts), n=n, cutoff=0.75) if k not in near]
    ids: list[str] = []
    for k in near:
        best = sorted(shorts[k], key=lambda e: (e.publisher != "first-party", bool(e.modified), e.id))[0]
        ids.append(best.id)
        if len(ids) == n:
            break
    return ids


def shipped_path() -> Path:
    return Path(str(resources.files("llmfit_core") / "data" / SHIPPED))


def user_catalog_dir() -> Path:
    """Where `llmfit catalog add` / `catalog update` write (user data dir; LLMFIT_HOME overrides)."""
    home = os.environ.get("LLMFIT_HOME")
    if home:
        return Path(home) / "catalog"

    return Path(user_data_dir("llmfit")) / "catalog"


def read_entries(path: Path) -> tuple[list[dict], list[str]]:
    """Raw entry dicts of one catalog file, and problems that made parts of it unreadable."""
    problems: list[str] = []
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise CatalogError(f"{path}: {size:,} bytes is larger than the {MAX_FILE_BYTES >> 20} MiB limit for a catalog file")
    if not path.is_file():  # a device (size 0, endless) or a FIFO (blocks)
        raise CatalogError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CatalogError(f"{path}: larger than the {MAX_FILE_BYTES >> 20} MiB limit for a catalog file")
    if path.name.endswith(".gz"):
        try:
            with gzip.GzipFile(fileobj=__import__("io").BytesIO(raw)) as gz:
                raw = gz.read(MAX_FILE_BYTES * 4 + 1)
        except (OSError, EOFError) as exc:
            raise CatalogError(f"{path}: not a valid gzip file ({exc})") from None
        if len(raw) > MAX_FILE_BYTES * 4:
            raise CatalogError(f"{path}: decompresses to more than {MAX_FILE_BYTES * 4 >> 20} MiB")
    text = raw.decode("utf-8", errors="replace")
    name = path.name.removesuffix(".gz")
    if name.endswith(".jsonl"):
        out = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                problems.append(f"{path}: line {i}: invalid JSON ({exc.msg})")
        return out, problems
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    if isinstance(doc, dict) and isinstance(doc.get("models"), list):
        return doc["models"], problems
    if isinstance(doc, list):
        return doc, problems
    if isinstance(doc, dict) and "id" in doc:
        return [doc], problems
    raise CatalogError(f"{path}: expected a list of models or {{\"models\": [...]}}")


def parse_entry(raw, where: str, repairs: list[str] | None = None, validate: bool = True) -> CatalogEntry:
    """One raw dict -> validated CatalogEntry; CatalogError names `where` and the reason. The repairs validation
    made (a context beyond the documented limit, a recomputed parameter count, ...) are appended to `repairs`."""
    from llmfit_core.catalog.validate import validate_entry  # lazy: start-up: private/user files only

    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: entry is a {type(raw).__name__}, not an object")
    if not isinstance(raw.get("id"), str):
        raise CatalogError(f"{where}: entry has no string 'id'")

    missing = [f for f in ("arch", "params") + ARCH_FIELDS if raw.get(f) in (None, "")]
    if missing:
        raise CatalogError(f"{where}: {raw['id']}: missing architecture fields: {', '.join(missing)}")
    raw = {"family": raw.get("arch"), "active_params": 0, **raw}
    try:
        e = CatalogEntry.from_dict(raw)
    except TypeError as exc:
        raise CatalogError(f"{where}: {raw.get('id')}: {exc}") from None
    for name in ("uses", "gguf", "mlx", "awq", "gptq", "mirrors"):
        if not isinstance(getattr(e, name), list):
            raise CatalogError(f"{where}: {e.id}: '{name}' must be a list")
    if not isinstance(e.src, dict):
        raise CatalogError(f"{where}: {e.id}: 'src' must be an object")
    e.family = e.family or e.arch
    if "publisher" not in raw:
        from llmfit_core.catalog.publishers import classify  # lazy: start-up: private/user files only

        e.publisher, e.modified = classify(e)
    if validate:
        try:
            fixes = validate_entry(e)
        except CatalogError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        if repairs is not None:
            repairs += fixes
    return e


def load_file(path: Path, origin: str) -> tuple[list[CatalogEntry], list[str]]:
    """Validated entries of one private catalog file, plus a warning per skipped entry."""
    raws, warnings = read_entries(path)
    out = []
    for i, raw in enumerate(raws):
        where = f"{path}: entry {i + 1}"
        try:
            e = parse_entry(raw, where, repairs := [])
        except CatalogError as exc:
            warnings.append(str(exc))
            continue
        # a wrong fact is never used silently: each repair is reported with its evidence
        warnings += [f"{where}: {e.id}: fixed {r}" for r in repairs if not r.startswith("unverified")]
        e.src.setdefault("*", origin)
        e.src["catalog_file"] = str(path)
        if path.name != HUB_UPDATES:
            e.src["origin"] = "private"  # the user's own registry / `catalog add`: shown like first-party models
        out.append(e)
    return out, warnings


def private_files(spec: str | None) -> list[Path]:
    """Catalog files named by LLMFIT_CATALOG_PATH (files, or directories scanned for catalog files)."""
    files: list[Path] = []
    for part in (spec or "").split(os.pathsep):
        if not part.strip():
            continue
        p = Path(part.strip()).expanduser()
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(CATALOG_SUFFIXES))
        else:
            files.append(p)
    return files


def _load_shipped() -> list[CatalogEntry]:
    """The shipped catalog's entries, read from its JSON source."""
    path = shipped_path()
    if not path.exists():
        raise CatalogError(f"shipped catalog missing: {path} (reinstall llmfit-core)")
    # Start-up time (issue 15): ~8000 entries; written by our own build script (keys are the fields), they are
    # made from their dict directly instead of through the 30-argument dataclass __init__.
    with _gc_paused():
        doc = json.loads(gzip.decompress(path.read_bytes()))
        defaults = doc.get("src_defaults") or {}
        return [trusted_entry(d, defaults) for d in doc["models"]]


def shipped_columns_path() -> Path:
    return Path(str(resources.files("llmfit_core") / "data" / COLUMNS_FILE))


def _load_shipped_columns() -> ColumnsFile | None:
    """The shipped catalog's columns file (catalog.columns), when it was built from the shipped JSON; else None."""
    path = shipped_path()
    if not path.exists():
        raise CatalogError(f"shipped catalog missing: {path} (reinstall llmfit-core)")
    return open_columns(shipped_columns_path(), digest=source_digest(path.read_bytes()))


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector: it would walk the growing heap many times while the catalog's
    ~100k dicts and lists are made (about half of the load time); nothing made here is garbage."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@lru_cache(maxsize=4)
def _load(private_spec: str | None, user_dir: str, include_shipped: bool) -> Catalog:
    shipped: list = []
    stored = None
    warnings: list[str] = []
    sources: list[str] = []
    if include_shipped:
        stored = _load_shipped_columns()
        shipped = list(range(len(stored))) if stored else _load_shipped()
        sources.append(str(shipped_path()))
    # user additions first, then private registries (later files override earlier ones by id)
    private: dict[str, CatalogEntry] = {}
    files = (private_files(user_dir) if Path(user_dir).is_dir() else []) + private_files(private_spec)
    for f in files:
        try:
            got, warns = load_file(f, f"private catalog {f}")
        except CatalogError as exc:
            warnings.append(str(exc))
            continue
        warnings += warns
        sources.append(str(f))
        for e in got:
            private[e.id] = e
    if stored is None:
        entries = {e.id: e for e in shipped}
        entries.update(private)
        return Catalog(list(entries.values()), warnings, sources)
    if not private:
        return Catalog(StoredEntries(stored, shipped), warnings, sources, stored)
    # a private entry replaces the shipped one with its id in place (as a dict update keeps the order), others follow
    from llmfit_core.catalog.columnize import columns_of  # lazy: start-up: the regexes, for the private entries only

    columns = stored.columns()
    position = {model_id: i for i, model_id in enumerate(columns.id)}
    slots: list = list(shipped)
    order = list(range(len(slots)))
    extra = list(private.values())
    for k, e in enumerate(extra):
        i = position.get(e.id)
        if i is None:
            slots.append(e)
            order.append(len(columns) + k)
        else:
            slots[i] = e
            order[i] = len(columns) + k
    merged = CatalogColumns.concat([columns, columns_of(extra)]).take(np.array(order, dtype=np.intp))
    return Catalog(StoredEntries(stored, slots), warnings, sources, merged)


def load_catalog(include_shipped: bool = True, private_path: str | None = None) -> Catalog:
    """The shipped catalog merged with private registries (LLMFIT_CATALOG_PATH or `private_path`) and user additions."""
    spec = private_path if private_path is not None else os.environ.get(ENV_PATH)
    return _load(spec, str(user_catalog_dir()), include_shipped)


def clear_cache() -> None:
    """Forget loaded catalogs (after `catalog add` / `catalog update` wrote new entries)."""
    _load.cache_clear()
