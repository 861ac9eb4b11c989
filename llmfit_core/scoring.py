"""The fit score (0–100): does it fit, and is it fast enough to be pleasant?

score = verdict base + speed points
  verdict base: runs 45, tight 30, offload 25, no-fit 0
  speed points: 55 × clamp(ln(decode tok/s) / ln(60), 0, 1)  (1 tok/s → 0, ~8 tok/s → 28, 20 → 40, ≥ 60 → 55)
A no-fit model scores 0 whatever its hypothetical speed.
"""

from __future__ import annotations

import math

from llmfit_core.quant_quality import quality_penalty
from llmfit_core.verdict import Verdict

VERDICT_BASE = {Verdict.RUNS: 45, Verdict.TIGHT: 30, Verdict.OFFLOAD: 25, Verdict.NO_FIT: 0}
SPEED_POINTS = 55
SPEED_FULL_AT = 60.0  # tok/s where speed points saturate


def speed_points(decode_tok_s: float) -> float:
    """Points for generation speed on a log scale (reading speed matters, 200 vs 100 tok/s much less)."""
    if not decode_tok_s or decode_tok_s <= 1.0 or not math.isfinite(decode_tok_s):
        return 0.0
    return SPEED_POINTS * min(1.0, math.log(decode_tok_s) / math.log(SPEED_FULL_AT))


def fit_score(verdict: str, decode_tok_s: float) -> int:
    """Combine verdict and decode speed into a 0–100 score."""
    if verdict == Verdict.NO_FIT:
        return 0
    return int(round(min(100.0, VERDICT_BASE.get(verdict, 0) + speed_points(decode_tok_s))))


# Choosing among the quantizations of ONE model for a machine (`hf ls` / `hf search` "best here"; the same terms as
# recommend's per-model choice, recommend/ranking.py): quality lost to quantization against speed and headroom.
# Not the fit score: a faster, lower-quality quant can have the higher fit score and still not be the better pick.
PICK_SPEED_POINTS = 15.0
PICK_HEADROOM = {Verdict.RUNS: 5.0, Verdict.TIGHT: -5.0, Verdict.OFFLOAD: -10.0}


def quant_pick_points(quant: str | None, verdict: str | None, decode_tok_s: float | None) -> float | None:
    """Points of one quantization of a model here: −10 × ppl delta over F16 + headroom + speed (None: no-fit)."""
    if verdict not in PICK_HEADROOM:
        return None
    speed = PICK_SPEED_POINTS / SPEED_POINTS * speed_points(decode_tok_s or 0.0)
    return -quality_penalty(quant or "F16") + PICK_HEADROOM[verdict] + speed
