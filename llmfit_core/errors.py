"""Named exceptions. Every user-facing failure is one of these, so the CLI can print one clear line."""

from __future__ import annotations


class LlmfitError(Exception):
    """Base class: a failure we can explain to the user in one line."""

    exit_code = 1


class ModelReadError(LlmfitError):
    """A model header (GGUF, safetensors, config.json, manifest) is missing, truncated or malformed."""


class HeaderTooLargeError(ModelReadError):
    """A header declares more bytes or items than we are willing to read or allocate."""


class UnknownQuantizationError(LlmfitError):
    """A quantization name or ggml type we have no size facts for."""


class UnknownArchitectureError(LlmfitError):
    """A config.json whose architecture we cannot estimate at all."""


class HardwareProfileError(LlmfitError):
    """A hardware profile file or name that cannot be used."""


class UnsupportedSettingError(LlmfitError):
    """A setting that cannot run: a backend the hardware lacks, an unknown backend or KV cache type, a quantization
    the runtime cannot run, a context above the model's trained length without the explicit override."""


class ResolveError(LlmfitError):
    """No source could turn a model reference into a ModelSpec."""


class RemoteError(LlmfitError):
    """A server answered with an error, or did not answer."""

    def __init__(self, message: str, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class AuthRequiredError(RemoteError):
    """401/403: the repository is gated or private."""


class NotFoundError(RemoteError):
    """404: the repository, file or tag does not exist."""


class OfflineError(RemoteError):
    """No network (or a timeout) where a server was needed."""


class ConstraintError(LlmfitError):
    """A constraint string we cannot parse, or constraints that exclude everything."""


class CatalogError(LlmfitError):
    """A catalog file or entry that cannot be used."""


class PluginError(LlmfitError):
    """A plugin raised; it is reported once and disabled for the run."""


class BenchError(LlmfitError):
    """A benchmark run failed (crash, out of memory, interrupted)."""
