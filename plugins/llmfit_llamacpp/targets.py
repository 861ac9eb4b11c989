"""What a `llama-cli` / `llama-server -hf REPO[:QUANT]` command line would download (hook
`llmfit_download_target`), with the -ngl / -c that make it fit."""

from __future__ import annotations

from dataclasses import dataclass

from llmfit_core.downloads import DownloadTarget
from llmfit_llamacpp import HF_OPTIONS, TOOLS, suggest_settings

_FILE = ("-hff", "--hf-file")
_CONTEXT = ("-c", "--ctx-size")


@dataclass
class LlamaCppDownload(DownloadTarget):
    """`llama-cli|llama-server -hf repo[:quant] [-hff FILE] [-c N]`: the GGUF llama.cpp fetches from the Hub."""

    def hint(self, report, hardware=None, context=None) -> str:
        """The Llama() / llama-server settings that fit, when some do (a nicety: a failure leaves it out)."""
        if report.spec is None:
            return ""
        try:
            settings = suggest_settings(report.spec, hardware=hardware, context=context or report.spec.max_context)
        except Exception:  # the verdict stands without it
            return ""
        return settings.text if settings.fits else ""


def download_target(tool: str, args: list[str]) -> LlamaCppDownload | None:
    """The repo (and file, context) of `-hf`; None without `-hf` (a local `-m` model downloads nothing)."""
    if tool not in TOOLS:
        return None
    repo = file = None
    context = None
    i = 0
    while i < len(args):
        key, eq, val = args[i].partition("=")
        if not eq:
            val = args[i + 1] if i + 1 < len(args) else None
        if key in HF_OPTIONS:
            repo = val
        elif key in _FILE:
            file = val
        elif key in _CONTEXT:
            try:
                context = int(val) if val is not None else None
            except ValueError:
                context = None
        if not eq and key in HF_OPTIONS + _FILE + _CONTEXT:
            i += 1
        i += 1
    if not repo:
        return None
    # -c 0: the model's own context; the estimate chooses
    return LlamaCppDownload(repo, repo, file=file, context=context or None)
