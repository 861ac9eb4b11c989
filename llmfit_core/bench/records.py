"""Bench records: model facts, prediction beside measurement, and the JSON record appended to the store."""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from pathlib import Path

from llmfit_core.api import fit_spec
from llmfit_core.backends import default_backend
from llmfit_core.bench.fingerprint import summary
from llmfit_core.bench.runner import BenchResult
from llmfit_core.hardware.fingerprint import fingerprint
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.model_spec import ModelSpec
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.throughput.calibration import CPU_BACKEND

RECORD_VERSION = 1
# ModelSpec fields kept in a record: enough to re-run the predictor at calibration time, nothing personal.
SPEC_FIELDS = ("arch", "params", "active_params", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim",
               "head_dim_v", "vocab_size", "max_context", "ffn_size", "sliding_window", "n_kv_layers", "n_experts",
               "n_experts_used", "expert_ffn_size", "tied_embeddings", "format", "quant", "file_bytes",
               "weight_bytes", "group_bytes", "layer_bytes", "tensor_types", "exact",
               "n_recurrent_layers", "recurrent_r", "recurrent_s", "recurrent_layers")


def read_spec(path: str | Path) -> ModelSpec:
    """The ModelSpec of a local GGUF."""
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
                calibrated: bool = False, backend: str = CPU_BACKEND, gpu_layers: int | None = 0) -> dict | None:
    """The pipeline's pp/tg prediction for this run, or None without model facts.

    `backend` and `gpu_layers` are what the run really used (a CPU run: llama.cpp-cpu, 0 layers; a GPU
    run: e.g. llama.cpp-cuda with its -ngl, None = every layer), so the prediction is for the same setup.
    """
    if spec is None:
        return None
    gpu = backend != CPU_BACKEND
    rep = fit_spec(spec, hardware=hw, context=n_ctx, backend=backend, prompt_tokens=max(pp, 1), gen_tokens=max(tg, 1),
                   gpu_layers=gpu_layers if gpu else None, calibrated=calibrated)
    out = {"pp_tok_s": float(rep.prefill_tok_s), "tg_tok_s": float(rep.decode_tok_s),
           "tg_range": list(rep.decode_tok_s_range or []), "backend": rep.backend}
    if gpu:
        out["gpu_layers"] = rep.gpu_layers
    return out


def used_backend(result: BenchResult, hw: HardwareProfile) -> str:
    """The llmfit backend the run really used.

    CPU when no layer was offloaded. Otherwise llama.cpp's own device list names it (the child reads the
    ggml device registry); when that is not available from this llama-cpp-python, it is derived from the
    hardware profile's first GPU vendor: nvidia -> llama.cpp-cuda, apple -> llama.cpp-metal,
    amd -> llama.cpp-rocm, anything else -> llama.cpp-vulkan (backends.default_backend, plus the vulkan
    default for a machine whose GPU the profiler did not see).
    """
    if result.n_gpu_layers <= 0:
        return CPU_BACKEND
    if result.gpu_backend:
        return result.gpu_backend
    be = default_backend(hw).name
    return be if be != CPU_BACKEND else "llama.cpp-vulkan"


def record_head(source: str, hw: HardwareProfile, spec: ModelSpec | None, path) -> dict:
    """The fields every store record starts with: version, id, time, source, hardware, anonymous model facts."""
    return {
        "version": RECORD_VERSION,
        "id": uuid.uuid4().hex,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "hardware_fingerprint": fingerprint(hw),
        "hardware": summary(hw),
        "model": model_facts(spec, path),
    }


def make_record(result: BenchResult, hw: HardwareProfile, spec: ModelSpec | None, prediction: dict | None,
                source: str = "local", memory_estimate_bytes: int | None = None) -> dict:
    """The JSON record of one bench run (schema version RECORD_VERSION).

    `settings.n_gpu_layers` is the number of layers really offloaded and `runtime.name` the backend really
    used (llama.cpp-cpu when nothing was offloaded); records without them (older ones) are CPU runs.
    """
    backend = used_backend(result, hw)
    settings = result.settings.to_dict()
    settings["n_gpu_layers"] = result.n_gpu_layers
    if result.settings.n_gpu_layers != result.n_gpu_layers:
        settings["n_gpu_layers_requested"] = result.settings.n_gpu_layers
    runtime = {"name": backend, "llama_cpp_python": result.llama_cpp_version}
    if backend != CPU_BACKEND and result.gpu_device:
        runtime["device"] = result.gpu_device
    return {
        **record_head(source, hw, spec, result.path),  # source: local | synthetic
        "settings": settings,
        "results": {t.test[:2]: {"test": t.test, "n_tokens": t.n_tokens, "tok_s": t.tok_s_mean,
                                 "tok_s_std": t.tok_s_std, "seconds": t.seconds} for t in result.tests},
        "peak_rss_bytes": result.peak_rss_bytes,
        "baseline_rss_bytes": result.baseline_rss_bytes,
        "memory_estimate_bytes": memory_estimate_bytes,
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,  # at the end
        "prediction": prediction,
        "runtime": runtime,
    }
