"""GPU board power limits: how much of its compute a GPU keeps when its owner lowers the power limit.

A GPU under sustained tensor load runs at the clock its power limit allows. Dynamic power is
P ~ C x V^2 x f, and along a GPU's voltage/frequency curve V rises roughly with f, so P ~ f^3 and the
clock a lower limit allows is f ~ P^(1/3): a 3090 limited to 280 W of its 350 W keeps (0.8)^(1/3) = 93%
of its clock, hence of its compute. Memory bandwidth is set by the memory clock, which a board power
limit leaves alone, so only compute-bound work (prompt processing) slows down.

Only a limit *below the board's own default* counts here (compute_fraction). A board whose quoted TFLOPS need
more power than its own default limit gives at that limit (a workstation or datacenter board of a consumer
die) is priced with board_power_fraction below, by the same law.
"""

from __future__ import annotations

import math

from llmfit_core.hardware.devices import lookup_device

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


# ---- board power as shipped: how much of its quoted tensor peak a board sustains ----
# NVIDIA quotes a chip's tensor TFLOPS at its boost clock; a board sustains that clock under a full tensor load only if
# its power limit allows it. Within one chip generation the large consumer board (RTX 2080 Ti, 3090, 4090, 5090) runs
# prompt matmuls at about its quoted rate (the roofline's CUDA efficiency is fitted on such boards), so its quoted TFLOPS
# per board watt is what that silicon needs; a board of the same generation quoted at more TFLOPS per watt (the
# workstation and datacenter boards of the same die: RTX 6000 Ada 364 TFLOPS at 300 W against the 4090's 330 at 450 W)
# cannot hold its boost clock and keeps (board W / needed W)^(1/3) of it (POWER_CLOCK_EXPONENT, as for a lowered
# limit). Board powers: NVIDIA's product pages / datasheets (total board power, default limit). Laptop GPUs are left out
# (their power is set by the laptop maker), so are the datacenter dies (GA100, GH100, GB100: their own generation,
# no consumer reference; Hopper's reachable fraction is HOPPER_MMA_SYNC_FRACTION in throughput.roofline).
BOARD_POWER_W = {
    # Turing (compute capability 7.5)
    "RTX 2060": 160, "RTX 2070": 175, "RTX 2080": 215, "RTX 2080 Super": 250, "RTX 2080 Ti": 250, "TITAN RTX": 280,
    "T4": 70,
    # Ampere GA10x (8.6)
    "RTX 3050": 130, "RTX 3060": 170, "RTX 3060 Ti": 200, "RTX 3070": 220, "RTX 3070 Ti": 290, "RTX 3080": 320,
    "RTX 3080 Ti": 350, "RTX 3090": 350, "RTX 3090 Ti": 450, "RTX A4000": 140, "RTX A5000": 230, "RTX A6000": 300,
    "A40": 300, "A10": 150,
    # Ada (8.9)
    "RTX 4060": 115, "RTX 4060 Ti": 160, "RTX 4060 Ti 16GB": 165, "RTX 4070": 200, "RTX 4070 Super": 220,
    "RTX 4070 Ti": 285, "RTX 4070 Ti Super": 285, "RTX 4080": 320, "RTX 4080 Super": 320, "RTX 4090": 450,
    "RTX 4000 Ada": 130, "RTX 5000 Ada": 250, "RTX 6000 Ada": 300, "L4": 72, "L40": 300, "L40S": 350,
    # Blackwell GB20x (12.0)
    "RTX 5060": 145, "RTX 5060 Ti": 180, "RTX 5070": 250, "RTX 5070 Ti": 300, "RTX 5080": 360, "RTX 5090": 575,
    "RTX PRO 6000 Blackwell": 600,
}
# The reference board of each generation (compute capability): its quoted TFLOPS per board watt is sustained.
BOARD_POWER_REFERENCE = {"7.5": "RTX 2080 Ti", "8.6": "RTX 3090", "8.9": "RTX 4090", "12.0": "RTX 5090"}


def describe_board_power(name: str, fp16_tflops, compute_capability) -> str | None:
    """The reason line for a board that cannot sustain its quoted tensor rate at its own power (None otherwise)."""
    keep = board_power_fraction(name, fp16_tflops, compute_capability)
    if keep >= 1.0:
        return None
    ref = BOARD_POWER_REFERENCE[str(compute_capability).strip()]
    return (f"{name} is quoted at {float(fp16_tflops):.0f} FP16 TFLOPS on a {BOARD_POWER_W[lookup_device(name).name]} W board: "
            f"at the {ref}'s TFLOPS per watt that needs more power, so it sustains a lower clock: compute x{keep:.2f}")


def board_power_fraction(name: str, fp16_tflops, compute_capability) -> float:
    """Share of its quoted tensor TFLOPS a board keeps at its own power limit (1.0 when it is not power-bound or
    when the board or its generation's reference is not in BOARD_POWER_W)."""
    dev = lookup_device(str(name or ""))
    ref_name = BOARD_POWER_REFERENCE.get(str(compute_capability or "").strip())
    watts = BOARD_POWER_W.get(dev.name) if dev else None
    ref = lookup_device(ref_name) if ref_name else None
    tf = _watts(fp16_tflops)
    if not (watts and ref and ref.fp16_tflops and tf):
        return 1.0
    needed = tf / (ref.fp16_tflops / BOARD_POWER_W[ref.name])
    return min(1.0, (watts / needed) ** POWER_CLOCK_EXPONENT)
