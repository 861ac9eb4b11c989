"""`llmfit bench --synthetic SHAPE:QUANT`: a cached random-weight GGUF of a real architecture (via synth.py)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from llmfit_core import dirs
from llmfit_core.errors import BenchError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.synth import QUANT_FTYPES, SHAPES, shape_params, write_synthetic_gguf
from llmfit_core.units import fmt_bytes


def cache_dir() -> Path:
    """Where synthetic models are kept (`LLMFIT_CACHE_DIR` overrides the platform cache dir)."""
    d = dirs.cache_dir() / "synthetic"
    d.mkdir(parents=True, exist_ok=True)
    return d


def parse_ref(ref: str) -> tuple[str, str]:
    """`llama-0.5b:Q4_K_M` -> ("llama-0.5b", "Q4_K_M"); the quant defaults to Q4_K_M."""
    shape, _, quant = ref.strip().partition(":")
    quant = (quant or "Q4_K_M").strip().upper()
    if shape not in SHAPES:
        raise BenchError(f"unknown synthetic shape {shape!r}; choose one of: {', '.join(SHAPES)}")
    if quant not in QUANT_FTYPES:
        raise BenchError(f"unknown quantization {quant!r} for --synthetic; choose one of: {', '.join(QUANT_FTYPES)}")
    return shape, quant


def synthetic_model(ref: str, directory: Path | None = None) -> Path:
    """Path of the synthetic GGUF for `SHAPE:QUANT`, generated (and quantized) on first use."""
    shape, quant = parse_ref(ref)
    d = directory or cache_dir()
    path = d / f"{shape}-{quant}.gguf"
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = d / f".{shape}-{quant}.{os.getpid()}.partial.gguf"
    try:
        need = shape_params(shape) * 4  # F16 temporary + quantized copy + quantizer working memory
        free_disk = os.statvfs(d).f_bavail * os.statvfs(d).f_frsize
        if need > free_disk:
            raise BenchError(f"not enough disk space in {d} for synthetic {shape} (~{fmt_bytes(need)})")
        if shape_params(shape) * 2 > psutil.virtual_memory().available:
            raise BenchError(f"synthetic {shape} needs more memory than is available")
        write_synthetic_gguf(tmp, shape, quant)
        os.replace(tmp, path)  # only a complete file ever gets the cache name
    finally:
        tmp.unlink(missing_ok=True)
    return path


def synthetic_spec(ref: str, path: Path) -> ModelSpec:
    """ModelSpec of a synthetic model, read from its GGUF header."""
    shape, quant = parse_ref(ref)
    spec = read_gguf(str(path))
    spec.ref = f"synthetic:{shape}:{quant}"
    return spec
