"""Where llmfit keeps its files: the data dir (bench store, calibration, shims) and the cache dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir(create: bool = True) -> Path:
    """The llmfit data dir (`LLMFIT_DATA_DIR` overrides the platform default); created if missing and asked."""
    d = Path(os.environ.get("LLMFIT_DATA_DIR") or platformdirs.user_data_dir("llmfit"))
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def cache_dir() -> Path:
    """Where llmfit keeps cached measurements and generated files (`LLMFIT_CACHE_DIR` overrides the platform default)."""
    return Path(os.environ.get("LLMFIT_CACHE_DIR") or platformdirs.user_cache_dir("llmfit"))
