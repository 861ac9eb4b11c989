"""What an `ollama pull|run NAME` command line would download (hook `llmfit_download_target`)."""

from __future__ import annotations

from dataclasses import dataclass

from llmfit_core.downloads import DownloadTarget
from llmfit_ollama.names import parse_name
from llmfit_ollama.resolver import is_installed
from llmfit_ollama.runcheck import run_notice

_RUN_VALUE_OPTIONS = {"--format", "--keepalive", "--dimensions"}  # `ollama run` options that take a value


@dataclass
class OllamaDownload(DownloadTarget):
    """`ollama pull NAME`, or `ollama run NAME` (which pulls NAME when it is not installed)."""

    run: bool = False

    def notice(self, hardware=None) -> tuple[str, bool] | None:
        """`ollama run`: the context Ollama will use and the largest that fits here (issue 13)."""
        return run_notice(self.ref, hardware=hardware) if self.run else None


def download_target(tool: str, args: list[str]) -> OllamaDownload | None:
    """`ollama pull NAME` always; `ollama run NAME` is checked when NAME is not installed (it pulls), else only
    told the context Ollama will use; None for other commands and `--help`."""
    if tool != "ollama" or not args or args[0] not in ("pull", "run"):
        return None
    command, name = args[0], None
    i = 1
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            return None
        if a in _RUN_VALUE_OPTIONS and command == "run":
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
    if command == "run" and is_installed(parse_name(ref)):
        return OllamaDownload(ref, f"ollama run {name}", downloads=False, run=True)
    return OllamaDownload(ref, f"ollama {command} {name}", run=command == "run")
