"""Catalog entries from the Hugging Face Hub (HF_ENDPOINT honoured) and from local models.

`update_catalog(...)` lists models (huggingface_hub `list_models`), turns safetensors repos into entries
(config.json -> readers.hf_config.spec_from_config, parameter count from the Hub's safetensors
metadata), attaches GGUF repos with their exact per-quant file sizes to their base model, validates
everything and writes `hub.jsonl` in the user catalog directory. `add_ref(REF)` records one local
or Hub model in `added.jsonl`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from llmfit_core.catalog.entry import CatalogEntry, family_of, uses_from_name
from llmfit_core.catalog.store import HUB_UPDATES, clear_cache, load_catalog, user_catalog_dir
from llmfit_core.catalog.validate import validate_entry
from llmfit_core.errors import (
    AuthRequiredError,
    CatalogError,
    LlmfitError,
    ModelReadError,
    NotFoundError,
    OfflineError,
    RemoteError,
)
from llmfit_core.net import http_timeout
from llmfit_core.quant import normalize_quant
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.readers.safetensors import _read_json

_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.I)
_GGUF_QUANT = re.compile(r"(?:^|[-_.])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|F16|BF16|F32|MXFP4(?:_MOE)?))(?:[-_.]|$)", re.I)


@dataclass
class UpdateResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # existing entries that got GGUF sizes
    skipped: list[str] = field(default_factory=list)  # "repo: reason"
    path: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def entry_from_spec(spec, repo_id: str, info=None, params: int | None = None) -> CatalogEntry:
    """CatalogEntry from a ModelSpec read from config.json or a GGUF header (+ Hub model info)."""
    tags = list(getattr(info, "tags", None) or [])
    lic = next((t.split(":", 1)[1] for t in tags if t.startswith("license:")), None)
    created = getattr(info, "created_at", None)
    src = {"*": "config.json via readers.hf_config" if spec.source.startswith("config") else spec.source}
    if params:
        src["params"] = "hub safetensors metadata"
    elif spec.exact and spec.format == "gguf":
        src["params"] = "gguf header (tensor infos)"
    else:
        src["params"] = "computed from the architecture"
    if lic:
        src["license"] = "hub tags"
    uses = uses_from_name(repo_id, tags)  # the model's own name, never the uploader's
    fmt = "mlx" if spec.format == "mlx" else ("gguf" if spec.format == "gguf" else "safetensors")
    return CatalogEntry(
        id=repo_id, family=family_of(repo_id, spec.arch), arch=spec.arch, params=int(params or spec.params),
        active_params=int(spec.active_params or 0), n_layers=spec.n_layers, hidden_size=spec.hidden_size,
        n_heads=spec.n_heads, n_kv_heads=spec.n_kv_heads, head_dim=spec.head_dim, vocab_size=spec.vocab_size,
        max_context=spec.max_context, ffn_size=0 if spec.is_moe else spec.ffn_size, sliding_window=spec.sliding_window,
        n_experts=spec.n_experts if spec.is_moe else 0, n_experts_used=spec.n_experts_used if spec.is_moe else 0,
        expert_ffn_size=spec.expert_ffn_size if spec.is_moe else 0, tied_embeddings=spec.tied_embeddings,
        license=lic, released=created.date().isoformat() if hasattr(created, "date") else None, uses=uses,
        format=fmt, quant=spec.quant if fmt != "safetensors" else None, src=src,
    )


def gguf_quant_sizes(siblings) -> dict[str, int]:
    """{quant: total bytes} of the GGUF files of a repo listing (split files summed, mmproj skipped)."""

    out: dict[str, int] = {}
    for s in siblings or []:
        name = getattr(s, "rfilename", None) or (s.get("rfilename") if isinstance(s, dict) else None)
        size = getattr(s, "size", None) if not isinstance(s, dict) else s.get("size")
        if not name or not name.lower().endswith(".gguf") or "mmproj" in name.lower() or size is None:
            continue
        stem = _SHARD.sub(".gguf", name.rsplit("/", 1)[-1])[: -len(".gguf")]
        m = None  # the last quant name in the stem
        for m in _GGUF_QUANT.finditer(stem):  # noqa: B007 (m is read after the loop)
            pass
        if m is None:
            continue
        try:
            q = normalize_quant(m.group(1))
        except LlmfitError:
            continue
        out[q] = out.get(q, 0) + int(size)
    return out


def _api():
    return HfApi()


def _hub_call(fn, *a, **kw):
    """Call huggingface_hub, mapping its errors to one-line LlmfitErrors."""

    try:
        return fn(*a, **kw)
    except GatedRepoError as exc:
        raise AuthRequiredError(f"gated repository: {exc.__class__.__name__} (log in with `hf auth login`)") from None
    except RepositoryNotFoundError:
        raise NotFoundError(f"not found on the Hub: {a[0] if a else 'repository'}") from None
    except HfHubHTTPError as exc:
        raise RemoteError(f"Hub error: {str(exc).splitlines()[0]}") from None
    except (OSError, ConnectionError) as exc:
        raise OfflineError(f"cannot reach the Hub ({exc.__class__.__name__}); set HF_ENDPOINT or try again online") from None
    except Exception as exc:  # httpx timeouts are not OSErrors
        if "Timeout" not in type(exc).__name__:
            raise
        raise OfflineError(f"the Hub did not answer in time ({exc.__class__.__name__}); try again later") from None


def _timeout() -> float:
    """Seconds per Hub request (LLMFIT_HTTP_TIMEOUT, default 20): huggingface_hub's API client waits forever."""

    return http_timeout()


MAX_CONFIG = 16 << 20  # a config.json larger than this is refused before it is downloaded


def fetch_entry(repo_id: str, api=None) -> CatalogEntry:
    """A validated catalog entry for a safetensors/MLX Hub repo (config.json + Hub metadata)."""

    api = api or _api()
    info = _hub_call(api.model_info, repo_id, expand=["safetensors", "tags", "createdAt", "config"],
                     timeout=_timeout())

    meta = _hub_call(get_hf_file_metadata, hf_hub_url(repo_id, "config.json"), timeout=_timeout())
    if meta.size is not None and meta.size > MAX_CONFIG:
        raise ModelReadError(f"{repo_id}: config.json is {meta.size} bytes; refusing more than {MAX_CONFIG >> 20} MiB")
    path = _hub_call(hf_hub_download, repo_id, "config.json", etag_timeout=_timeout())
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelReadError(f"{repo_id}: config.json unreadable ({exc})") from None
    spec = spec_from_config(config, repo_id)
    st = getattr(info, "safetensors", None)
    params = getattr(st, "total", None) if st is not None else None
    entry = entry_from_spec(spec, repo_id, info, params)
    validate_entry(entry)
    return entry


def _base_name(repo_id: str) -> str:
    base = repo_id.rsplit("/", 1)[-1]
    return re.sub(r"[-_.]gguf$", "", base, flags=re.I).lower()


def update_catalog(search: str | None = None, author: str | None = None, limit: int = 50, catalog=None,
                   progress=None, out_dir: Path | None = None, refresh_gguf: int = 0) -> UpdateResult:
    """Fetch models from the Hub into the user catalog (hub.jsonl); GGUF repos add exact per-quant sizes.

    `refresh_gguf`: also read the file list of the first GGUF repo of the N catalog models with the most
    GGUF repos (their quantizations and exact sizes replace the assumed set). `limit=0`: no listing.
    """

    if limit < 0 or limit > 5000:
        raise CatalogError(f"--limit must be between 0 and 5000, got {limit}")
    if refresh_gguf < 0 or refresh_gguf > 5000:
        raise CatalogError(f"--refresh-gguf must be between 0 and 5000, got {refresh_gguf}")
    api = _api()
    cat = catalog or load_catalog()
    listed = []
    if limit:
        listed = _hub_call(lambda: list(api.list_models(search=search, author=author, limit=limit)))  # lazy listing
    out_dir = out_dir or user_catalog_dir()
    path = out_dir / HUB_UPDATES
    existing = _read_jsonl(path)
    res = UpdateResult(path=str(path))
    gguf_repos = []
    for n, m in enumerate(listed, 1):
        rid = m.id
        if progress:
            progress(n, len(listed), rid)
        tags = set(getattr(m, "tags", None) or [])
        if "gguf" in tags or rid.lower().endswith("gguf"):
            gguf_repos.append(rid)
            continue
        try:
            e = fetch_entry(rid, api)
        except LlmfitError as exc:
            res.skipped.append(f"{rid}: {exc}")
            continue
        old = existing.get(e.id) or (cat.get(e.id).to_dict() if cat.get(e.id) else None)
        if old and old.get("gguf"):
            e.gguf = old["gguf"]
        existing[e.id] = e.to_dict()
        res.added.append(e.id)
    bases: dict[str, str] = {}
    if refresh_gguf:
        popular = sorted((e for e in cat.models if e.gguf), key=lambda e: (-len(e.gguf), e.id))[:refresh_gguf]
        for e in popular:
            rid = next((g["repo"] for g in e.gguf if g.get("quants") is None), None)
            if rid and rid not in gguf_repos:
                gguf_repos.append(rid)
                bases[rid] = e.id
    for rid in gguf_repos:
        try:
            info = _hub_call(api.model_info, rid, files_metadata=True, timeout=_timeout())
        except LlmfitError as exc:
            res.skipped.append(f"{rid}: {exc}")
            continue
        sizes = gguf_quant_sizes(info.siblings)
        if not sizes:
            res.skipped.append(f"{rid}: no GGUF files with a recognisable quantization")
            continue
        base = bases.get(rid) or _find_base(rid, cat, existing)
        if base is None:
            res.skipped.append(f"{rid}: no base model in the catalog for this GGUF repo")
            continue
        d = existing.get(base) or cat.get(base).to_dict()
        gg = [g for g in d.get("gguf", []) if g.get("repo", "").lower() != rid.lower()]
        gg.insert(0, {"repo": rid, "quants": sizes, "quants_source": "hub api (file sizes)"})
        d["gguf"] = gg
        d.setdefault("src", {})["gguf"] = "hub api"
        existing[base] = d
        res.updated.append(f"{base} <- {rid} ({len(sizes)} quants)")
    _write_jsonl(path, existing)
    clear_cache()
    return res


def _find_base(gguf_repo: str, cat, existing: dict) -> str | None:
    base = _base_name(gguf_repo)
    for mid in existing:
        if mid.rsplit("/", 1)[-1].lower() == base:
            return mid
    for e in cat.entries:
        if any(g.get("repo", "").lower() == gguf_repo.lower() for g in e.gguf):
            return e.id
    try:
        e = cat.find(base)
    except LlmfitError:
        return None
    return e.id if e else None


def _read_jsonl(path: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and isinstance(d.get("id"), str):
                out[d["id"]] = d
    return out


def _write_jsonl(path: Path, entries: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in entries.values()))
    tmp.replace(path)


def add_ref(ref: str, out_dir: Path | None = None) -> CatalogEntry:
    """Record a local model (GGUF file, model dir or config.json) or a Hub repo in the user catalog."""

    p = Path(ref).expanduser()
    if p.exists():
        if p.is_file() and p.suffix.lower() == ".gguf":
            spec = read_gguf(str(p))
            entry = entry_from_spec(spec, f"local:{p.stem}")
            entry.gguf = [{"repo": str(p.resolve()), "quants": {spec.quant or "unknown": p.stat().st_size},
                           "quants_source": "local file size"}]
        else:
            if not (p.is_dir() or p.is_file()):  # a FIFO would block, a device would be read without end
                raise ModelReadError(f"{p}: not a regular file or directory (a device, pipe or socket?)")

            cfg_path = p / "config.json" if p.is_dir() else p
            config = _read_json(str(cfg_path))

            name = (p if p.is_dir() else p.parent).name
            spec = spec_from_config(config, f"local:{name}")
            entry = entry_from_spec(spec, f"local:{name}")
        entry.src["*"] = f"local: {p.resolve()}"
        validate_entry(entry)
    elif re.fullmatch(r"[\w.\-]+/[\w.\-]+", ref):
        entry = fetch_entry(ref)
    else:
        raise CatalogError(f"{ref!r} is neither an existing local path nor a Hub repo id org/name")
    path = (out_dir or user_catalog_dir()) / "added.jsonl"
    try:
        entries = _read_jsonl(path)
        entries[entry.id] = entry.to_dict()
        _write_jsonl(path, entries)
    except OSError as exc:  # an unwritable data dir (LLMFIT_DATA_DIR) is the user's to fix: say where
        raise CatalogError(f"cannot write the user catalog {path}: {exc.strerror or exc}") from None
    clear_cache()
    return entry
