"""The environment switches every download check honours: the shell shims, `llmfit hf download` /
`hf fit download` and the Python guard read them here, so they mean the same everywhere.

`LLMFIT_BYPASS=1` no check at all (one stderr line says what was not checked), `LLMFIT_FORCE=1` check and
say the verdict, then download even when the model does not fit, `LLMFIT_STRICT=1` stop when the check
itself fails (otherwise the check fails open: one warning, and the download goes on).
`1`, `true`, `yes`, `on` (any case) switch a flag on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

TRUE_WORDS = ("1", "true", "yes", "on")


def env_flag(name: str, environ=None) -> bool:
    """Whether the environment variable `name` is set to a true word."""
    return (environ if environ is not None else os.environ).get(name, "").strip().lower() in TRUE_WORDS


@dataclass(frozen=True)
class CheckSwitches:
    """LLMFIT_BYPASS / LLMFIT_FORCE / LLMFIT_STRICT, read when a download is about to happen."""

    bypass: bool = False
    force: bool = False
    strict: bool = False

    @classmethod
    def from_env(cls, environ=None) -> "CheckSwitches":
        return cls(env_flag("LLMFIT_BYPASS", environ), env_flag("LLMFIT_FORCE", environ),
                   env_flag("LLMFIT_STRICT", environ))
