"""llmfit adapter for Ollama: `ollama:NAME[:TAG]` from the local store, the local API or the registry.

Hooks: `llmfit_resolve_model` (refs starting with `ollama:`), `llmfit_list_models` (installed models),
`llmfit_detect_hardware` (models a local Ollama server holds loaded, from `/api/ps`),
`llmfit_register_commands` (`llmfit ollama ls|pull|timings`, in `llmfit_ollama.cli`), `llmfit_shim_tools` +
`llmfit_download_target` (what `ollama pull|run NAME` would fetch: `llmfit_ollama.targets`).
"""

from __future__ import annotations

import shutil

from llmfit_core.errors import LlmfitError
from llmfit_core.hookspecs import hookimpl
from llmfit_core.plugin_types import ModelRef, ShimTool

from .names import is_ollama_ref


def runner_status() -> tuple[bool, str]:
    """Whether Ollama itself (the CLI or its Python client) is available here."""
    exe = shutil.which("ollama")
    try:
        import ollama  # noqa: F401  # lazy: optional runner (without it only this adapter is disabled)

        client = "python client installed"
    except ImportError:
        client = "python client missing (pip install 'llmfit-core[ollama]')"
    if exe:
        return True, f"ollama CLI at {exe}; {client}"
    # no Ollama here; a server elsewhere (OLLAMA_HOST) is still read through the python client
    return False, f"ollama CLI not on PATH; {client}"


@hookimpl
def llmfit_register_commands(cli):
    """`llmfit ollama ...` (llmfit_ollama.cli, imported when it runs)."""
    cli.add_lazy_command("ollama", "llmfit_ollama.cli:ollama_group",
                         "Ollama models: annotate installed ones, check before `ollama pull`.")


@hookimpl
def llmfit_shim_tools():
    """`ollama pull|run ...` are checked by the shims."""
    return [ShimTool("ollama", commands=("pull", "run"))]


@hookimpl
def llmfit_download_target(tool: str, args: list):
    """`ollama pull NAME`, `ollama run NAME` (llmfit_ollama.targets)."""
    if tool != "ollama":
        return None
    from .targets import download_target  # lazy: start-up time (only for a command to check)

    return download_target(tool, args)


@hookimpl
def llmfit_resolve_model(ref, options):
    if not is_ollama_ref(ref):
        return None
    from .resolver import resolve_ollama  # lazy: start-up time (loaded at every llmfit start)

    return resolve_ollama(ref, options or {})


@hookimpl
def llmfit_list_models(query, options):
    """Installed Ollama models (local store, else the local server) whose name contains `query`."""
    options = options or {}
    if options.get("source") not in (None, "ollama"):
        return None
    from .installed import installed_models  # lazy: start-up time (loaded at every llmfit start)

    q = (query or "").lower()
    if q.startswith("ollama:"):
        q = q[len("ollama:"):]
    found = [m for m in installed_models() if q in m.name.lower()]
    limit = options.get("limit")
    return found[:limit] if isinstance(limit, int) and limit > 0 else found


@hookimpl
def llmfit_detect_hardware(profile):
    """Record what a local Ollama server holds loaded (`/api/ps`): memory that is not free while it stays loaded.

    Only for a server on this machine (OLLAMA_HOST loopback); no server or an error: nothing (one short try).
    """
    from llmfit_core.hardware.profile import MemoryHolder  # lazy: start-up time (loaded at every llmfit start)

    from . import localapi  # lazy: start-up time (loaded at every llmfit start)

    if not localapi.is_local():
        return
    try:
        loaded = localapi.running_models()
    except LlmfitError:
        return
    for m in loaded:
        try:
            size, vram = int(m.get("size") or 0), int(m.get("size_vram") or 0)
        except (TypeError, ValueError):
            continue
        name = str(m.get("name") or m.get("model") or "?")[:80]
        profile.memory_holders.append(MemoryHolder(name=f"Ollama {name}", ram_bytes=max(size - vram, 0),
                                                   vram_bytes=max(min(vram, size), 0), source="ollama /api/ps"))


__all__ = ["runner_status", "llmfit_resolve_model", "llmfit_list_models", "ModelRef"]
