"""Hub repo → ModelSpec, reading only metadata and headers.

- one `model_info(files_metadata=True)` call: file list with sizes, the Hub's `gguf`/`safetensors`
  expansions, the commit sha;
- GGUF repos: the variant for `quant`/`file` (split GGUF: first shard read, all shards summed), its header
  by explicit small Range requests (readers' HTTPRangeSource, capped), never the tensor data;
- safetensors / MLX repos: `config.json` (tiny) + `get_safetensors_metadata` (exact bytes per tensor).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from llmfit_core.companions import Companion, mmproj_from_header
from llmfit_core.errors import AuthRequiredError, ModelReadError, NotFoundError, OfflineError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import apply_quant
from llmfit_core.readers.gguf import read_gguf, read_gguf_url
from llmfit_core.readers.gguf_header import read_gguf_header as gguf_header
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.readers.source import HTTPRangeSource
from llmfit_hf import hub
from llmfit_hf.files import GGUFVariant, canonical_quant, gguf_variants, pick_variant, safetensors_files

HEADER_CAP = 64 << 20  # bytes a GGUF header read may transfer at most (a 256k vocab + merges is ~15 MB)
CONFIG_CAP = 4 << 20


@dataclass
class RepoListing:
    """What one `model_info(files_metadata=True)` call tells about a repo."""

    repo_id: str
    sha: str | None
    files: dict[str, int | None]
    gguf: dict | None = None  # Hub expansion: total (params), architecture, context_length
    safetensors: dict | None = None  # Hub expansion: parameters {dtype: n}, total
    config: dict | None = None  # Hub's subset of config.json
    tags: list[str] = field(default_factory=list)
    library: str | None = None
    gated: bool = False
    downloads: int | None = None

    @property
    def variants(self) -> list[GGUFVariant]:
        return gguf_variants(self.files)

    @property
    def kind(self) -> str:
        """gguf | mlx | safetensors | other."""
        if self.variants:
            return "gguf"
        if safetensors_files(self.files):
            cfg = self.config or {}
            if (self.library == "mlx" or "mlx" in self.tags or "quantization" in cfg
                    or "quantization" in (cfg.get("quantization_config") or {})):
                return "mlx"
            return "safetensors"
        return "other"


def listing_from_info(info) -> RepoListing:
    files = {s.rfilename: (s.lfs.size if s.lfs is not None else s.size) for s in (info.siblings or [])}
    for name in files:
        hub.check_filename(name)
    return RepoListing(
        repo_id=info.id,
        sha=info.sha,
        files=files,
        gguf=getattr(info, "gguf", None),
        safetensors=({"parameters": dict(info.safetensors.parameters), "total": info.safetensors.total}
                     if getattr(info, "safetensors", None) else None),
        config=getattr(info, "config", None),
        tags=list(info.tags or []),
        library=getattr(info, "library_name", None),
        gated=bool(getattr(info, "gated", False)),
        downloads=getattr(info, "downloads", None),
    )


def repo_listing(repo_id: str, revision: str | None = None) -> RepoListing:
    """File list with sizes (and the Hub's expansions) of one repo: one API call."""
    hub.check_repo_id(repo_id)
    with hub.hub_errors(repo_id):
        info = hub.api().model_info(repo_id, revision=revision, files_metadata=True,
                                     timeout=hub.request_timeout())
    return listing_from_info(info)


# -- GGUF ------------------------------------------------------------------------------------------


def read_gguf_header(repo_id: str, filename: str, revision: str | None = None, ref: str | None = None) -> ModelSpec:
    """ModelSpec from a GGUF header on the Hub by capped Range requests (no tensor data).

    A split GGUF (`...-00001-of-0000N.gguf`) reads every shard's header and sums them (readers.gguf).
    """
    hub.check_filename(filename)
    url = hub.file_url(repo_id, filename, revision)
    with hub.hub_errors(f"{repo_id}/{filename}"):
        return read_gguf_url(url, ref=ref or f"{repo_id}/{filename}", headers=hub.token_headers(),
                             max_bytes=HEADER_CAP, timeout=hub.request_timeout())


def read_projector(repo_id: str, filename: str, revision: str | None = None) -> Companion:
    """A vision projector (mmproj GGUF) on the Hub as a companion, from its header by capped Range requests."""
    hub.check_filename(filename)
    url = hub.file_url(repo_id, filename, revision)
    with hub.hub_errors(f"{repo_id}/{filename}"):
        header = gguf_header(HTTPRangeSource(url, headers=hub.token_headers(), timeout=hub.request_timeout(),
                                             max_bytes=HEADER_CAP))
    return mmproj_from_header(header, filename)


def gguf_spec(listing: RepoListing, variant: GGUFVariant, revision: str | None = None,
              base: ModelSpec | None = None) -> ModelSpec:
    """The spec of one GGUF variant: its own header, or `base` (another variant's header) scaled by size."""
    ref = f"{listing.repo_id}:{variant.quant}" if variant.quant else f"{listing.repo_id}/{variant.first}"
    if base is None:
        spec = read_gguf_header(listing.repo_id, variant.first, revision, ref=ref)
    else:
        spec = copy.deepcopy(base)
        if hasattr(spec, "tensors"):
            spec.tensors = None  # the per-tensor types belong to the other file
        spec.tensor_types = {}
        overhead = max(0, (base.file_bytes or 0) - (base.weight_bytes or 0))
        if variant.size:
            _scale_weights(spec, max(1, variant.size - overhead))
        spec.quant = variant.quant
        spec.exact = False
        spec.source = "gguf-header+size"
        spec.notes = [n for n in spec.notes if "scaled" not in n] + [
            f"architecture from {base.files[0] if base.files else 'another file'}; weights from this file's size"]
        spec.ref = ref
    spec.format = "gguf"
    spec.file_bytes = variant.size if variant.size is not None else spec.file_bytes
    spec.files = list(variant.files)
    if variant.quant and not spec.quant:
        spec.quant = variant.quant
    spec.metadata = {**(spec.metadata or {}), "hf_repo": listing.repo_id, "hf_revision": listing.sha}
    return spec


def _scale_weights(spec: ModelSpec, new_total: int) -> None:
    old = spec.weight_bytes or 0
    if old <= 0:
        spec.weight_bytes = int(new_total)
        return
    f = new_total / old
    spec.weight_bytes = int(new_total)
    spec.group_bytes = {k: int(v * f) for k, v in (spec.group_bytes or {}).items()}
    spec.layer_bytes = [int(v * f) for v in (spec.layer_bytes or [])]


# -- safetensors / MLX ---------------------------------------------------------------------------


def fetch_config(repo_id: str, revision: str | None = None, size: int | None = None) -> dict:
    """config.json of a repo, at most CONFIG_CAP bytes.

    With `size` known (from the file listing) it goes through hf_hub_download, so it is cached for offline
    use; a hostile multi-GB "config.json" is refused before any byte. With the size unknown (search
    results) it is streamed and cut off at the cap.
    """
    if size is not None and size > CONFIG_CAP:
        raise ModelReadError(f"{repo_id}/config.json is {size} bytes; refusing more than {CONFIG_CAP >> 20} MiB")
    h = hub.hf()
    with hub.hub_errors(f"{repo_id}/config.json"):
        if size is not None:
            with open(h.hf_hub_download(repo_id, "config.json", revision=revision), "rb") as fh:
                raw = fh.read(CONFIG_CAP + 1)
        else:
            raw = _stream_capped(hub.file_url(repo_id, "config.json", revision), CONFIG_CAP)
    if len(raw) > CONFIG_CAP:
        raise ModelReadError(f"{repo_id}/config.json is larger than {CONFIG_CAP >> 20} MiB")
    try:
        cfg = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelReadError(f"{repo_id}/config.json is not valid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise ModelReadError(f"{repo_id}/config.json is not a JSON object")
    return cfg


def _stream_capped(url: str, cap: int) -> bytes:
    """GET `url` with huggingface_hub's session and token headers, reading at most cap+1 bytes."""
    h = hub.hf()
    buf = bytearray()
    with h.get_session().stream("GET", url, headers=hub.token_headers(), follow_redirects=True,
                                timeout=hub.request_timeout()) as resp:
        if resp.status_code >= 400:
            resp.read()
            h.utils.hf_raise_for_status(resp)
        for chunk in resp.iter_bytes():
            buf += chunk
            if len(buf) > cap:
                break
    return bytes(buf)


def config_spec(config: dict, ref: str, quant: str | None = None) -> ModelSpec:
    return spec_from_config(config, ref, quant=quant)


def safetensors_spec(listing: RepoListing, revision: str | None = None, exact: bool = True,
                     config: dict | None = None) -> ModelSpec:
    """Spec of a transformers/MLX repo: config.json shape + exact tensor bytes from the safetensors headers."""
    repo = listing.repo_id
    if "config.json" not in listing.files:
        raise NotFoundError(f"{repo} has no config.json and no GGUF file: cannot tell its architecture")
    cfg = config if config is not None else fetch_config(repo, revision, listing.files.get("config.json"))
    weights = safetensors_files(listing.files)
    file_bytes = sum(listing.files[w] or 0 for w in weights) or None
    if exact and weights:
        # every shard's header by capped Range reads (readers.safetensors): exact bytes per tensor group
        from llmfit_core.readers.safetensors import read_safetensors_model  # lazy: start-up time (`fit` of a GGUF)

        urls = [hub.file_url(repo, w, revision) for w in weights]
        with hub.hub_errors(repo):
            spec = read_safetensors_model(urls, config=cfg, ref=repo)
    else:
        spec = config_spec(cfg, repo)
        if file_bytes:
            spec.notes.append("weights from the safetensors file sizes")
            _scale_weights(spec, file_bytes)
    spec.file_bytes = file_bytes
    spec.files = weights
    if listing.kind == "mlx" or "quantization" in cfg:
        spec.format = "mlx"
        q = cfg.get("quantization") or cfg.get("quantization_config") or {}
        if q.get("bits") and not (spec.quant or "").startswith("MLX"):
            spec.quant = f"MLX-{q['bits']}bit"
    elif spec.format in ("unknown", "config"):
        spec.format = "safetensors"
    spec.metadata = {**(spec.metadata or {}), "hf_repo": repo, "hf_revision": listing.sha}
    return spec


# -- entry point ---------------------------------------------------------------------------------


def resolve_repo(repo_id: str, quant: str | None = None, file: str | None = None, revision: str | None = None,
                 exact: bool = True) -> ModelSpec:
    """ModelSpec for `org/name` on the Hub (GGUF variant by quant/file, or safetensors/MLX weights).

    Without network (OfflineError) the local Hugging Face cache is used when it holds the model.
    """
    try:
        listing = repo_listing(repo_id, revision)
    except OfflineError as exc:
        spec = resolve_from_cache(repo_id, quant, file, revision)
        if spec is None:
            raise OfflineError(f"{exc}; {repo_id} is not in the local Hugging Face cache either") from None
        return spec
    if file:
        hub.check_filename(file)
    kind = listing.kind
    if kind == "gguf":
        variant = pick_variant(listing.variants, quant, file, repo_id)
        return gguf_spec(listing, variant, revision)
    if file and file not in listing.files:
        raise NotFoundError(f"{file!r} is not a file of {repo_id} (renamed?)")
    if kind in ("safetensors", "mlx"):
        try:
            spec = safetensors_spec(listing, revision, exact=exact)
        except NotFoundError as exc:  # a gated repo lists its files to anyone but serves them only after login
            if listing.gated:
                raise AuthRequiredError(f"{repo_id} is a gated repo ({exc}): accept its terms on the Hub, then "
                                        f"{hub.LOGIN_HINT}", 401) from None
            raise
        if quant and kind == "safetensors":
            spec = apply_quant(spec, canonical_quant(quant))
        return spec
    if "config.json" in listing.files:
        spec = config_spec(fetch_config(repo_id, revision), repo_id, quant=quant)
        spec.notes.append("no weight files found: figures derived from config.json")
        return spec
    raise NotFoundError(f"{repo_id} has neither GGUF nor safetensors weights nor a config.json")


# -- offline: the local Hugging Face cache ----------------------------------------------------


def cached_listing(repo_id: str, revision: str | None = None):
    """(RepoListing of the complete files in the local HF cache, snapshot path) or None (huggingface_hub.scan_cache_dir)."""
    try:
        h = hub.hf()
        from huggingface_hub import constants  # lazy: optional runner (without it only this adapter stands aside)

        cache = Path(constants.HF_HUB_CACHE)
        # the cache keeps a repo in models--ORG--NAME; when that is missing the scan cannot find it, and
        # skipping it saves importing huggingface_hub's cache manager (~0.1 s of `fit --offline`'s start-up)
        sep = constants.REPO_ID_SEPARATOR
        if not (cache / f"models{sep}{repo_id.replace('/', sep)}").is_dir():
            return None
        info = h.scan_cache_dir(cache)
    except Exception:
        return None
    for repo in info.repos:
        if repo.repo_id != repo_id or repo.repo_type != "model" or not repo.revisions:
            continue
        want = revision or "main"
        rev = max(repo.revisions, key=lambda r: (want in r.refs or r.commit_hash == want, r.last_modified))
        files = {f.file_path.relative_to(rev.snapshot_path).as_posix(): f.size_on_disk for f in rev.files}
        return RepoListing(repo_id, rev.commit_hash, files), rev.snapshot_path
    return None


def resolve_from_cache(repo_id: str, quant: str | None = None, file: str | None = None,
                       revision: str | None = None) -> ModelSpec | None:
    """ModelSpec from files already in the local HF cache (offline), or None when the cache has no model."""
    found = cached_listing(repo_id, revision)
    if found is None:
        return None
    listing, snapshot = found
    note = "read from the local Hugging Face cache (offline)"
    if listing.kind == "gguf":
        variant = pick_variant(listing.variants, quant, file, repo_id)
        spec = read_gguf(str(snapshot / variant.first), ref=f"{repo_id}:{variant.quant}" if variant.quant else repo_id)
        spec.format, spec.file_bytes, spec.files = "gguf", variant.size, list(variant.files)
        spec.notes.append(note)
        return spec
    if "config.json" in listing.files:
        with open(snapshot / "config.json", encoding="utf-8") as fh:
            cfg = json.load(fh)
        spec = config_spec(cfg, repo_id, quant=quant)
        weights = safetensors_files(listing.files)
        if weights:
            spec.file_bytes = sum(listing.files[w] or 0 for w in weights)
            spec.files = weights
        spec.notes.append(note)
        return spec
    return None


# -- shape guess for quick listings (no header read) -------------------------------------------

# (params, hidden, layers, heads, kv_heads, head_dim, ffn): common dense decoder shapes
_SHAPES = [
    (0.5e9, 896, 24, 14, 2, 64, 4864),
    (1.2e9, 2048, 16, 32, 8, 64, 8192),
    (3.2e9, 3072, 28, 24, 8, 128, 8192),
    (8.0e9, 4096, 32, 32, 8, 128, 14336),
    (14e9, 5120, 48, 40, 8, 128, 13824),
    (32e9, 5120, 64, 40, 8, 128, 27648),
    (70e9, 8192, 80, 64, 8, 128, 28672),
    (405e9, 16384, 126, 128, 8, 128, 53248),
]


def guessed_spec(ref: str, params: int, arch: str, context: int | None, quant: str | None,
                 file_bytes: int | None, fmt: str = "gguf") -> ModelSpec:
    """A spec from a parameter count alone (Hub `gguf.total`): the nearest common shape. Marked as a guess."""
    p, hidden, layers, heads, kv, hd, ffn = min(_SHAPES, key=lambda s: abs(math.log(max(params, 1) / s[0])))
    weight = int(file_bytes) if file_bytes else int(params * 0.6)  # ~4.8 bits/weight when the size is unknown
    per_layer = int(weight * 0.9 / layers)
    return ModelSpec(
        ref=ref, arch=arch or "llama", params=int(params), active_params=int(params), n_layers=layers,
        hidden_size=hidden, n_heads=heads, n_kv_heads=kv, head_dim=hd, vocab_size=128000,
        max_context=int(context or 4096), ffn_size=ffn, format=fmt, quant=quant, file_bytes=file_bytes,
        weight_bytes=weight, group_bytes={"token_embd": int(weight * 0.05), "output": int(weight * 0.05),
                                          "attn": int(weight * 0.2), "ffn": weight - int(weight * 0.3)},
        layer_bytes=[per_layer] * layers, source="hub-size", exact=False,
        notes=[f"architecture guessed from the parameter count ({params / 1e9:.1f}B); use --exact for headers"],
    )
