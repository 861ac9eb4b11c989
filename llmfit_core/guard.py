"""Python download guard: the fit check for code that downloads models through huggingface_hub.

    import llmfit_core.guard as guard
    guard.install(mode="warn")   # or "block": raise DownloadBlockedError before any weight byte
    ...                          # hf_hub_download / snapshot_download / HfFileSystem / Llama.from_pretrained / mlx_lm.load
    guard.uninstall()

Without code changes: `LLMFIT_GUARD=warn|block|auto python script.py` (the `llmfit_guard.pth` start-up hook
installed with the package runs llmfit_core.guard_startup, which installs the guard when the program imports
huggingface_hub, llama_cpp or mlx_lm), or `python -m llmfit_core.guard [--block|--auto] script.py`.

Model loads are guarded too (llmfit_core.autopilot, through the runner adapters' `llmfit_guard_loads` hook):
llama-cpp-python's `Llama(...)` / `Llama.from_pretrained` and mlx-lm's `load`. Mode "auto" checks downloads
like "warn" and also chooses the n_ctx / n_gpu_layers the caller left to the runner; `last_decision()`
tells what a load used.

How the check cannot be skipped: the guard patches the function *objects* a runner downloads with, not
the names that point at them (llmfit_core.patching.divert swaps their code for a trampoline to the guard
and keeps an exact copy to call). So `from huggingface_hub import hf_hub_download` done before install(),
the names mlx-lm, transformers and HfApi imported at their own import time, and the import
llama-cpp-python's `Llama.from_pretrained` does at call time all reach the guard. Which functions, and how
a call is read into what it would fetch, come from the runner adapters (hook `llmfit_guard_downloads`:
`llmfit_hf.download_guard` for huggingface_hub's hf_hub_download, snapshot_download and HfFileSystem
copies). The patch is made when those modules finish importing (patching.when_imported), so neither
install() nor the start-up hook imports huggingface_hub.

What a check is: the adapter's reading of the call (for the Hub: huggingface_hub's own dry run of the same
call; the model weight files among what it would fetch, not configs, tokenizers or files already cached)
and a fit check of it (`DownloadTarget.check`, llmfit_core.downloads, which also asks the plugins'
`llmfit_before_download` vetoes). Then, by mode: "warn" a FitWarning when the model does not fit,
"block" DownloadBlockedError before any weight byte. A download that fits prints one `llmfit: fits: ...`
line on stderr. A dry run the caller asked for (`dry_run=True`) is checked too: its verdict is printed
and the dry run's result returned (nothing is downloaded, so nothing is blocked).
Environment (read at each call, see check_switches): `LLMFIT_BYPASS=1` no check (one stderr line says
what was not checked), `LLMFIT_FORCE=1` the verdict is printed and the download goes on, `LLMFIT_STRICT=1`
(block mode) a check that fails stops the download; otherwise a failing check fails open with one
FitWarning. `LLMFIT_HARDWARE`, `LLMFIT_CONTEXT`: what the guard scores against when install() was not
given `hardware` / `context`.
The guard never changes what is downloaded: the original function runs with the same arguments and
its return value is returned unchanged.

Structure: `DownloadGuard` holds the settings and the policy (`enforce` decides per mode: a new mode adds its
branch there and its name to MODES) and diverts the adapters' `GuardedFunction`s; `install()` / `uninstall()` /
`autoinstall()` / `main()` are the ways in.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Callable

from llmfit_core import autopilot, patching
from llmfit_core.check_switches import CheckSwitches
from llmfit_core.downloads import CheckResult, DownloadTarget, describe
from llmfit_core.errors import LlmfitError
from llmfit_core.plugins import call_hook

MODES = ("warn", "block", "auto")  # auto: downloads as warn; loads get the n_ctx / n_gpu_layers that fit
_OFF_WORDS = ("", "0", "off", "no", "false")
_ON_WORDS = ("1", "on", "yes", "true")  # LLMFIT_GUARD=1: warn


class DownloadBlockedError(LlmfitError):
    """The guard (block mode) stopped a download of a model that does not fit this machine."""

    exit_code = 3


class FitWarning(UserWarning):
    """Emitted by the guard in warn mode when a download does not fit (or could not be checked)."""


@dataclass(frozen=True)
class GuardedFunction:
    """A download function a runner adapter has the guard divert (hook `llmfit_guard_downloads`): `attr` of
    module `module` ("Class.method" for a method), and `handler(original, args, kwargs)`, which reads each call,
    applies the guard's policy and returns `original(*args, **kwargs)` unchanged.

    A function the class owns is diverted in place (llmfit_core.patching.divert: every name for it reaches the
    guard); a method the class inherits from another library (fsspec's `get` on HfFileSystem) is overridden on
    that class only."""

    module: str
    attr: str
    handler: Callable[[Callable, tuple, dict], object]


def _say(message: str) -> None:
    print(f"llmfit: {message}", file=sys.stderr, flush=True)


class DownloadGuard:
    """The installed guard: its settings, the policy per mode, what it patched, what it already checked.

    The adapters' handlers use: `busy()` / `run_inner()` (the guard's own nested calls pass), `bypassed(label)`,
    `check(target, key)` (a cached fit check that fails open), `enforce(result)`, `report_dry_run()`,
    `fail_open(message)`, `say(message)`.
    """

    def __init__(self, mode: str, hardware=None, context=None, strict: bool = False):
        self.mode = mode
        self.hardware = hardware
        self.context = context
        self.strict = strict
        self.functions: list[GuardedFunction] = []
        self.diversions: list[patching.Diversion] = []
        self.overrides: list[tuple[type, str, object]] = []  # (class, name, its own attribute before; None: none)
        self.checked: dict[tuple, CheckResult] = {}  # (adapter's key, hardware, context) -> CheckResult
        self.local = threading.local()

    # -- patching ------------------------------------------------------------------------------
    def watch(self, functions: list[GuardedFunction] = ()) -> None:
        """Patch each function's module now if it is loaded, else right after it is imported."""
        self.functions.extend(functions)
        for module in dict.fromkeys(f.module for f in self.functions):
            patching.when_imported(module, self.patch_module)

    def patch_module(self, module) -> None:
        for guarded in self.functions:
            if guarded.module != module.__name__:
                continue
            owner, _, name = guarded.attr.rpartition(".")
            holder = getattr(module, owner) if owner else module
            if owner and name not in vars(holder):
                self._override(holder, name, guarded.handler)
                continue
            func = getattr(holder, name, None)
            if func is None or patching.diversion_of(func) is not None:
                continue
            self.diversions.append(patching.divert(func, guarded.handler))

    def _override(self, cls: type, name: str, handler) -> None:
        """`cls.name` (inherited) calls `handler` for this class only; the base class's method is untouched."""
        if any(c is cls and n == name for c, n, _ in self.overrides):
            return
        inherited = getattr(cls, name)

        def method(obj, *args, **kwargs):
            return handler(inherited, (obj, *args), kwargs)

        method.__wrapped__ = inherited
        method.__llmfit_guard__ = True
        method.__doc__ = inherited.__doc__
        self.overrides.append((cls, name, vars(cls).get(name)))
        setattr(cls, name, method)

    def unpatch(self) -> None:
        patching.cancel_watches(self.patch_module)
        for d in self.diversions:
            patching.restore(d)
        self.diversions.clear()
        for cls, name, own in reversed(self.overrides):
            if own is None:
                if name in vars(cls):
                    delattr(cls, name)
            else:
                setattr(cls, name, own)
        self.overrides.clear()

    # -- nesting ---------------------------------------------------------------------------------
    def busy(self) -> bool:
        """In this thread, the guard itself is working (planning, checking, or running an approved call)."""
        return getattr(self.local, "depth", 0) > 0

    def run_inner(self, fn, *args, **kwargs):
        self.local.depth = getattr(self.local, "depth", 0) + 1
        try:
            return fn(*args, **kwargs)
        finally:
            self.local.depth -= 1

    # -- what the adapters' handlers ask -----------------------------------------------------------
    @property
    def target_hardware(self):
        """What downloads are checked against: install()'s hardware, else LLMFIT_HARDWARE, else this machine."""
        return self.hardware or os.environ.get("LLMFIT_HARDWARE") or None

    @property
    def target_context(self):
        return self.context or os.environ.get("LLMFIT_CONTEXT") or None

    @staticmethod
    def say(message: str) -> None:
        """One `llmfit: ...` line on stderr."""
        _say(message)

    def bypassed(self, label: str) -> bool:
        """LLMFIT_BYPASS=1: True, and one line says what was not checked."""
        if not CheckSwitches.from_env().bypass:
            return False
        _say(f"guard bypassed (LLMFIT_BYPASS=1): {label} not checked")
        return True

    def check(self, target: DownloadTarget, key: tuple) -> CheckResult | None:
        """`target.check()` against the guard's hardware and context, once per `key` (what is fetched); None when
        the check failed (after fail_open: a warning, or DownloadBlockedError in strict block mode)."""
        hardware, context = self.target_hardware, self.target_context
        full_key = (*key, str(hardware), str(context))
        res = self.checked.get(full_key)
        if res is None:
            try:
                res = self.run_inner(target.check, hardware, context, {"guard": self.mode})
            except Exception as exc:
                self.fail_open(f"fit check failed for {target.ref} ({type(exc).__name__}: {exc})", stacklevel=7)
                return None
            self.checked[full_key] = res
        return res

    def report_dry_run(self, verdict: Callable[[], CheckResult | None]) -> None:
        """A dry run's verdict on stderr; it never blocks or raises (nothing is downloaded)."""
        try:
            res = verdict()
        except DownloadBlockedError:  # a strict guard's failed check: nothing to stop in a dry run
            res = None
        if res is not None:
            _say(f"dry run: {_summary(res)}")

    # -- the policy ------------------------------------------------------------------------------
    def enforce(self, res: CheckResult | None) -> None:
        """What the verdict means for the download, by mode (a new mode adds its branch here)."""
        if res is None or res.status == "nothing":
            return
        if res.status == "unchecked":
            _say(f"note: {res.repo_id}: {res.message}")
            return
        if res.status == "error":
            self.fail_open(f"fit check incomplete for {res.repo_id} ({res.message})")
            return
        if res.status == "fits":
            _say(f"fits: {_summary(res)}")
            return
        msg = f"{res.repo_id} does not fit this machine: {_details(res)}"
        if CheckSwitches.from_env().force:
            _say(f"{msg}; downloading anyway (LLMFIT_FORCE=1)")
            return
        if self.mode == "block":
            raise DownloadBlockedError(msg + " (blocked by llmfit guard; LLMFIT_FORCE=1 downloads anyway, "
                                             "LLMFIT_GUARD=warn only warns)")
        warnings.warn(msg, FitWarning, stacklevel=5)

    def fail_open(self, message: str, stacklevel: int = 6) -> None:
        """The check itself failed: a FitWarning and the download goes on (strict block mode: it stops).
        `stacklevel` points the warning at the caller of the guarded function (a handler's helper called from it)."""
        if self.mode == "block" and (self.strict or CheckSwitches.from_env().strict):
            raise DownloadBlockedError(message + " (strict guard)")
        warnings.warn("llmfit guard: " + message, FitWarning, stacklevel=stacklevel)


def _details(res: CheckResult) -> str:
    return "; ".join(line.strip() for line in describe(res))


def _summary(res: CheckResult) -> str:
    """One line: the repo and each model's verdict, memory and speed."""
    return f"{res.repo_id}: {_details(res)}"


# ---- the ways in ----------------------------------------------------------------------------------

_guard: DownloadGuard | None = None
_installing = False


def install(mode: str = "warn", hardware=None, context=None, strict: bool = False) -> None:
    """Guard the runners' downloads in this process (now, and for modules imported later).

    mode "warn": a FitWarning when a model does not fit, then the download; "block": DownloadBlockedError
    before any weight byte. `strict` (block mode): a failed check blocks too. Calling it again changes the
    settings. What is patched comes from the runner adapters (hook `llmfit_guard_downloads`: huggingface_hub's
    download functions); nothing is imported here: the functions are patched when their modules load.
    """
    _install(mode, hardware, context, strict, require_runner=True)


def _install(mode: str, hardware=None, context=None, strict: bool = False, require_runner: bool = False) -> None:
    global _guard
    if mode not in MODES:
        raise LlmfitError(f"guard mode must be one of {', '.join(MODES)}, not {mode!r}")
    if _guard is None:
        guard = DownloadGuard(mode, hardware, context, strict)
        functions = _adapters_functions(guard)
        if require_runner:
            _require_runner(functions)
        if not functions:
            _say("warning: no runner adapter guards downloads (see `llmfit plugins`, LLMFIT_DISABLE_PLUGINS)")
        guard.watch(functions)
        _guard = guard
    else:
        _guard.mode, _guard.hardware, _guard.context, _guard.strict = mode, hardware, context, strict
        _guard.watch()
    try:
        autopilot.install(mode, hardware, strict)  # model loads (the runner adapters patch on import)
    except Exception as exc:  # the download guard stands without it
        _say(f"warning: model loads are not checked ({type(exc).__name__}: {exc})")


def _adapters_functions(guard: DownloadGuard) -> list[GuardedFunction]:
    """The download functions the runner adapters have `guard` divert (hook `llmfit_guard_downloads`)."""
    global _installing
    _installing = True  # loading the plugins may run the HF adapter's autoinstall(): no nesting
    try:
        answers = call_hook("llmfit_guard_downloads", guard=guard)
    finally:
        _installing = False
    return [f for answer in answers for f in answer if isinstance(f, GuardedFunction)]


def _require_runner(functions: list[GuardedFunction]) -> None:
    """install(): one clear error when no library whose downloads the adapters guard is installed."""
    packages = sorted({f.module.split(".")[0] for f in functions})
    if not any(p in sys.modules or importlib.util.find_spec(p) is not None for p in packages):
        raise LlmfitError(f"{' / '.join(packages) or 'no runner library'} is not installed: nothing to guard")


def last_decision():
    """The LoadDecision of the latest guarded model load (n_ctx, n_gpu_layers, predicted_total_bytes,
    budget_bytes, reasons), None before any."""
    return autopilot.last_decision()


def patch_loaded_modules() -> None:
    """Kept for callers of earlier versions: install() now patches modules when they load, by itself."""
    if _guard is not None:
        _guard.watch()


def uninstall() -> None:
    """Restore the original functions and forget pending patches."""
    global _guard
    autopilot.uninstall()
    if _guard is not None:
        _guard.unpatch()
        _guard = None


def installed_mode() -> str | None:
    """"warn" / "block" when installed, else None."""
    return None if _guard is None else _guard.mode


_warned_env: set[str] = set()


def env_mode() -> str | None:
    """The mode LLMFIT_GUARD asks for (None: off); an unknown value is one warning (once) and off."""
    mode = os.environ.get("LLMFIT_GUARD", "").strip().lower()
    if mode in _OFF_WORDS:
        return None
    if mode in _ON_WORDS:
        return "warn"
    if mode not in MODES:
        if mode not in _warned_env:
            _warned_env.add(mode)
            print(f"llmfit: warning: LLMFIT_GUARD={mode!r} is not warn|block|auto; guard not installed", file=sys.stderr)
        return None
    return mode


def autoinstall() -> str | None:
    """Install the guard when LLMFIT_GUARD=warn|block|auto is set (opt-in); returns the mode or None."""
    if _installing or autopilot.installing():  # install() loads the plugins; the HF adapter's import calls this
        return None
    mode = env_mode()
    if mode is None:
        return None
    # no check that huggingface_hub is installed: at start-up sys.path may not be complete yet, and
    # without it there is nothing to patch anyway (the patches wait for its modules to load)
    _install(mode)  # LLMFIT_HARDWARE / LLMFIT_CONTEXT are read at each check
    return mode


def main(argv: list[str] | None = None) -> int:
    """`python -m llmfit_core.guard [--block|--warn|--auto] script.py [args]` or `-m module [args]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    mode = os.environ.get("LLMFIT_GUARD", "warn").strip().lower() or "warn"
    while args and args[0] in ("--block", "--warn", "--auto"):
        mode = args.pop(0)[2:]
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m llmfit_core.guard [--warn|--block|--auto] SCRIPT.py [ARGS] | -m MODULE [ARGS]")
        return 0 if args else 2
    # what we run must exist: checked here, so a typo is one line, while the script's own errors stay its own
    if args[0] == "-m":
        try:
            found = len(args) > 1 and importlib.util.find_spec(args[1]) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            print(f"llmfit: error: no module named {args[1] if len(args) > 1 else ''!r} to run", file=sys.stderr)
            return 2
    elif args[0].startswith("-"):
        print(f"llmfit: error: unknown option {args[0]!r} (use --warn, --block, --auto, -m MODULE or SCRIPT.py)",
              file=sys.stderr)
        return 2
    elif not os.path.exists(args[0]):
        print(f"llmfit: error: no such script: {args[0]}", file=sys.stderr)
        return 2
    if mode not in MODES and mode not in _ON_WORDS:
        print(f"llmfit: warning: LLMFIT_GUARD={mode!r} is not warn|block|auto; using warn", file=sys.stderr)
    try:
        install(mode if mode in MODES else "warn")  # LLMFIT_HARDWARE / LLMFIT_CONTEXT are read at each check
    except LlmfitError as exc:
        print(f"llmfit: error: {exc}", file=sys.stderr)
        return 1
    try:
        if args[0] == "-m" and len(args) > 1:
            sys.argv = args[1:]
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = args
            runpy.run_path(args[0], run_name="__main__")
    except DownloadBlockedError as exc:
        print(f"llmfit: {' '.join(str(exc).split())}", file=sys.stderr)
        return 3
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    # run the importable module's main, so the script and `import llmfit_core.guard` share one guard
    from llmfit_core.guard import main as _main

    sys.exit(_main())
