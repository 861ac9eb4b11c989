"""Recommendations: rank every catalog model × quantization for one hardware profile under constraints.

- `arrays`: per-model columns of the catalog (architecture figures, per-model rank terms), built once per catalog.
- `candidates`: which models and which quantizations the constraints admit.
- `evaluation`: the vectorised memory / placement / speed / rank of every model × quantization (`Evaluation`).
- `ranking`: the order, the chosen quantization per model, the full re-score of the top rows (`recommend`,
  `recommend_quants`); `result`: what they return; `points`: the rank points table.
"""

from llmfit_core.recommend.budgets import MemoryBudgets, budgets, resolve_hw
from llmfit_core.recommend.ranking import recommend, recommend_quants
from llmfit_core.recommend.result import Recommendation, RecommendResult

__all__ = ["MemoryBudgets", "Recommendation", "RecommendResult", "budgets", "recommend", "recommend_quants",
           "resolve_hw"]
