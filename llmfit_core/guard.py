"""Python download guard: the fit check for code that calls huggingface_hub directly.

    import llmfit_core.guard as guard
    guard.install(mode="warn")   # or "block": raise DownloadBlockedError before any weight byte
    ...                          # hf_hub_download / snapshot_download / Llama.from_pretrained / mlx_lm.load
    guard.uninstall()

Opt-in without code changes: `python -m llmfit_core.guard script.py [args]` runs a script with the guard
installed (mode from `LLMFIT_GUARD`, default warn); or call `llmfit_core.guard.autoinstall()`, which
installs it only when `LLMFIT_GUARD=warn|block` is set (the HF adapter calls it when llmfit's plugins load).
No `.pth` or sitecustomize magic.

What is wrapped: `huggingface_hub.hf_hub_download` / `snapshot_download` (the package attributes, which
llama-cpp-python's `Llama.from_pretrained` imports inside the method at call time), the defining modules'
names (`huggingface_hub.file_download.hf_hub_download`, `huggingface_hub._snapshot_download.snapshot_download`)
and the module-level imports of mlx-lm (`mlx_lm.utils.snapshot_download`) and transformers
(`transformers.utils.hub.hf_hub_download` / `snapshot_download`), patched when those modules are already
loaded at install() time, or later by `patch_loaded_modules()`.
`huggingface_hub.HfFileSystem` (fsspec, `hf://` paths): the class methods `get` (also behind `download`)
and `get_file`. Copying a model weight file (`.gguf`, `.safetensors`, `.bin`/`.pt`/`.pth`..., not configs or
tokenizers) of a model repo is checked like `hf_hub_download` of that repo/file/revision (the plan is
its dry run); a recursive or glob `get` is checked once for the whole set of weight files it will copy.
The guard never changes what is downloaded: the original function is called with the same arguments and
its return value is returned unchanged. Files already in the cache are not checked again (the dry run
says `will_download=False`), and a dry run the caller asked for is passed straight through.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
import warnings

from llmfit_core.errors import LlmfitError

MODES = ("warn", "block")


class DownloadBlockedError(LlmfitError):
    """The guard (block mode) stopped a download of a model that does not fit this machine."""

    exit_code = 3


class FitWarning(UserWarning):
    """Emitted by the guard in warn mode when a download does not fit (or could not be checked)."""


# (module name, attribute) pairs the guard patches
TARGETS = (
    ("huggingface_hub", "hf_hub_download"),
    ("huggingface_hub", "snapshot_download"),
    ("huggingface_hub.file_download", "hf_hub_download"),
    ("huggingface_hub._snapshot_download", "snapshot_download"),
    ("mlx_lm.utils", "snapshot_download"),
    ("transformers.utils.hub", "hf_hub_download"),
    ("transformers.utils.hub", "snapshot_download"),
)
# consumers that are heavy to import: patched only when already loaded (install() or patch_loaded_modules())
_LAZY = ("mlx_lm", "transformers")
# HfFileSystem methods the guard wraps (class attributes; fsspec's `get` / `download` call get_file per file)
FS_METHODS = ("get", "get_file")
_NOT_SET = object()


class _Guard:
    """The installed guard: its mode, the originals it replaced, what it already checked."""

    def __init__(self, mode: str, hardware=None, context=None, strict: bool = False):
        self.mode = mode
        self.hardware = hardware
        self.context = context
        self.strict = strict
        self.originals: dict[tuple[str, str], object] = {}
        self.fs_originals: dict[str, object] = {}  # HfFileSystem attribute -> its own value (or _NOT_SET)
        self.checked: dict[tuple, object] = {}  # (repo, revision, files) -> CheckResult
        self.local = threading.local()

    # -- the check ---------------------------------------------------------------------------
    def busy(self) -> bool:
        return getattr(self.local, "depth", 0) > 0

    def run_inner(self, fn, *args, **kwargs):
        self.local.depth = getattr(self.local, "depth", 0) + 1
        try:
            return fn(*args, **kwargs)
        finally:
            self.local.depth -= 1

    def check(self, kind: str, original, args: tuple, kwargs: dict) -> None:
        """Dry-run the same call, check the model files it would fetch; warn or raise."""
        from llmfit_hf.hub import token_override
        from llmfit_hf.predownload import PlannedFile, check_plan

        call = dict(kwargs)
        call["dry_run"] = True
        try:
            infos = self.run_inner(original, *args, **call)
        except Exception as exc:  # the real call will raise the same error (or work from cache)
            self._fail_open(f"could not plan the download ({type(exc).__name__}: {exc})")
            return
        if not isinstance(infos, list):
            infos = [infos]
        planned = [PlannedFile(i.filename, i.file_size, bool(i.will_download)) for i in infos]
        if not any(p.will_download for p in planned):
            return  # everything is cached: nothing to check
        repo_id = kwargs.get("repo_id") or (args[0] if args else None)
        revision = kwargs.get("revision")
        if kwargs.get("repo_type") not in (None, "model") or not repo_id:
            return
        key = (repo_id, revision, tuple(sorted(p.name for p in planned if p.will_download)))
        res = self.checked.get(key)
        if res is None:
            try:
                with token_override(kwargs.get("token")):
                    res = self.run_inner(check_plan, repo_id, planned, revision=revision, hardware=self.hardware,
                                         context=self.context, options={"guard": self.mode})
            except Exception as exc:
                self._fail_open(f"fit check failed for {repo_id} ({type(exc).__name__}: {exc})")
                return
            self.checked[key] = res
        self._decide(repo_id, res)

    def _decide(self, repo_id: str, res) -> None:
        from llmfit_hf.predownload import describe

        if res.status in ("fits", "nothing", "unchecked"):
            return
        if res.status == "error":
            self._fail_open(f"fit check incomplete for {repo_id} ({res.message})")
            return
        detail = "; ".join(line.strip() for line in describe(res))
        msg = f"{repo_id} does not fit this machine: {detail}"
        if self.mode == "block":
            raise DownloadBlockedError(msg + " (blocked by llmfit guard; LLMFIT_GUARD=warn to only warn)")
        warnings.warn(msg, FitWarning, stacklevel=4)

    def _fail_open(self, message: str) -> None:
        if self.strict and self.mode == "block":
            raise DownloadBlockedError(message + " (strict guard)")
        warnings.warn("llmfit guard: " + message, FitWarning, stacklevel=5)

    # -- wrappers ----------------------------------------------------------------------------
    def wrap(self, kind: str, original):
        guard = self

        @functools.wraps(original)
        def guarded(*args, **kwargs):
            if guard.busy() or kwargs.get("dry_run") or kwargs.get("local_files_only"):
                return original(*args, **kwargs)
            if kind == "hf_hub_download":
                kwargs_for_plan = _normalize_subfolder(kwargs)
            else:
                kwargs_for_plan = kwargs
            guard.check(kind, original, args, kwargs_for_plan)
            # the untouched call; nested calls (snapshot_download → hf_hub_download per file) skip the check
            return guard.run_inner(original, *args, **kwargs)

        guarded.__llmfit_guard__ = True
        guarded.__wrapped__ = original
        return guarded

    def wrap_fs(self, attr: str, original):
        guard = self

        @functools.wraps(original)
        def guarded(fs, *args, **kwargs):
            if guard.busy():  # e.g. get_file called by a guarded get: the whole copy was checked already
                return original(fs, *args, **kwargs)
            try:
                plans = _fs_plans(fs, attr, original, args, kwargs)
            except Exception as exc:  # the real call raises the same error (or copies what it can)
                guard._fail_open(f"could not plan the HfFileSystem copy ({type(exc).__name__}: {exc})")
                plans = []
            for planner, plan_kwargs in plans:
                guard.check("HfFileSystem." + attr, planner, (), plan_kwargs)
            return guard.run_inner(original, fs, *args, **kwargs)

        guarded.__llmfit_guard__ = True
        guarded.__wrapped__ = original
        return guarded

    def patch(self) -> None:
        for mod_name, attr in TARGETS:
            if mod_name.startswith(_LAZY) and mod_name not in sys.modules:
                continue  # heavy to import: patched by patch_loaded_modules() once the app loaded it
            self._patch_one(mod_name, attr)
        self._patch_fs()

    def _patch_fs(self) -> None:
        try:
            from huggingface_hub.hf_file_system import HfFileSystem
        except Exception:  # no fsspec: nothing to wrap
            return
        for attr in FS_METHODS:
            current = getattr(HfFileSystem, attr, None)
            if current is None or getattr(current, "__llmfit_guard__", False):
                continue
            self.fs_originals[attr] = HfFileSystem.__dict__.get(attr, _NOT_SET)  # `get` is fsspec's, inherited
            setattr(HfFileSystem, attr, self.wrap_fs(attr, current))

    def _patch_one(self, mod_name: str, attr: str) -> None:
        try:
            mod = importlib.import_module(mod_name)
        except Exception:
            return
        current = getattr(mod, attr, None)
        if current is None or getattr(current, "__llmfit_guard__", False):
            return
        kind = attr
        self.originals[(mod_name, attr)] = current
        setattr(mod, attr, self.wrap(kind, current))

    def unpatch(self) -> None:
        for (mod_name, attr), original in self.originals.items():
            mod = sys.modules.get(mod_name)
            if mod is not None and getattr(getattr(mod, attr, None), "__llmfit_guard__", False):
                setattr(mod, attr, original)
        self.originals.clear()
        fs_mod = sys.modules.get("huggingface_hub.hf_file_system")
        cls = getattr(fs_mod, "HfFileSystem", None)
        for attr, original in self.fs_originals.items():
            if cls is None or not getattr(cls.__dict__.get(attr), "__llmfit_guard__", False):
                continue
            if original is _NOT_SET:
                delattr(cls, attr)
            else:
                setattr(cls, attr, original)
        self.fs_originals.clear()


def _normalize_subfolder(kwargs: dict) -> dict:
    """llama-cpp-python passes subfolder='.' for top-level files; the dry run must name the same file."""
    if kwargs.get("subfolder") in (".", ""):
        kw = dict(kwargs)
        kw["subfolder"] = None
        return kw
    return kwargs


def _fs_plans(fs, attr: str, original, args: tuple, kwargs: dict) -> list:
    """(planner, kwargs for _Guard.check) per model repo whose weight files this HfFileSystem call copies.

    The files are the ones fsspec's `get` itself will copy (same expand_path call; the listing it fetches
    stays in the filesystem's cache for the real call). A planner dry-runs the original hf_hub_download
    for each file, so cached files, sizes and errors are exactly what hf_hub_download would report.
    """
    import inspect

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
    if attr == "get_file":
        rpaths = [rpath]
    elif isinstance(rpath, list) and isinstance(call.get("lpath"), list):
        rpaths = rpath
    elif isinstance(rpath, str) and not call.get("recursive") and not _has_magic(rpath):
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
    download = _original_hf_hub_download()
    token, endpoint = fs.token, fs.endpoint

    def planner(repo_id, files, revision=None, token=None, dry_run=True):
        return [download(repo_id=repo_id, filename=f, revision=revision, token=token, endpoint=endpoint,
                         dry_run=True) for f in files]

    return [(planner, {"repo_id": repo_id, "files": files, "revision": rev, "token": token})
            for (repo_id, rev), files in groups.items()]


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def _original_hf_hub_download():
    """huggingface_hub's own hf_hub_download, not the guard's wrapper."""
    from huggingface_hub import file_download

    fn = file_download.hf_hub_download
    while getattr(fn, "__llmfit_guard__", False):
        fn = fn.__wrapped__
    return fn


_guard: _Guard | None = None


def install(mode: str = "warn", hardware=None, context=None, strict: bool = False) -> None:
    """Wrap huggingface_hub's download functions (and the names consumers imported) with the fit check.

    mode "warn": a FitWarning when a model does not fit, then the download; "block": DownloadBlockedError
    before any weight byte. `strict` (block mode): a failed check blocks too. Calling it again changes the mode.
    """
    global _guard
    if mode not in MODES:
        raise LlmfitError(f"guard mode must be one of {', '.join(MODES)}, not {mode!r}")
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise LlmfitError("huggingface_hub is not installed: nothing to guard") from None
    if _guard is not None:
        _guard.mode, _guard.hardware, _guard.context, _guard.strict = mode, hardware, context, strict
        _guard.patch()
        return
    _guard = _Guard(mode, hardware, context, strict)
    _guard.patch()


def patch_loaded_modules() -> None:
    """Patch consumers loaded after install() (e.g. mlx_lm.utils). Cheap; call before using them."""
    if _guard is not None:
        _guard.patch()
        for mod_name, attr in TARGETS:
            if mod_name in sys.modules:
                _guard._patch_one(mod_name, attr)


def uninstall() -> None:
    """Restore the original functions."""
    global _guard
    if _guard is not None:
        _guard.unpatch()
        _guard = None


def installed_mode() -> str | None:
    """"warn" / "block" when installed, else None."""
    return None if _guard is None else _guard.mode


def autoinstall() -> str | None:
    """Install the guard when LLMFIT_GUARD=warn|block is set (opt-in); returns the mode or None."""
    mode = os.environ.get("LLMFIT_GUARD", "").strip().lower()
    if mode in ("", "0", "off", "no", "false"):
        return None
    if mode in ("1", "on", "yes", "true"):
        mode = "warn"
    if mode not in MODES:
        print(f"llmfit: warning: LLMFIT_GUARD={mode!r} is not warn|block; guard not installed", file=sys.stderr)
        return None
    try:
        install(mode, hardware=os.environ.get("LLMFIT_HARDWARE") or None)
    except LlmfitError as exc:
        print(f"llmfit: warning: guard not installed ({exc})", file=sys.stderr)
        return None
    return mode


def main(argv: list[str] | None = None) -> int:
    """`python -m llmfit_core.guard [--block|--warn] script.py [args]` or `-m module [args]`."""
    import runpy

    args = list(sys.argv[1:] if argv is None else argv)
    mode = os.environ.get("LLMFIT_GUARD", "warn").strip().lower() or "warn"
    while args and args[0] in ("--block", "--warn"):
        mode = args.pop(0)[2:]
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m llmfit_core.guard [--warn|--block] SCRIPT.py [ARGS] | -m MODULE [ARGS]")
        return 0 if args else 2
    # what we run must exist: checked here, so a typo is one line, while the script's own errors stay its own
    if args[0] == "-m":
        import importlib.util

        try:
            found = len(args) > 1 and importlib.util.find_spec(args[1]) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            print(f"llmfit: error: no module named {args[1] if len(args) > 1 else ''!r} to run", file=sys.stderr)
            return 2
    elif args[0].startswith("-"):
        print(f"llmfit: error: unknown option {args[0]!r} (use --warn, --block, -m MODULE or SCRIPT.py)",
              file=sys.stderr)
        return 2
    elif not os.path.exists(args[0]):
        print(f"llmfit: error: no such script: {args[0]}", file=sys.stderr)
        return 2
    if mode not in MODES and mode not in ("1", "on", "yes", "true"):
        print(f"llmfit: warning: LLMFIT_GUARD={mode!r} is not warn|block; using warn", file=sys.stderr)
    try:
        install(mode if mode in MODES else "warn", hardware=os.environ.get("LLMFIT_HARDWARE") or None)
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
    sys.exit(main())
