"""Loading the catalog: the shipped data file merged with private registries.

Private registries: files or directories listed in `LLMFIT_CATALOG_PATH` (os.pathsep-separated) plus
the user's own additions (`llmfit catalog add`, in the user data dir). Files are `.json` (a list, or
{"models": [...]}), `.jsonl` or `.json.gz`; entries use the CatalogEntry field names. A malformed
entry is reported (file, entry, reason) and skipped; the rest is kept. Later sources override earlier
ones by id.
"""

from __future__ import annotations

import difflib
import gc
import re
import gzip
import json
import os
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path

from llmfit_core.catalog.entry import CatalogEntry
from llmfit_core.errors import CatalogError, ResolveError

ENV_PATH = "LLMFIT_CATALOG_PATH"
SHIPPED = "catalog.json.gz"
MAX_FILE_BYTES = 64 << 20  # a private catalog larger than this is refused (bounded memory)
CATALOG_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
HUB_UPDATES = "hub.jsonl"  # what `llmfit catalog update` fetched from the Hub (not the user's own models)


@dataclass
class Catalog:
    """All catalog entries, with lookups by id, short name and mirror id."""

    entries: list[CatalogEntry]
    warnings: list[str] = field(default_factory=list)  # skipped entries: "file: entry: reason"
    sources: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._by_id = {e.id: e for e in self.entries}
        by_lower: dict[str, list[CatalogEntry]] = {}
        by_short: dict[str, list[CatalogEntry]] = {}
        for e in self.entries:  # runs on every start of fit/recommend: plain locals, no property calls
            key = e.id.lower()
            by_lower.setdefault(key, []).append(e)
            by_short.setdefault(key.rpartition("/")[2], []).append(e)
            for m in e.mirrors:
                by_lower.setdefault(m.lower(), []).append(e)
        self._by_lower, self._by_short = by_lower, by_short

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def get(self, model_id: str) -> CatalogEntry | None:
        return self._by_id.get(model_id)

    @property
    def models(self) -> list[CatalogEntry]:
        """Entries that are models in their own right (not a quantized copy of another entry)."""
        if getattr(self, "_models", None) is None:
            self._models = [e for e in self.entries if not e.variant_of]
        return self._models

    def find(self, ref: str) -> CatalogEntry | None:
        """Exact id, case-insensitive id or mirror id, or a unique short name; ResolveError if ambiguous."""
        if ref in self._by_id:
            return self._by_id[ref]
        key = ref.lower()
        hits = self._by_lower.get(key)
        if hits:
            return hits[0]
        if "/" in key:
            return None
        hits = self._by_short.get(key) or []
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
    from platformdirs import user_data_dir

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
    from llmfit_core.catalog.validate import validate_entry

    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: entry is a {type(raw).__name__}, not an object")
    if not isinstance(raw.get("id"), str):
        raise CatalogError(f"{where}: entry has no string 'id'")
    from llmfit_core.catalog.entry import ARCH_FIELDS

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
        from llmfit_core.catalog.publishers import classify

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
    path = shipped_path()
    if not path.exists():
        raise CatalogError(f"shipped catalog missing: {path} (reinstall llmfit-core)")
    # Start-up time (issue 15): ~8000 entries are built on every `fit`/`recommend`; written by our own
    # build script (keys are the fields), they are made from their dict directly instead of through the
    # 30-argument dataclass __init__.
    with _gc_paused():
        doc = json.loads(gzip.decompress(path.read_bytes()))
        defaults = doc.get("src_defaults") or {}
        return [_trusted_entry(d, defaults) for d in doc["models"]]


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


_FIELD_DEFAULTS = {f.name: f.default for f in fields(CatalogEntry) if f.default is not MISSING}
_FIELD_FACTORIES = {f.name: f.default_factory for f in fields(CatalogEntry) if f.default_factory is not MISSING}


def _trusted_entry(d: dict, src_defaults: dict) -> CatalogEntry:
    """CatalogEntry(**d) with `src` completed from the file's defaults, for our own build's entries."""
    values = {**_FIELD_DEFAULTS, **d}
    for name, factory in _FIELD_FACTORIES.items():
        if name not in d:
            values[name] = factory()
    values["src"] = {**src_defaults, **values["src"]}
    entry = object.__new__(CatalogEntry)
    entry.__dict__.update(values)
    return entry


@lru_cache(maxsize=4)
def _load(private_spec: str | None, user_dir: str, include_shipped: bool) -> Catalog:
    entries: dict[str, CatalogEntry] = {}
    warnings: list[str] = []
    sources: list[str] = []
    if include_shipped:
        for e in _load_shipped():
            entries[e.id] = e
        sources.append(str(shipped_path()))
    # user additions first, then private registries (later files override earlier ones by id)
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
            entries[e.id] = e
    with _gc_paused():  # the indexes by id, name and mirror: ~25k more lists (start-up time)
        return Catalog(list(entries.values()), warnings, sources)


def load_catalog(include_shipped: bool = True, private_path: str | None = None) -> Catalog:
    """The shipped catalog merged with private registries (LLMFIT_CATALOG_PATH or `private_path`) and user additions."""
    spec = private_path if private_path is not None else os.environ.get(ENV_PATH)
    return _load(spec, str(user_catalog_dir()), include_shipped)


def clear_cache() -> None:
    """Forget loaded catalogs (after `catalog add` / `catalog update` wrote new entries)."""
    _load.cache_clear()
