"""Time a GGUF the way llama-bench does (pp = one prompt batch from an empty KV cache, tg = single-token
decode steps from an empty cache), in a child process so a crash or OOM becomes a `BenchError`."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from llmfit_core.errors import BenchError
from llmfit_core.gguf_constants import GGMLQuantizationType
from llmfit_core.memory import estimate_memory
from llmfit_core.settings_check import KV_CACHE_TYPES
from llmfit_core.units import fmt_bytes

FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}


def default_threads() -> int:
    """llama-bench's default: the number of physical cores."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


@dataclass
class BenchSettings:
    pp: int = 512
    tg: int = 128
    repeats: int = 3
    threads: int = field(default_factory=default_threads)
    n_ctx: int | None = None  # default: pp + tg rounded up, at least 512
    n_batch: int = 2048
    n_ubatch: int = 512
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    flash_attn: str = "auto"
    repack: bool = False  # llama.cpp extra buffer types (CPU weight repacking)
    n_gpu_layers: int = 0  # layers asked to be offloaded (-ngl); the record keeps what the run really used
    warmup: bool = True
    timeout_s: float = 3600.0

    def validate(self) -> None:
        """Raise BenchError on settings llama.cpp would reject or that make no sense."""
        if self.pp < 0 or self.tg < 0 or self.pp + self.tg == 0:
            raise BenchError("need --pp and/or --tg greater than 0 (and neither negative)")
        if self.pp > 65536 or self.tg > 65536:
            raise BenchError("--pp/--tg above 65536 tokens is not supported")
        if not 1 <= self.repeats <= 100:
            raise BenchError("--repeats must be between 1 and 100")
        if not 1 <= self.threads <= 1024:
            raise BenchError("--threads must be between 1 and 1024")
        if self.n_ctx is not None and not 8 <= self.n_ctx <= 1 << 20:
            raise BenchError("--ctx must be between 8 and 1048576")
        if self.n_ctx is not None and self.n_ctx < max(self.pp, self.tg):
            raise BenchError(f"--ctx {self.n_ctx} is smaller than the tokens to evaluate ({max(self.pp, self.tg)})")
        if self.n_batch < 1 or self.n_ubatch < 1:
            raise BenchError("batch sizes must be positive")
        if isinstance(self.n_gpu_layers, bool) or not isinstance(self.n_gpu_layers, int) or self.n_gpu_layers < 0:
            raise BenchError(f"--gpu-layers must be 0 or more (got {self.n_gpu_layers!r}); 999 offloads every layer")
        if self.flash_attn not in FLASH_ATTN:
            raise BenchError(f"flash attention must be one of {', '.join(FLASH_ATTN)}")
        for t in (self.cache_type_k, self.cache_type_v):
            _ggml_type(t)

    @property
    def context(self) -> int:
        return self.n_ctx or max(512, -(-max(self.pp, self.tg) // 256) * 256)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_ctx"] = self.context
        d.pop("timeout_s")
        return d


def _ggml_type(name: str) -> int:
    try:
        if name.strip().lower() not in KV_CACHE_TYPES:
            raise KeyError(name)  # a ggml type llama.cpp refuses for the KV cache (e.g. q2_k)
        return int(GGMLQuantizationType[name.strip().upper()].value)
    except KeyError:
        raise BenchError(f"unknown KV cache type {name!r}; llama.cpp accepts {', '.join(KV_CACHE_TYPES)}") from None


@dataclass
class TestResult:
    test: str  # "pp512" / "tg128"
    n_tokens: int
    seconds: list[float]
    tok_s_mean: float
    tok_s_std: float

    @classmethod
    def from_times(cls, kind: str, n_tokens: int, seconds: list[float]) -> "TestResult":
        rates = [n_tokens / t for t in seconds if t > 0]
        if not rates:
            raise BenchError(f"{kind}{n_tokens}: no valid timing")
        std = statistics.stdev(rates) if len(rates) > 1 else 0.0
        return cls(f"{kind}{n_tokens}", n_tokens, seconds, statistics.fmean(rates), std)


@dataclass
class BenchResult:
    path: str
    settings: BenchSettings
    tests: list[TestResult]
    peak_rss_bytes: int
    llama_cpp_version: str
    wall_s: float
    baseline_rss_bytes: int = 0  # child RSS before loading the model (interpreter + llama.cpp)
    n_gpu_layers: int = 0  # layers really offloaded (0 when the build or the machine cannot offload)
    gpu_offload_supported: bool = False  # llama_supports_gpu_offload() of the llama-cpp-python build
    gpu_backend: str | None = None  # llmfit backend name from llama.cpp's own device list, None if not known
    gpu_device: str | None = None  # llama.cpp's description of the GPU it used, e.g. "NVIDIA GeForce RTX 4090"
    gpu_device_found: bool = True  # False: a GPU build that found no GPU device here

    def get(self, kind: str) -> TestResult | None:
        """The pp or tg result, if it was run."""
        return next((t for t in self.tests if t.test.startswith(kind)), None)


def check_gguf_file(path: str | os.PathLike) -> Path:
    """A readable GGUF file, or a BenchError saying why not."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BenchError(f"no such file: {p}")
    if not p.is_file():
        raise BenchError(f"not a file: {p}")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise BenchError(f"cannot read {p}: {exc.strerror}") from None
    if magic != b"GGUF":
        raise BenchError(f"{p.name} is not a GGUF file (llmfit bench runs GGUF models with llama.cpp)")
    return p


def estimate_run_memory(spec, settings: BenchSettings) -> int | None:
    """The memory estimator's total bytes for this run on the CPU backend, or None without an estimator."""
    if spec is None:
        return None
    fa = {"auto": None, "on": True, "off": False}[settings.flash_attn]
    est = estimate_memory(spec, "llama.cpp-cpu", settings.context, cache_type_k=settings.cache_type_k,
                          cache_type_v=settings.cache_type_v, n_batch=settings.n_batch, n_ubatch=settings.n_ubatch,
                          flash_attn=fa, repack=settings.repack)
    return int(est.total_bytes)


def check_memory(spec, settings: BenchSettings) -> int | None:
    """Refuse (BenchError) a run the memory estimator says cannot fit in available RAM; returns the estimate."""
    try:
        need = estimate_run_memory(spec, settings)
    except Exception:  # the estimator cannot handle this model: the file-size check still applies
        return None
    avail = psutil.virtual_memory().available
    if need is not None and need > avail:
        raise BenchError(f"this run needs about {fmt_bytes(need)} (weights + KV cache at n_ctx {settings.context}) "
                         f"but {fmt_bytes(avail)} is available; lower --ctx or pick a smaller model")
    return need


def run_bench(path: str | os.PathLike, settings: BenchSettings,
              on_event: Callable[[dict], None] | None = None) -> BenchResult:
    """Benchmark one GGUF in a child process; `on_event` receives progress events."""
    settings.validate()
    p = check_gguf_file(path)
    avail = psutil.virtual_memory().available
    if p.stat().st_size > avail:
        raise BenchError(f"{p.name} ({fmt_bytes(p.stat().st_size)}) is larger than the available memory "
                         f"({fmt_bytes(avail)}); not starting the benchmark")
    payload = {
        "path": str(p), "pp": settings.pp, "tg": settings.tg, "repeats": settings.repeats,
        "threads": settings.threads, "n_ctx": settings.context, "n_batch": settings.n_batch,
        "n_ubatch": min(settings.n_ubatch, settings.n_batch), "type_k": _ggml_type(settings.cache_type_k),
        "type_v": _ggml_type(settings.cache_type_v), "flash_attn": FLASH_ATTN[settings.flash_attn],
        "repack": settings.repack, "warmup": settings.warmup, "n_gpu_layers": settings.n_gpu_layers,
    }
    t0 = time.perf_counter()
    result: dict | None = None
    loaded: dict = {}
    error: str | None = None
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen([sys.executable, "-m", "llmfit_core.bench._child"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errf, text=True)
        timed_out = threading.Event()

        def _stop() -> None:  # watchdog: a hung child is killed even if it prints nothing
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(settings.timeout_s, _stop)
        watchdog.daemon = True
        watchdog.start()
        try:
            proc.stdin.write(json.dumps(payload))
            proc.stdin.close()
            for line in proc.stdout:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("event") == "result":
                    result = ev
                elif ev.get("event") == "error":
                    error = str(ev.get("message"))
                else:
                    if ev.get("event") == "loaded":
                        loaded = ev
                    if on_event:
                        on_event(ev)
            proc.wait()
        except BaseException:  # KeyboardInterrupt included: never leave the child running
            proc.kill()
            try:
                proc.wait(timeout=10)  # bounded: an interrupt must never turn into a hang
            except subprocess.TimeoutExpired:
                pass
            raise
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            raise BenchError(f"benchmark of {p.name} exceeded {settings.timeout_s:.0f} s and was stopped")
        errf.seek(0, os.SEEK_END)
        errf.seek(max(0, errf.tell() - 4096))
        tail = [ln for ln in errf.read().decode(errors="replace").splitlines() if ln.strip()]
    rc = proc.returncode
    if rc != 0 or result is None:
        raise BenchError(_explain_failure(p.name, rc, error, tail[-1] if tail else ""))
    tests = [TestResult.from_times(k, v["n_tokens"], v["seconds"]) for k, v in result["tests"].items()]
    ngl = int(loaded.get("n_gpu_layers") or 0)
    return BenchResult(str(p), settings, tests, int(result["peak_rss_bytes"]),
                       str(result.get("llama_cpp_version", "unknown")), time.perf_counter() - t0,
                       int(result.get("baseline_rss_bytes") or 0), n_gpu_layers=ngl,
                       gpu_offload_supported=bool(loaded.get("gpu_offload_supported")),
                       gpu_backend=backend_of_registry(loaded.get("gpu_backend")) if ngl else None,
                       gpu_device=loaded.get("gpu_device") if ngl else None,
                       gpu_device_found=bool(loaded.get("gpu_device_found", True)))


# ggml backend registry name -> llmfit backend (llmfit_core/backends.py names)
_REGISTRY_BACKENDS = {"cuda": "llama.cpp-cuda", "rocm": "llama.cpp-rocm", "hip": "llama.cpp-rocm",
                      "metal": "llama.cpp-metal", "mtl": "llama.cpp-metal", "vulkan": "llama.cpp-vulkan",
                      "sycl": "llama.cpp-sycl"}


def backend_of_registry(name: str | None) -> str | None:
    """The llmfit backend of a ggml backend registry name ("CUDA" -> llama.cpp-cuda), None when not modelled."""
    return _REGISTRY_BACKENDS.get(str(name or "").strip().lower())


def offload_warning(requested: int, used: int, supported: bool) -> str | None:
    """The one-line warning when `requested` layers were asked for the GPU but none were offloaded, else None.

    `supported` is the build's llama_supports_gpu_offload(); a GPU build can still find no GPU device.
    """
    if requested <= 0 or used > 0:
        return None
    if not supported:
        return "this llama-cpp-python build has no GPU backend: the bench runs on the CPU " \
               f"(--gpu-layers {requested} ignored; reinstall llama-cpp-python with e.g. " \
               "CMAKE_ARGS=\"-DGGML_CUDA=on\" to benchmark a GPU)"
    return f"llama.cpp found no GPU device on this machine: the bench runs on the CPU (--gpu-layers {requested} ignored)"


def _explain_failure(name: str, rc: int | None, error: str | None, last_log: str) -> str:
    if error:
        return f"benchmark of {name} failed: {error}"
    if rc is not None and rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
        if sig == "SIGKILL":
            return f"benchmark of {name} was killed (SIGKILL: most likely out of memory); earlier records are intact"
        hint = " (try without --repack)" if sig in ("SIGSEGV", "SIGILL", "SIGBUS") else ""
        return f"llama.cpp crashed with {sig} while benchmarking {name}{hint}"
    if rc and "No module named 'llama_cpp'" in last_log:
        return "llama-cpp-python is not installed (pip install llama-cpp-python)"
    return f"benchmark of {name} failed (exit code {rc}): {last_log[:200] or 'no output'}"
