"""Hub listings annotated for this machine: `llmfit hf search` (many repos) and `llmfit hf ls` (one repo).

Quick by default: search is one `list_models` call (with the `gguf`/`safetensors`/`config`/`siblings`
expansions) plus one tiny config.json per safetensors repo, fetched in parallel; ls is one
`model_info(files_metadata=True)` call plus ONE header (the smallest GGUF variant: the architecture is
the same for all variants; each variant's weights come from its file size). `exact=True` reads every
variant's header (GGUF) or every safetensors header.
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass, field

from llmfit_core.api import fit_spec
from llmfit_core.companions import Companion, best_sibling
from llmfit_core.errors import AuthRequiredError, LlmfitError, OfflineError
from llmfit_core.hardware.registry import resolve_hardware
from llmfit_core.memory import fmt_bytes
from llmfit_core.model_spec import ModelSpec
from llmfit_core.plugin_types import ModelRef
from llmfit_core.quant import apply_quant, quant_fact
from llmfit_core.scoring import quant_pick_points
from llmfit_hf import hub
from llmfit_hf.files import gguf_variants, safetensors_files
from llmfit_hf.resolver import (
    RepoListing,
    _scale_weights,
    config_spec,
    fetch_config,
    gguf_spec,
    guessed_spec,
    listing_from_info,
    read_projector,
    repo_listing,
    safetensors_spec,
)

SEARCH_EXPAND = ["author", "downloads", "likes", "tags", "library_name", "pipeline_tag", "gguf", "safetensors",
                 "config", "siblings", "sha", "gated"]
# what-if quantizations tried for "best quant for this machine", best quality first
WHAT_IF = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


@dataclass
class Row:
    """One annotated line of a listing (a repo, or one GGUF/MLX file of a repo)."""

    repo_id: str
    file: str = ""
    quant: str | None = None
    kind: str = ""
    size_bytes: int | None = None
    verdict: str | None = None
    fits: bool | None = None
    memory_bytes: int | None = None
    decode_tok_s: float | None = None
    score: int | None = None
    best_quant: str | None = None
    exact: bool = False
    downloads: int | None = None
    note: str = ""
    mmproj: str | None = None  # the vision projector counted with this file (llama-server -hf loads it)
    mmproj_bytes: int | None = None
    report: object | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "repo": self.repo_id, "file": self.file or None, "quant": self.quant, "kind": self.kind,
            "size_bytes": self.size_bytes, "verdict": self.verdict, "fits": self.fits,
            "memory_bytes": self.memory_bytes,
            "decode_tok_s": None if self.decode_tok_s is None else round(self.decode_tok_s, 2),
            "score": self.score, "best_quant": self.best_quant, "exact": self.exact,
            "downloads": self.downloads, "note": self.note, "mmproj": self.mmproj, "mmproj_bytes": self.mmproj_bytes,
        }


class Annotator:
    """Runs the predictor for specs against one hardware profile (resolved once)."""

    def __init__(self, hardware=None, context=None):
        self.context = context
        self.error = None
        try:
            self.hardware = resolve_hardware(hardware)
        except LlmfitError:
            raise
        except Exception as exc:  # predictor not available: listings still show sizes
            self.hardware = hardware
            self.error = f"predictor unavailable ({type(exc).__name__}: {exc})"

    def fit(self, spec: ModelSpec, mmproj: Companion | None = None):
        """(FitReport, None) or (None, one-line reason). `mmproj`: a vision projector loaded beside the model."""
        if self.error:
            return None, self.error
        try:
            return fit_spec(spec, hardware=self.hardware, context=self.context, mmproj=mmproj), None
        except LlmfitError as exc:
            return None, str(exc)
        except Exception as exc:  # one model the predictor chokes on must not sink the listing
            return None, f"predictor failed: {type(exc).__name__}: {exc}"

    def fill(self, row: Row, spec: ModelSpec, mmproj: Companion | None = None) -> Row:
        rep, err = self.fit(spec, mmproj)
        row.exact = bool(spec.exact)
        if rep is None:
            row.note = (row.note + "; " if row.note else "") + (err or "")
            return row
        if mmproj is not None:
            row.mmproj, row.mmproj_bytes = mmproj.name, mmproj.total_bytes
            row.note = (row.note + "; " if row.note else "") + projector_note(mmproj)
        row.report = rep
        row.verdict, row.fits, row.score = rep.verdict, rep.fits, rep.score
        row.memory_bytes = rep.memory.total_bytes
        row.decode_tok_s = rep.decode_tok_s
        return row


def _pick_key(r: Row) -> tuple:
    """Sort key of a row as the pick for this machine (higher is better).

    Rows that fit: the quantization choice of `recommend` (scoring.quant_pick_points: quality lost to
    quantization against headroom and decode speed), ties (to 0.1) to the smaller file. So an F16 that decodes at
    half the speed of a Q8_0 of the same quality is not "best here". Nothing fits: the smallest is the closest."""
    points = quant_pick_points(r.quant, r.verdict, r.decode_tok_s)
    if points is None:
        return (0, -(r.size_bytes or 0))
    return (1, round(points, 1), -(r.size_bytes or 0))


def _better(a: Row, b: Row | None) -> bool:
    """Is `a` a better pick for this machine than `b`? (see _pick_key)"""
    return b is None or _pick_key(a) > _pick_key(b)


def mark_best(rows: list[Row]) -> str | None:
    best = None
    for r in rows:
        if r.verdict is not None and _better(r, best):
            best = r
    if best is None or best.verdict == "no-fit":
        return None
    for r in rows:
        r.best_quant = best.quant or best.file
    return best.quant or best.file


def _what_if_best(spec: ModelSpec, ann: Annotator) -> str | None:
    """Best quantization of a safetensors model for this machine (what-if via quant.apply_quant)."""
    if not getattr(spec, "tensors", None):
        return None
    rows = []
    for q in WHAT_IF:
        try:
            s = apply_quant(spec, q)
        except Exception:
            continue
        r = ann.fill(Row(spec.ref, quant=q, size_bytes=s.weight_bytes), s)
        rows.append(r)
    return mark_best(rows)


# -- vision projectors ---------------------------------------------------------------------------


def projector_note(comp: Companion) -> str:
    """What a row's memory counts besides the model: the projector, by name and size."""
    return f"+ vision projector {comp.name} ({fmt_bytes(comp.total_bytes)}), as llama-server -hf loads it"


class Projectors:
    """The vision projector `llama-server -hf` loads beside each model file of one repo (llama.cpp's
    find_best_sibling over `candidates`, by default every file of the repo), each header read once."""

    def __init__(self, listing: RepoListing, revision: str | None = None, candidates=None):
        self.listing, self.revision = listing, revision
        self.candidates = list(listing.files if candidates is None else candidates)
        self.read: dict[str, Companion | str] = {}  # file -> companion, or why it could not be read

    def pick(self, model_file: str) -> str | None:
        return best_sibling(self.candidates, model_file)

    def companion(self, model_file: str) -> tuple[Companion | None, str]:
        """(the projector for `model_file` or None, a note when there is one that could not be read)."""
        name = self.pick(model_file)
        if name is None:
            return None, ""
        if name not in self.read:
            try:
                self.read[name] = read_projector(self.listing.repo_id, name, self.revision)
            except (AuthRequiredError, OfflineError):
                raise
            except LlmfitError as exc:
                self.read[name] = f"vision projector {name} not counted: {' '.join(str(exc).split())[:160]}"
        got = self.read[name]
        return (got, "") if isinstance(got, Companion) else (None, got)


def projector_for(listing: RepoListing, model_file: str, revision: str | None = None) -> Companion | None:
    """The projector `llama-server -hf` would load beside `model_file` in this repo, or None (`fit --mmproj auto`)."""
    comp, why = Projectors(listing, revision).companion(model_file)
    if why:
        raise LlmfitError(why)
    return comp


# -- one repo ----------------------------------------------------------------------------------


def ls_repo(repo_id: str, revision: str | None = None, exact: bool = False, hardware=None, context=None,
            annotator: Annotator | None = None, mmproj: bool = True) -> list[Row]:
    """Annotated rows for one repo: one per GGUF variant, or one for the safetensors/MLX weights.

    A GGUF row counts the vision projector `llama-server -hf` loads with it (`mmproj=False`: text only, as
    llama-server --no-mmproj)."""
    listing = repo_listing(repo_id, revision)
    return _annotate_listing(listing, revision, exact, annotator or Annotator(hardware, context), mmproj)


def _annotate_listing(listing: RepoListing, revision, exact: bool, ann: Annotator, mmproj: bool = True) -> list[Row]:
    kind = listing.kind
    rows: list[Row] = []
    if kind == "gguf":
        variants = listing.variants
        projectors = Projectors(listing, revision)
        base = None
        for v in variants:
            row = Row(listing.repo_id, v.label, v.quant, "gguf", v.size, downloads=listing.downloads)
            try:
                if exact or base is None:
                    spec = gguf_spec(listing, v, revision)
                    base = base or spec
                else:
                    spec = gguf_spec(listing, v, revision, base=base)
            except LlmfitError as exc:
                if isinstance(exc, hub_auth_errors()):
                    raise
                row.note = str(exc)
                rows.append(row)
                continue
            comp, why = projectors.companion(v.first) if mmproj else (None, "")
            row.note = why
            rows.append(ann.fill(row, spec, comp))
        mark_best(rows)
        return rows
    if kind in ("safetensors", "mlx"):
        weights = safetensors_files(listing.files)
        size = sum(listing.files[w] or 0 for w in weights) or None
        row = Row(listing.repo_id, f"{len(weights)} safetensors file(s)", None, kind, size, downloads=listing.downloads)
        spec = safetensors_spec(listing, revision, exact=True)  # one small header read per shard
        row.quant = spec.quant
        ann.fill(row, spec)
        if kind == "safetensors":
            row.best_quant = _what_if_best(spec, ann)
        else:
            row.best_quant = row.quant if row.verdict and row.verdict != "no-fit" else None
        return [row]
    return [Row(listing.repo_id, "", None, kind, sum(s or 0 for s in listing.files.values()),
                downloads=listing.downloads, note="no GGUF or safetensors weights")]


def hub_auth_errors():
    return (AuthRequiredError, OfflineError)


# -- search ------------------------------------------------------------------------------------


def _list_models(query: str, limit: int, author: str | None = None):
    with hub.hub_errors(f"search {query!r}"):
        # list_models retries network errors with backoff (~25 s when offline): probe once, without retries
        h = hub.hf()
        h.get_session().get(f"{h.constants.ENDPOINT}/api/models", params={"limit": 1}, headers=hub.token_headers(),
                            timeout=hub.request_timeout())
        return list(hub.api().list_models(search=query or None, author=author, limit=limit, expand=SEARCH_EXPAND))


def search_refs(query: str, limit: int = 20) -> list[ModelRef]:
    """Hub search results as ModelRefs (for the `llmfit_list_models` hook)."""
    out = []
    for info in _list_models(query, limit):
        listing = listing_from_info(info)
        kind = listing.kind
        if kind == "gguf":
            for v in listing.variants:
                out.append(ModelRef(ref=f"{info.id}:{v.quant}" if v.quant else info.id, source="huggingface",
                                    name=info.id, file=v.first, quant=v.quant, size_bytes=v.size, format="gguf"))
        else:
            out.append(ModelRef(ref=info.id, source="huggingface", name=info.id, format=kind,
                                extra={"downloads": info.downloads}))
    return out


def search(query: str, limit: int = 20, exact: bool = False, hardware=None, context=None) -> list[Row]:
    """Annotated Hub search: one row per repo (its best quant for this machine)."""
    if limit < 1 or limit > 500:
        raise LlmfitError("--limit must be between 1 and 500")
    ann = Annotator(hardware, context)
    infos = _list_models(query, limit)
    listings = [listing_from_info(i) for i in infos]

    def one(listing: RepoListing) -> list[Row]:
        try:
            if exact:
                full = repo_listing(listing.repo_id)
                rows = _annotate_listing(full, None, True, ann)
            else:
                rows = _quick_rows(listing, ann)
        except LlmfitError as exc:
            return [Row(listing.repo_id, kind=listing.kind, downloads=listing.downloads, note=str(exc))]
        return rows

    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        per_repo = list(pool.map(one, listings))
    out = []
    for listing, rows in zip(listings, per_repo):
        row = _summary(rows)
        if listing.gated:
            row.note = "gated: accept the terms on the Hub, log in" + ("; " + row.note if row.note else "")
        out.append(row)
    return out


def _summary(rows: list[Row]) -> Row:
    """The repo's row: its best variant (or the first one when nothing fits)."""
    best = None
    for r in rows:
        if r.verdict is not None and _better(r, best):
            best = r
    pick = best or rows[0]
    if len(rows) > 1:
        pick.note = (pick.note + "; " if pick.note else "") + f"{len(rows)} files"
    return pick


def _quick_rows(listing: RepoListing, ann: Annotator) -> list[Row]:
    """Rows from the search payload alone (+ config.json for safetensors repos): no header reads."""
    kind = listing.kind
    if kind == "gguf":
        g = listing.gguf or {}
        params = g.get("total")
        rows = []
        for v in gguf_variants(listing.files):
            row = Row(listing.repo_id, v.label, v.quant, "gguf", v.size, downloads=listing.downloads)
            if not params:
                row.note = "the Hub gives no parameter count; use --exact"
                rows.append(row)
                continue
            try:
                bits = quant_fact(v.quant).bits if v.quant else 4.8
            except Exception:
                bits = 4.8
            est = int(params * bits / 8)
            row.size_bytes = v.size or est
            spec = guessed_spec(f"{listing.repo_id}:{v.quant}", params, g.get("architecture", "llama"),
                                g.get("context_length"), v.quant, v.size or est)
            rows.append(ann.fill(row, spec))
        mark_best(rows)
        return rows or [Row(listing.repo_id, kind=kind, downloads=listing.downloads, note="no GGUF files")]
    if kind in ("safetensors", "mlx"):
        if "config.json" not in listing.files:
            return [Row(listing.repo_id, kind=kind, downloads=listing.downloads, note="no config.json")]
        cfg = fetch_config(listing.repo_id, size=listing.files.get("config.json"))
        spec = config_spec(cfg, listing.repo_id)
        st = listing.safetensors or {}
        nbytes = _bytes_from_param_counts(st.get("parameters") or {})
        if nbytes:
            _scale_weights(spec, nbytes)
        if kind == "mlx":
            spec.format = "mlx"
            q = cfg.get("quantization") or {}
            if q.get("bits"):
                spec.quant = f"MLX-{q['bits']}bit"
        row = Row(listing.repo_id, "", spec.quant, kind, nbytes or None, downloads=listing.downloads)
        ann.fill(row, spec)
        row.best_quant = _what_if_best(spec, ann) if kind == "safetensors" else (
            row.quant if row.verdict and row.verdict != "no-fit" else None)
        return [row]
    return [Row(listing.repo_id, kind=kind, downloads=listing.downloads, note="no GGUF or safetensors weights")]


_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}


def _bytes_from_param_counts(params: dict) -> int:
    """Exact weight bytes from the Hub's safetensors parameter counts per dtype."""
    return int(sum(n * _DTYPE_BYTES.get(d.upper(), 2) for d, n in params.items()))
