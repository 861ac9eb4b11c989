"""The local Ollama server's API (`OLLAMA_HOST`, default 127.0.0.1:11434).

`/api/show` and `/api/tags` are two small JSON calls made with httpx directly: a pre-download check runs
on every `ollama pull` through the shim, and importing the `ollama` client (pydantic models) costs
about a second. Pulls, which stream progress, go through the `ollama` client.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

from llmfit_core.errors import OfflineError, RemoteError, ResolveError
from llmfit_core.net import http_timeout

TIMEOUT = 5.0


def _timeout() -> float:
    """TIMEOUT, or LLMFIT_HTTP_TIMEOUT seconds when set (the same knob as the Hub adapter's)."""
    return http_timeout(TIMEOUT)


MAX_JSON = 8 << 20


def base_url(host: str | None = None) -> str:
    """`OLLAMA_HOST` as a URL, with the same defaults as the ollama client (http, 127.0.0.1, port 11434)."""
    raw = (os.environ.get("OLLAMA_HOST", "") if host is None else host).strip()
    scheme, rest, port = "http", raw, 11434
    if "://" in raw:
        scheme, rest = raw.split("://", 1)
        port = 443 if scheme == "https" else 80
    if scheme not in ("http", "https"):
        raise ResolveError(f"OLLAMA_HOST={raw!r}: only http and https are supported")
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        hostname = parts.hostname or "127.0.0.1"
        port = parts.port or port
    except ValueError:
        raise ResolveError(f"OLLAMA_HOST={raw!r} is not a host[:port]") from None
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return f"{scheme}://{hostname}:{port}{parts.path.rstrip('/')}"


def _request(method: str, path: str, body: dict | None = None, timeout: float | None = None):
    import httpx  # lazy: start-up time (0.15 s; `fit` asks a server only when one listens)

    url = base_url() + path
    try:
        # no redirects are followed, so plain http never needs a TLS context (building one costs ~0.1-0.2 s)
        with httpx.Client(timeout=timeout or _timeout(), verify=url.startswith("https://")) as client:
            resp = client.request(method, url, json=body)
    except httpx.TransportError as exc:
        raise OfflineError(f"the local Ollama server at {base_url()} is not reachable ({type(exc).__name__})") from None
    if resp.status_code >= 400:
        try:
            msg = str(resp.json().get("error", ""))[:200]
        except ValueError:
            msg = resp.text[:200]
        raise RemoteError(f"Ollama server: HTTP {resp.status_code} {msg}".strip(), resp.status_code, url)
    if len(resp.content) > MAX_JSON:
        raise RemoteError(f"Ollama server: answer to {path} is larger than {MAX_JSON} bytes", resp.status_code, url)
    try:
        data = resp.json()
    except ValueError:
        raise RemoteError(f"Ollama server: {path} did not answer JSON", resp.status_code, url) from None
    if not isinstance(data, dict):
        raise RemoteError(f"Ollama server: unexpected answer to {path}", resp.status_code, url)
    return data


def list_models() -> list[dict]:
    """`/api/tags`: installed models as plain dicts (model/name, size, details...)."""
    models = _request("GET", "/api/tags").get("models") or []
    out = []
    for m in models if isinstance(models, list) else []:
        if isinstance(m, dict):
            m = dict(m)
            m.setdefault("model", m.get("name"))
            out.append(m)
    return out


def is_local() -> bool:
    """Whether OLLAMA_HOST is this machine (loopback): only then is its memory this machine's memory."""
    try:
        host = urlsplit(base_url()).hostname or ""
    except ResolveError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


PS_TIMEOUT = 1.0  # /api/ps answers from memory; a server that is slower than this is not worth waiting for


def _refused(timeout: float) -> bool:
    """Whether OLLAMA_HOST refuses connections (no server: the common case on a machine without Ollama), known
    from one TCP connect instead of importing httpx (~0.1 s of every `fit`/`check` that detects this machine).
    Anything else (a server, a timeout) goes on to the real request."""
    parts = urlsplit(base_url())
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def running_models() -> list[dict]:
    """`/api/ps`: the models the server holds loaded (name, size = all its memory, size_vram = the GPU part)."""
    timeout = min(PS_TIMEOUT, _timeout())
    if _refused(timeout):  # what httpx would say, without importing it
        raise OfflineError(f"the local Ollama server at {base_url()} is not reachable (ConnectError)")
    models = _request("GET", "/api/ps", timeout=timeout).get("models") or []
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []


def show(model: str) -> dict | None:
    """`/api/show`: model_info, details and parameters, or None when the model is not installed."""
    try:
        return _request("POST", "/api/show", {"model": model})
    except RemoteError as exc:
        if exc.status == 404:
            return None
        raise


def pull(model: str):
    """`/api/pull` through the `ollama` client, streaming: yields progress dicts (status, digest, total, completed)."""
    import httpx  # lazy: start-up time (as in _request)
    import ollama  # lazy: optional runner (no client: only pulls are disabled)

    client = ollama.Client(host=base_url(), timeout=None)
    try:
        stream = client.pull(model, stream=True)
        for item in stream:
            yield item.model_dump(exclude_none=True)
    except ConnectionError:
        raise OfflineError(f"the local Ollama server at {base_url()} is not running") from None
    except httpx.TransportError as exc:
        raise OfflineError(f"the local Ollama server did not answer ({type(exc).__name__})") from None
    except ollama.ResponseError as exc:
        raise RemoteError(f"Ollama server: {str(exc.error)[:200]}", exc.status_code) from None
    finally:
        client.close()
