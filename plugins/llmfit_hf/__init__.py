"""llmfit adapter for the Hugging Face Hub: `org/name[:QUANT]` references, Hub search, download checks.

Hooks: `llmfit_resolve_model` (repo ids), `llmfit_list_models` (Hub search), `llmfit_mmproj_for` (a Hub
GGUF's projector), `llmfit_register_commands` (`llmfit hf search|ls|download|install-extension`, in
`llmfit_hf.cli`; the `hf fit` extension in `llmfit_hf.extension`), `llmfit_shim_tools` + `llmfit_download_target` (what
`hf download ...` would fetch, checked by the Hub's own dry run: `llmfit_hf.targets`), `llmfit_guard_downloads`
(huggingface_hub's download functions under the Python download guard: `llmfit_hf.download_guard`). huggingface_hub is imported lazily:
without it the adapter stays loaded but answers nothing, and `llmfit plugins` says how to install it.
"""

from __future__ import annotations

import os
import sys

from llmfit_core.errors import OfflineError
from llmfit_core.hookspecs import hookimpl
from llmfit_core.plugin_types import ShimTool
from llmfit_core.plugins import after_loading

TOOLS = ("hf", "huggingface-cli")  # the programs whose `download` command lines the shims check
_URL_PREFIXES = ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/", "hf://")


def runner_status() -> tuple[bool, str]:
    """Whether huggingface_hub (and the `hf` CLI) are installed (no network)."""
    from llmfit_hf.hub import available  # lazy: start-up time (loaded at every llmfit start; hub: 1 ms)

    return available()


def parse_ref(ref: str) -> tuple[str, str | None] | None:
    """`org/name`, `org/name:QUANT`, `hf.co/org/name[:QUANT]` → (repo_id, quant); None when not a repo ref."""
    from llmfit_hf.hub import is_repo_id  # lazy: start-up time (loaded at every llmfit start)

    r = ref.strip()
    for p in _URL_PREFIXES:
        if r.startswith(p):
            r = r[len(p):].strip("/")
            break
    quant = None
    if ":" in r:
        r, _, quant = r.rpartition(":")
        if not quant or "/" in quant:
            return None
    if not is_repo_id(r):
        return None
    return r, quant or None


@hookimpl
def llmfit_register_commands(cli):
    """`llmfit hf ...` (llmfit_hf.cli, imported when it runs)."""
    cli.add_lazy_command("hf", "llmfit_hf.cli:hf_group",
                         "Hugging Face Hub: annotated search and listings, checked downloads.")


@hookimpl
def llmfit_shim_tools():
    """`hf download ...` and `huggingface-cli download ...` are checked by the shims."""
    return [ShimTool(tool, commands=("download",)) for tool in TOOLS]


@hookimpl
def llmfit_download_target(tool: str, args: list):
    """`hf download ...` / `huggingface-cli download ...` of a model repo (llmfit_hf.targets)."""
    if tool not in TOOLS:
        return None
    from llmfit_hf.targets import download_target  # lazy: start-up time (loaded only for a command to check)

    return download_target(tool, args)


@hookimpl
def llmfit_guard_downloads(guard):
    """huggingface_hub's hf_hub_download, snapshot_download and HfFileSystem copies (llmfit_hf.download_guard)."""
    from llmfit_hf.download_guard import HubDownloads  # lazy: start-up time (only when the guard is installed)

    return HubDownloads(guard).functions()


@hookimpl
def llmfit_resolve_model(ref: str, options: dict):
    """Resolve a Hub repo id to a ModelSpec (GGUF header or safetensors headers + config.json)."""
    if os.path.exists(os.path.expanduser(ref)):
        return None
    parsed = parse_ref(ref)
    if parsed is None:
        return None
    try:
        import huggingface_hub.constants  # lazy: optional runner (without it only this adapter stands aside)
    except ImportError:
        return None  # the catalog may still know it; `llmfit plugins` explains
    options = options or {}
    repo_id, tag = parsed
    if options.get("offline") or huggingface_hub.constants.HF_HUB_OFFLINE:
        from llmfit_hf.resolver import resolve_from_cache  # lazy: start-up time (readers: ~50 ms)

        spec = resolve_from_cache(repo_id, options.get("quant") or tag, options.get("file"), options.get("revision"))
        if spec is None:
            raise OfflineError(f"offline: {repo_id} is not in the local Hugging Face cache")
        return spec
    from llmfit_hf.resolver import resolve_repo  # lazy: start-up time (readers: ~50 ms)

    return resolve_repo(repo_id, quant=options.get("quant") or tag, file=options.get("file"),
                        revision=options.get("revision"), exact=options.get("exact", True))


@hookimpl
def llmfit_list_models(query: str, options: dict):
    """Hub search results as ModelRefs (one API call; sizes only where the Hub gives them)."""
    options = options or {}
    if options.get("source") not in (None, "huggingface", "hf") or options.get("offline"):
        return None
    try:
        import huggingface_hub  # noqa: F401  # lazy: optional runner (without it only this adapter stands aside)
    except ImportError:
        return None
    from llmfit_hf.listing import search_refs  # lazy: start-up time (listing imports the predictor: ~170 ms)

    try:
        return search_refs(query, limit=int(options.get("limit") or 20))
    except OfflineError as exc:  # one unreachable source must not sink a listing of all sources
        print(f"llmfit: warning: {exc}; Hub results left out", file=sys.stderr)
        return None


@hookimpl
def llmfit_mmproj_for(spec):
    """For a Hub GGUF: the repo's projector by llama.cpp's own rule (companions.best_sibling), header read only."""
    meta = spec.metadata or {}
    repo = meta.get("hf_repo")
    if not repo or not spec.files or spec.format != "gguf":
        return None
    from .listing import projector_for  # lazy: start-up time (listing imports the predictor: ~170 ms)
    from .resolver import repo_listing  # lazy: start-up time (readers: ~50 ms)

    revision = meta.get("hf_revision")
    return projector_for(repo_listing(repo, revision), spec.files[0], revision)


def _autoinstall_guard() -> None:
    try:
        from llmfit_core.guard import autoinstall  # lazy: start-up time (opt-in: only with LLMFIT_GUARD set)

        autoinstall()
    except Exception:  # never break plugin loading
        pass


if os.environ.get("LLMFIT_GUARD"):  # opt-in: apps that load llmfit's plugins get the download guard too
    after_loading(_autoinstall_guard)  # once every adapter (this one's hooks included) is registered
