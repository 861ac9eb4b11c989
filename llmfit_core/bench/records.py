"""Bench records: model facts, prediction beside measurement, and the JSON record appended to the store."""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from pathlib import Path

from llmfit_core.bench.fingerprint import fingerprint, summary
from llmfit_core.bench.runner import BenchResult
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.model_spec import ModelSpec

RECORD_VERSION = 1
# ModelSpec fields kept in a record: enough to re-run the predictor at calibration time, nothing personal.
SPEC_FIELDS = ("arch", "params", "active_params", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim",
               "head_dim_v", "vocab_size", "max_context", "ffn_size", "sliding_window", "n_kv_layers", "n_experts",
               "n_experts_used", "expert_ffn_size", "tied_embeddings", "format", "quant", "file_bytes",
               "weight_bytes", "group_bytes", "layer_bytes", "tensor_types", "exact")


def read_spec(path: str | Path) -> ModelSpec | None:
    """The ModelSpec of a local GGUF via the readers package, or None when it is not available."""
    try:
        from llmfit_core.readers.gguf import read_gguf
    except ImportError:
        return None
    return read_gguf(str(path))


def model_facts(spec: ModelSpec | None, path: str | Path) -> dict:
    """Anonymous model facts for a record (no file name or path)."""
    if spec is None:
        return {"format": "gguf", "file_bytes": Path(path).stat().st_size}
    d = spec.to_dict()
    return {k: d.get(k) for k in SPEC_FIELDS}


def spec_from_facts(facts: dict, ref: str = "bench-record") -> ModelSpec | None:
    """Rebuild a ModelSpec from a record's model facts (None when they are too incomplete)."""
    need = ("arch", "params", "active_params", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim",
            "vocab_size", "max_context")
    if any(facts.get(k) is None for k in need):
        return None
    kw = {k: facts[k] for k in SPEC_FIELDS if k in facts and facts[k] is not None}
    return ModelSpec(ref=ref, **kw)


def predict_for(spec: ModelSpec | None, hw: HardwareProfile, n_ctx: int, pp: int, tg: int,
                calibrated: bool = False) -> dict | None:
    """The pipeline's CPU pp/tg prediction for this run (bench runs n_gpu_layers=0), or None without a predictor."""
    if spec is None:
        return None
    try:
        from llmfit_core.api import fit_spec

        rep = fit_spec(spec, hardware=hw, context=n_ctx, backend="llama.cpp-cpu", prompt_tokens=max(pp, 1), gen_tokens=max(tg, 1),
                       calibrated=calibrated)
    except ImportError:
        return None
    return {"pp_tok_s": float(rep.prefill_tok_s), "tg_tok_s": float(rep.decode_tok_s),
            "tg_range": list(rep.decode_tok_s_range or []), "backend": rep.backend}


def make_record(result: BenchResult, hw: HardwareProfile, spec: ModelSpec | None, prediction: dict | None,
                source: str = "local", memory_estimate_bytes: int | None = None) -> dict:
    """The JSON record of one bench run (schema version RECORD_VERSION)."""
    return {
        "version": RECORD_VERSION,
        "id": uuid.uuid4().hex,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source,  # local | synthetic
        "hardware_fingerprint": fingerprint(hw),
        "hardware": summary(hw),
        "model": model_facts(spec, result.path),
        "settings": result.settings.to_dict(),
        "results": {t.test[:2]: {"test": t.test, "n_tokens": t.n_tokens, "tok_s": t.tok_s_mean,
                                 "tok_s_std": t.tok_s_std, "seconds": t.seconds} for t in result.tests},
        "peak_rss_bytes": result.peak_rss_bytes,
        "baseline_rss_bytes": result.baseline_rss_bytes,
        "memory_estimate_bytes": memory_estimate_bytes,
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,  # at the end
        "prediction": prediction,
        "runtime": {"name": "llama.cpp-cpu", "llama_cpp_python": result.llama_cpp_version},
    }
