"""Local model paths -> ModelSpec: a .gguf file (any shard of a split), a model directory, a config.json."""

from __future__ import annotations

import os
import re

from llmfit_core.errors import ModelReadError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import normalize_quant
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.readers.safetensors import _read_json, read_safetensors_model

_SHARD_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


def _ggufs_in(path: str) -> list[str]:
    """Distinct GGUF models in a directory: single files and first shards (mmproj files skipped)."""
    out = []
    for f in sorted(os.listdir(path)):
        if not f.endswith(".gguf") or f.startswith("mmproj"):
            continue
        m = _SHARD_RE.search(f)
        if m and m.group(1) != "00001":
            continue
        out.append(os.path.join(path, f))
    return out


def read_local(path: str | os.PathLike, quant: str | None = None) -> ModelSpec:
    """ModelSpec for a local model file or directory; only headers are read.

    `quant` picks one GGUF when a directory holds several (e.g. "Q4_K_M").
    """
    p = os.path.expanduser(os.fspath(path))
    if not os.path.exists(p):
        raise ModelReadError(f"{p}: no such file or directory")
    if os.path.isfile(p):
        low = p.lower()
        if low.endswith(".gguf"):
            return read_gguf(p)
        if low.endswith(".safetensors"):
            return read_safetensors_model(p)
        if os.path.basename(low) == "config.json":
            return _from_dir(os.path.dirname(p) or ".", quant, config_only_ok=True)
        if os.path.basename(low) == "model.safetensors.index.json":
            return read_safetensors_model(os.path.dirname(p) or ".")
        with open(p, "rb") as f:
            magic = f.read(4)
        if magic == b"GGUF":
            return read_gguf(p)
        raise ModelReadError(f"{p}: not a model file (expected .gguf, .safetensors, config.json or a model directory)")
    if not os.path.isdir(p):  # never open a FIFO (it would block) or a device
        raise ModelReadError(f"{p}: not a regular file or directory (a device, pipe or socket?)")
    return _from_dir(p, quant, config_only_ok=True)


def _from_dir(d: str, quant: str | None, config_only_ok: bool) -> ModelSpec:
    cfg_path = os.path.join(d, "config.json")
    has_st = os.path.isfile(os.path.join(d, "model.safetensors.index.json")) or any(
        f.endswith(".safetensors") for f in os.listdir(d))
    config = _read_json(cfg_path) if os.path.isfile(cfg_path) else None
    if config is not None and has_st:
        return read_safetensors_model(d, config)
    ggufs = _ggufs_in(d)
    if config is not None and not ggufs and config_only_ok:
        spec = spec_from_config(config, d)
        spec.notes.append("no weight files next to config.json: sizes derived from the config")
        return spec
    if quant and len(ggufs) > 1:
        q = normalize_quant(quant).replace("_", "").lower()
        ggufs = [g for g in ggufs if q in os.path.basename(g).replace("_", "").replace("-", "").lower()] or ggufs
    if len(ggufs) == 1:
        return read_gguf(ggufs[0])
    if len(ggufs) > 1:
        names = ", ".join(os.path.basename(g) for g in ggufs[:6])
        raise ModelReadError(f"{d}: several GGUF models ({names}); pass one file or --quant")
    if has_st:
        return read_safetensors_model(d)
    raise ModelReadError(f"{d}: no model here (no .gguf, config.json or .safetensors)")
