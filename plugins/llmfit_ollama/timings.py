"""The timings Ollama reports, as "observed" bench records (`llmfit ollama timings NAME`).

Every `/api/generate` answer ends with Ollama's own counters: `prompt_eval_count` / `prompt_eval_duration`
and `eval_count` / `eval_duration` (nanoseconds). They are kept in the local bench store like a guarded
llama-cpp-python generation's (source "observed"), so `llmfit calibrate` can use them and `llmfit bench
--history` lists them. Nothing leaves the machine: the answers come from the local server or a saved file.
"""

from __future__ import annotations

from llmfit_core.backends import default_backend

from . import localapi

MIN_GEN_TOKENS = 4  # fewer generated tokens time the call, not the decoder
GENERATE_TIMEOUT = 600.0  # one short generation, a cold load included


def generate_once(model: str, prompt: str, num_predict: int) -> dict:
    """One non-streamed generation on the local server; its final answer (with the counters)."""
    return localapi._request("POST", "/api/generate", {"model": model, "prompt": prompt, "stream": False,
                                                       "options": {"num_predict": int(num_predict)}},
                             timeout=GENERATE_TIMEOUT)


def _on_gpu(model: str) -> bool | None:
    """Whether the server holds `model` in VRAM (/api/ps size_vram), None when it does not say."""
    try:
        for m in localapi.running_models():
            if model in (m.get("name"), m.get("model")) or str(m.get("name", "")).split(":")[0] == model:
                return int(m.get("size_vram") or 0) > 0
    except Exception:
        return None
    return None


def observed_record(model: str, answer: dict, hw, on_gpu: bool | None = None) -> dict | None:
    """The bench-store record of one answer's counters (None when it generated too little)."""
    from llmfit_core.bench.records import record_head  # lazy: start-up time (`ollama ls`/`pull` load this module)
    from llmfit_core.bench.runner import default_threads  # lazy: start-up time (as above)
    from llmfit_core.resolve import resolve_model  # lazy: start-up time (as above)

    def count(k):
        v = answer.get(k)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else 0

    n_g, t_g = count("eval_count"), count("eval_duration") / 1e9
    n_p, t_p = count("prompt_eval_count"), count("prompt_eval_duration") / 1e9
    if n_g < MIN_GEN_TOKENS or t_g <= 0:
        return None
    ref = model if model.startswith("ollama:") else "ollama:" + model
    spec = resolve_model(ref)
    results = {"tg": {"test": f"tg{n_g}", "n_tokens": n_g, "tok_s": n_g / t_g, "seconds": [t_g]}}
    if n_p and t_p > 0:
        results["pp"] = {"test": f"pp{n_p}", "n_tokens": n_p, "tok_s": n_p / t_p, "seconds": [t_p]}
    backend = default_backend(hw).name if on_gpu else "llama.cpp-cpu"
    defaults = (spec.metadata or {}).get("runtime_defaults") or {}
    return {
        **record_head("observed", hw, spec, spec.ref),
        "settings": {"n_ctx": int(defaults.get("context") or 4096), "threads": default_threads(), "pp": n_p,
                     "tg": n_g, "n_gpu_layers": -1 if on_gpu else 0},
        "results": results,
        "prediction": None,
        "runtime": {"name": backend, "runner": "ollama"},
    }
