"""Ollama model names: parse `ollama:[user/]name[:tag]` and reject anything that could escape a directory."""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmfit_core.errors import ModelReadError, ResolveError

PREFIX = "ollama:"
DEFAULT_TAG = "latest"
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"

# Ollama's own rules are close to these: letters, digits, '.', '_', '-'; no leading dot or dash.
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,79}$")
DIGEST = re.compile(r"^sha256[:-]([0-9a-f]{64})$")


HF_HOSTS = ("hf.co", "huggingface.co")  # `ollama pull hf.co/org/repo:QUANT` pulls a GGUF from the Hub


@dataclass(frozen=True)
class OllamaName:
    namespace: str  # "library" for official models, else the user (or the Hub org for hf.co models)
    name: str
    tag: str
    host: str = DEFAULT_HOST  # registry.ollama.ai, or hf.co

    @property
    def on_hub(self) -> bool:
        return self.host in HF_HOSTS

    @property
    def short(self) -> str:
        """The name as `ollama` prints it (`llama3:8b`, `user/model:tag`, `hf.co/org/repo:Q4_K_M`)."""
        if self.on_hub:
            base = f"{self.host}/{self.namespace}/{self.name}"
        else:
            base = self.name if self.namespace == DEFAULT_NAMESPACE else f"{self.namespace}/{self.name}"
        return f"{base}:{self.tag}"

    @property
    def ref(self) -> str:
        return PREFIX + self.short

    def manifest_parts(self) -> tuple[str, str, str, str]:
        """Path parts of the manifest under `<models>/manifests/`."""
        return (self.host, self.namespace, self.name, self.tag)


def is_ollama_ref(ref: str) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX)


def parse_name(text: str) -> OllamaName:
    """Parse `name`, `name:tag`, `user/name:tag`, `hf.co/org/repo:quant` (with or without `ollama:`).

    Raises ResolveError for path traversal, absolute paths, empty parts or odd characters.
    """
    raw = text[len(PREFIX):] if text.startswith(PREFIX) else text
    if not raw or len(raw) > 200:
        raise ResolveError(f"invalid Ollama model name {text!r}")
    if "\\" in raw or raw.startswith("/") or "\x00" in raw:
        raise ResolveError(f"invalid Ollama model name {text!r}: no absolute paths or backslashes")
    path, tag = raw, DEFAULT_TAG
    if ":" in raw.rsplit("/", 1)[-1]:
        path, tag = raw.rsplit(":", 1)
    parts = path.split("/")
    host = DEFAULT_HOST
    if len(parts) == 3 and parts[0].lower() in HF_HOSTS:
        host, parts = "hf.co", parts[1:]
    if len(parts) == 1:
        namespace, name = DEFAULT_NAMESPACE, parts[0]
    elif len(parts) == 2:
        namespace, name = parts
    else:
        raise ResolveError(f"invalid Ollama model name {text!r}: expected [user/]name[:tag] or hf.co/org/repo[:quant]")
    for part in (namespace, name):
        if part in (".", "..") or not _PART.match(part):
            raise ResolveError(f"invalid Ollama model name {text!r}: bad part {part!r}")
    if not _TAG.match(tag) or ".." in tag:
        raise ResolveError(f"invalid Ollama tag {tag!r} in {text!r}")
    return OllamaName(namespace, name, tag, host)


def blob_name(digest: str) -> str:
    """`sha256:<hex>` -> `sha256-<hex>` (the blob file name); anything else is rejected."""
    m = DIGEST.match(digest or "") if isinstance(digest, str) else None
    if not m:
        raise ModelReadError(f"invalid blob digest {str(digest)[:80]!r} in Ollama manifest")
    return "sha256-" + m.group(1)
