"""huggingface_hub's downloads under the Python download guard (hook `llmfit_guard_downloads`).

What is diverted (llmfit_core.guard diverts function objects, so names imported before the install reach the
guard too): `huggingface_hub.file_download.hf_hub_download`, `huggingface_hub._snapshot_download.snapshot_download`
(re-exported by huggingface_hub, used by HfApi, mlx-lm, transformers and llama-cpp-python's
`Llama.from_pretrained`) and `HfFileSystem.get_file`; `HfFileSystem.get` (fsspec's, inherited; also behind
`download`) is overridden on the class, so a recursive or glob copy is checked once for its whole set of weight
files.

How a call is read: huggingface_hub's own dry run of the same call says which files would be fetched; the weight
files among them (not configs or tokenizers, not files already cached) are checked with
`llmfit_hf.predownload.check_plan`, and the guard's policy (llmfit_core.guard) decides. A dry run the caller
asked for is checked too: its verdict is said and its result returned. snapshot_download runs one
hf_hub_download per file in worker threads: those belong to the download already checked (a `_Scope`).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from dataclasses import dataclass

from llmfit_core import patching
from llmfit_core.downloads import PlannedFile
from llmfit_core.guard import DownloadGuard, GuardedFunction
from llmfit_hf.predownload import DownloadArgs, is_weight_file
from llmfit_hf.targets import HubDownload

FILE_DOWNLOAD = "huggingface_hub.file_download"
SNAPSHOT_DOWNLOAD = "huggingface_hub._snapshot_download"
FILE_SYSTEM = "huggingface_hub.hf_file_system"


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


class HubDownloads:
    """The handlers of huggingface_hub's download functions for one installed guard."""

    def __init__(self, guard: DownloadGuard):
        self.guard = guard
        self.scopes: list[_Scope] = []
        self.lock = threading.Lock()

    def functions(self) -> list[GuardedFunction]:
        return [GuardedFunction(FILE_DOWNLOAD, "hf_hub_download", self.on_hub_download),
                GuardedFunction(SNAPSHOT_DOWNLOAD, "snapshot_download", self.on_hub_download),
                GuardedFunction(FILE_SYSTEM, "HfFileSystem.get_file", self.on_fs_copy),
                GuardedFunction(FILE_SYSTEM, "HfFileSystem.get", self.on_fs_copy)]

    # -- scopes ----------------------------------------------------------------------------------
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
        guard = self.guard
        call = read_call(original, args, kwargs)
        if (call is None or guard.busy() or call.local_files_only or call.repo_type not in (None, "model")
                or self.covered(call)):
            return original(*args, **kwargs)
        if guard.bypassed(call.label):
            with self.scope(_Scope(call.repo_id, False)):
                return original(*args, **kwargs)
        if call.dry_run:  # asked for: run it, then say what the real download would mean
            with self.scope(_Scope(call.repo_id, True)):
                infos = original(*args, **kwargs)
            self.report_dry_run(call, planned_files(infos))
            return infos
        planned = self.plan(call, original, args, kwargs)
        if planned is not None:
            guard.enforce(self.verdict(call.repo_id, call.revision, call.token, planned))
        files = None if planned is None else frozenset(p.name for p in planned)
        with self.scope(_Scope(call.repo_id, False, files)):
            # the untouched call; nested calls (snapshot_download's per-file downloads) are part of it
            return guard.run_inner(original, *args, **kwargs)

    def plan(self, call: DownloadCall, original, args: tuple, kwargs: dict) -> list[PlannedFile] | None:
        """huggingface_hub's dry run of the same call, or None when it failed (fail open)."""
        plan_kwargs = dict(kwargs, dry_run=True)
        if call.kind == "hf_hub_download" and plan_kwargs.get("subfolder") in (".", ""):
            plan_kwargs["subfolder"] = None  # llama-cpp-python passes "."; the dry run must name the same file
        try:
            with self.scope(_Scope(call.repo_id, True)):
                infos = self.guard.run_inner(original, *args, **plan_kwargs)
        except Exception as exc:  # the real call will raise the same error (or work from cache)
            self.guard.fail_open(f"could not plan the download ({type(exc).__name__}: {exc})")
            return None
        return planned_files(infos)

    def verdict(self, repo_id: str, revision, token, planned: list[PlannedFile]):
        """The guard's (cached) check of the files that would be fetched; None: nothing to check, or it failed."""
        todo = tuple(sorted(p.name for p in planned if p.will_download))
        if not todo:
            return None  # everything is cached
        target = HubDownload(repo_id, repo_id, args=DownloadArgs(repo_id, revision=revision,
                                                                 token=token if isinstance(token, str) else None),
                             planned=planned)
        return self.guard.check(target, key=(repo_id, revision, todo))

    def report_dry_run(self, call: DownloadCall, planned: list[PlannedFile]) -> None:
        """A dry run's verdict on stderr; it never blocks or raises (nothing is downloaded)."""
        if not planned or not any(p.will_download for p in planned):
            self.guard.say(f"dry run: {call.repo_id}: nothing to download (cached)")
            return
        self.guard.report_dry_run(lambda: self.verdict(call.repo_id, call.revision, call.token, planned))

    # -- HfFileSystem copies ---------------------------------------------------------------------
    def on_fs_copy(self, original, args: tuple, kwargs: dict):
        """HfFileSystem.get / get_file: every model repo whose weight files the copy fetches is checked."""
        guard = self.guard
        if guard.busy():  # e.g. get_file called by a guarded get: the whole copy was checked already
            return original(*args, **kwargs)
        if guard.bypassed(f"HfFileSystem.{original.__name__}({', '.join(repr(a) for a in args[1:3])})"):
            return guard.run_inner(original, *args, **kwargs)
        try:
            plans = fs_plans(args[0], original, args[1:], kwargs)
        except Exception as exc:  # the real call raises the same error (or copies what it can)
            guard.fail_open(f"could not plan the HfFileSystem copy ({type(exc).__name__}: {exc})")
            plans = []
        for repo_id, files, revision, token in plans:
            try:
                planned = guard.run_inner(plan_files, args[0], repo_id, files, revision, token)
            except Exception as exc:  # e.g. no such file: the copy raises its own error
                guard.fail_open(f"could not plan the HfFileSystem copy ({type(exc).__name__}: {exc})")
                continue
            guard.enforce(self.verdict(repo_id, revision, token, planned))
        return guard.run_inner(original, *args, **kwargs)


# ---- reading calls ------------------------------------------------------------------------------


def read_call(original, args: tuple, kwargs: dict) -> DownloadCall | None:
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


def planned_files(infos) -> list[PlannedFile]:
    """huggingface_hub's DryRunFileInfo(s) as PlannedFiles."""
    if not isinstance(infos, list):
        infos = [infos]
    return [PlannedFile(i.filename, i.file_size, bool(i.will_download)) for i in infos]


def plan_files(fs, repo_id: str, files: list[str], revision, token) -> list[PlannedFile]:
    """Dry runs of huggingface_hub's own hf_hub_download for these files (cached files, sizes, errors as it sees them)."""
    from huggingface_hub import file_download  # lazy: optional runner (loaded by now: the call checked is its own)

    download = patching.undiverted(file_download.hf_hub_download)
    return planned_files([download(repo_id=repo_id, filename=f, revision=revision, token=token,
                                   endpoint=fs.endpoint, dry_run=True) for f in files])


def fs_plans(fs, original, args: tuple, kwargs: dict) -> list:
    """(repo_id, files, revision, token) per model repo whose weight files this HfFileSystem copy fetches.

    The files are the ones fsspec's `get` itself will copy (same expand_path call; the listing it fetches
    stays in the filesystem's cache for the real call).
    """
    from huggingface_hub import constants  # lazy: optional runner (loaded by now: the call checked is its own)
    from huggingface_hub.hf_file_system import HfFileSystemResolvedRepositoryPath  # lazy: optional runner (as above)

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
