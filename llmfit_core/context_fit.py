"""The largest context that fits: bisection over the memory estimate and the placement.

`max_context(spec, hardware, backend, ...)` is the largest context (a multiple of 256, llama.cpp's KV
padding) up to the model's trained context that still fits `hardware` with the other settings held
(KV cache types, flash attention, parallel sequences, GPU layers or MoE expert offload), or None when
even 512 tokens do not fit. Memory only grows with the context (KV cells, the KQ mask and scores of the
compute buffer), so "fits" is monotone and a bisection over multiples of 256 finds the boundary in
~10 estimates. A model whose trained context is unknown is capped at 4096 (and `ContextFit.reasons`
says so). `context_table` gives the context-vs-memory rows of `llmfit fit REF --max-context`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from llmfit_core.backends import Backend, get_backend
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.profile import HardwareProfile
from llmfit_core.hardware.registry import resolve_hardware
from llmfit_core.memory import KV_PAD, MemoryEstimate, estimate_memory
from llmfit_core.model_spec import ModelSpec
from llmfit_core.placement import Placement, place, place_expert_offload
from llmfit_core.settings import RunSettings
from llmfit_core.units import context_text, fmt_ctx

MIN_CONTEXT = 512  # below this a context is no use: max_context is None
UNKNOWN_TRAINED_CAP = 4096  # the cap when the model's trained context is unknown (issue 13)
TABLE_KV_TYPES = ("f16", "q8_0", "q4_0")  # the KV cache types `fit --max-context` compares


@dataclass
class ContextFit:
    """The answer of `context_fit`: the largest context that fits and why it stops there."""

    max_context: int | None  # None: not even MIN_CONTEXT fits
    limit: int  # the largest context searched: the trained context or its RoPE extension (to 256), or the unknown cap
    trained_context: int | None  # the model's trained context, None when unknown
    reasons: list[str] = field(default_factory=list)


@dataclass
class ContextRow:
    """One row of the context-vs-memory table: one context, one KV cache type."""

    context: int
    cache_type: str
    total_bytes: int | None  # None: this KV type cannot be used with these settings
    fits: bool
    note: str = ""


def _backend(backend) -> Backend:
    if isinstance(backend, Backend):
        return backend
    return get_backend(str(backend or "cpu"))


def _hardware(hardware):
    if isinstance(hardware, HardwareProfile):
        return hardware

    return resolve_hardware(hardware)


def context_cap(spec: ModelSpec) -> tuple[int, int | None]:
    """(largest context to search, trained context or None when unknown). The search goes up to the extension
    the model's own RoPE scaling declares (ModelSpec.extended_context) when there is one."""
    trained = int(spec.max_context or 0)
    if trained <= 0:
        return UNKNOWN_TRAINED_CAP, None
    top = spec.extended_context or trained
    return max(top // KV_PAD * KV_PAD, min(top, MIN_CONTEXT)), trained


def estimate_and_place(spec: ModelSpec, hardware, backend, context: int,
                       settings: RunSettings) -> tuple[MemoryEstimate, Placement]:
    """The memory estimate and placement of `spec` at `context` with `settings` (one probe of the search; its
    `context` is the argument's, and expert offload is held only when forced: `settings.expert_offload`)."""
    be = _backend(backend)
    hw = _hardware(hardware)
    mem = estimate_memory(spec, be, context, **settings.memory_kwargs(), cpu_isa=hw.cpu.isa, cpu_arch=hw.cpu.arch)
    if settings.expert_offload:
        return mem, place_expert_offload(spec, mem, hw, be, n_cpu_moe=settings.n_cpu_moe)
    return mem, place(spec, mem, hw, be, gpu_layers=settings.gpu_layers)


def context_fit(spec: ModelSpec, hardware, backend=None, settings: RunSettings | None = None) -> ContextFit:
    """The largest context (a multiple of 256, at most the trained context or the extension of the model's own
    RoPE scaling) that fits, with the reasons."""
    settings = settings or RunSettings()
    be = _backend(backend)
    hw = _hardware(hardware)
    limit, trained = context_cap(spec)
    reasons = []
    if trained is None:
        reasons.append(f"trained context unknown: max context capped at {fmt_ctx(UNKNOWN_TRAINED_CAP)}")

    def probe(ctx: int) -> Probe:
        placed = estimate_and_place(spec, hw, be, ctx, settings)[1]
        return Probe(ctx, placed.fits, placed.headroom_bytes, (placed.gpu_layers, placed.n_cpu_moe))

    low = probe(min(MIN_CONTEXT, limit))
    if not low.fits:
        reasons.append(f"max context: none (not even {fmt_ctx(low.context)} tokens fit)")
        return ContextFit(None, limit, trained, reasons)
    top = probe(limit)
    best = limit if top.fits else largest_fitting(probe, low, top)
    what = ("the unknown-context cap" if best == limit and not trained else
            f"the model's RoPE scaling: {spec.rope_scaling.describe(trained)}" if best == limit and spec.extended_context
            else "the trained context" if best == limit else "the largest that fits")
    held = _held(settings, be, spec.n_layers + 1)
    reasons.append(f"max context {context_text(best)} tokens ({what}{held})")
    return ContextFit(best, limit, trained, reasons)


@dataclass(frozen=True)
class Probe:
    """One estimate of the search: a context, whether it fits, the smallest spare memory (negative: short) and
    the layout it was placed in (GPU layers, --n-cpu-moe)."""

    context: int
    fits: bool
    headroom: int
    layout: tuple[int, int] = (0, 0)


SECANT_ROUNDS = 3  # guesses from the headroom before plain bisection (a guess is exact for a straight line)


def largest_fitting(probe, lo: Probe, hi: Probe) -> int:
    """The largest multiple of 256 in [lo, hi) that fits, `lo` fitting and `hi` not: the boundary bisection finds.

    Memory grows almost linearly with the context, so while the two probes around the boundary have the same
    layout (the same pool runs out), the context where a line through their headroom crosses zero lands at or
    next to it: each such guess is followed by a probe of its neighbour on the other side, and two probes 256
    apart that disagree end the search. Otherwise (and after SECANT_ROUNDS guesses) it bisects. The invariant (lo fits, hi does not) is the bisection's, so with a monotone "fits" the
    answer is the same, in ~3-4 estimates instead of ~10.
    """
    rounds = 0
    while hi.context - lo.context > KV_PAD:
        secant = rounds < SECANT_ROUNDS and lo.layout == hi.layout and lo.headroom > hi.headroom
        if secant:
            span = hi.context - lo.context
            guess = lo.context + int(span * lo.headroom / (lo.headroom - hi.headroom))
        else:
            guess = (lo.context + hi.context) // 2
        mid = min(max(guess // KV_PAD * KV_PAD, lo.context + KV_PAD), hi.context - KV_PAD)
        at = probe(mid)
        if at.fits:
            lo = at
            nxt = mid + KV_PAD
        else:
            hi = at
            nxt = mid - KV_PAD
        if secant and lo.context < nxt < hi.context:
            at = probe(nxt)
            lo, hi = (at, hi) if at.fits else (lo, at)
        rounds += secant
    return lo.context


def _held(settings: RunSettings, be: Backend, total_layers: int) -> str:
    """What the search held fixed, for the reason line."""
    parts = []
    if be.runtime == "llama.cpp":
        k, v = settings.cache_types()
        parts.append(f"{k} KV" if k == v else f"{k}/{v} KV")
    if (settings.n_seq or 1) > 1:
        parts.append(f"{settings.n_seq} sequences")
    if settings.expert_offload:
        parts.append("expert offload" if settings.n_cpu_moe is None else f"--n-cpu-moe {settings.n_cpu_moe}")
    elif settings.gpu_layers is not None and be.gpu and be.runtime == "llama.cpp":
        parts.append("every layer on the GPU" if settings.gpu_layers >= total_layers else
                     f"{settings.gpu_layers} GPU layers")
    return (", " + ", ".join(parts)) if parts else ""


def max_context(spec: ModelSpec, hardware, backend=None, *, cache_type_k: str = "f16", cache_type_v: str = "f16",
                flash_attn: bool | None = None, n_seq: int = 1, gpu_layers: int | None = None, cpu_moe: bool = False,
                n_cpu_moe: int | None = None, swa_full: bool = False, n_batch: int = 2048,
                n_ubatch: int = 512) -> int | None:
    """The largest context (multiple of 256, capped at the trained context, 4096 when that is unknown) that fits
    `hardware` (a HardwareProfile or anything resolve_hardware takes) on `backend` with these settings, or None
    when not even 512 tokens fit. `gpu_layers` None = as many layers as fit at each context (like `fit`);
    `cpu_moe` = MoE expert offload with `n_cpu_moe` layers' experts in RAM (None = the fewest that fit).
    The defaults are llama.cpp's own (flash attention auto); for llama-cpp-python's Llama() pass its defaults,
    `**settings.RUNNER_DEFAULTS["llama-cpp-python"].memory_kwargs()` (flash_attn=False, swa_full=True, n_batch=512)."""
    settings = RunSettings(cache_type_k=cache_type_k, cache_type_v=cache_type_v, flash_attn=flash_attn,
                               n_seq=n_seq, gpu_layers=gpu_layers, cpu_moe=cpu_moe, n_cpu_moe=n_cpu_moe,
                               swa_full=swa_full, n_batch=n_batch, n_ubatch=n_ubatch)
    return context_fit(spec, hardware, backend, settings).max_context


def table_contexts(limit: int) -> list[int]:
    """4k, 8k, 16k, ... doubling up to `limit`, and `limit` itself (smaller limits: just the limit)."""
    out, c = [], 4096
    while c < limit:
        out.append(c)
        c *= 2
    return out + [limit]


def context_table(spec: ModelSpec, hardware, backend=None, settings: RunSettings | None = None,
                  cache_types: tuple[str, ...] = TABLE_KV_TYPES) -> tuple[list[ContextRow], dict[str, ContextFit]]:
    """Rows (context x KV cache type: resident total and fits) and the max context per KV type.

    K and V use the same type. MLX has one fp16 cache: one column, named "f16".
    """
    settings = settings or RunSettings()
    be = _backend(backend)
    hw = _hardware(hardware)
    limit, _ = context_cap(spec)
    types = ("f16",) if be.runtime == "mlx" else tuple(cache_types)
    rows: list[ContextRow] = []
    best: dict[str, ContextFit] = {}
    for t in types:
        s = replace(settings, cache_type=None, cache_type_k=t, cache_type_v=t)
        try:
            best[t] = context_fit(spec, hw, be, s)
        except LlmfitError as exc:  # e.g. a quantized V cache without flash attention
            best[t] = ContextFit(None, limit, None, [str(exc)])
            rows += [ContextRow(c, t, None, False, str(exc)) for c in table_contexts(limit)]
            continue
        for c in table_contexts(limit):
            _, plc = estimate_and_place(spec, hw, be, c, s)
            rows.append(ContextRow(c, t, int(plc.gpu_bytes + plc.cpu_bytes), bool(plc.fits)))
    return rows, best
