"""FitReport: the answer for one model on one machine; `to_dict()` is the `fit --json` contract."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the objects behind a report; report.py stays importable without the estimator's numpy
    from llmfit_core.hardware.profile import HardwareProfile
    from llmfit_core.memory import MemoryEstimate
    from llmfit_core.model_spec import ModelSpec
    from llmfit_core.placement import Placement
    from llmfit_core.settings import RunSettings
    from llmfit_core.throughput.predict import ThroughputPrediction

from llmfit_core.verdict import Verdict


@dataclass
class MemoryDetail:
    """What the four parts of MemoryBreakdown hold (bytes): the contract's `memory.detail`. The optional parts
    (None) appear in the JSON only when this report has them."""

    output_bytes: int = 0  # llama.cpp's output (logits) buffer, in the compute part
    repack_bytes: int = 0  # the CPU_REPACK copy of weights (replaces its mapped original: memory.py)
    repack_mapped_bytes: int = 0  # the mapped originals of repacked weights: allocated, not resident
    recurrent_state_bytes: int = 0  # recurrent layers' state, in the KV part
    expert_copy_bytes: int | None = None  # expert offload: one RAM layer's experts copied to the GPU for prefill
    extra_gpu_context_bytes: int | None = None  # several GPUs: the runtime contexts beyond the first (overhead)
    mmproj_bytes: int | None = None  # the vision projector companion (--mmproj)
    draft_bytes: int | None = None  # the draft model companion (--draft)
    allocated_bytes: int = 0  # llama.cpp's buffer sum (its log), incl. repack_mapped_bytes

    def to_dict(self) -> dict:
        return {f.name: int(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass
class MemoryBreakdown:
    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    compute_bytes: int = 0
    overhead_bytes: int = 0
    gpu_bytes: int = 0
    cpu_bytes: int = 0
    detail: MemoryDetail | None = None  # None: figures without the parts (recommend's vectorised rows): "detail": {}

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.overhead_bytes

    def to_dict(self) -> dict:
        return {
            "weights_bytes": int(self.weights_bytes),
            "kv_cache_bytes": int(self.kv_cache_bytes),
            "compute_bytes": int(self.compute_bytes),
            "overhead_bytes": int(self.overhead_bytes),
            "total_bytes": int(self.total_bytes),
            "gpu_bytes": int(self.gpu_bytes),
            "cpu_bytes": int(self.cpu_bytes),
            "detail": self.detail.to_dict() if self.detail is not None else {},
        }


@dataclass
class FitReport:
    model_ref: str
    arch: str
    params: int
    active_params: int
    quant: str | None
    file_bytes: int | None
    hardware_name: str
    backend: str
    context: int
    memory: MemoryBreakdown
    gpu_layers: int
    total_layers: int
    fits: bool
    verdict: Verdict
    score: int
    prefill_tok_s: float
    decode_tok_s: float
    decode_tok_s_range: tuple[float, float]
    reasons: list[str] = field(default_factory=list)
    prefill_tok_s_range: tuple[float, float] | None = None
    prompt_tokens: int = 512
    gen_tokens: int = 128
    depth: int = 0  # tokens already in the context before the prompt (llama-bench -d)
    n_cpu_moe: int = 0  # llama.cpp --n-cpu-moe: expert weights of the first N layers in RAM (0 = layer placement)
    max_context: int | None = None  # the largest context that fits with these settings (context_fit); None: not 512
    # the objects behind the report, for callers that want more than the contract (not in to_dict)
    spec: ModelSpec | None = field(default=None, repr=False)
    hardware: HardwareProfile | None = field(default=None, repr=False)  # the machine (before companions' share)
    settings: RunSettings | None = None  # what was priced, every default resolved (context, KV types, n_seq, ...)
    max_context_settings: RunSettings | None = field(default=None, repr=False)  # what max_context held fixed
    memory_estimate: MemoryEstimate | None = field(default=None, repr=False)  # the estimator's full figure
    placement: Placement | None = field(default=None, repr=False)  # the GPU/CPU split, per device
    throughput: ThroughputPrediction | None = field(default=None, repr=False)  # the speed prediction behind the tok/s

    def to_dict(self) -> dict:
        """The `llmfit fit --json` contract (design.md), exactly."""
        return {
            "model": {
                "ref": self.model_ref,
                "arch": self.arch,
                "params": int(self.params),
                "active_params": int(self.active_params),
                "quant": self.quant,
                "file_bytes": None if self.file_bytes is None else int(self.file_bytes),
            },
            "hardware": {"name": self.hardware_name},
            "backend": self.backend,
            "context": int(self.context),
            "max_context": None if self.max_context is None else int(self.max_context),
            "memory": self.memory.to_dict(),
            "gpu_layers": int(self.gpu_layers),
            "total_layers": int(self.total_layers),
            "n_cpu_moe": int(self.n_cpu_moe),
            "fits": bool(self.fits),
            "verdict": Verdict(self.verdict).value,
            "score": int(self.score),
            "prefill_tok_s": round(float(self.prefill_tok_s), 2),
            "decode_tok_s": round(float(self.decode_tok_s), 2),
            "decode_tok_s_range": [round(float(x), 2) for x in self.decode_tok_s_range],
            "prefill_tok_s_range": (None if self.prefill_tok_s_range is None
                                    else [round(float(x), 2) for x in self.prefill_tok_s_range]),
            "depth": int(self.depth),
            "reasons": list(self.reasons),
        }
