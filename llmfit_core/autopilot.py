"""Load-time autopilot: the policy for a runner's model load (the runner adapters do the patching).

`llmfit_core.guard.install(mode=...)` calls `install(mode, hardware)`, which asks every runner adapter
(hook `llmfit_guard_loads`) to route its load function (llama-cpp-python's `Llama(...)`, `mlx_lm.load`)
through a `LoadGuard`. The adapter computes a `LoadDecision` (what it would load with, the memory that
costs, the memory free for it) and hands it to `LoadGuard.settle`, which applies the policy:

- mode "auto": the adapter chose the settings the caller left to the runner (n_ctx at its default or 0,
  n_gpu_layers -1); one stderr line says what; a load that still does not fit warns;
- mode "warn": nothing is changed; a load that does not fit warns (FitWarning) and loads;
- mode "block": nothing is changed; a load that does not fit raises LoadBlockedError with the numbers.

A value the caller set explicitly is never changed. `last_decision()` is the latest decision (any mode).
A failure inside the check itself never stops the user's load (one warning), except in strict block mode.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from dataclasses import asdict, dataclass, field

from llmfit_core import patching
from llmfit_core.errors import LlmfitError
from llmfit_core.units import fmt_bytes

LOAD_MODES = ("auto", "warn", "block")


class LoadBlockedError(LlmfitError):
    """The guard (block mode) stopped a model load that does not fit this machine."""

    exit_code = 3


class LoadFitWarning(UserWarning):
    """A model load does not fit (warn / auto mode), or could not be checked."""


@dataclass
class LoadDecision:
    """What a runner load will use and what it costs (the answer of `last_decision()`)."""

    runner: str  # "llama-cpp-python" | "mlx-lm"
    model: str  # the model path or repo the runner loads
    n_ctx: int  # context the load uses (mlx-lm: the KV size that fits, for max_kv_size)
    n_gpu_layers: int  # layers on the GPU (llama.cpp counts the output layer: n_layers + 1 = all)
    predicted_total_bytes: int  # weights + KV + compute + overhead at these settings
    budget_bytes: int  # memory free for it now: RAM available (+ VRAM free of the GPUs it uses)
    fits: bool
    chosen: list[str] = field(default_factory=list)  # the settings llmfit chose: "n_ctx", "n_gpu_layers"
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        """The one stderr line."""
        what = ", ".join(f"{k}={getattr(self, k)}" + (" (chosen)" if k in self.chosen else "") for k in ("n_ctx", "n_gpu_layers"))
        verdict = "fits" if self.fits else "does NOT fit"
        return (f"llmfit: {self.runner} {self.model.rsplit('/', 1)[-1]}: {what}; needs {fmt_bytes(self.predicted_total_bytes)}"
                f" of {fmt_bytes(self.budget_bytes)} free: {verdict}")


_last: LoadDecision | None = None
_lock = threading.Lock()


def last_decision() -> LoadDecision | None:
    """The decision of the latest guarded load in this process (None before any)."""
    return _last


class LoadGuard:
    """The policy a runner adapter applies to one load (see the module docstring)."""

    def __init__(self, mode: str, hardware=None, strict: bool = False):
        if mode not in LOAD_MODES:
            raise LlmfitError(f"load guard mode must be one of {', '.join(LOAD_MODES)}, not {mode!r}")
        self.mode = mode
        self.hardware = hardware
        self.strict = strict

    @property
    def target_hardware(self):
        """What loads are priced against: install()'s hardware, else LLMFIT_HARDWARE, else None (this machine)."""
        return self.hardware or os.environ.get("LLMFIT_HARDWARE") or None

    @property
    def chooses(self) -> bool:
        """Whether the guard picks the settings the caller left to the runner."""
        return self.mode == "auto"

    def settle(self, decision: LoadDecision) -> None:
        """Record the decision, say it, and warn or raise when it does not fit."""
        global _last
        with _lock:
            _last = decision
        if self.mode == "auto" or not decision.fits:
            print(decision.summary, file=sys.stderr, flush=True)
        if decision.fits:
            return
        why = "; ".join(decision.reasons[:3])
        msg = (f"{decision.model} does not fit at n_ctx={decision.n_ctx}, n_gpu_layers={decision.n_gpu_layers}: "
               f"needs {fmt_bytes(decision.predicted_total_bytes)}, {fmt_bytes(decision.budget_bytes)} free"
               + (f" ({why})" if why else ""))
        if self.mode == "block":
            raise LoadBlockedError(msg + " (blocked by llmfit guard; LLMFIT_GUARD=warn to only warn)")
        warnings.warn(msg, LoadFitWarning, stacklevel=4)

    def fail_open(self, runner: str, exc: BaseException) -> None:
        """The check itself failed: the load goes on (strict block mode: it stops)."""
        msg = f"llmfit guard: could not check the {runner} load ({type(exc).__name__}: {exc})"
        if self.strict and self.mode == "block":
            raise LoadBlockedError(msg + " (strict guard)") from exc
        warnings.warn(msg, LoadFitWarning, stacklevel=4)


def patch_attr(owner, name: str, make):
    """Replace `owner.name` (a class or module attribute) by `make(original)`, the original unwrapped from any
    earlier llmfit patch; returns the undo (which only restores while our wrapper is still in place)."""
    original = getattr(owner, name)
    while getattr(original, "__llmfit_guard__", False):
        original = original.__wrapped__
    wrapper = make(original)
    wrapper.__llmfit_guard__ = True
    wrapper.__wrapped__ = original
    setattr(owner, name, wrapper)

    def undo():
        if getattr(owner, name, None) is wrapper or getattr(owner, "__dict__", {}).get(name) is wrapper:
            setattr(owner, name, original)

    return undo


def patch_on_import(name: str, *patchers):
    """Apply `patcher(module)` for each patcher now if `name` is imported, else right after its first import
    (llmfit_core.patching.when_imported). A patcher returns its own undo (or None); a patcher that fails is one
    warning, never a failed import. Returns one undo for everything (a pending patch is cancelled)."""
    undos = []

    def apply(module):
        for patcher in patchers:
            try:
                u = patcher(module)
            except Exception as exc:  # an unexpected runner version: the import and the user's program go on
                warnings.warn(f"llmfit guard: could not patch {name} ({type(exc).__name__}: {exc}); its loads are "
                              "not checked", LoadFitWarning, stacklevel=2)
                continue
            if callable(u):
                undos.append(u)

    patching.when_imported(name, apply)

    def undo():
        patching.cancel_watches(apply)
        while undos:
            undos.pop()()

    return undo


_undo: list = []
_installing = False


def installing() -> bool:
    """Whether `install` is running (loading the plugins may import code that would install again)."""
    return _installing


# imports that retry an install whose plugins could not load yet: at interpreter start-up (the llmfit_guard.pth
# hook) sys.path may not hold pluggy and the adapters; the runner adapters' own modules are the moment to ask again
RUNNER_MODULES = ("llama_cpp", "mlx_lm")


def install(mode: str, hardware=None, strict: bool = False) -> None:
    """Route every installed runner's load through a LoadGuard in `mode` (again: the new mode replaces the old)."""
    global _installing
    guard = LoadGuard(mode, hardware, strict)
    uninstall()
    _installing = True
    try:
        from llmfit_core.plugins import call_hook  # lazy: start-up: pluggy and adapters load when a guard installs

        undos = call_hook("llmfit_guard_loads", guard=guard)
    except ImportError:  # start-up: try again when a runner is imported
        _defer(mode, hardware, strict)
        return
    finally:
        _installing = False
    _undo.extend(u for u in undos if callable(u))


def _defer(mode: str, hardware, strict: bool) -> None:
    done = []

    def retry(_module):
        if not done:
            done.append(True)
            install(mode, hardware, strict)

    for name in RUNNER_MODULES:
        patching.when_imported(name, retry)
    _undo.append(lambda: patching.cancel_watches(retry))


def uninstall() -> None:
    """Restore the runners' own load functions."""
    while _undo:
        _undo.pop()()
