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

How the check cannot be skipped: the guard patches the function *objects* huggingface_hub downloads with,
not the names that point at them (llmfit_core.patching.divert swaps their code for a trampoline to the
guard and keeps an exact copy to call). So `from huggingface_hub import hf_hub_download` done before
install(), the names mlx-lm, transformers and HfApi imported at their own import time, and the import
llama-cpp-python's `Llama.from_pretrained` does at call time all reach the guard. The objects are
`huggingface_hub.file_download.hf_hub_download`, `huggingface_hub._snapshot_download.snapshot_download`
(huggingface_hub re-exports both) and `HfFileSystem.get_file`; `HfFileSystem.get` (also behind
`download`, fsspec's copy of many files) is overridden on the class so a recursive or glob copy is checked
once for the whole set of weight files. The patch is made when those modules finish importing
(patching.when_imported), so neither install() nor the start-up hook imports huggingface_hub.

What a check is: huggingface_hub's own dry run of the same call says which files would be fetched; the
model weight files among them (not configs or tokenizers, not files already cached) are checked with
`llmfit_hf.predownload.check_plan`. Then, by mode: "warn" a FitWarning when the model does not fit,
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

Structure: `_Guard` holds the settings and the policy (`_enforce` decides per mode: a new mode adds its
branch there and its name to MODES); `ENTRY_POINTS` names what is patched and which `_Guard` method
reads each call; `install()` / `uninstall()` / `autoinstall()` / `main()` are the ways in.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
import threading
import warnings
from dataclasses import dataclass

from llmfit_core import autopilot, patching
from llmfit_core.check_switches import CheckSwitches
from llmfit_core.errors import LlmfitError

MODES = ("warn", "block", "auto")  # auto: downloads as warn; loads get the n_ctx / n_gpu_layers that fit
_OFF_WORDS = ("", "0", "off", "no", "false")
_ON_WORDS = ("1", "on", "yes", "true")  # LLMFIT_GUARD=1: warn


class DownloadBlockedError(LlmfitError):
    """The guard (block mode) stopped a download of a model that does not fit this machine."""

    exit_code = 3


class FitWarning(UserWarning):
    """Emitted by the guard in warn mode when a download does not fit (or could not be checked)."""


@dataclass(frozen=True)
class EntryPoint:
    """A function object the guard diverts: `attr` of module `module` ("Class.method" for a method)."""

    module: str
    attr: str
    handler: str  # the _Guard method that reads its calls


ENTRY_POINTS = (
    EntryPoint("huggingface_hub.file_download", "hf_hub_download", "on_hub_download"),
    EntryPoint("huggingface_hub._snapshot_download", "snapshot_download", "on_hub_download"),
    EntryPoint("huggingface_hub.hf_file_system", "HfFileSystem.get_file", "on_fs_copy"),
)
FS_GET = "get"  # HfFileSystem.get (fsspec's, inherited): overridden on the class, see _Guard.patch_fs_get


@dataclass(frozen=True)
class DownloadCall:
    """One call of hf_hub_download / snapshot_download, as the guard reads it."""

    kind: str
    repo_id: str
    repo_type: str | None
    revision: str | None
    filename: str | None  # hf_hub_download: the path in the repo; None for a snapshot
    token: object
    dry_run: bool
    local_files_only: bool

    @property
    def label(self) -> str:
        return f"{self.kind}({self.repo_id}{', ' + self.filename if self.filename else ''})"


@dataclass(frozen=True)
class _Scope:
    """Calls that belong to a download the guard already handles (snapshot_download runs one
    hf_hub_download per file in worker threads): same repo, and a dry run while it plans, or one of the
    files it approved (`files` None: any file of the repo, after a bypass or a failed plan)."""

    repo_id: str
    dry_runs_only: bool
    files: frozenset | None = None

    def covers(self, call: DownloadCall) -> bool:
        if call.repo_id != self.repo_id:
            return False
        if self.dry_runs_only:
            return call.dry_run
        return self.files is None or call.filename in self.files


def _say(message: str) -> None:
    print(f"llmfit: {message}", file=sys.stderr, flush=True)


class _Guard:
    """The installed guard: its settings, what it patched, what it already checked."""

    def __init__(self, mode: str, hardware=None, context=None, strict: bool = False):
        self.mode = mode
        self.hardware = hardware
        self.context = context
        self.strict = strict
        self.diversions: list[patching.Diversion] = []
        self.fs_get_original = None  # HfFileSystem's own `get` attribute (None: inherited from fsspec)
        self.fs_get_patched = False
        self.checked: dict[tuple, object] = {}  # (repo, revision, files, hardware, context) -> CheckResult
        self.scopes: list[_Scope] = []
        self.lock = threading.Lock()
        self.local = threading.local()

    # -- patching ------------------------------------------------------------------------------
    def watch(self) -> None:
        """Patch each entry point's module now if it is loaded, else right after it is imported."""
        for module in {e.module for e in ENTRY_POINTS}:
            patching.when_imported(module, self.patch_module)

    def patch_module(self, module) -> None:
        for entry in ENTRY_POINTS:
            if entry.module != module.__name__:
                continue
            owner, _, name = entry.attr.rpartition(".")
            holder = getattr(module, owner) if owner else module
            func = vars(holder).get(name) if owner else getattr(module, name, None)
            if func is None or patching.diversion_of(func) is not None:
                continue
            self.diversions.append(patching.divert(func, getattr(self, entry.handler)))
        if module.__name__ == "huggingface_hub.hf_file_system":
            self.patch_fs_get(module.HfFileSystem)

    def patch_fs_get(self, cls) -> None:
        if self.fs_get_patched:
            return
        self.fs_get_original = vars(cls).get(FS_GET)
        inherited = getattr(cls, FS_GET)
        guard = self

        def get(fs, *args, **kwargs):
            return guard.on_fs_copy(inherited, (fs, *args), kwargs)

        get.__wrapped__ = inherited
        get.__llmfit_guard__ = True
        get.__doc__ = inherited.__doc__
        setattr(cls, FS_GET, get)
        self.fs_get_patched = True

    def unpatch(self) -> None:
        patching.cancel_watches(self.patch_module)
        for d in self.diversions:
            patching.restore(d)
        self.diversions.clear()
        fs_mod = sys.modules.get("huggingface_hub.hf_file_system")
        if self.fs_get_patched and fs_mod is not None:
            cls = fs_mod.HfFileSystem
            if self.fs_get_original is None:
                if FS_GET in vars(cls):
                    delattr(cls, FS_GET)
            else:
                setattr(cls, FS_GET, self.fs_get_original)
        self.fs_get_patched = False

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

    @contextlib.contextmanager
    def scope(self, scope: _Scope):
        with self.lock:
            self.scopes.append(scope)
        try:
            yield
        finally:
            with self.lock:
                self.scopes.remove(scope)

    def covered(self, call: DownloadCall) -> bool:
        with self.lock:
            return any(s.covers(call) for s in self.scopes)

    # -- hf_hub_download / snapshot_download -------------------------------------------------------
    def on_hub_download(self, original, args: tuple, kwargs: dict):
        call = _read_call(original, args, kwargs)
        if (call is None or self.busy() or call.local_files_only or call.repo_type not in (None, "model")
                or self.covered(call)):
            return original(*args, **kwargs)
        switches = CheckSwitches.from_env()
        if switches.bypass:
            _say(f"guard bypassed (LLMFIT_BYPASS=1): {call.label} not checked")
            with self.scope(_Scope(call.repo_id, False)):
                return original(*args, **kwargs)
        if call.dry_run:  # asked for: run it, then say what the real download would mean
            with self.scope(_Scope(call.repo_id, True)):
                infos = original(*args, **kwargs)
            self.report_dry_run(call, _planned(infos))
            return infos
        planned = self.plan(call, original, args, kwargs)
        if planned is not None:
            self._enforce(call.repo_id, self.verdict(call.repo_id, call.revision, call.token, planned), switches)
        files = None if planned is None else frozenset(p.name for p in planned)
        with self.scope(_Scope(call.repo_id, False, files)):
            # the untouched call; nested calls (snapshot_download's per-file downloads) are part of it
            return self.run_inner(original, *args, **kwargs)

    def plan(self, call: DownloadCall, original, args: tuple, kwargs: dict):
        """huggingface_hub's dry run of the same call: [PlannedFile], or None when it failed (fail open)."""
        plan_kwargs = dict(kwargs, dry_run=True)
        if call.kind == "hf_hub_download" and plan_kwargs.get("subfolder") in (".", ""):
            plan_kwargs["subfolder"] = None  # llama-cpp-python passes "."; the dry run must name the same file
        try:
            with self.scope(_Scope(call.repo_id, True)):
                infos = self.run_inner(original, *args, **plan_kwargs)
        except Exception as exc:  # the real call will raise the same error (or work from cache)
            self._fail_open(f"could not plan the download ({type(exc).__name__}: {exc})")
            return None
        return _planned(infos)

    def verdict(self, repo_id: str, revision, token, planned):
        """check_plan's CheckResult for the files that would be fetched; None: nothing to check, or failed."""
        from llmfit_hf.hub import token_override
        from llmfit_hf.predownload import check_plan

        todo = tuple(sorted(p.name for p in planned if p.will_download))
        if not todo:
            return None  # everything is cached
        hardware = self.hardware or os.environ.get("LLMFIT_HARDWARE") or None
        context = self.context or os.environ.get("LLMFIT_CONTEXT") or None
        key = (repo_id, revision, todo, str(hardware), str(context))
        res = self.checked.get(key)
        if res is None:
            try:
                with token_override(token if isinstance(token, str) else None):
                    res = self.run_inner(check_plan, repo_id, planned, revision=revision, hardware=hardware,
                                         context=context, options={"guard": self.mode})
            except Exception as exc:
                self._fail_open(f"fit check failed for {repo_id} ({type(exc).__name__}: {exc})")
                return None
            self.checked[key] = res
        return res

    def report_dry_run(self, call: DownloadCall, planned) -> None:
        """A dry run's verdict on stderr; it never blocks or raises (nothing is downloaded)."""
        if not planned or not any(p.will_download for p in planned):
            _say(f"dry run: {call.repo_id}: nothing to download (cached)")
            return
        try:
            res = self.verdict(call.repo_id, call.revision, call.token, planned)
        except DownloadBlockedError:  # a strict guard's failed check: nothing to stop in a dry run
            res = None
        if res is not None:
            _say(f"dry run: {_summary(res)}")

    # -- HfFileSystem copies ---------------------------------------------------------------------
    def on_fs_copy(self, original, args: tuple, kwargs: dict):
        """HfFileSystem.get / get_file: every model repo whose weight files the copy fetches is checked."""
        if self.busy():  # e.g. get_file called by a guarded get: the whole copy was checked already
            return original(*args, **kwargs)
        switches = CheckSwitches.from_env()
        if switches.bypass:
            _say(f"guard bypassed (LLMFIT_BYPASS=1): HfFileSystem.{original.__name__}({_short(args[1:])}) not checked")
            return self.run_inner(original, *args, **kwargs)
        try:
            plans = _fs_plans(args[0], original, args[1:], kwargs)
        except Exception as exc:  # the real call raises the same error (or copies what it can)
            self._fail_open(f"could not plan the HfFileSystem copy ({type(exc).__name__}: {exc})")
            plans = []
        for repo_id, files, revision, token in plans:
            try:
                planned = self.run_inner(_plan_files, args[0], repo_id, files, revision, token)
            except Exception as exc:  # e.g. no such file: the copy raises its own error
                self._fail_open(f"could not plan the HfFileSystem copy ({type(exc).__name__}: {exc})")
                continue
            self._enforce(repo_id, self.verdict(repo_id, revision, token, planned), switches)
        return self.run_inner(original, *args, **kwargs)

    # -- the policy ------------------------------------------------------------------------------
    def _enforce(self, repo_id: str, res, switches: CheckSwitches) -> None:
        """What the verdict means for the download, by mode (a new mode adds its branch here)."""
        if res is None or res.status == "nothing":
            return
        if res.status == "unchecked":
            _say(f"note: {repo_id}: {res.message}")
            return
        if res.status == "error":
            self._fail_open(f"fit check incomplete for {repo_id} ({res.message})")
            return
        if res.status == "fits":
            _say(f"fits: {_summary(res)}")
            return
        msg = f"{repo_id} does not fit this machine: {_details(res)}"
        if switches.force:
            _say(f"{msg}; downloading anyway (LLMFIT_FORCE=1)")
            return
        if self.mode == "block":
            raise DownloadBlockedError(msg + " (blocked by llmfit guard; LLMFIT_FORCE=1 downloads anyway, "
                                             "LLMFIT_GUARD=warn only warns)")
        warnings.warn(msg, FitWarning, stacklevel=5)

    def _fail_open(self, message: str) -> None:
        if self.mode == "block" and (self.strict or CheckSwitches.from_env().strict):
            raise DownloadBlockedError(message + " (strict guard)")
        warnings.warn("llmfit guard: " + message, FitWarning, stacklevel=6)


# ---- reading calls ------------------------------------------------------------------------------


def _read_call(original, args: tuple, kwargs: dict) -> DownloadCall | None:
    """The arguments that decide what is fetched; None when there is no repo id to read (the original
    raises its own error). Arguments the signature does not name (legacy ones huggingface_hub still
    accepts and drops, like llama-cpp-python's `local_dir_use_symlinks`) are ignored here, not a reason
    to skip the check."""
    sig = inspect.signature(original)
    known = {k: v for k, v in kwargs.items() if k in sig.parameters}
    try:
        a = sig.bind_partial(*args, **known).arguments
    except TypeError:
        return None
    repo_id = a.get("repo_id")
    if not isinstance(repo_id, str) or not repo_id:
        return None
    kind = "hf_hub_download" if "filename" in sig.parameters else "snapshot_download"
    filename = a.get("filename") if kind == "hf_hub_download" else None
    if isinstance(filename, str) and a.get("subfolder") not in (None, "", "."):
        filename = f"{a['subfolder']}/{filename}"
    return DownloadCall(kind, repo_id, a.get("repo_type"), a.get("revision"), filename, a.get("token"),
                        bool(a.get("dry_run")), bool(a.get("local_files_only")))


def _planned(infos) -> list:
    from llmfit_hf.predownload import PlannedFile

    if not isinstance(infos, list):
        infos = [infos]
    return [PlannedFile(i.filename, i.file_size, bool(i.will_download)) for i in infos]


def _details(res) -> str:
    from llmfit_hf.predownload import describe

    return "; ".join(line.strip() for line in describe(res))


def _summary(res) -> str:
    """One line: the repo and each model's verdict, memory and speed."""
    return f"{res.repo_id}: {_details(res)}"


def _short(args: tuple) -> str:
    return ", ".join(repr(a) for a in args[:2])


def _plan_files(fs, repo_id: str, files: list[str], revision, token):
    """Dry runs of huggingface_hub's own hf_hub_download for these files (cached files, sizes, errors as it sees them)."""
    from huggingface_hub import file_download

    download = patching.undiverted(file_download.hf_hub_download)
    return _planned([download(repo_id=repo_id, filename=f, revision=revision, token=token, endpoint=fs.endpoint,
                              dry_run=True) for f in files])


def _fs_plans(fs, original, args: tuple, kwargs: dict) -> list:
    """(repo_id, files, revision, token) per model repo whose weight files this HfFileSystem copy fetches.

    The files are the ones fsspec's `get` itself will copy (same expand_path call; the listing it fetches
    stays in the filesystem's cache for the real call).
    """
    from huggingface_hub import constants
    from huggingface_hub.hf_file_system import HfFileSystemResolvedRepositoryPath
    from llmfit_hf.predownload import is_weight_file

    try:
        bound = inspect.signature(original).bind(fs, *args, **kwargs)
    except TypeError:
        return []  # a malformed call: the original raises its own error
    bound.apply_defaults()
    call = bound.arguments
    extra = dict(call.get("kwargs") or {})
    rpath = call.get("rpath")
    revision = extra.get("revision")
    if original.__name__ == "get_file":
        rpaths = [rpath]
    elif isinstance(rpath, list) and isinstance(call.get("lpath"), list):
        rpaths = rpath
    elif isinstance(rpath, str) and not call.get("recursive") and not any(c in rpath for c in "*?["):
        rpaths = [rpath]  # one named file: no listing needed to know what it is
    else:
        rpaths = fs.expand_path(rpath, recursive=call.get("recursive"), maxdepth=call.get("maxdepth"), **extra)
    groups: dict[tuple[str, str | None], list[str]] = {}
    for p in rpaths:
        if not isinstance(p, str) or not is_weight_file(p):
            continue  # configs, tokenizers, README, folders: never checked
        if constants.HF_URI_TYPE_PREFIXES.get(fs._strip_protocol(p).split("/", 1)[0], "model") != "model":
            continue  # datasets / spaces / buckets: not models (no request needed to know)
        resolved = fs.resolve_path(p, revision=revision)
        if not isinstance(resolved, HfFileSystemResolvedRepositoryPath) or resolved.repo_type != "model":
            continue
        rev = None if resolved.revision == constants.DEFAULT_REVISION else resolved.revision
        files = groups.setdefault((resolved.repo_id, rev), [])
        if resolved.path_in_repo not in files:
            files.append(resolved.path_in_repo)
    return [(repo_id, files, rev, fs.token) for (repo_id, rev), files in groups.items()]


# ---- the ways in ----------------------------------------------------------------------------------

_guard: _Guard | None = None


def install(mode: str = "warn", hardware=None, context=None, strict: bool = False) -> None:
    """Guard huggingface_hub's downloads in this process (now, and for modules imported later).

    mode "warn": a FitWarning when a model does not fit, then the download; "block": DownloadBlockedError
    before any weight byte. `strict` (block mode): a failed check blocks too. Calling it again changes the
    settings. huggingface_hub is not imported here: its download functions are patched when it loads.
    """
    if "huggingface_hub" not in sys.modules and importlib.util.find_spec("huggingface_hub") is None:
        raise LlmfitError("huggingface_hub is not installed: nothing to guard")
    _install(mode, hardware, context, strict)


def _install(mode: str, hardware=None, context=None, strict: bool = False) -> None:
    global _guard
    if mode not in MODES:
        raise LlmfitError(f"guard mode must be one of {', '.join(MODES)}, not {mode!r}")
    if _guard is None:
        _guard = _Guard(mode, hardware, context, strict)
    else:
        _guard.mode, _guard.hardware, _guard.context, _guard.strict = mode, hardware, context, strict
    _guard.watch()
    try:
        autopilot.install(mode, hardware, strict)  # model loads (the runner adapters patch on import)
    except Exception as exc:  # the download guard stands without it
        _say(f"warning: model loads are not checked ({type(exc).__name__}: {exc})")


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
    if autopilot.installing():  # install() loads the plugins; the HF adapter's import calls this: no nesting
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
    import runpy

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
