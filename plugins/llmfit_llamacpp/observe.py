"""Timings learned from normal use: a guarded `Llama`'s completions record llama.cpp's own counters.

With the guard installed (and `LLMFIT_RECORD` not 0), each `Llama.create_completion` (also behind `__call__`
and `create_chat_completion`) reads llama.cpp's performance counters before and after
(`llama_perf_context`: prompt tokens / ms, generated tokens / ms) and appends the difference to the local bench
store as a record with `source: "observed"`, the same shape as a `llmfit bench` record (model facts, settings,
pp/tg results, runtime), so `llmfit calibrate` can use it and `llmfit bench --history` lists it. Nothing leaves
the machine. Any failure here is one warning per process at most; the user's call always returns as before.
"""

from __future__ import annotations

import functools

from llmfit_core.autopilot import patch_attr
from llmfit_core.bench.observed import MIN_GEN_TOKENS, enabled, load_average, record_safely
from llmfit_llamacpp import detect_build


def _counters(llama_cpp, llm) -> tuple[int, float, int, float]:
    """(prompt tokens, prompt ms, generated tokens, generation ms) so far in this context."""
    d = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return int(d.n_p_eval), float(d.t_p_eval_ms), int(d.n_eval), float(d.t_eval_ms)


def observed_record(llm, before, after, llama_cpp) -> dict | None:
    """The bench-store record of one completion (None when it timed too little to say anything)."""
    from llmfit_core.bench.fingerprint import this_machine  # lazy: start-up time (the guard loads this module)
    from llmfit_core.bench.records import read_spec, record_head  # lazy: start-up time (bench records: 0.2 s)

    n_p, t_p, n_g, t_g = (a - b for a, b in zip(after, before))
    if n_g < MIN_GEN_TOKENS or t_g <= 0:
        return None
    spec = getattr(llm, "_llmfit_spec", None)
    if spec is None:
        spec = read_spec(llm.model_path)
        llm._llmfit_spec = spec
    n_layer = int(llama_cpp.llama_model_n_layer(llm.model))
    ngl = min(int(llm.model_params.n_gpu_layers), n_layer + 1)
    build = detect_build()
    backend = build.backend if ngl > 0 and build.gpu_offload else "llama.cpp-cpu"
    hw = this_machine()
    results = {"tg": {"test": f"tg{n_g}", "n_tokens": n_g, "tok_s": n_g / (t_g / 1000.0), "seconds": [t_g / 1000.0]}}
    if n_p > 0 and t_p > 0:
        results["pp"] = {"test": f"pp{n_p}", "n_tokens": n_p, "tok_s": n_p / (t_p / 1000.0), "seconds": [t_p / 1000.0]}
    cp = llm.context_params
    return {
        **record_head("observed", hw, spec, llm.model_path),
        "settings": {"n_ctx": int(llm.n_ctx()), "n_batch": int(cp.n_batch), "n_ubatch": int(cp.n_ubatch),
                     "threads": int(llm.n_threads), "threads_batch": int(llm.n_threads_batch),
                     "pp": max(n_p, 0), "tg": n_g, "n_gpu_layers": ngl, "flash_attn": int(cp.flash_attn_type),
                     "type_k": int(cp.type_k), "type_v": int(cp.type_v)},
        "results": results,
        "prediction": None,  # calibration re-runs today's predictor on the model facts
        "runtime": {"name": backend, "llama_cpp_python": build.version},
        "load_avg": load_average(),
    }


def _record(llm, before, llama_cpp) -> None:
    """Append the completion's record; never raises (one warning per process at most)."""
    record_safely(lambda: observed_record(llm, before, _counters(llama_cpp, llm), llama_cpp))


def _streamed(chunks, llm, before, llama_cpp):
    """Pass a streamed completion through; record once it is exhausted."""
    try:
        yield from chunks
    finally:
        _record(llm, before, llama_cpp)


def patch(llama_cpp):
    """Wrap `Llama.create_completion`; returns the undo."""

    def make(original):
        @functools.wraps(original)
        def create_completion(self, *args, **kwargs):
            before = None
            if enabled():
                try:
                    before = _counters(llama_cpp, self)
                except Exception:
                    before = None
            out = original(self, *args, **kwargs)
            if before is None:
                return out
            if kwargs.get("stream"):
                return _streamed(out, self, before, llama_cpp)
            _record(self, before, llama_cpp)
            return out

        return create_completion

    return patch_attr(llama_cpp.Llama, "create_completion", make)
