"""The local Ollama server's API (`OLLAMA_HOST`, default 127.0.0.1:11434), through the `ollama` client."""

from __future__ import annotations

from llmfit_core.errors import OfflineError, RemoteError

TIMEOUT = 5.0


def client():
    """An `ollama.Client` for `OLLAMA_HOST`; raises ImportError when the client is not installed."""
    import ollama

    return ollama.Client(timeout=TIMEOUT)


def _call(fn, *args, **kw):
    import httpx
    import ollama

    try:
        return fn(*args, **kw)
    except ConnectionError:
        raise OfflineError("the local Ollama server is not running (OLLAMA_HOST)") from None
    except httpx.TransportError as exc:
        raise OfflineError(f"the local Ollama server did not answer ({type(exc).__name__})") from None
    except ollama.ResponseError as exc:
        raise RemoteError(f"Ollama server: {str(exc.error)[:200]}", exc.status_code) from None


def list_models() -> list[dict]:
    """`/api/tags`: installed models as plain dicts (name, size, details...)."""
    with client() as c:
        resp = _call(c.list)
    return [m.model_dump() for m in resp.models]


def show(model: str) -> dict | None:
    """`/api/show`: model_info, details and parameters, or None when the model is not installed."""
    with client() as c:
        try:
            resp = _call(c.show, model)
        except RemoteError as exc:
            if exc.status == 404:
                return None
            raise
    return resp.model_dump(by_alias=True)


def pull(model: str):
    """`/api/pull`, streaming: yields progress dicts (status, digest, total, completed)."""
    with client() as c:
        stream = _call(c.pull, model, stream=True)
        while True:
            try:
                item = _call(next, stream)
            except StopIteration:
                return
            yield item.model_dump(exclude_none=True)
