"""What `llmfit_guard.pth` runs at interpreter start-up when LLMFIT_GUARD is set: `run()`.

It must cost nothing and break nothing, so it imports only llmfit_core.patching. The guard itself
(llmfit_core.guard, which checks LLMFIT_GUARD's value and says so once if it is not a mode, and installs
the download checks and the autopilot's load checks) is installed when the program first imports one of
TRIGGERS: huggingface_hub, before any of its download functions exist, or a runner whose loads the
autopilot guards; a program that touches none of them never loads it. `python -m llmfit_core.guard` is not imported
early either, so runpy runs it cleanly. A DownloadBlockedError that the program does not catch ends
it with the error's one line on stderr and exit code 3, like `python -m llmfit_core.guard` and the CLI.
"""

from __future__ import annotations

import contextlib
import os
import sys

from llmfit_core import patching

# huggingface_hub: every download function lives in a submodule, imported after it; the runners are
# llmfit_core.autopilot.RUNNER_MODULES (named here so that start-up does not import the autopilot)
TRIGGERS = ("huggingface_hub", "llama_cpp", "mlx_lm")


def run() -> None:
    for name in TRIGGERS:
        patching.when_imported(name, _install_guard)
    if not getattr(sys.excepthook, "__llmfit_guard__", False):
        sys.excepthook = _excepthook_over(sys.excepthook)


def _install_guard(_module) -> None:
    patching.cancel_watches(_install_guard)  # the first trigger installs everything
    from llmfit_core import guard  # lazy: start-up: runs in every interpreter; the guard loads on a trigger

    if guard.installed_mode() is None:  # an explicit install() or `python -m llmfit_core.guard` came first
        guard.autoinstall()


def _excepthook_over(previous):
    def excepthook(exc_type, exc, tb):
        guard = sys.modules.get("llmfit_core.guard")
        if guard is not None and isinstance(exc, guard.DownloadBlockedError):
            print(f"llmfit: {' '.join(str(exc).split())}", file=sys.stderr)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(guard.DownloadBlockedError.exit_code)
        previous(exc_type, exc, tb)

    excepthook.__llmfit_guard__ = True
    return excepthook
