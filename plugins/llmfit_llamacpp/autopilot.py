"""llama-cpp-python under the load guard: `Llama(...)` (and `Llama.from_pretrained`, which ends in it).

Before llama.cpp allocates anything, the GGUF header is read and the load is priced with the settings it
will really use (llama-cpp-python 0.3.36 defaults: n_ctx 512, n_gpu_layers 0, flash_attn False, f16 KV;
`n_ctx=0` means the trained context, `n_gpu_layers=-1` every layer, llama.py Llama.__init__). In auto mode
the caller's unset `n_ctx` (or 0) becomes the largest context that fits (a multiple of 256, at most the
trained context; llmfit_core.context_fit) and `n_gpu_layers=-1` becomes the layers that fit the VRAM.
"""

from __future__ import annotations

import functools
import inspect
import os

from llmfit_core.autopilot import LoadDecision, LoadGuard, patch_attr
from llmfit_core.memory import RUNNER_DEFAULTS
from llmfit_core.settings import RunSettings
from llmfit_llamacpp import detect_build

RUNNER = "llama-cpp-python"


def _init_defaults(init) -> dict:
    """Llama.__init__'s own defaults for the settings the decision reads."""
    params = inspect.signature(init).parameters
    names = ("n_ctx", "n_gpu_layers", "flash_attn", "type_k", "type_v", "n_batch", "n_ubatch", "swa_full")
    return {n: params[n].default for n in names if n in params and params[n].default is not inspect.Parameter.empty}


def _cache_type(value) -> str:
    """A ggml type number (Llama's type_k / type_v) as llmfit's cache type name; None = f16."""
    if value is None:
        return "f16"
    import gguf  # lazy: start-up time (the guard loads this module; gguf: 0.2 s)

    return gguf.GGMLQuantizationType(int(value)).name.lower()


def _swa_full(value) -> bool:
    """Llama(swa_full=None) leaves llama_context_default_params' swa_full (true): a full-size sliding-window cache."""
    return RUNNER_DEFAULTS[RUNNER].swa_full if value is None else bool(value)


def _hardware(guard: LoadGuard):
    """The guard's hardware, else this machine with the memory free right now (detection re-run per load)."""
    from llmfit_core.hardware import registry  # lazy: start-up time (the guard loads this module at import)

    if guard.target_hardware is not None:
        return registry.resolve_hardware(guard.target_hardware)
    registry.clear_detection_cache()
    return registry.resolve_hardware(None)


def decide(model_path: str, kwargs: dict, guard: LoadGuard, defaults: dict) -> tuple[LoadDecision, dict]:
    """(the decision for this load, the keyword arguments auto mode changes)."""
    from llmfit_core.api import fit_spec  # lazy: start-up time (predictor: 0.1-0.3 s, only at a model load)
    from llmfit_core.context_fit import context_fit  # lazy: start-up time (as above)
    from llmfit_core.readers.gguf import read_gguf  # lazy: start-up time (as above)

    spec = read_gguf(model_path)
    hw = _hardware(guard)
    backend = detect_build().backend if guard.target_hardware is None else None
    n_ctx = int(kwargs.get("n_ctx", defaults.get("n_ctx", 512)) or 0)
    ngl = int(kwargs.get("n_gpu_layers", defaults.get("n_gpu_layers", 0)))
    auto_ctx = guard.chooses and ("n_ctx" not in kwargs or n_ctx == 0)
    auto_ngl = guard.chooses and ngl == -1
    total_layers = spec.n_layers + 1
    py = RUNNER_DEFAULTS[RUNNER]  # Llama()'s own: full-size SWA cache, -b 512 (not llama.cpp's)
    n_batch = int(kwargs.get("n_batch", defaults.get("n_batch", py.n_batch)))
    held = dict(cache_type_k=_cache_type(kwargs.get("type_k", defaults.get("type_k"))),
                cache_type_v=_cache_type(kwargs.get("type_v", defaults.get("type_v"))),
                flash_attn=bool(kwargs.get("flash_attn", defaults.get("flash_attn", False))),
                swa_full=_swa_full(kwargs.get("swa_full", defaults.get("swa_full"))),
                n_batch=n_batch, n_ubatch=min(n_batch, int(kwargs.get("n_ubatch", defaults.get("n_ubatch", py.n_ubatch)))))
    fixed_layers = total_layers if ngl < 0 else min(ngl, total_layers)
    reasons: list[str] = []
    trained = int(spec.max_context or 0)

    def report(ctx: int, gpu_layers):
        return fit_spec(spec, hardware=hw, context=ctx, backend=backend, gpu_layers=gpu_layers, **held)

    probe = report(min(trained or 512, 512), None if auto_ngl else fixed_layers)  # which backend, GPU or not
    on_gpu = probe.backend != "llama.cpp-cpu" and bool(hw.gpus)
    layers = None if auto_ngl else (fixed_layers if on_gpu else 0)
    if auto_ctx:
        tries = [total_layers, None] if auto_ngl and on_gpu else [layers]  # all layers on the GPU first
        for gl in tries:
            cf = context_fit(spec, hw, probe.backend, RunSettings(gpu_layers=gl, **held))
            if cf.max_context is not None:
                break
        reasons += cf.reasons
        n_ctx = cf.max_context or (trained or n_ctx or 512)
        layers = gl if cf.max_context is not None else layers
    elif n_ctx == 0:
        n_ctx = trained or 4096
        reasons.append(f"n_ctx=0: llama-cpp-python uses the trained context ({n_ctx})")
    rep = report(n_ctx, layers)
    plc = rep.placement
    gpu_layers = int(rep.gpu_layers) if auto_ngl else ngl
    budget = int(plc.ram_capacity_bytes) + sum(int(g["capacity_bytes"]) for g in plc.per_gpu if g.get("layers"))
    reasons += [r for r in rep.reasons if r not in reasons][:4]
    chosen = (["n_ctx"] if auto_ctx else []) + (["n_gpu_layers"] if auto_ngl else [])
    decision = LoadDecision(runner=RUNNER, model=str(model_path), n_ctx=int(n_ctx), n_gpu_layers=gpu_layers,
                            predicted_total_bytes=int(rep.memory.total_bytes), budget_bytes=budget,
                            fits=bool(rep.fits), chosen=chosen, reasons=reasons)
    changes = {}
    if auto_ctx:
        changes["n_ctx"] = int(n_ctx)
    if auto_ngl:
        changes["n_gpu_layers"] = gpu_layers
    return decision, changes


def patch(llama_cpp, guard: LoadGuard):
    """Wrap `llama_cpp.Llama.__init__`; returns the undo."""

    def make(original):
        defaults = _init_defaults(original)

        @functools.wraps(original)
        def __init__(self, *args, **kwargs):
            model_path = args[0] if args else kwargs.get("model_path")
            if (kwargs.get("vocab_only") or not isinstance(model_path, (str, os.PathLike))
                    or not os.path.isfile(model_path)):
                return original(self, *args, **kwargs)  # tokenizer only, or llama.cpp's own error for a bad path
            try:
                decision, changes = decide(os.fspath(model_path), kwargs, guard, defaults)
            except Exception as exc:  # the check never stops a load (strict block mode aside)
                guard.fail_open(RUNNER, exc)
                return original(self, *args, **kwargs)
            guard.settle(decision)  # block mode: raises before llama.cpp allocates anything
            kwargs.update(changes)
            return original(self, *args, **kwargs)

        return __init__

    return patch_attr(llama_cpp.Llama, "__init__", make)
