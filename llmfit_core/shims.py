"""Drop-in shims for `hf`, `huggingface-cli`, `ollama`, `llama-cli`, `llama-server`.

A shim is a POSIX sh script placed before the real program on PATH. For download commands
(`hf download`, `ollama pull|run`, `llama-cli -hf ...`) it runs `python -m llmfit_core.shims check
TOOL -- ARGS...` first; every other command goes straight to the real program with `exec`.

Check exit codes: 0 = go on, 3 = does not fit (one line printed), 1 = the check failed and
`LLMFIT_STRICT=1`. Without strict mode a failing check prints one warning and returns 0 (fail open).
Environment: `LLMFIT_BYPASS=1` (no check), `LLMFIT_FORCE=1` (download even when it does not fit),
`LLMFIT_STRICT=1`, `LLMFIT_HARDWARE=NAME|PATH`, `LLMFIT_CONTEXT=N`, `LLMFIT_PYTHON` (interpreter).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from llmfit_core.check_switches import CheckSwitches

TOOLS = ("hf", "huggingface-cli", "ollama", "llama-cli", "llama-server")
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
case $tool in
  hf|huggingface-cli)
    [ "${1:-}" = download ] && need=1 ;;
  ollama)
    case ${1:-} in pull|run) need=1 ;; esac ;;
  llama-cli|llama-server)
    for a in "$@"; do
      case $a in -hf|-hfr|--hf-repo|-hf=*|-hfr=*|--hf-repo=*) need=1; break ;; esac
    done ;;
esac

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


def render_shim(tool: str, python: str | None = None) -> str:
    """The shim script for `tool`, calling `python` (default: this interpreter) for the check."""
    if tool not in TOOLS:
        from llmfit_core.errors import LlmfitError

        raise LlmfitError(f"no shim for {tool!r}; known: {', '.join(TOOLS)}")
    return SHIM_TEMPLATE.replace("@TOOL@", shlex.quote(tool)).replace("@PYTHON@", shlex.quote(python or sys.executable))


def default_dir() -> Path:
    """`shims/` in llmfit's data dir (`LLMFIT_DATA_DIR`, else `platformdirs.user_data_dir("llmfit")`)."""
    from llmfit_core.bench.store import data_dir

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


def install(directory: Path | None = None, tools=TOOLS, python: str | None = None, overwrite: bool = False) -> InstallResult:
    """Write the shims into `directory` (created if needed). Files that are not llmfit shims are kept
    unless `overwrite`."""
    from llmfit_core.errors import LlmfitError

    directory = Path(directory or default_dir()).expanduser()
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
    """Remove the llmfit shims from `directory` (other files stay); returns the removed paths."""
    directory = Path(directory or default_dir()).expanduser()
    removed = []
    for tool in TOOLS:
        target = directory / tool
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
    import shutil

    directory = Path(directory or default_dir()).expanduser()
    out = []
    for tool in TOOLS:
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


@dataclass
class CheckTarget:
    """What a command line would download, as an `llmfit fit` reference."""

    ref: str
    label: str  # for messages
    file: str | None = None
    quant: str | None = None
    context: int | None = None
    options: dict = field(default_factory=dict)


def _hf_target(args: list[str]) -> CheckTarget | None:
    """`hf download REPO [FILES...] [OPTIONS]` of a model repo (`--dry-run` too: it prints the verdict)."""
    if not args or args[0] != "download" or any(a in ("-h", "--help") for a in args[1:]):
        return None
    from llmfit_hf.predownload import parse_download_args

    d = parse_download_args(args[1:])
    if (d.repo_type or "model") != "model":
        return None  # not a model
    files = [f for f in d.filenames if f.lower().endswith(".gguf")]
    return CheckTarget(d.repo_id, f"hf download {d.repo_id}", file=files[0] if files else None,
                       options={"dry_run": d.dry_run})


def _ollama_target(args: list[str]) -> CheckTarget | None:
    """`ollama pull NAME` always; `ollama run NAME` checked when NAME is not installed (it pulls), else only
    told the context Ollama will use and the largest that fits (options "run_notice")."""
    if not args or args[0] not in ("pull", "run"):
        return None
    value_opts = {"--format", "--keepalive", "--dimensions"}
    name = None
    i = 1
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            return None
        if a in value_opts and args[0] == "run":
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        name = a
        break
    if not name:
        return None
    ref = "ollama:" + name
    if args[0] == "run":
        from llmfit_ollama.names import parse_name
        from llmfit_ollama.resolver import is_installed

        if is_installed(parse_name(ref)):
            return CheckTarget(ref, f"ollama run {name}", options={"run_notice": True, "installed": True})
        return CheckTarget(ref, f"ollama {args[0]} {name}", options={"run_notice": True})
    return CheckTarget(ref, f"ollama {args[0]} {name}")


def _llamacpp_target(args: list[str]) -> CheckTarget | None:
    """`llama-cli|llama-server -hf repo[:quant] [-hff FILE] [-c N]`."""
    repo = file = None
    context = None
    i = 0
    while i < len(args):
        a = args[i]
        key, eq, val = a.partition("=")
        if not eq:
            val = args[i + 1] if i + 1 < len(args) else None
        if key in ("-hf", "-hfr", "--hf-repo"):
            repo = val
        elif key in ("-hff", "--hf-file"):
            file = val
        elif key in ("-c", "--ctx-size"):
            try:
                context = int(val) if val is not None else None
            except ValueError:
                context = None
        if not eq and key in ("-hf", "-hfr", "--hf-repo", "-hff", "--hf-file", "-c", "--ctx-size"):
            i += 1
        i += 1
    if not repo:
        return None
    if context == 0:
        context = None  # 0 = the model's own context; let the estimate choose
    return CheckTarget(repo, f"{repo}", file=file, context=context, options={"llamacpp": True})


def target_for(tool: str, args: list[str]) -> CheckTarget | None:
    """What the command would download, or None when it downloads nothing we check."""
    if tool in ("hf", "huggingface-cli"):
        return _hf_target(args)
    if tool == "ollama":
        return _ollama_target(args)
    if tool in ("llama-cli", "llama-server"):
        return _llamacpp_target(args)
    return None


def _gib(n) -> str:
    if n is None:
        return "?"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def describe(report) -> str:
    """One line: what, verdict, memory needed vs. available, expected speed."""
    hw = report.hardware
    avail = None
    if hw is not None:
        avail = hw.memory.available_bytes + sum(g.vram_bytes for g in hw.gpus)
    quant = f" {report.quant}" if report.quant else ""
    size = f", {_gib(report.file_bytes)} download" if report.file_bytes else ""
    line = (f"{report.model_ref}{quant}{size}: {report.verdict} on {report.hardware_name} "
            f"(needs {_gib(report.memory.total_bytes)} at context {report.context}"
            f"{', has ' + _gib(avail) if avail is not None else ''}; {report.backend}")
    if report.fits:
        line += f"; ~{report.decode_tok_s:.1f} tok/s"
    hint = (report.extra or {}).get("suggestion")
    if hint:
        line += f"; {hint}"
    return line + ")"


def check_target(target: CheckTarget, hardware=None):
    """Run the fit for a CheckTarget; returns the FitReport."""
    from llmfit_core.api import fit

    hardware = hardware or os.environ.get("LLMFIT_HARDWARE") or None
    context = target.context or _env_context()
    report = fit(target.ref, hardware=hardware, quant=target.quant, context=context, file=target.file, stored=True)
    if target.options.get("llamacpp") and report.spec is not None:
        try:
            from llmfit_llamacpp import suggest_settings

            s = suggest_settings(report.spec, hardware=hardware, context=context or report.spec.max_context)
            if s.fits:
                report.extra["suggestion"] = s.text
        except Exception:  # the suggestion is a nicety; the verdict stands without it
            pass
    return report


def _env_context():
    raw = os.environ.get("LLMFIT_CONTEXT")
    return raw.strip() if raw and raw.strip() else None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:400]


def run_check(tool: str, args: list[str], err=None) -> int:
    """The shim's check: 0 go on, 3 does not fit, 1 check failed in strict mode."""
    err = err or sys.stderr
    switches = CheckSwitches.from_env()
    if switches.bypass:
        return 0
    strict = switches.strict
    label = tool
    try:
        target = target_for(tool, args)
        if target is None:
            return 0
        label = target.label
        if tool in ("hf", "huggingface-cli"):
            return _check_hf_download(args, err, switches)
        if target.options.get("installed"):  # nothing to download: say how Ollama will load it, never stop it
            _ollama_run_notice(target, err)
            return 0
        report = check_target(target)
    except KeyboardInterrupt:
        print("llmfit: interrupted", file=err)
        return 130
    except Exception as exc:  # a predictor failure never blocks a download unless strict
        msg = _one_line(exc) or type(exc).__name__
        if strict:
            print(f"llmfit: error: could not check {label}: {msg} (LLMFIT_STRICT=1: not running {tool})", file=err)
            return 1
        print(f"llmfit: warning: could not check {label}: {msg}; running {tool} anyway", file=err)
        return 0
    if report.fits:
        print(f"llmfit: fits: {describe(report)}", file=err)
        if target.options.get("run_notice"):
            _ollama_run_notice(target, err)
        return 0
    if switches.force:
        print(f"llmfit: {describe(report)}; downloading anyway (LLMFIT_FORCE=1)", file=err)
        return 0
    print(f"llmfit: stopped: {describe(report)}; does not fit; LLMFIT_FORCE=1 downloads anyway", file=err)
    return EXIT_NO_FIT


def _ollama_run_notice(target: CheckTarget, err) -> None:
    """`ollama run`: Ollama's context and the largest that fits (Ollama adapter); a failure is one warning."""
    try:
        from llmfit_ollama.runcheck import run_notice

        line, warn = run_notice(target.ref, hardware=os.environ.get("LLMFIT_HARDWARE") or None)
    except Exception as exc:  # the notice is advice: the run goes on
        print(f"llmfit: warning: could not check {target.label}: {_one_line(exc) or type(exc).__name__}", file=err)
        return
    print(f"llmfit: {'warning: ' if warn else ''}{line}", file=err)


def _check_hf_download(args: list[str], err, switches: CheckSwitches) -> int:
    """`hf download ...`: the Hub adapter's exact plan (huggingface_hub dry run), every model in it checked.
    `hf download --dry-run`: the same check, its verdict printed, and the dry run goes on (it fetches nothing)."""
    from llmfit_hf.predownload import check_plan, parse_download_args, plan_download

    d = parse_download_args(args[1:])
    planned = plan_download(d)
    hardware = os.environ.get("LLMFIT_HARDWARE") or None
    res = check_plan(d.repo_id, planned, d.revision, hardware=hardware, context=_env_context())
    if res.status == "nothing":
        return 0
    if res.status == "unchecked":
        print(f"llmfit: note: {res.message}", file=err)
        return 0
    if res.status == "error":
        from llmfit_core.errors import LlmfitError

        raise LlmfitError(res.message or "the fit check failed")
    checked = [m for m in res.models if m.report is not None]
    bad = [m for m in checked if not m.report.fits]
    first = (bad or checked)[0]
    more = f" (+{len(checked) - 1} more model(s))" if len(checked) > 1 else ""
    line = f"hf download {d.repo_id} [{first.label}]: {describe(first.report)}{more}"
    if res.status == "fits":
        print(f"llmfit: {'dry run: ' if d.dry_run else ''}fits: {line}", file=err)
        return 0
    why = "" if bad else f"; blocked by a plugin: {res.message}"
    if d.dry_run:
        print(f"llmfit: dry run: {line}{why}; does not fit", file=err)
        return 0
    if switches.force:
        print(f"llmfit: {line}{why}; downloading anyway (LLMFIT_FORCE=1)", file=err)
        return 0
    print(f"llmfit: stopped: {line}{why}; does not fit; LLMFIT_FORCE=1 downloads anyway", file=err)
    return EXIT_NO_FIT


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
