"""Small result types passed through plugin hooks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelRef:
    """One model (or model file) a source offers, before anything is downloaded."""

    ref: str  # what `llmfit fit` accepts for it
    source: str  # huggingface | ollama | local | catalog | ...
    name: str = ""
    file: str | None = None
    quant: str | None = None
    size_bytes: int | None = None
    format: str | None = None  # gguf | safetensors | mlx
    extra: dict = field(default_factory=dict)


@dataclass
class Decision:
    """A plugin's answer to `llmfit_before_download`."""

    action: str  # "allow" | "warn" | "block"
    message: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class ShimTool:
    """A program the shell shims stand in for (an adapter's answer to `llmfit_shim_tools`) and which of its command
    lines may download: the first argument is one of `commands` (`hf download`), or any argument matches one of
    `options` (sh `case` patterns: `-hf`, `--hf-repo=*`). Only those start Python for the check (llmfit_core.shims)."""

    name: str
    commands: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
