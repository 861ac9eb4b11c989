"""llmfit adapter for llama.cpp (llama-cpp-python): which backend this build has, `Llama.from_pretrained`
references, and the `n_gpu_layers` / `n_ctx` that fit.

Hooks: `llmfit_backends` (the backend of the installed build), `llmfit_detect_hardware` (what the build sees:
the GPUs' free memory from ggml's device API, the CPU kernels it was built with), `llmfit_guard_loads`
(`Llama(...)` under the load guard: autopilot.py; its completions' timings recorded: observe.py),
`llmfit_shim_tools` + `llmfit_download_target` (what `llama-cli|llama-server -hf REPO` would fetch, with the settings that fit:
targets.py). Functions: `detect_build()`, `resolve_from_pretrained(repo_id, filename)`,
`suggest_settings(spec, hardware=None, context=None)`.
llama_cpp is imported lazily: without it only this adapter is disabled.
"""

from __future__ import annotations

import ctypes
import fnmatch
import functools
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata

from llmfit_core.errors import ResolveError
from llmfit_core.hookspecs import hookimpl
from llmfit_core.plugin_types import ShimTool
from llmfit_core.plugins import call_hook

TOOLS = ("llama-cli", "llama-server")  # the programs whose `-hf REPO` command lines the shims check
HF_OPTIONS = ("-hf", "-hfr", "--hf-repo")  # llama.cpp's options naming a Hub model (common/arg.cpp)

# ggml backend registry names -> llmfit backend names
_GGML_TO_BACKEND = {"cuda": "llama.cpp-cuda", "metal": "llama.cpp-metal", "vulkan": "llama.cpp-vulkan",
                    "rocm": "llama.cpp-rocm", "hip": "llama.cpp-rocm", "sycl": "llama.cpp-sycl"}


@dataclass
class LlamaCppBuild:
    """What the installed llama-cpp-python was built with."""

    version: str
    gpu_offload: bool  # llama_supports_gpu_offload()
    ggml_backends: list[str] = field(default_factory=list)  # ggml registry: ["CPU"], ["CUDA", "CPU"], ...
    system_info: str = ""

    @property
    def backend(self) -> str:
        """The llmfit backend name this build runs models on (`llama.cpp-cpu` without GPU offload)."""
        if self.gpu_offload:
            for name in self.ggml_backends:
                b = _GGML_TO_BACKEND.get(name.lower())
                if b:
                    return b
        return "llama.cpp-cpu"


def _lib_dir() -> str:
    """Where the installed llama-cpp-python keeps its shared libraries (llama_cpp/lib), found without importing it;
    ImportError when it is not installed."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'llama_cpp'", name="llama_cpp")
    return os.path.join(next(iter(spec.submodule_search_locations)), "lib")


@functools.lru_cache(maxsize=None)
def _shared_library(directory: str, base: str) -> ctypes.CDLL | None:
    """lib<base> of the build, opened as llama_cpp's own loader opens it on Linux and macOS (_ctypes_extensions.
    load_shared_library: lib<base>.so, then lib<base>.dylib, plain ctypes.CDLL); None on Windows (the loader first
    sets up DLL directories there) or when there is no such file. OSError when the file does not load."""
    if sys.platform == "win32":
        return None
    for suffix in (".so", ".dylib"):
        path = os.path.join(directory, f"lib{base}{suffix}")
        if os.path.exists(path):
            return ctypes.CDLL(path)
    return None


def _ggml_backends(lib_dir: str) -> list[str]:
    """Names from ggml's backend registry (the low-level C API), [] when it cannot be read."""
    try:
        lib = _shared_library(lib_dir, "ggml")
        if lib is None:
            lib = ctypes.CDLL(os.path.join(lib_dir, "ggml.dll"))
        lib.ggml_backend_reg_count.restype = ctypes.c_size_t
        lib.ggml_backend_reg_get.restype = ctypes.c_void_p
        lib.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
        lib.ggml_backend_reg_name.restype = ctypes.c_char_p
        lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
        n = lib.ggml_backend_reg_count()
        return [lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)).decode() for i in range(min(n, 64))]
    except (OSError, AttributeError):
        return []


def detect_build() -> LlamaCppBuild:
    """Inspect the installed llama-cpp-python; raises ImportError when it is missing.

    On Linux and macOS the build's own libraries answer through ctypes (llama_print_system_info,
    llama_supports_gpu_offload, ggml's registry) without importing the llama_cpp package: its import (numpy,
    jinja2, diskcache) was ~0.1 s of every `fit`/`check` that detects this machine (start-up time, issue 15).
    """
    lib_dir = _lib_dir()
    llama = _shared_library(os.environ.get("LLAMA_CPP_LIB_PATH") or lib_dir, "llama")  # llama_cpp.py's override
    if llama is None:  # Windows, another layout: the package's own loader
        import llama_cpp  # lazy: optional runner (without it only this adapter is disabled)

        info, offload = llama_cpp.llama_print_system_info(), llama_cpp.llama_supports_gpu_offload()
    else:
        llama.llama_print_system_info.restype = ctypes.c_char_p  # llama.h; llama_cpp.py declares the same
        llama.llama_print_system_info.argtypes = []
        llama.llama_supports_gpu_offload.restype = ctypes.c_bool
        llama.llama_supports_gpu_offload.argtypes = []
        info, offload = llama.llama_print_system_info(), llama.llama_supports_gpu_offload()
    info = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
    backends = _ggml_backends(lib_dir)
    if not backends:  # older builds: fall back to the system info line
        backends = [n for n in ("CUDA", "Metal", "Vulkan", "ROCm", "SYCL") if re.search(rf"\b{n}\b", info, re.I)] + ["CPU"]
    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        version = "?"
    return LlamaCppBuild(version=version, gpu_offload=bool(offload), ggml_backends=backends,
                         system_info=" ".join(info.split()))


def runner_status() -> tuple[bool, str]:
    """Whether llama-cpp-python is importable, and which backend it was built with."""
    try:
        b = detect_build()
    except ImportError:
        return False, "llama-cpp-python not installed (pip install 'llmfit-core[llamacpp]')"
    except Exception as exc:  # a broken build: say so, do not crash `llmfit plugins`
        return False, f"llama-cpp-python present but unusable: {type(exc).__name__}: {exc}"
    gpu = "GPU offload" if b.gpu_offload else "no GPU offload"
    return True, f"llama-cpp-python {b.version}: {b.backend} ({gpu}; ggml backends: {', '.join(b.ggml_backends)})"


# ggml registry names -> the GPU vendor of a device the profiler did not list
_GGML_VENDOR = {"cuda": "nvidia", "rocm": "amd", "hip": "amd", "metal": "apple", "musa": "other"}


@hookimpl
def llmfit_detect_hardware(profile):
    """What the installed build sees on this machine, written into the detected profile:

    - `cpu.runner_isa`: the CPU's ISA flags this build has kernels for (a portable build: AVX2, not AVX-512/AMX);
    - each GPU's free memory (and its size when the profiler had none) from ggml's device API, matched by name,
      else in order; a GPU device the profiler missed is added (its figures are filled from the device table).
    ggml's CPU device reports all RAM as free, so RAM stays the OS's "available" figure.
    """
    from .devices import build_isa, read_devices, unknown_to_build  # lazy: start-up time (loaded at every llmfit start)

    try:
        build = detect_build()
    except ImportError:
        return
    isa = build_isa(build.system_info)
    if isa is not None:
        profile.cpu.runner_isa = [f for f in profile.cpu.isa if f in isa] + unknown_to_build(profile.cpu.isa)
        profile.sources["cpu.runner_isa"] = "llama.cpp"
    if build.gpu_offload:
        devs = read_devices(_shared_library(_lib_dir(), "ggml"))  # None: read through llama_cpp._ggml
        apply_devices(profile, [d for d in devs or [] if d.kind in ("gpu", "igpu") and d.total_bytes > 0])


def apply_devices(profile, devs) -> None:
    """Write the GPU devices ggml reports (GgmlDevice list) into `profile`: free memory, size where unknown."""
    from llmfit_core.hardware.profile import GIB, GPUInfo  # lazy: start-up time (loaded at every llmfit start)

    unmatched = list(range(len(profile.gpus)))
    for d in devs:
        desc = d.description.lower()
        i = next((j for j in unmatched if profile.gpus[j].name.lower() in desc or desc in profile.gpus[j].name.lower()),
                 unmatched[0] if unmatched else None)
        if i is None and d.kind != "gpu":
            continue  # an integrated GPU the profiler did not list shares RAM: not a VRAM pool
        if i is None:
            reg = re.sub(r"\d+$", "", d.name).lower()
            vendor = _GGML_VENDOR.get(reg) or next((v for k, v in (("nvidia", "nvidia"), ("radeon", "amd"), ("amd", "amd"),
                                                                   ("intel", "intel"), ("apple", "apple")) if k in desc), "other")
            profile.gpus.append(GPUInfo(vendor=vendor, name=d.description or d.name))
            i = len(profile.gpus) - 1
        else:
            unmatched.remove(i)
        g = profile.gpus[i]
        if g.vendor == "apple":  # Metal's device memory is the recommended working set, inside unified RAM
            g.vram_gb = round(d.total_bytes / GIB, 2)
            profile.sources[f"gpus[{i}].vram_gb"] = "llama.cpp (Metal working set)"
            continue
        if g.vram_gb is None:
            g.vram_gb = round(d.total_bytes / GIB, 2)
            profile.sources[f"gpus[{i}].vram_gb"] = "llama.cpp"
        g.vram_free_gb = round(min(d.free_bytes, d.total_bytes) / GIB, 2)
        profile.sources[f"gpus[{i}].vram_free_gb"] = "llama.cpp"
    if devs and profile.gpus:
        profile.notes = [n for n in profile.notes if not n.startswith("no GPU found")]


@hookimpl
def llmfit_guard_loads(guard):
    """`Llama(...)` / `Llama.from_pretrained(...)` through the load guard (patched when llama_cpp is imported)."""
    from llmfit_core.autopilot import patch_on_import  # lazy: start-up time (only when the load guard installs)

    from . import autopilot, observe  # lazy: start-up time (only when the load guard installs)

    # observe: the timings of normal use (LLMFIT_RECORD=0: off)
    return patch_on_import("llama_cpp", lambda mod: autopilot.patch(mod, guard), observe.patch)


@hookimpl
def llmfit_shim_tools():
    """`llama-cli` / `llama-server` with a Hub model (`-hf repo[:quant]`, `-hfr`, `--hf-repo`) are checked by the shims."""
    options = HF_OPTIONS + tuple(f"{o}=*" for o in HF_OPTIONS)
    return [ShimTool(tool, options=options) for tool in TOOLS]


@hookimpl
def llmfit_download_target(tool: str, args: list):
    """`llama-cli|llama-server -hf REPO[:QUANT] ...` (llmfit_llamacpp.targets)."""
    if tool not in TOOLS:
        return None
    from llmfit_llamacpp.targets import download_target  # lazy: start-up time (only for a command to check)

    return download_target(tool, args)


@hookimpl
def llmfit_backends(hardware):
    """The backend of the installed llama-cpp-python build (a CPU-only build on a GPU machine is CPU)."""
    from llmfit_core.backends import BACKENDS  # lazy: start-up time (loaded at every llmfit start)

    try:
        b = detect_build()
    except ImportError:
        return None
    return [BACKENDS[b.backend]]


def resolve_from_pretrained(repo_id: str, filename: str | None = None, **options):
    """ModelSpec for `Llama.from_pretrained(repo_id, filename)`, through the Hub adapter (headers only).

    `filename` may be a glob, as from_pretrained allows (`*Q4_K_M.gguf`): it then selects by quant.
    """
    opts = dict(options)
    if filename:
        if any(c in filename for c in "*?["):
            from llmfit_hf.files import quant_from_name  # lazy: start-up time (loaded at every llmfit start)

            quant = quant_from_name(re.sub(r"[*?\[\]]+", "-", filename))
            if quant:
                opts.setdefault("quant", quant)
            opts["file_glob"] = filename
        else:
            opts["file"] = filename
    spec = call_hook("llmfit_resolve_model", ref=repo_id, options=opts)
    if spec is None:
        raise ResolveError(f"no source plugin could resolve {repo_id!r} (is the Hugging Face adapter enabled?)")
    if opts.get("file_glob") and spec.files and not any(fnmatch.fnmatch(f.rsplit("/", 1)[-1], filename) for f in spec.files):
        spec.notes.append(f"picked {spec.files[0]} for the pattern {filename!r}")
    return spec


@dataclass
class LlamaCppSettings:
    """Settings to pass to `Llama(...)` / `llama-cli` so the model fits."""

    n_gpu_layers: int  # for Llama(...): plain layer offload (see n_cpu_moe)
    n_ctx: int
    fits: bool
    verdict: str
    backend: str
    total_layers: int
    # MoE expert offload picked by fit: llama-server / llama-cli `-ngl 999 --n-cpu-moe N` (N = layers -> --cpu-moe).
    # llama-cpp-python 0.3.36's Llama() takes no tensor overrides (its llama_model_params.tensor_buft_overrides
    # field is declared "unused" in llama_cpp.py, and kv_overrides are GGUF metadata, not placement), so in Python
    # n_gpu_layers stays the layer-offload figure; `layer_fits` says whether that fits at n_ctx.
    n_cpu_moe: int = 0
    layer_fits: bool | None = None

    @property
    def server_flags(self) -> str:
        """llama-server / llama-cli arguments for these settings."""
        if self.n_cpu_moe:
            moe = "--cpu-moe" if self.n_cpu_moe >= self.total_layers - 1 else f"--n-cpu-moe {self.n_cpu_moe}"
            return f"-ngl 999 {moe} -c {self.n_ctx}"
        return f"-ngl {self.n_gpu_layers} -c {self.n_ctx}"

    @property
    def text(self) -> str:
        if not self.fits:
            return f"does not fit even with n_ctx={self.n_ctx}"
        if self.n_cpu_moe:
            py = (f"use n_gpu_layers={self.n_gpu_layers}, n_ctx={self.n_ctx}" if self.layer_fits
                  else f"layer offload does not fit at n_ctx={self.n_ctx}")
            return (f"llama-server/llama-cli flags {self.server_flags} (MoE experts in RAM, faster); "
                    f"llama-cpp-python's Llama() has no tensor-override option: there {py}")
        return f"use n_gpu_layers={self.n_gpu_layers}, n_ctx={self.n_ctx}"


_CTX_STEPS = (131072, 65536, 32768, 16384, 8192, 4096, 2048, 1024, 512)


def suggest_settings(spec, hardware=None, context=None, backend=None) -> LlamaCppSettings:
    """The largest n_ctx (up to `context`, default the model's maximum) that fits, and the GPU layers
    for it. On this machine the installed build's backend is used (CPU-only build -> n_gpu_layers=0)."""
    from llmfit_core.api import fit_spec, parse_count  # lazy: start-up time (loaded at every llmfit start)

    if backend is None and hardware is None:
        try:
            backend = detect_build().backend
        except ImportError:
            backend = None
    cap = parse_count(context) or spec.max_context or 4096
    steps = [cap] + [c for c in _CTX_STEPS if c < cap]
    rep = None
    for n_ctx in steps:
        rep = fit_spec(spec, hardware=hardware, context=n_ctx, backend=backend)
        if rep.fits:
            break
    gpu_layers = rep.gpu_layers if rep.backend != "llama.cpp-cpu" else 0
    layer_fits = None
    if rep.n_cpu_moe:  # Llama() cannot keep experts in RAM: its n_gpu_layers is the layer-offload one
        layer = fit_spec(spec, hardware=hardware, context=rep.context, backend=backend, cpu_moe=False)
        gpu_layers, layer_fits = layer.gpu_layers, layer.fits
    return LlamaCppSettings(n_gpu_layers=gpu_layers, n_ctx=rep.context, fits=rep.fits, verdict=rep.verdict,
                            backend=rep.backend, total_layers=rep.total_layers, n_cpu_moe=rep.n_cpu_moe,
                            layer_fits=layer_fits)
