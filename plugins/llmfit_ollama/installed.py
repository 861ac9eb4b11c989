"""Installed Ollama models as ModelRefs: the local store first, else the local server's /api/tags."""

from __future__ import annotations

from llmfit_core.errors import OfflineError, RemoteError
from llmfit_core.plugin_types import ModelRef

from . import localapi, store
from .names import PREFIX


def installed_models() -> list[ModelRef]:
    """Every model `ollama list` would show, with its size and (from the API) family/quant."""
    local = store.list_installed()
    if local:
        return [ModelRef(ref=m.name.ref, source="ollama", name=m.name.short, size_bytes=m.size_bytes,
                         format="gguf", extra={"origin": "local-store"}) for m in local]
    try:
        models = localapi.list_models()
    except (OfflineError, RemoteError, ImportError):
        return []
    out = []
    for m in models:
        name = m.get("model") or ""
        if ":" not in name:
            name += ":latest"
        details = m.get("details") or {}
        out.append(ModelRef(ref=PREFIX + name, source="ollama", name=name, quant=details.get("quantization_level"),
                            size_bytes=m.get("size"), format="gguf",
                            extra={"origin": "local-api", "family": details.get("family"),
                                   "parameter_size": details.get("parameter_size")}))
    return out
