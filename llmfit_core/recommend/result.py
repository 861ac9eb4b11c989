"""What `recommend` returns: the ranked rows and the facts of the ranking (`to_dict()` is `recommend --json`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmfit_core.catalog.entry import CatalogEntry
from llmfit_core.constraints import Constraints
from llmfit_core.context_fit import max_context
from llmfit_core.report import FitReport


@dataclass
class Recommendation:
    """One recommended model with its chosen quantization."""

    entry: CatalogEntry
    quant: str
    rank_score: float
    quality: float
    total_bytes: int
    gpu_bytes: int
    cpu_bytes: int
    verdict: str
    fits: bool
    decode_tok_s: float
    prefill_tok_s: float
    context: int
    rejected_better: str | None = None  # why the next better quantization was not chosen
    similar: list[str] = field(default_factory=list)  # same architecture and size, same figures (fine-tunes)
    report: FitReport | None = None  # from the full pipeline (top rows), else from the vectorised figures
    n_cpu_moe: int = 0  # MoE expert offload: llama.cpp --n-cpu-moe N (vectorised estimate)
    rank_terms: dict[str, float] = field(default_factory=dict)  # the terms rank_score is the sum of (points.py)

    vector_hw: tuple | None = None  # (hardware, backend) of a vectorised row: its max_context is computed when asked

    @property
    def max_context(self) -> int | None:
        """The largest context that fits here with this quant (context_fit: fit's report, or computed on first use
        for a row the full pipeline did not estimate, so ranking stays fast)."""
        if self.vector_hw is not None and self.report is not None:
            self.report.max_context = self._largest_context(*self.vector_hw)
            self.vector_hw = None
        return getattr(self.report, "max_context", None)

    def _largest_context(self, hw, backend: str) -> int | None:
        """context_fit's largest context for a row the full pipeline did not estimate, holding its placement kind
        (all layers on the GPU, or MoE expert offload) as fit's report does."""
        e = self.entry
        on_gpu = bool(self.gpu_bytes) and self.gpu_bytes >= self.total_bytes
        return max_context(e.to_spec(self.quant), hw, backend, cpu_moe=bool(self.n_cpu_moe),
                           gpu_layers=e.n_layers + 1 if on_gpu and not self.n_cpu_moe else None)  # + the output layer

    def to_dict(self) -> dict:
        """FitReport.to_dict() (the `fit --json` contract) plus the catalog id and ranking facts."""
        d = self.report.to_dict() if self.report is not None else {}
        d.update({
            "model_id": self.entry.id,
            "family": self.entry.family,
            "license": self.entry.license,
            "uses": list(self.entry.uses),
            "rank_score": round(self.rank_score, 2),  # kept for existing scripts: the same value as rank_points
            "rank_points": round(self.rank_score, 2),
            "rank_terms": {k: round(v, 2) for k, v in self.rank_terms.items()},
            "publisher": self.entry.publisher or "private",
            "quality": round(self.quality, 2),
            "rejected_better": self.rejected_better,
            "similar_models": list(self.similar),
            "max_context": self.max_context,
        })
        return d


@dataclass
class RecommendResult:
    hardware_name: str
    backend: str
    context: int | None
    constraints: Constraints
    items: list[Recommendation] = field(default_factory=list)
    models_considered: int = 0
    pairs_considered: int = 0
    pairs_passing: int = 0
    rank_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "hardware": self.hardware_name,
            "backend": self.backend,
            "constraints": dict(self.constraints.describe()),
            "models_considered": self.models_considered,
            "pairs_considered": self.pairs_considered,
            "pairs_passing": self.pairs_passing,
            "recommendations": [r.to_dict() for r in self.items],
            "notes": list(self.notes),
        }
