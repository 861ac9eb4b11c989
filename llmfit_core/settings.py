"""RunSettings: what the runner is asked (context, KV cache types, GPU layers, expert offload, batch sizes, ...).

One dataclass for `api.fit` / `api.fit_spec`, the CLI (`fit`, `check`, `--batch` lines), `context_fit` (the
settings held while the context varies) and the runner front ends' defaults (`RUNNER_DEFAULTS`). A field left
None means "not asked": the runner's or the model's default applies (Ollama's num_ctx / parallel / KV type from
the model's runtime defaults, else llama.cpp's). `api.fit_spec` resolves them; the report carries the result.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from llmfit_core.errors import LlmfitError

if TYPE_CHECKING:
    from llmfit_core.backends import Backend
    from llmfit_core.companions import Companion
    from llmfit_core.model_spec import ModelSpec


@dataclass(frozen=True)
class RunSettings:
    """The runner's settings (llama.cpp's flags in brackets). Defaults are llama.cpp's own (llama-server /
    llama-cli, common/common.h); None = not asked, the runner's or the model's default."""

    backend: str | Backend | None = None  # llama.cpp-cuda|-metal|-vulkan|-rocm|-sycl|-cpu or mlx; None: from the hardware
    context: int | str | None = None  # -c, tokens ("16k" ok); None: the runner's (Ollama num_ctx) else min(trained, 4096)
    depth: int | str | None = None  # tokens already in the context before the prompt (llama-bench -d)
    prompt_tokens: int | str = 512  # prompt length priced for prefill speed (llama-bench -p)
    gen_tokens: int | str = 128  # generated tokens priced for decode speed (llama-bench -n)
    cache_type: str | None = None  # KV cache type of K and V (-ctk and -ctv); None: the runner's, else f16
    cache_type_k: str | None = None  # --cache-type-k, over `cache_type`
    cache_type_v: str | None = None  # --cache-type-v, over `cache_type`
    flash_attn: bool | None = None  # -fa; None: the runner's (llama.cpp's auto: on where the backend supports it)
    n_seq: int | None = None  # --parallel: sequences, each with its own KV cells; None: the runner's, else 1
    gpu_layers: int | None = None  # -ngl; None: as many as fit
    cpu_moe: bool | None = None  # MoE expert offload (-ngl 999 --n-cpu-moe N): None: the faster predicted decode
    n_cpu_moe: int | None = None  # exactly N layers' experts in RAM (implies expert offload; n_layers = --cpu-moe)
    swa_full: bool = False  # --swa-full: sliding-window layers keep the whole context
    n_batch: int = 2048  # -b
    n_ubatch: int = 512  # -ub
    mmproj: str | Companion | None = None  # a projector GGUF path, "auto" (llama.cpp --mmproj) or one already read
    draft: str | ModelSpec | None = None  # a draft model for speculative decoding (llama.cpp -md)
    total_memory: bool = False  # plan for an idle machine (all RAM/VRAM) instead of the memory free now
    calibrated: bool = True  # apply this machine's measured speed factor (llmfit calibrate), when there is one

    def __post_init__(self):
        if self.n_seq is not None and (isinstance(self.n_seq, bool) or not isinstance(self.n_seq, int) or self.n_seq < 1):
            raise LlmfitError(f"parallel sequences must be 1 or more (got {self.n_seq!r})")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def build(cls, base: RunSettings | None = None, **options) -> RunSettings:
        """`base` (default: all defaults) with `options` (field names) over it; an unknown name is a TypeError that
        names the closest field, as a misspelt keyword argument of `fit` should be."""
        for name in options:
            if name not in cls.names():
                raise TypeError(f"unknown setting {name!r}{did_you_mean(name, cls.names())}")
        base = base if base is not None else cls()
        return replace(base, **options) if options else base

    def cache_types(self) -> tuple[str, str]:
        """(K type, V type): the per-tensor type, else `cache_type`, else f16."""
        return (self.cache_type_k or self.cache_type or "f16", self.cache_type_v or self.cache_type or "f16")

    @property
    def expert_offload(self) -> bool:
        """MoE expert offload forced: --cpu-moe, or an exact --n-cpu-moe."""
        return self.cpu_moe is True or self.n_cpu_moe is not None

    def memory_kwargs(self) -> dict:
        """The `memory.estimate_memory` keyword arguments these settings set."""
        ctk, ctv = self.cache_types()
        return {"cache_type_k": ctk, "cache_type_v": ctv, "flash_attn": self.flash_attn, "n_seq": self.n_seq or 1,
                "swa_full": self.swa_full, "n_batch": self.n_batch, "n_ubatch": self.n_ubatch}


def did_you_mean(name: str, valid, sep: str = "_") -> str:
    """" (did you mean 'context'?)" for the closest valid name, "" when none is close; `sep` joins words as the
    user wrote them ('-' for CLI-style keys)."""

    close = difflib.get_close_matches(name.replace("-", "_"), list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0].replace('_', sep)!r}?)" if close else ""


# What a llama.cpp front end uses when the caller sets nothing, for the settings that change memory. Sources
# (llama-cpp-python 0.3.36 and its vendored llama.cpp): common/common.h (llama-server, llama-cli: -c 0 = the
# trained context, -b 2048, -ub 512, -fa auto, --swa-full off: RunSettings' own defaults, but for -c: llmfit's
# default context is min(trained, 4096)); llama_cpp/llama.py Llama.__init__ (n_ctx=512, n_batch=512, n_ubatch=512,
# flash_attn=False, swa_full=None = the C API's llama_context_default_params: swa_full=true).
RUNNER_DEFAULTS = {
    "llama.cpp": RunSettings(),
    "llama-cpp-python": RunSettings(context=512, flash_attn=False, n_batch=512, n_ubatch=512, swa_full=True),
}
