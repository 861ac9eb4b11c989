"""Ollama's local store: `$OLLAMA_MODELS` (or `~/.ollama/models`) with `manifests/` and `blobs/`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from llmfit_core.errors import HeaderTooLargeError, ModelReadError

from .names import DEFAULT_HOST, DEFAULT_NAMESPACE, OllamaName, blob_name, parse_name
from .registry import MAX_MANIFEST, MAX_SMALL_BLOB, layer, parse_manifest


def models_dir() -> Path:
    """Where Ollama keeps models on this machine."""
    env = os.environ.get("OLLAMA_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".ollama" / "models"


@dataclass
class InstalledModel:
    name: OllamaName
    manifest_path: Path
    size_bytes: int  # sum of layer sizes


def _read_capped(path: Path, cap: int, what: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise HeaderTooLargeError(f"{what} is larger than {cap} bytes")
    return data


def manifest_path(name: OllamaName, root: Path | None = None) -> Path:
    root = root or models_dir()
    path = root.joinpath("manifests", *name.manifest_parts())
    # names are validated already; this is a second line of defence against escaping the store
    base = (root / "manifests").resolve()
    if base not in path.resolve().parents:
        raise ModelReadError(f"ollama:{name.short} resolves outside the model store")
    return path


def read_local_manifest(name: OllamaName, root: Path | None = None) -> dict | None:
    """The manifest of an installed model, or None when it is not installed."""
    path = manifest_path(name, root)
    if not path.is_file():
        return None
    return parse_manifest(_read_capped(path, MAX_MANIFEST, f"manifest {path}"), name.short)


def blob_path(digest: str, root: Path | None = None) -> Path:
    return (root or models_dir()) / "blobs" / blob_name(digest)


def read_small_blob(digest: str, root: Path | None = None) -> bytes | None:
    path = blob_path(digest, root)
    if not path.is_file():
        return None
    return _read_capped(path, MAX_SMALL_BLOB, f"blob {path.name}")


def list_installed(root: Path | None = None) -> list[InstalledModel]:
    """Models whose manifests are in the local store (registry.ollama.ai and hf.co), sorted by name."""
    root = root or models_dir()
    out = []
    for host in (DEFAULT_HOST, "hf.co"):
        base = root / "manifests" / host
        if base.is_dir():
            out.extend(_list_host(root, base, host))
    return out


def _list_host(root: Path, base: Path, host: str) -> list[InstalledModel]:
    out = []
    for ns in sorted(p for p in base.iterdir() if p.is_dir()):
        for model in sorted(p for p in ns.iterdir() if p.is_dir()):
            for tag in sorted(p for p in model.iterdir() if p.is_file()):
                if host != DEFAULT_HOST:
                    prefix = f"{host}/{ns.name}/"
                else:
                    prefix = "" if ns.name == DEFAULT_NAMESPACE else f"{ns.name}/"
                try:
                    name = parse_name(f"{prefix}{model.name}:{tag.name}")
                    manifest = read_local_manifest(name, root)
                except Exception as exc:  # a stray or broken file is not a model: say so, keep listing the rest
                    print(f"llmfit: warning: skipped {tag} in the Ollama store ({' '.join(str(exc).split())[:200]})",
                          file=sys.stderr)
                    continue
                size = sum(int(x.get("size") or 0) for x in manifest["layers"])
                out.append(InstalledModel(name, tag, size))
    return out


def model_layer_path(manifest: dict, label: str, root: Path | None = None) -> tuple[Path, int]:
    """Path and size of the GGUF blob of an installed model."""
    item = layer(manifest, "model")
    if item is None:
        raise ModelReadError(f"Ollama manifest for {label} has no model layer")
    path = blob_path(item["digest"], root)
    if not path.is_file():
        raise ModelReadError(f"ollama:{label}: model blob {path.name} is missing from {path.parent}")
    return path, int(item["size"])
