"""The pre-download check: which model files a download would fetch (dry run), and do they fit here.

Used by `llmfit hf download ARGS...`, the `hf fit download ARGS...` extension and the Python guard.
The plan comes from huggingface_hub itself (`hf_hub_download` / `snapshot_download` with `dry_run=True`,
the calls `hf download` makes), so it is exactly what would be downloaded; files already cached are
not checked again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmfit_core.downloads import CheckedModel, CheckResult, PlannedFile, consult_plugins
from llmfit_core.errors import AuthRequiredError, LlmfitError, NotFoundError, OfflineError
from llmfit_hf import hub
from llmfit_hf.files import gguf_variants, safetensors_files

# weight-like files: what the check is about (config/tokenizer files are always allowed through)
WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npz", ".h5", ".msgpack", ".onnx")


@dataclass
class DownloadArgs:
    """The arguments of `hf download` that decide what is fetched."""

    repo_id: str
    filenames: list[str] = field(default_factory=list)
    include: list[str] | None = None
    exclude: list[str] | None = None
    revision: str | None = None
    repo_type: str | None = None
    cache_dir: str | None = None
    local_dir: str | None = None
    token: str | None = None
    force_download: bool = False
    dry_run: bool = False


_FLAGS_WITH_VALUE = {"--include", "--exclude", "--revision", "--repo-type", "--cache-dir", "--local-dir", "--token",
                     "--max-workers", "--format"}
_BOOL_FLAGS = {"--force-download", "--dry-run", "--quiet", "-q"}


def parse_download_args(args: list[str]) -> DownloadArgs:
    """Parse the `hf download` argument list (the same options, `--opt value` or `--opt=value`)."""
    pos: list[str] = []
    opts: dict[str, list[str]] = {}
    flags: set[str] = set()
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if a.startswith("-") and a != "-":
            name, eq, val = a.partition("=")
            if name in _FLAGS_WITH_VALUE:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise LlmfitError(f"hf download: {name} needs a value")
                    val = args[i]
                opts.setdefault(name, []).append(val)
            elif name in _BOOL_FLAGS:
                flags.add(name)
            # unknown options are left to `hf download` itself
        else:
            pos.append(a)
        i += 1
    if not pos:
        raise LlmfitError("hf download: missing REPO_ID (usage: llmfit hf download ORG/NAME [FILES...] [OPTIONS])")
    repo = pos[0]
    revision = (opts.get("--revision") or [None])[-1]
    repo_type = (opts.get("--repo-type") or [None])[-1]
    files = pos[1:]
    if repo.startswith("hf://"):
        from huggingface_hub.utils import parse_hf_uri  # lazy: optional runner

        uri = parse_hf_uri(repo)
        repo, repo_type, revision = uri.id, uri.type, uri.revision
        if uri.path_in_repo:
            files = [uri.path_in_repo + ("/" if pos[0].endswith("/") else "")]
    _check_repo_arg(repo)
    for f in files:
        hub.check_filename(f.rstrip("/") or "x")
    return DownloadArgs(
        repo_id=repo, filenames=files, include=opts.get("--include"), exclude=opts.get("--exclude"),
        revision=revision, repo_type=repo_type, cache_dir=(opts.get("--cache-dir") or [None])[-1],
        local_dir=(opts.get("--local-dir") or [None])[-1], token=(opts.get("--token") or [None])[-1],
        force_download="--force-download" in flags, dry_run="--dry-run" in flags,
    )


def _check_repo_arg(repo: str) -> None:
    """A REPO_ID `hf download` would accept (`name` or `org/name`, Hub-legal characters), else one clear error."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id  # lazy: optional runner

    try:
        validate_repo_id(repo)
    except HFValidationError:
        raise LlmfitError(f"hf download: {repo[:100]!r} is not a Hugging Face repo id (expected ORG/NAME)") from None


def plan_download(d: DownloadArgs, hf_hub_download=None, snapshot_download=None) -> list[PlannedFile]:
    """What `hf download` would fetch, from huggingface_hub's own dry run (same branching as the CLI)."""
    h = hub.hf()
    hf_hub_download = hf_hub_download or h.hf_hub_download
    snapshot_download = snapshot_download or h.snapshot_download
    subfolders = [f for f in d.filenames if f.endswith("/")]
    regular = [f for f in d.filenames if not f.endswith("/")]
    common = dict(repo_type=d.repo_type, revision=d.revision, cache_dir=d.cache_dir, local_dir=d.local_dir,
                  token=d.token, force_download=d.force_download, dry_run=True)
    with hub.hub_errors(d.repo_id):
        if not h.constants.HF_HUB_OFFLINE:
            # the dry run retries a silent Hub for minutes (and its repo_info call has no timeout at all):
            # one quick request first, so an unreachable Hub fails the check within LLMFIT_HTTP_TIMEOUT
            hub.api().repo_info(d.repo_id, repo_type=d.repo_type, revision=d.revision, token=d.token,
                                timeout=hub.request_timeout())
        if len(regular) == 1 and not subfolders:
            infos = [hf_hub_download(repo_id=d.repo_id, filename=regular[0], **common)]
        else:
            if not regular and not subfolders:
                allow, ignore = d.include, d.exclude
            else:
                allow, ignore = regular + [f"{f.rstrip('/')}/**" for f in subfolders], None
            infos = snapshot_download(repo_id=d.repo_id, allow_patterns=allow, ignore_patterns=ignore, **common)
    return [PlannedFile(i.filename, i.file_size, bool(i.will_download)) for i in infos]


def offline_refusal(d: DownloadArgs, exc: Exception) -> str | None:
    """The one error line for a download that cannot happen: HF_HUB_OFFLINE is set and huggingface_hub's own plan
    found the files missing from the cache (then `hf download`, dry run or not, can only fail with its own
    multi-line error). None when it might still work (a network error with the Hub reachable later, a cache hit)."""
    if not isinstance(exc, OfflineError) or not hub.hf().constants.HF_HUB_OFFLINE:
        return None
    what = " ".join([d.repo_id, *d.filenames]) + (f" (revision {d.revision})" if d.revision else "")
    return f"{what}: not in the local Hugging Face cache, and HF_HUB_OFFLINE is set (unset it to download)"


def is_weight_file(name: str) -> bool:
    return name.lower().endswith(WEIGHT_SUFFIXES)


def check_plan(repo_id: str, planned: list[PlannedFile], revision: str | None = None, hardware=None,
               context=None, options: dict | None = None) -> CheckResult:
    """Check every model the plan would fetch (skipping cached files). Never downloads a weight byte."""
    todo = {p.name: p.size for p in planned if p.will_download}
    result = CheckResult("nothing", repo_id, planned=list(planned))
    if not any(is_weight_file(n) for n in todo):
        result.message = "no model weights to download"
        return result
    from llmfit_hf.listing import Annotator, Projectors, projector_note  # lazy: start-up time (predictor: ~250 ms)
    from llmfit_hf.resolver import gguf_spec, repo_listing, safetensors_spec  # lazy: start-up time (readers)

    listing = repo_listing(repo_id, revision)
    ann = Annotator(hardware, context)
    # the projector llama-server -hf would load beside each model, among those this download brings (or has)
    projectors = Projectors(listing, revision, candidates=[p.name for p in planned])
    models: list[CheckedModel] = []
    # GGUF: every variant with at least one file in the download (a split GGUF needs all its shards anyway)
    for v in gguf_variants(listing.files):
        if not any(f in todo for f in v.files):
            continue
        m = CheckedModel(v.label, v.size)
        try:
            comp, unread = projectors.companion(v.first)
            if comp is not None:
                m.label = f"{v.label} + {comp.name}"
                m.notes.append(projector_note(comp))
            m.notes += [unread] if unread else []
            m.report, m.error = ann.fit(gguf_spec(listing, v, revision), comp)
        except (AuthRequiredError, NotFoundError):
            raise
        except LlmfitError as exc:
            m.error = str(exc)
        models.append(m)
    st = [f for f in safetensors_files(listing.files) if f in todo]
    if st:
        m = CheckedModel(f"{len(st)} safetensors file(s)", sum(todo[f] or 0 for f in st))
        try:
            m.report, m.error = ann.fit(safetensors_spec(listing, revision))
        except (AuthRequiredError, NotFoundError):
            raise
        except LlmfitError as exc:
            m.error = str(exc)
        models.append(m)
    result.models = models
    if not models:
        result.status = "unchecked"
        result.message = "weights in a format llmfit cannot read (" + ", ".join(
            sorted(n for n in todo if is_weight_file(n))[:3]) + "); not checked"
        return result
    if any(m.fits is False for m in models):
        result.status = "no-fit"
    elif any(m.report is None for m in models):
        result.status = "error"
        result.message = "; ".join(m.error or "" for m in models if m.report is None)
    else:
        result.status = "fits"
    return consult_plugins(result, options)
