"""Network settings shared by every source that talks to a server (Hub, Ollama, catalog update)."""

from __future__ import annotations

import os

DEFAULT_HTTP_TIMEOUT = 20.0


def http_timeout(default: float = DEFAULT_HTTP_TIMEOUT) -> float:
    """Seconds to wait per request: `LLMFIT_HTTP_TIMEOUT` when set to a positive number, else `default`.

    huggingface_hub's API client waits forever for an answer, so a server that accepts and stalls would
    hang every command without this.
    """
    try:
        t = float(os.environ.get("LLMFIT_HTTP_TIMEOUT") or default)
    except ValueError:
        return default
    return t if t > 0 else default
