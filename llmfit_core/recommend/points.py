"""Rank points: the table of terms a recommendation's rank is the sum of (higher is better).

`rank_points` in --json (also under the older key `rank_score`; not fit's 0-100 `score`), printed term by term
(`rank_terms`) by `recommend --explain`:
    size         = 30 + 12·log2(effective params in billions); MoE: total^0.8 · active^0.2 (fine-grained MoE models
                   score near dense models of their total size: Qwen3 report, 30B-A3B vs 32B)
    generation   = 10 per year since 2024-01 from the release date, clamped to [-10, 25] (newer models are better at
                   the same size); undated entries: FAMILY_BONUS
    quant loss   = −10 × perplexity increase over F16 (llama.cpp quantize table, quant_quality.py)
    speed        = 20 × clamp(ln(decode tok/s ÷ 5) ÷ ln(200 ÷ 5), 0, 1)
    fit          = runs +5, tight −5, offload −10
    context      = 2 × clamp(log2(trained context ÷ 8k) ÷ 4, 0, 1) (long-context models: up to +2 at 128k)
    first-party  = +4 for the publisher's own release (or a listed well-known tune, or your private entry)
    instruct     = +3 for instruction-tuned (chat) models: what people run interactively
    specialist   = +3 when the model's own name says it is made for an asked-for use (a Coder for "use coding")
    availability = 2 per known GGUF repo (max 3) + 1 per merged re-upload (max 3): models people actually run
                   (the source list has no download counts; GGUF conversions by the big publishers are the proxy)
"""

from __future__ import annotations

import math

import numpy as np

from llmfit_core.catalog.columns import use_bits
from llmfit_core.scoring import PICK_HEADROOM

MOE_TOTAL_WEIGHT = 0.8  # MoE effective size = total^0.8 · active^0.2
GENERATION_PER_YEAR = 10.0
GENERATION_RANGE = (-10.0, 25.0)
# Newer generations beat older ones at the same size (published benchmark standings); small, documented nudges.
FAMILY_BONUS = {
    "qwen-3": 6, "qwen-3.5": 7, "gpt-oss": 6, "gemma-3": 5, "gemma-4": 7, "phi-4": 5, "llama-3.3": 4, "llama-3.1": 3,
    "llama-3.2": 3, "llama-3": 2, "qwen-2.5": 3, "deepseek": 4, "mistral": 0, "llama-2": -8, "llama": 0,
    "gpt2": -20, "opt": -15, "bloom": -15, "pythia": -15,
}
FIRST_PARTY_POINTS = 4.0
INSTRUCT_POINTS = 3.0  # instruction-tuned models are what people run interactively; base models rank a little lower
SPECIALIST_POINTS = 3.0
SPEED_POINTS, SPEED_FLOOR, SPEED_TOP = 20.0, 5.0, 200.0
# the fit term per verdict (the same headroom terms as fit's choice among one model's quantizations); a verdict not
# listed (no-fit) only ranks with --include-no-fit, far below the rest
FIT_POINTS = PICK_HEADROOM
NO_FIT_POINTS = -100.0
GENERAL_USES = frozenset({"chat", "tool-use"})  # uses every assistant serves: no specialist points


def size_points(params, active, moe):
    """Size term: 30 + 12·log2(effective billions); MoE effective size total^0.8 · active^0.2."""
    eff = np.where(moe, params ** MOE_TOTAL_WEIGHT * active ** (1 - MOE_TOTAL_WEIGHT), params) / 1e9
    return 30.0 + 12.0 * np.log2(np.maximum(eff, 0.01))


def generation_points(released: str | None, family: str) -> float:
    """Generation term: 10 points per year since 2024-01 (release date), clamped; undated: the family bonus."""
    rel = released or ""
    if len(rel) >= 7 and rel[:4].isdigit() and rel[5:7].isdigit():
        years = int(rel[:4]) - 2024 + (int(rel[5:7]) - 1) / 12
        return float(min(max(GENERATION_PER_YEAR * years, GENERATION_RANGE[0]), GENERATION_RANGE[1]))
    return float(FAMILY_BONUS.get(family, FAMILY_BONUS.get(family.split("-")[0], 0)))


def context_points(max_context):
    """Context term: 2 × clamp(log2(trained context ÷ 8k) ÷ 4, 0, 1)."""
    return 2.0 * np.clip(np.log2(np.maximum(max_context, 1.0) / 8192) / 4, 0.0, 1.0)


def availability_points(n_gguf, n_mirrors):
    """2 per known GGUF repo (max 3) + 1 per merged re-upload (max 3)."""
    return 2.0 * np.minimum(n_gguf, 3) + np.minimum(n_mirrors, 3)


def speed_points(decode):
    """Speed term: 20 × clamp(ln(tok/s ÷ 5) ÷ ln(200 ÷ 5), 0, 1)."""
    return SPEED_POINTS * np.clip(np.log(np.maximum(decode, 1e-9) / SPEED_FLOOR) / math.log(SPEED_TOP / SPEED_FLOOR),
                                  0.0, 1.0)


def fit_points(verdict) -> np.ndarray:
    """Fit term per verdict (array of verdict strings)."""
    return np.select([verdict == v for v in FIT_POINTS], list(FIT_POINTS.values()), NO_FIT_POINTS)


def specialist_points(name_uses, uses) -> np.ndarray:
    """+3 for a model made for an asked-for use (its own name says so: a Coder when coding is asked for);
    `name_uses`: bit masks of the uses in the models' own names (catalog.columns.use_bits)."""
    return np.where(np.asarray(name_uses) & use_bits(set(uses) - GENERAL_USES), SPECIALIST_POINTS, 0.0)
