"""Drop-in shims for the runners' command lines: `hf`, `huggingface-cli`, `ollama`, `llama-cli`, `llama-server`
(the programs the runner adapters name, hook `llmfit_shim_tools`).

A shim is a POSIX sh script placed before the real program on PATH. For command lines that may download
(`hf download`, `ollama pull|run`, `llama-cli -hf ...`: each adapter's `ShimTool` says which, so the test is
made in sh without starting Python) it runs `python -m llmfit_core.shims check TOOL -- ARGS...` first; every
other command goes straight to the real program with `exec`. What the command would download is the adapter's
reading of its command line (hook `llmfit_download_target`).

Check exit codes: 0 = go on, 3 = does not fit (one line printed), 1 = the check failed and
`LLMFIT_STRICT=1`. Without strict mode a failing check prints one warning and returns 0 (fail open).
Environment: `LLMFIT_BYPASS=1` (no check), `LLMFIT_FORCE=1` (download even when it does not fit),
`LLMFIT_STRICT=1`, `LLMFIT_HARDWARE=NAME|PATH`, `LLMFIT_CONTEXT=N`, `LLMFIT_PYTHON` (interpreter).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from llmfit_core.check_switches import CheckSwitches
from llmfit_core.dirs import data_dir
from llmfit_core.downloads import DownloadTarget
from llmfit_core.errors import LlmfitError
from llmfit_core.plugin_types import ShimTool
from llmfit_core.plugins import call_hook

MARKER = "llmfit-shim"
EXIT_NO_FIT = 3

SHIM_TEMPLATE = r"""#!/bin/sh
# llmfit-shim for @TOOL@: checks that a model fits this machine before it is downloaded, then runs
# the real @TOOL@ found further down PATH. Written by `llmfit hooks install`; remove with
# `llmfit hooks uninstall`. LLMFIT_BYPASS=1 skips the check, LLMFIT_FORCE=1 downloads even when the
# model does not fit, LLMFIT_STRICT=1 stops when the check itself fails.
tool=@TOOL@
llmfit_python=${LLMFIT_PYTHON:-}
[ -n "$llmfit_python" ] || llmfit_python=@PYTHON@

case $0 in
  */*) self_dir=${0%/*} ;;
  *) self_dir=. ;;
esac
self_dir=$(cd -P -- "$self_dir" 2>/dev/null && pwd) || self_dir=

# the real program: the first $tool on PATH that is neither in this directory nor another llmfit shim
real=
old_ifs=$IFS
IFS=:
set -f
for d in $PATH; do
  [ -n "$d" ] || d=.
  { [ -f "$d/$tool" ] && [ -x "$d/$tool" ]; } || continue
  dd=$(cd -P -- "$d" 2>/dev/null && pwd) || continue
  [ "$dd" = "$self_dir" ] && continue
  if head -c 1024 "$d/$tool" 2>/dev/null | grep -q 'llmfit-shim'; then continue; fi
  real=$d/$tool
  break
done
set +f
IFS=$old_ifs

if [ -z "$real" ]; then
  printf '%s\n' "llmfit: error: the real $tool is not on PATH (only the llmfit shim in $self_dir)" >&2
  exit 127
fi
case ${LLMFIT_BYPASS:-} in
  1|true|yes|on|TRUE|YES|ON|True|Yes|On) exec "$real" "$@" ;;
esac

need=
@NEED@

if [ -n "$need" ]; then
  "$llmfit_python" -m llmfit_core.shims check "$tool" -- "$@" </dev/null >&2
  rc=$?
  case $rc in
    0) ;;
    3) exit 3 ;;
    129|130|131|143) exit "$rc" ;;
    *)
      case ${LLMFIT_STRICT:-} in
        1|true|yes|on|TRUE|YES|ON|True|Yes|On)
          [ "$rc" = 1 ] || printf '%s\n' "llmfit: error: the fit check failed (exit $rc); not running $tool (LLMFIT_STRICT=1)" >&2
          exit "$rc" ;;
      esac
      printf '%s\n' "llmfit: warning: the fit check failed (exit $rc); running $tool anyway" >&2 ;;
  esac
  # checked once here: the Python guard's start-up hook (LLMFIT_GUARD) in the real program need not check again
  LLMFIT_GUARD=
  export LLMFIT_GUARD
fi
exec "$real" "$@"
"""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_WORD = re.compile(r"-{0,2}[A-Za-z0-9][A-Za-z0-9._+=*-]*")


def _valid(tool: ShimTool) -> bool:
    """A file name and sh patterns the shim can hold as they are (no quoting, no spaces, no sh syntax)."""
    return bool(_NAME.fullmatch(tool.name)) and all(_WORD.fullmatch(w) for w in (*tool.commands, *tool.options))


def _need_block(tool: ShimTool) -> str:
    """The shim's sh test that sets `need=1` for a command line that may download."""
    lines = []
    if tool.commands:
        lines.append(f"case ${{1:-}} in {'|'.join(tool.commands)}) need=1 ;; esac")
    if tool.options:
        lines += ['for a in "$@"; do', f"  case $a in {'|'.join(tool.options)}) need=1; break ;; esac", "done"]
    return "\n".join(lines)


def shim_tools() -> dict[str, ShimTool]:
    """The programs the runner adapters have shimmed (hook `llmfit_shim_tools`), by name, sorted. Adapters naming the
    same program add to its triggers (none can remove another's); a name or pattern a shim cannot hold as it is
    is left out with one warning."""
    tools: dict[str, ShimTool] = {}
    for answer in call_hook("llmfit_shim_tools"):
        for tool in answer:
            if not isinstance(tool, ShimTool):
                continue
            if not _valid(tool):
                print(f"llmfit: warning: no shim for {tool.name!r}: its name or patterns are not plain words",
                      file=sys.stderr)
                continue
            known = tools.get(tool.name)
            if known is not None:  # two adapters name the program: both ask for the check (never fewer checks)
                tool = ShimTool(tool.name, tuple(dict.fromkeys(known.commands + tool.commands)),
                                tuple(dict.fromkeys(known.options + tool.options)))
            tools[tool.name] = tool
    return dict(sorted(tools.items()))


def render_shim(tool: str, python: str | None = None) -> str:
    """The shim script for `tool`, calling `python` (default: this interpreter) for the check."""
    tools = shim_tools()
    if tool not in tools:
        raise LlmfitError(f"no shim for {tool!r}; known: {', '.join(tools) or 'none (no runner adapter loaded)'}")
    return (SHIM_TEMPLATE.replace("@TOOL@", shlex.quote(tool)).replace("@NEED@", _need_block(tools[tool]))
            .replace("@PYTHON@", shlex.quote(python or sys.executable)))


def default_dir() -> Path:
    """`shims/` in llmfit's data dir (`LLMFIT_DATA_DIR`, else `platformdirs.user_data_dir("llmfit")`)."""
    return data_dir(create=False) / "shims"


def path_line(directory: Path) -> str:
    """The line to add to a shell profile so the shims come first on PATH."""
    d = str(directory)
    if re.fullmatch(r"[\w@%+=:,./~-]+", d):
        return f'export PATH="{d}:$PATH"'
    return f"export PATH={shlex.quote(d + ':')}\"$PATH\""


def is_shim(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return MARKER.encode() in fh.read(1024)
    except OSError:
        return False


@dataclass
class InstallResult:
    directory: Path
    written: list[Path]
    skipped: list[str]  # tools whose file exists and is not ours
    path_line: str
    on_path: bool


def _on_path(directory: Path) -> bool:
    try:
        target = directory.resolve()
    except OSError:
        return False
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        try:
            if entry and Path(entry).resolve() == target:
                return True
        except OSError:
            continue
    return False


def install(directory: Path | None = None, tools=None, python: str | None = None, overwrite: bool = False) -> InstallResult:
    """Write the shims (`tools`, default every program the adapters name) into `directory` (created if needed).
    Files that are not llmfit shims are kept unless `overwrite`."""
    directory = Path(directory or default_dir()).expanduser()
    tools = list(shim_tools()) if tools is None else tools
    written, skipped = [], []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for tool in tools:
            target = directory / tool
            if target.exists() and not is_shim(target) and not overwrite:
                skipped.append(tool)
                continue
            tmp = directory / f".{tool}.llmfit-tmp"
            tmp.write_text(render_shim(tool, python))
            tmp.chmod(0o755)
            os.replace(tmp, target)
            written.append(target)
    except OSError as exc:
        raise LlmfitError(f"cannot write shims to {directory}: {exc.strerror or exc}") from None
    return InstallResult(directory, written, skipped, path_line(directory), _on_path(directory))


def uninstall(directory: Path | None = None) -> list[Path]:
    """Remove the llmfit shims from `directory` (other files stay; a shim of a program no adapter names any more
    goes too); returns the removed paths."""
    directory = Path(directory or default_dir()).expanduser()
    removed = []
    for target in sorted(directory.iterdir()) if directory.is_dir() else []:
        if target.is_file() and is_shim(target):
            target.unlink()
            removed.append(target)
    return removed


@dataclass
class ShimStatus:
    tool: str
    shim: Path | None  # installed shim in the directory
    active: bool  # `tool` on PATH resolves to an llmfit shim
    real: str | None  # the real program the shim would run


def status(directory: Path | None = None) -> tuple[Path, bool, list[ShimStatus]]:
    """(directory, directory on PATH, per-tool status)."""
    directory = Path(directory or default_dir()).expanduser()
    out = []
    for tool in shim_tools():
        shim = directory / tool
        found = shutil.which(tool)
        out.append(ShimStatus(tool, shim if shim.is_file() and is_shim(shim) else None,
                              bool(found) and is_shim(Path(found)), find_real(tool, directory)))
    return directory, _on_path(directory), out


def find_real(tool: str, shim_dir: Path | None = None) -> str | None:
    """The first `tool` on PATH that is not an llmfit shim (what the shim execs)."""
    skip = Path(shim_dir).resolve() if shim_dir else None
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        cand = Path(entry or ".") / tool
        if not (cand.is_file() and os.access(cand, os.X_OK)):
            continue
        if skip is not None and cand.parent.resolve() == skip:
            continue
        if is_shim(cand):
            continue
        return str(cand)
    return None


# ---------------------------------------------------------------------------------------------
# The check the shims run


def target_for(tool: str, args: list[str]) -> DownloadTarget | None:
    """What the command would download (the runner adapters read their own command lines: hook
    `llmfit_download_target`), or None when it downloads nothing we check."""
    return call_hook("llmfit_download_target", tool=tool, args=list(args))


def _env_context():
    raw = os.environ.get("LLMFIT_CONTEXT")
    return raw.strip() if raw and raw.strip() else None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:400]


def run_check(tool: str, args: list[str], err=None) -> int:
    """The shim's check: 0 go on, 3 does not fit, 1 check failed in strict mode.

    A dry run (`hf download --dry-run`) gets the verdict and goes on; a command that downloads nothing (`ollama run`
    of an installed model) gets the adapter's notice only; a plugin's veto (llmfit_before_download) stops like a
    model that does not fit.
    """
    err = err or sys.stderr
    switches = CheckSwitches.from_env()
    if switches.bypass:
        return 0
    hardware = os.environ.get("LLMFIT_HARDWARE") or None
    label = tool
    try:
        target = target_for(tool, args)
        if target is None:
            return 0
        label = target.label
        if not target.downloads:  # nothing to download: say how the runner will load it, never stop it
            _notice(target, hardware, err)
            return 0
        res = target.check(hardware, _env_context())
        if res.status == "error":
            raise LlmfitError(res.message or "the fit check failed")
    except KeyboardInterrupt:
        print("llmfit: interrupted", file=err)
        return 130
    except Exception as exc:  # a predictor failure never blocks a download unless strict
        msg = _one_line(exc) or type(exc).__name__
        if switches.strict:
            print(f"llmfit: error: could not check {label}: {msg} (LLMFIT_STRICT=1: not running {tool})", file=err)
            return 1
        print(f"llmfit: warning: could not check {label}: {msg}; running {tool} anyway", file=err)
        return 0
    if res.status == "nothing":
        return 0
    if res.status == "unchecked":
        print(f"llmfit: note: {res.message}", file=err)
        return 0
    checked = [m for m in res.models if m.report is not None]
    bad = [m for m in checked if not m.report.fits]
    first = (bad or checked)[0]
    more = f" (+{len(checked) - 1} more model(s))" if len(checked) > 1 else ""
    line = f"{target.line(first)}{more}"
    dry = "dry run: " if target.dry_run else ""
    if res.status == "fits":
        print(f"llmfit: {dry}fits: {line}", file=err)
        _notice(target, hardware, err)
        return 0
    why = "" if bad else f"; blocked by a plugin: {res.message}"
    if target.dry_run:
        print(f"llmfit: dry run: {line}{why}; does not fit", file=err)
        return 0
    if switches.force:
        print(f"llmfit: {line}{why}; downloading anyway (LLMFIT_FORCE=1)", file=err)
        return 0
    print(f"llmfit: stopped: {line}{why}; does not fit; LLMFIT_FORCE=1 downloads anyway", file=err)
    return EXIT_NO_FIT


def _notice(target: DownloadTarget, hardware, err) -> None:
    """The adapter's advice (e.g. `ollama run`: the context Ollama will use); a failure is one warning."""
    try:
        said = target.notice(hardware)
    except Exception as exc:  # the notice is advice: the command goes on
        print(f"llmfit: warning: could not check {target.label}: {_one_line(exc) or type(exc).__name__}", file=err)
        return
    if said is not None:
        line, warn = said
        print(f"llmfit: {'warning: ' if warn else ''}{line}", file=err)


def main(argv: list[str] | None = None) -> int:
    """`python -m llmfit_core.shims check TOOL -- ARGS...` (what the shim scripts call)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "check":
        print("usage: python -m llmfit_core.shims check TOOL -- ARGS...", file=sys.stderr)
        return 2
    tool, rest = argv[1], argv[2:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    return run_check(tool, rest)


if __name__ == "__main__":
    sys.exit(main())
