"""llmfit-core: will this LLM run on this machine, and how fast? Answered before the download."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "RunSettings", "fit"]


def __getattr__(name: str):
    """`llmfit_core.RunSettings` on first use: `llmfit --help` imports this package and must not pay for
    dataclasses (start-up time, issue 15)."""
    if name == "RunSettings":
        from llmfit_core.settings import RunSettings  # lazy: start-up: llmfit --help imports this package

        return RunSettings
    raise AttributeError(f"module 'llmfit_core' has no attribute {name!r}")


def fit(ref, hardware=None, quant=None, context=None, **kwargs):
    """Predict memory, placement, speed and verdict for `ref` on `hardware`; see llmfit_core.api.fit."""
    from llmfit_core.api import fit as _fit  # lazy: start-up: importing the package does not import the predictor

    return _fit(ref, hardware=hardware, quant=quant, context=context, **kwargs)
