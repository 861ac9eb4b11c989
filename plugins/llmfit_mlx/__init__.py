"""llmfit adapter for MLX (mlx / mlx-lm): availability, the `mlx` backend on Apple Silicon, and the
unified-memory verdict against Metal's GPU working-set limit.

MLX repos (mlx-community style: `config.json` `quantization` + safetensors headers) are resolved by the
Hugging Face adapter and the readers (`hf_config.spec_from_config` knows MLX bits/group_size/per-layer
overrides); this adapter scores them with backend "mlx" and times tiny fp16 models for calibration
(`llmfit_mlx.calibrate`). mlx is imported lazily: without it only this adapter is disabled.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

from llmfit_core.hookspecs import hookimpl


def mlx_device() -> str | None:
    """"gpu" (Metal), "cpu" (e.g. `mlx[cpu]` on Linux), or None when mlx does not import."""
    try:
        import mlx.core as mx  # lazy: optional runner (without it only this adapter is disabled)
    except Exception:  # ImportError, or a wheel without a usable backend
        return None
    try:
        return "gpu" if mx.metal.is_available() else "cpu"
    except Exception:
        return "cpu"


def runner_status() -> tuple[bool, str]:
    """Whether mlx and mlx-lm import here, and on which device MLX runs."""
    dev = mlx_device()
    if dev is None:
        return False, "mlx not importable (pip install 'llmfit-core[mlx]'; on Linux it needs mlx[cpu])"
    import mlx.core as mx  # lazy: optional runner (importable: mlx_device said so)

    # mlx_lm's import costs seconds (transformers): ask the installed metadata instead
    if importlib.util.find_spec("mlx_lm") is None:
        lm = "mlx-lm missing"
    else:
        try:
            lm = f"mlx-lm {importlib.metadata.version('mlx-lm')}"
        except importlib.metadata.PackageNotFoundError:
            lm = "mlx-lm (version unknown)"
    where = "Metal GPU" if dev == "gpu" else "CPU only (no Metal): far slower than on Apple Silicon"
    return True, f"mlx {mx.__version__} on {where}; {lm}"


def recommended_working_set() -> int | None:
    """MLX's recommended Metal working-set size in bytes (`max_recommended_working_set_size`), None without Metal."""
    try:
        import mlx.core as mx  # lazy: optional runner (without it only this adapter is disabled)

        if not mx.metal.is_available():
            return None
        info = mx.device_info() if hasattr(mx, "device_info") else mx.metal.device_info()
        value = int(info.get("max_recommended_working_set_size") or 0)
    except Exception:  # no mlx, an old mlx, or a wheel without Metal
        return None
    return value or None


@hookimpl
def llmfit_detect_hardware(profile):
    """Metal's working-set limit as MLX reads it, on the Apple GPU of the detected profile (the GPU's share of RAM)."""
    from llmfit_core.hardware.profile import GIB  # lazy: start-up time (loaded at every llmfit start)

    ws = recommended_working_set()
    if not ws:
        return
    for i, g in enumerate(profile.gpus):
        if g.vendor == "apple":
            g.vram_gb = round(ws / GIB, 2)
            profile.sources[f"gpus[{i}].vram_gb"] = "mlx (recommended working set)"


@hookimpl
def llmfit_guard_loads(guard):
    """`mlx_lm.load` (and, in auto mode, generation's KV size) through the load guard, once mlx_lm is imported;
    generations' own statistics recorded as observed timings (observe.py)."""
    from llmfit_core.autopilot import patch_on_import  # lazy: start-up time (only when the load guard installs)

    from . import autopilot, observe  # lazy: start-up time (only when the load guard installs)

    # observe: the timings of normal use (LLMFIT_RECORD=0: off)
    return patch_on_import("mlx_lm", lambda mod: autopilot.patch(mod, guard), observe.patch)


@hookimpl
def llmfit_backends(hardware):
    """`mlx` where it can run on a GPU: Apple Silicon hardware profiles (MLX uses Metal + unified memory)."""
    from llmfit_core.backends import BACKENDS  # lazy: start-up time (loaded at every llmfit start)

    if hardware is not None and any(getattr(g, "vendor", None) == "apple" for g in getattr(hardware, "gpus", [])):
        return [BACKENDS["mlx"]]
    return None


def working_set_bytes(hardware) -> int | None:
    """Metal's recommended GPU working set on an Apple hardware profile (None elsewhere)."""
    from llmfit_core.placement import metal_working_set  # lazy: start-up time (loaded at every llmfit start)

    for g in getattr(hardware, "gpus", []):
        if g.vendor == "apple":
            return int(g.vram_bytes) if g.vram_gb else int(metal_working_set(hardware.memory.total_bytes))
    return None


def fit_mlx(ref_or_spec, hardware=None, context=None, **kwargs):
    """The FitReport for running a model with mlx-lm (backend "mlx"): unified memory, working-set limit."""
    from llmfit_core.api import fit  # lazy: start-up time (loaded at every llmfit start)

    report = fit(ref_or_spec, hardware=hardware, context=context, backend="mlx", **kwargs)
    hw = report.hardware
    if hw is not None and not any(g.vendor == "apple" for g in hw.gpus):
        report.reasons.append("MLX targets Apple Silicon; on this hardware it runs on the CPU only")
    return report
