"""Timings learned from normal use: a guarded mlx-lm generation records mlx-lm's own statistics.

`mlx_lm.stream_generate` (and `mlx_lm.generate`, which iterates it) yields `GenerationResponse`s whose last one
carries the figures `generate(verbose=True)` prints: `prompt_tokens`, `prompt_tps` (prompt processing, timed to
the first token), `generation_tokens`, `generation_tps` and `peak_memory` (mlx_lm/generate.py stream_generate).
With the guard installed (and `LLMFIT_RECORD` not 0) that last response is appended to the local bench store as
a record with `source: "observed"`, shaped like the MLX timing records of `llmfit_mlx.calibrate` (runtime "mlx"),
so `llmfit bench --history` lists it. The function object is diverted in place (llmfit_core.patching), so
`from mlx_lm import stream_generate` done before the guard is covered too. The model's facts come from the
directory `mlx_lm.load` read it from (tagged on the model by the load guard, llmfit_mlx.autopilot); a model
loaded otherwise is not recorded. Nothing leaves the machine; a failure is one warning at most.
"""

from __future__ import annotations

import importlib

from llmfit_core import patching
from llmfit_core.bench.observed import MIN_GEN_TOKENS, enabled, load_average, record_safely

from .autopilot import MODEL_PATH_ATTR  # set on a loaded model by the load guard

SPEC_ATTR = "_llmfit_spec"


def observed_record(model, last, kwargs: dict) -> dict | None:
    """The bench-store record of one generation from its last GenerationResponse (None: nothing worth keeping)."""
    import mlx.core as mx  # lazy: optional runner (the guard loads this module without mlx)
    import mlx_lm  # lazy: optional runner (as above)

    from llmfit_core.bench.fingerprint import this_machine  # lazy: start-up time (the guard loads this module)

    from .calibrate import MLXRun, make_record, spec_for_dir  # lazy: start-up time (bench records: 0.2 s)

    path = getattr(model, MODEL_PATH_ATTR, None)
    n_p, n_g = int(last.prompt_tokens), int(last.generation_tokens)
    if path is None or n_g < MIN_GEN_TOKENS or last.generation_tps <= 0 or last.prompt_tps <= 0:
        return None
    spec = getattr(model, SPEC_ATTR, None)
    if spec is None:
        spec = spec_for_dir(path)
        setattr(model, SPEC_ATTR, spec)
    device = "gpu" if mx.metal.is_available() else "cpu"
    run = MLXRun(model_dir=str(path), prompt_tokens=n_p, gen_tokens=n_g, prefill_s=n_p / last.prompt_tps,
                 decode_s=n_g / last.generation_tps, prompt_tps=float(last.prompt_tps),
                 generation_tps=float(last.generation_tps), peak_memory_bytes=int(last.peak_memory * 1e9),
                 device=device, mlx_version=mx.__version__)
    rec = make_record(run, this_machine(), spec, source="observed")
    rec["settings"]["max_kv_size"] = kwargs.get("max_kv_size")
    rec["runtime"]["mlx_lm"] = getattr(mlx_lm, "__version__", None)
    rec["load_avg"] = load_average()
    return rec


def _observed(responses, model, kwargs):
    """Pass the responses through; record the last one once the generation ends (exhausted or closed)."""
    last = None
    try:
        for last in responses:
            yield last
    finally:
        if last is not None:
            record_safely(lambda: observed_record(model, last, kwargs))


def _stream_generate(original, args, kwargs):
    """What a diverted stream_generate runs: the original, its responses watched when recording is on."""
    responses = original(*args, **kwargs)
    if not enabled():
        return responses
    model = args[0] if args else kwargs.get("model")
    return _observed(responses, model, kwargs)


def patch(mlx_lm):
    """Divert `mlx_lm.generate.stream_generate` in place; returns the undo."""
    gen = importlib.import_module("mlx_lm.generate")  # the package's `generate` attribute is the function
    diversion = patching.divert(gen.stream_generate, _stream_generate)
    return lambda: patching.restore(diversion)
