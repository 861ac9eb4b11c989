"""The Ollama registry (OCI distribution v2): manifests, small blobs, and ranged reads of the model blob."""

from __future__ import annotations

import json
import os

from llmfit_core.errors import (
    AuthRequiredError,
    HeaderTooLargeError,
    ModelReadError,
    NotFoundError,
    OfflineError,
    RemoteError,
)
from llmfit_core.net import http_timeout

from .names import OllamaName, blob_name

DEFAULT_REGISTRY = "https://registry.ollama.ai"
MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"
MAX_MANIFEST = 1 << 20
MAX_SMALL_BLOB = 1 << 16
MAX_HEADER = 64 << 20
TIMEOUT = 15.0


def _timeout() -> float:
    """TIMEOUT, or LLMFIT_HTTP_TIMEOUT seconds when set (the same knob as the Hub adapter's)."""
    return http_timeout(TIMEOUT)


def registry_url() -> str:
    """Base URL of the registry (env `LLMFIT_OLLAMA_REGISTRY` overrides, for tests and mirrors)."""
    return os.environ.get("LLMFIT_OLLAMA_REGISTRY", DEFAULT_REGISTRY).rstrip("/")


def client():
    """One httpx client for the registry calls of a resolve (manifest, params and config blobs)."""
    import httpx  # lazy: start-up time (0.15 s; a model in the local store needs no HTTP)

    return httpx.Client(timeout=_timeout(), follow_redirects=True)


def _check(resp, what: str) -> None:
    if resp.status_code in (401, 403):
        raise AuthRequiredError(f"{what}: the registry refused access (HTTP {resp.status_code})", resp.status_code, str(resp.url))
    if resp.status_code == 404:
        raise NotFoundError(f"{what}: not found in the Ollama registry", 404, str(resp.url))
    if resp.status_code >= 400:
        raise RemoteError(f"{what}: registry answered HTTP {resp.status_code}", resp.status_code, str(resp.url))


def _get_capped(client, url: str, what: str, cap: int, headers=None) -> bytes:
    import httpx  # lazy: start-up time (as in client())

    try:
        with client.stream("GET", url, headers=headers or {}) as resp:
            _check(resp, what)
            data = bytearray()
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > cap:
                    raise HeaderTooLargeError(f"{what}: larger than {cap} bytes; refusing to read it")
            return bytes(data)
    except httpx.TransportError as exc:
        raise OfflineError(f"cannot reach the Ollama registry at {registry_url()} ({type(exc).__name__})", url=url) from None


def fetch_manifest(http, name: OllamaName) -> dict:
    """GET the manifest for `name`; invalid or truncated JSON raises ModelReadError."""
    url = f"{registry_url()}/v2/{name.namespace}/{name.name}/manifests/{name.tag}"
    raw = _get_capped(http, url, f"ollama:{name.short} manifest", MAX_MANIFEST, {"Accept": MANIFEST_ACCEPT})
    return parse_manifest(raw, name.short)


def parse_manifest(raw: bytes, label: str) -> dict:
    """Decode and sanity-check a manifest (registry or local store)."""
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ModelReadError(f"Ollama manifest for {label} is truncated or not valid JSON") from None
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ModelReadError(f"Ollama manifest for {label} has no valid 'layers' list")
    return manifest


def layer(manifest: dict, kind: str) -> dict | None:
    """The first layer whose media type ends with `.image.<kind>` (model, params, projector, ...)."""
    for item in manifest["layers"]:
        if str(item.get("mediaType", "")).endswith(f".image.{kind}"):
            blob_name(item.get("digest"))  # validate the digest
            size = item.get("size")
            if not isinstance(size, int) or size < 0:
                raise ModelReadError(f"Ollama manifest layer {kind} has an invalid size")
            return item
    return None


def fetch_small_blob(http, name: OllamaName, digest: str) -> bytes:
    """A config/params blob (JSON, a few hundred bytes), capped."""
    blob_name(digest)
    url = f"{registry_url()}/v2/{name.namespace}/{name.name}/blobs/{digest}"
    return _get_capped(http, url, f"ollama:{name.short} blob {digest[:19]}", MAX_SMALL_BLOB)
