"""Timings learned from normal use (the runner adapters' `observe` modules): the switch, and a store write that
never breaks the user's program.

Recording is on under the guard unless `LLMFIT_RECORD` is 0/off/no/false. A failure while building or writing a
record is one warning per process at most (`RecordWarning`); the generation it timed returns as before.
"""

from __future__ import annotations

import os
import warnings
from typing import Callable

from llmfit_core.bench.store import append_record

MIN_GEN_TOKENS = 4  # fewer generated tokens time the call, not the decoder
_warned = False


class RecordWarning(UserWarning):
    """A generation's timings could not be recorded (the generation itself is unaffected)."""


def enabled() -> bool:
    """Recording is on unless LLMFIT_RECORD is 0/off/no/false."""
    return os.environ.get("LLMFIT_RECORD", "1").strip().lower() not in ("0", "off", "no", "false")


def record_safely(make: Callable[[], dict | None]) -> None:
    """Append the record `make()` builds (None: nothing worth keeping); never raises."""
    global _warned
    try:
        rec = make()
        if rec is not None:
            append_record(rec)
    except Exception as exc:  # recording is a by-product: the user's generation must not notice
        if not _warned:
            _warned = True
            warnings.warn(f"llmfit: could not record this generation's timings ({type(exc).__name__}: {exc}); "
                          "LLMFIT_RECORD=0 turns recording off", RecordWarning, stacklevel=4)


def load_average() -> list[float] | None:
    """The 1/5/15-minute load when the record was taken (other work on the machine slows a run)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
