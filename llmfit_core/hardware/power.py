"""GPU board power limits: how much of its compute a GPU keeps when its owner lowers the power limit.

A GPU under sustained tensor load runs at the clock its power limit allows. Dynamic power is
P ~ C x V^2 x f, and along a GPU's voltage/frequency curve V rises roughly with f, so P ~ f^3 and the
clock a lower limit allows is f ~ P^(1/3): a 3090 limited to 280 W of its 350 W keeps (0.8)^(1/3) = 93%
of its clock, hence of its compute. Memory bandwidth is set by the memory clock, which a board power
limit leaves alone, so only compute-bound work (prompt processing) slows down.

Only a limit *below the board's own default* counts: the default limit is already part of what the
quoted TFLOPS and the learned correction describe.
"""

from __future__ import annotations

import math

# f ~ P^(1/3): the cube law of dynamic power along the voltage/frequency curve (see the module docstring).
POWER_CLOCK_EXPONENT = 1.0 / 3.0
# Below 2% under the default the difference is rounding in the driver's figures, not a limit.
MIN_REDUCTION = 0.98
# NVML refuses limits below roughly a third of the default; anything lower is a bad reading.
MIN_LIMIT_SHARE = 0.1


MAX_BOARD_W = 10_000  # no GPU board is limited this high: a larger driver reading is a bad one


def driver_watts(value, per_watt: float = 1.0, ndigits: int | None = 1) -> float | None:
    """A driver's power reading in W (NVML milliwatts: per_watt 1000, hwmon microwatts: 1e6), rounded to
    `ndigits`; None when missing, unreadable or not a plausible board power."""
    try:
        w = float(value) / per_watt
    except (TypeError, ValueError):
        return None
    if not 0 < w < MAX_BOARD_W:
        return None
    return round(w, ndigits) if ndigits is not None else w


def _watts(v) -> float | None:
    try:
        w = float(v)
    except (TypeError, ValueError):
        return None
    return w if math.isfinite(w) and w > 0 else None


def power_limit_share(gpu) -> float | None:
    """Limit in force / the board's default limit, when a lower limit is set (else None)."""
    limit, default = _watts(getattr(gpu, "power_limit_w", None)), _watts(getattr(gpu, "default_power_limit_w", None))
    if not limit or not default:
        return None
    share = limit / default
    if share >= MIN_REDUCTION or share < MIN_LIMIT_SHARE:
        return None
    return share


def compute_fraction(gpu) -> float:
    """Fraction of its compute a GPU keeps under a lowered power limit (1.0 when none is set)."""
    share = power_limit_share(gpu)
    return share ** POWER_CLOCK_EXPONENT if share else 1.0


def describe(gpu) -> str | None:
    """The reason line for a power-limited GPU (None when no lower limit is set)."""
    share = power_limit_share(gpu)
    if not share:
        return None
    return (f"{gpu.name} power-limited to {_watts(gpu.power_limit_w):.0f} W of {_watts(gpu.default_power_limit_w):.0f} W: "
            f"compute x{share ** POWER_CLOCK_EXPONENT:.2f} (clock ~ power^1/3), bandwidth unchanged")
