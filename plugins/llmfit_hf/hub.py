"""Access to the Hugging Face Hub through huggingface_hub (imported lazily), with errors made explicit.

Every Hub call goes through `hub_errors()`, which turns the client's exceptions into llmfit's named
ones: unknown repo/file → NotFoundError, gated/private → AuthRequiredError (says how to log in, never
shows the token), no network → OfflineError.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager

from llmfit_core.errors import AuthRequiredError, LlmfitError, ModelReadError, NotFoundError, OfflineError, RemoteError
from llmfit_core.net import http_timeout

INSTALL_HINT = "huggingface_hub is not installed: pip install 'llmfit-core[hf]'"
LOGIN_HINT = "log in with `hf auth login` (or set HF_TOKEN)"
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[A-Za-z0-9][\w.\-]{0,95}$")


def hf():
    """The huggingface_hub module, or a clear LlmfitError when it is missing."""
    try:
        import huggingface_hub  # lazy: optional runner (without it only this adapter stands aside)
    except ImportError:
        raise LlmfitError(INSTALL_HINT) from None
    return huggingface_hub


def available() -> tuple[bool, str]:
    """(installed, message) for `llmfit plugins`."""
    try:
        import huggingface_hub  # lazy: optional runner (without it only this adapter stands aside)
    except ImportError:
        return False, INSTALL_HINT
    cli = "hf CLI on PATH" if shutil.which("hf") else "hf CLI not on PATH"
    return True, f"huggingface_hub {huggingface_hub.__version__}; {cli}"


def is_repo_id(ref: str) -> bool:
    """`org/name` with Hub-legal characters (rejects paths, traversal, URLs)."""
    return bool(_REPO_RE.match(ref)) and ".." not in ref and not ref.endswith((".gguf", ".json", ".safetensors"))


def check_repo_id(repo_id: str) -> str:
    if not is_repo_id(repo_id):
        raise LlmfitError(f"not a Hugging Face repo id: {repo_id!r} (expected org/name)")
    return repo_id


def check_filename(name: str) -> str:
    """Reject path traversal and absolute paths in a repo file name."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in name:
        raise LlmfitError(f"invalid file name in repo: {name!r}")
    return name


def request_timeout() -> float:
    """Seconds to wait for the Hub per request: LLMFIT_HTTP_TIMEOUT, default 20 (huggingface_hub's own client
    waits forever for an API answer, so a server that accepts and stalls would hang every command)."""
    return http_timeout()


def api():
    """A fresh HfApi (reads the endpoint and token configuration at call time)."""
    return hf().HfApi()


def token_headers() -> dict:
    """HTTP headers huggingface_hub itself would send (user agent, Authorization if logged in)."""
    return dict(hf().utils.build_hf_headers())


def file_url(repo_id: str, filename: str, revision: str | None = None) -> str:
    return hf().hf_hub_url(repo_id, filename, revision=revision)


@contextmanager
def token_override(token):
    """Use `token` (a `--token` / `token=` argument) for the Hub calls inside the block; None/bool: unchanged."""
    if not isinstance(token, str) or not token:
        yield
        return
    old = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = token
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = old


def _is_network_error(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"OfflineModeIsEnabled", "ConnectError", "ConnectTimeout", "TimeoutException", "ReadTimeout",
                "NetworkError", "RemoteProtocolError", "ProxyError", "LocalEntryNotFoundError"}:
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))


@contextmanager
def hub_errors(what: str):
    """Translate huggingface_hub / network exceptions raised inside the block into llmfit errors."""
    try:
        yield
    except LlmfitError:
        raise
    except Exception as exc:
        raise translate(exc, what) from exc


def translate(exc: BaseException, what: str) -> LlmfitError:
    """The llmfit error for a huggingface_hub exception about `what` (a repo id or repo/file)."""
    errors = hf().errors
    seen = exc
    # DryRunError and friends wrap the real cause
    for _ in range(3):
        if isinstance(seen, errors.DryRunError) and seen.__cause__ is not None:
            seen = seen.__cause__
    resp = getattr(seen, "response", None)
    status = getattr(resp, "status_code", None)
    if isinstance(seen, errors.GatedRepoError):
        return AuthRequiredError(f"{what} is a gated repo: accept its terms on the Hub, then {LOGIN_HINT}", 401)
    if isinstance(seen, errors.RepositoryNotFoundError):
        if status == 401:
            return NotFoundError(f"repo {what} not found (if it is private, {LOGIN_HINT})", 404)
        return NotFoundError(f"repo {what} not found on the Hub", 404)
    if isinstance(seen, errors.RevisionNotFoundError):
        return NotFoundError(f"revision not found for {what}", 404)
    if isinstance(seen, errors.EntryNotFoundError):
        if _is_network_error(seen):
            return OfflineError(f"no network and {what} is not in the local cache", None)
        return NotFoundError(f"file not found in {what} (renamed or removed?)", 404)
    if status in (401, 403):
        return AuthRequiredError(f"access to {what} denied (HTTP {status}): {LOGIN_HINT}", status)
    if status == 404:
        return NotFoundError(f"{what} not found on the Hub", 404)
    if _is_network_error(seen):
        return OfflineError(f"cannot reach the Hugging Face Hub for {what} (offline or timed out)")
    if isinstance(seen, errors.HfHubHTTPError):
        return RemoteError(f"the Hub answered HTTP {status} for {what}", status)
    if isinstance(seen, errors.NotASafetensorsRepoError):
        return NotFoundError(f"{what} has no safetensors weights", 404)
    if isinstance(seen, errors.SafetensorsParsingError):
        return ModelReadError(f"bad safetensors header in {what}: {seen}")
    return RemoteError(f"Hub request for {what} failed: {type(seen).__name__}: {' '.join(str(seen).split())[:200]}")
