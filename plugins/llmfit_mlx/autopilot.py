"""mlx-lm under the load guard: `mlx_lm.load` (any caller: the patch is on `mlx_lm.utils.load_model`, which
`load` looks up at call time, after the download) and, in auto mode, the KV size of generation.

MLX keeps the whole model in the GPU's share of unified memory (Metal's recommended working set, which
mlx-lm's generate wires: generate.wired_limit) and grows an unbounded KV cache unless `max_kv_size` is given
(generate.generate_step: then a rotating cache of that many tokens). So at load the decision is the largest
context whose weights + KV + compute fit that limit (llmfit_core.context_fit, backend "mlx"); in auto mode
a generation that passes neither `max_kv_size` nor a `prompt_cache` gets `max_kv_size` = that context when
it is below the trained context (where the KV would otherwise outgrow the memory).
"""

from __future__ import annotations

import functools
import importlib
import os

from llmfit_core.autopilot import LoadDecision, LoadGuard, patch_attr

RUNNER = "mlx-lm"
MAX_KV_ATTR = "_llmfit_max_kv_size"  # set on the loaded model in auto mode
MODEL_PATH_ATTR = "_llmfit_model_path"  # the directory it was loaded from (read by observe.py)


def decide(model_path: str, guard: LoadGuard) -> LoadDecision:
    """The decision for loading the mlx-lm model directory `model_path`."""
    from llmfit_core.api import fit_spec  # lazy: start-up time (predictor: 0.1-0.3 s, only at a model load)
    from llmfit_core.context_fit import context_fit  # lazy: start-up time (as above)
    from llmfit_core.hardware import registry  # lazy: start-up time (as above)
    from llmfit_core.readers.local import read_local  # lazy: start-up time (as above)

    spec = read_local(model_path)
    if guard.target_hardware is None:
        registry.clear_detection_cache()  # the memory free now, not at the process start
    hw = registry.resolve_hardware(guard.target_hardware)
    cf = context_fit(spec, hw, "mlx")
    trained = int(spec.max_context or 0)
    n_ctx = cf.max_context or min(trained or 4096, 4096)
    rep = fit_spec(spec, hardware=hw, context=n_ctx, backend="mlx")
    plc = rep.placement
    budget = max((int(g["capacity_bytes"]) for g in plc.per_gpu), default=0) or int(plc.ram_capacity_bytes)
    reasons = list(cf.reasons) + [r for r in rep.reasons if r not in cf.reasons][:3]
    return LoadDecision(runner=RUNNER, model=str(model_path), n_ctx=int(n_ctx), n_gpu_layers=int(rep.gpu_layers),
                        predicted_total_bytes=int(rep.memory.total_bytes), budget_bytes=budget,
                        fits=bool(rep.fits) and cf.max_context is not None,
                        chosen=["n_ctx"] if guard.chooses and trained and n_ctx < trained else [], reasons=reasons)


def patch(mlx_lm, guard: LoadGuard):
    """Wrap `mlx_lm.utils.load_model` (and, in auto mode, `mlx_lm.generate.generate_step`); returns the undo."""
    gen = importlib.import_module("mlx_lm.generate")  # the package's `generate` attribute is the function
    utils = importlib.import_module("mlx_lm.utils")

    def make_load(original):
        @functools.wraps(original)
        def load_model(model_path, *args, **kwargs):
            decision = None
            try:
                decision = decide(os.fspath(model_path), guard)
            except Exception as exc:  # the check never stops a load (strict block mode aside)
                guard.fail_open(RUNNER, exc)
            if decision is not None:
                guard.settle(decision)  # block mode: raises before mlx reads a weight
            out = original(model_path, *args, **kwargs)
            try:
                setattr(out[0], MODEL_PATH_ATTR, os.fspath(model_path))  # observe.py: the model's facts
                if decision is not None and "n_ctx" in decision.chosen:
                    setattr(out[0], MAX_KV_ATTR, decision.n_ctx)
            except Exception:  # a model object that takes no attributes: generation stays as mlx-lm sets it
                pass
            return out

        return load_model

    def make_step(original):
        @functools.wraps(original)
        def generate_step(prompt, model, *args, **kwargs):
            limit = getattr(model, MAX_KV_ATTR, None)
            if limit and kwargs.get("max_kv_size") is None and kwargs.get("prompt_cache") is None:
                kwargs["max_kv_size"] = limit
            return original(prompt, model, *args, **kwargs)

        return generate_step

    undos = [patch_attr(utils, "load_model", make_load)]
    if guard.chooses:
        undos.append(patch_attr(gen, "generate_step", make_step))

    def undo():
        while undos:
            undos.pop()()

    return undo
