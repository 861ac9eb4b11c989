"""`ollama run NAME` before the load: the context Ollama will use, the largest that fits, and layer spill.

Ollama loads a model with num_ctx from the model's parameters, else OLLAMA_CONTEXT_LENGTH, else its default
(resolver.runtime_defaults), and offloads as many layers as fit the VRAM at that context: a context too
large for the card silently moves layers to the CPU. The shim prints this one line; it never stops the run.
"""

from __future__ import annotations

from llmfit_core.api import fit
from llmfit_core.context_fit import context_fit
from llmfit_core.settings import RunSettings


def run_notice(ref: str, hardware=None) -> tuple[str, bool]:
    """(the line, whether it is a warning: the default context spills layers to the CPU or does not fit)."""
    rep = fit(ref, hardware=hardware)
    defaults = rep.spec.metadata.get("runtime_defaults") or {}
    ctk, ctv = rep.settings.cache_types()
    held = dict(cache_type_k=ctk, cache_type_v=ctv, flash_attn=defaults.get("flash_attn"),
                n_seq=int(defaults.get("n_seq") or 1))
    n_seq = held["n_seq"]
    per_request = rep.context // n_seq
    where = defaults.get("context_from", "Ollama's default")
    line = f"{ref[len('ollama:'):] if ref.startswith('ollama:') else ref}: Ollama will use context {per_request} ({where})"
    best = context_fit(rep.spec, rep.hardware, rep.backend, RunSettings(**held)).max_context
    line += (f"; the largest that fits here is {best // n_seq}" if best else "; not even 512 tokens fit here")
    warn = not rep.fits
    gpu = rep.backend != "llama.cpp-cpu" and rep.hardware.gpus and not rep.hardware.unified_memory
    if gpu and rep.gpu_layers < rep.total_layers:
        warn = True
        on_gpu = context_fit(rep.spec, rep.hardware, rep.backend,
                             RunSettings(gpu_layers=rep.total_layers, **held)).max_context
        line += (f"; at {per_request} only {rep.gpu_layers} of {rep.total_layers} layers fit in VRAM, the rest run on "
                 "the CPU (slower)")
        line += (f"; every layer stays on the GPU up to context {on_gpu // n_seq} (/set parameter num_ctx "
                 f"{on_gpu // n_seq})" if on_gpu else "")
    elif not rep.fits:
        line += f"; at {per_request} it does not fit ({rep.verdict})"
    return line, warn
