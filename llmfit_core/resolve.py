"""Model references → ModelSpec: local files first, then source plugins (Hub, Ollama), then the catalog.

Forms (design.md): a local GGUF (first shard of a split), a local HF model directory or its
config.json, `org/name` (+ `:QUANT` shorthand or `--file`), `ollama:NAME[:TAG]`, a catalog name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from llmfit_core import defaults
from llmfit_core.errors import AuthRequiredError, OfflineError, RemoteError, ResolveError, UnknownQuantizationError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import apply_quant, normalize_quant

_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
# Ollama's library names: `name:tag` without an owner (llama3.1:8b, qwen3:30b-a3b, gpt-oss:20b)
_OLLAMA_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]*:[A-Za-z0-9][\w.\-]*$")


def is_offline() -> bool:
    """True when the user asked llmfit for no network at all (LLMFIT_OFFLINE; HF_HUB_OFFLINE is the Hub adapter's)."""
    return os.environ.get("LLMFIT_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def split_ref(ref: str) -> tuple[str, str | None]:
    """Split the `org/name:QUANT` shorthand (llama.cpp's `-hf` form); other refs are returned unchanged."""
    if ref.startswith("ollama:") or ":" not in ref or Path(ref).exists():
        return ref, None
    base, _, tag = ref.rpartition(":")
    if _REPO_RE.match(base) and tag and "/" not in tag:
        return base, tag
    return ref, None


def resolve_model(ref: str, quant: str | None = None, file: str | None = None, offline: bool | None = None,
                  revision: str | None = None, runtime: str | None = None) -> ModelSpec:
    """Turn a model reference into a ModelSpec, reading only headers.

    `quant` on a GGUF repo picks the file; on a config-only/safetensors model it is a what-if
    ("how big is this as Q4_K_M"). `runtime` (llama.cpp | mlx): a bare reference (no quant, no file) to unquantized
    transformers weights means what that runtime's users download (defaults.default_quant), the same from the Hub,
    the HF cache and the catalog, said in the notes; None prices the weights as stored.
    Online without a login, a gated repo falls back to the catalog with a note.
    Raises ResolveError (or a RemoteError/ModelReadError) with one clear line.
    """
    ref = (ref or "").strip()
    if not ref:
        raise ResolveError("empty model reference")
    offline = is_offline() if offline is None else offline
    ref, tag = split_ref(ref)
    quant = quant or tag

    path = Path(ref).expanduser()
    if path.exists():
        from llmfit_core.readers.local import read_local  # lazy: start-up: a catalog name reads no local files

        spec = read_local(path)
        return apply_requested_quant(spec, quant)

    if _looks_like_path(ref):
        raise ResolveError(f"no such file or directory: {ref}")

    options = {"quant": quant, "file": file, "revision": revision, "offline": offline}
    spec = None
    remote_error: RemoteError | None = None
    try:
        from llmfit_core.plugins import call_hook  # lazy: start-up: pluggy + adapters, remote refs only

        spec = call_hook("llmfit_resolve_model", ref=ref, options=options)
    except (OfflineError, AuthRequiredError) as exc:  # no network, or a gated repo without a login: the catalog
        remote_error = exc

    if spec is None:
        from llmfit_core.catalog import resolve_catalog_ref  # lazy: a local file's check never loads the catalog

        spec = resolve_catalog_ref(ref, quant)
        if spec is None:
            hint = _closest_hint(ref)
            if remote_error is not None:
                raise type(remote_error)(f"{remote_error}, nor in the shipped catalog{hint}") from None
            raise ResolveError(
                f"unknown model {ref!r}: not a local file, not handled by any source plugin, not in the catalog"
                f"{hint or ' (try `llmfit search WORD`)'}"
            )
        if not quant and not file and runtime:
            spec = _bare_catalog_reference(ref, spec, runtime)
        if isinstance(remote_error, AuthRequiredError):
            spec.notes.append(f"gated repo without a login ({remote_error}); figures come from the shipped catalog")
        elif remote_error is not None:
            spec.notes.append(f"offline ({remote_error}); figures come from the shipped catalog")
        return spec
    if not quant and not file and runtime:
        return bare_reference(spec, runtime)
    return apply_requested_quant(spec, quant, picked_by_source=True)


def _closest_hint(ref: str) -> str:
    """'; closest catalog names: ...' for an unknown reference, or '' when nothing is near."""

    from llmfit_core.catalog import load_catalog  # lazy: only an unknown name loads the catalog
    from llmfit_core.catalog.store import closest_ids  # lazy: as above

    names = closest_ids(load_catalog(), ref)
    ollama = f"an Ollama model? write ollama:{ref}" if _OLLAMA_NAME_RE.match(ref) else ""
    catalog = f"closest catalog names: {', '.join(names)}" if names else ""
    parts = [p for p in (ollama, catalog) if p]
    return f" ({'; '.join(parts)})" if parts else ""


def bare_reference(spec: ModelSpec, runtime: str) -> ModelSpec:
    """`spec` as a `runtime` user downloads it when the reference names no quant (unquantized weights only)."""

    if not defaults.stores_unquantized(spec):
        return spec
    dq = defaults.default_quant(spec.ref, spec.arch, runtime)
    stored = spec.quant or None
    out = apply_quant(spec, dq.quant)
    out.notes = list(out.notes) + [defaults.bare_reference_note(dq, runtime, stored)]
    return out


def _bare_catalog_reference(ref: str, spec: ModelSpec, runtime: str) -> ModelSpec:
    """The catalog's spec of a bare reference under the same rule as bare_reference (the catalog prices a GGUF)."""

    from llmfit_core.catalog import find_entry, resolve_catalog_ref  # lazy: a local file's check never loads it

    entry = find_entry(ref)
    if entry is None or entry.format != "safetensors" or (entry.quant or "BF16").upper() not in ("BF16", "F16", "F32"):
        return spec
    dq = defaults.default_quant(entry.id, entry.arch, runtime)
    if spec.quant != dq.quant:
        spec = resolve_catalog_ref(ref, dq.quant)
    spec.notes = list(spec.notes) + [defaults.bare_reference_note(dq, runtime, entry.quant)]
    return spec


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref.endswith((".gguf", ".json", ".safetensors"))


def apply_requested_quant(spec: ModelSpec, quant: str | None, picked_by_source: bool = False) -> ModelSpec:
    """`spec` as stored in `quant` (a what-if via quant.apply_quant); unchanged when it already is, or when a
    source already picked the GGUF file for that quant."""
    if not quant:
        return spec

    want = normalize_quant(quant)
    try:
        have = normalize_quant(spec.quant) if spec.quant else None
    except UnknownQuantizationError:
        have = spec.quant
    if want == have:
        return spec
    if picked_by_source and spec.format == "gguf":
        return spec  # the source picked the closest file; do not pretend otherwise
    return apply_quant(spec, want)
