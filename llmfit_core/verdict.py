"""The verdict on one model on one machine, and the one rule for "tight".

A verdict says where the model runs: all on the GPUs (or all in RAM on a CPU-only machine) = "runs", part of
it in RAM = "offload", either with less spare memory than the safety margin = "tight", and "no-fit" when some
pool is short. The strings are the `--json` contract (design.md).
"""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    """Whether and how the model fits; compares equal to (and prints as) its contract string."""

    RUNS = "runs"
    OFFLOAD = "offload"
    TIGHT = "tight"
    NO_FIT = "no-fit"

    def __str__(self) -> str:
        return self.value

    @property
    def fits(self) -> bool:
        return self is not Verdict.NO_FIT


VERDICTS = tuple(v.value for v in Verdict)

MARGIN_FRACTION = 0.05  # safety margin: 5% of the memory pool ...
MARGIN_MIN = 512 * 1024**2  # ... but at least 0.5 GiB


def margin_for(capacity: int) -> int:
    """Safety margin for a memory pool of `capacity` bytes."""
    return max(MARGIN_MIN, int(MARGIN_FRACTION * capacity))


def is_tight(headroom, capacity: int):
    """The tight rule: less spare memory than the safety margin of a pool of `capacity` bytes.

    `headroom` may be a number or a numpy array of spare bytes (recommend rates every model x quant at once)."""
    return headroom < margin_for(capacity)
