"""Child process of `llmfit bench`: loads one GGUF with llama-cpp-python and times pp/tg.

Run as `python -m llmfit_core.bench._child` with a JSON settings object on stdin. It writes one JSON
object per line on stdout: progress events, then one `result` event. llama.cpp logs go to stderr.
Kept free of llmfit imports beyond the standard library (and llmfit_core.ggml_devices, itself standard library +
ctypes) so a crash here cannot take the parent down.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time

from llmfit_core.ggml_devices import DEVICE_TYPES, read_devices


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _peak_rss_bytes() -> int:
    """Peak resident memory of THIS process image.

    /proc/self/status VmHWM is the high-water mark of the current address space. getrusage's ru_maxrss is
    not: across fork/vfork + exec Linux carries the parent's high-water mark into the child, so a parent that
    had just written a 1 GB synthetic model made a 0.3 GB run report 0.9 GB. ru_maxrss is the fallback
    where /proc is missing (macOS: bytes, Linux: KiB).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    rss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return rss if sys.platform == "darwin" else rss * 1024


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return _peak_rss_bytes()


def _devices(L) -> list[dict] | None:
    """The ggml backend devices of this llama.cpp build: [{name, description, type, backend}], None if not reachable
    (llmfit_core.ggml_devices: standard library + ctypes, like this child)."""

    codes = {kind: code for code, kind in DEVICE_TYPES.items()}
    devs = read_devices(L._ggml.libggml if hasattr(L, "_ggml") else None)
    if devs is None:
        return None
    return [{"name": d.name, "description": d.description, "type": codes.get(d.kind, 0), "backend": d.registry}
            for d in devs]


# ggml backend registry names that run model layers on a GPU (BLAS, RPC and CPU do not)
GPU_REGISTRIES = ("CUDA", "ROCm", "HIP", "Metal", "MTL", "Vulkan", "SYCL", "MUSA", "OpenCL", "CANN")


def main() -> int:
    s = json.loads(sys.stdin.read())
    import llama_cpp as L  # lazy: optional runner (llama-cpp-python)

    L.llama_backend_init()
    rng = random.Random(s.get("seed", 1234))
    baseline_rss = _current_rss_bytes()  # interpreter + llama.cpp library, before the model

    requested_ngl = max(int(s.get("n_gpu_layers", 0)), 0)
    try:
        can_offload = bool(L.llama_supports_gpu_offload())
    except Exception:
        can_offload = False
    devices = _devices(L)
    gpu_devices = [d for d in devices or [] if d["type"] != 0 and d["backend"] in GPU_REGISTRIES]
    # a GPU build on a machine where llama.cpp finds no GPU device runs on the CPU all the same
    has_gpu_device = devices is None or bool(gpu_devices)
    offload = requested_ngl > 0 and can_offload and has_gpu_device

    mp = L.llama_model_default_params()
    mp.n_gpu_layers = requested_ngl if offload else 0
    mp.use_mmap = True
    # Weight repacking (extra buffer types) crashes the AMX path on some CPUs; off unless asked for.
    mp.use_extra_bufts = bool(s.get("repack", False))
    model = L.llama_model_load_from_file(s["path"].encode(), mp)
    if not model:
        _emit({"event": "error", "message": "llama.cpp could not load the model file"})
        return 2

    cp = L.llama_context_default_params()
    cp.n_ctx = int(s["n_ctx"])
    cp.n_batch = int(s["n_batch"])
    cp.n_ubatch = int(s["n_ubatch"])
    cp.n_threads = int(s["threads"])
    cp.n_threads_batch = int(s["threads"])
    cp.type_k = int(s["type_k"])
    cp.type_v = int(s["type_v"])
    cp.flash_attn_type = int(s["flash_attn"])
    cp.no_perf = True
    if not offload and hasattr(cp, "op_offload"):
        # a CPU run on a GPU build: keep big prompt batches off the GPU too, so the record is a CPU measurement
        cp.op_offload = False
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        _emit({"event": "error", "message": "llama.cpp could not create a context (out of memory or bad settings?)"})
        return 2
    mem = L.llama_get_memory(ctx)
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    n_layer = int(L.llama_model_n_layer(model))
    _emit({"event": "loaded", "rss_bytes": _peak_rss_bytes(), "n_vocab": n_vocab, "n_layer": n_layer,
           "gpu_offload_supported": can_offload, "gpu_device_found": has_gpu_device,
           "devices": devices, "gpu_backend": gpu_devices[0]["backend"] if gpu_devices else None,
           "gpu_device": gpu_devices[0]["description"] or gpu_devices[0]["name"] if gpu_devices else None,
           # llama.cpp counts the output layer as one more offloadable layer: n_layer + 1 = everything
           "n_gpu_layers": min(requested_ngl, n_layer + 1) if offload else 0})

    def decode(tokens: list[int]) -> None:
        arr = (L.llama_token * len(tokens))(*tokens)
        rc = L.llama_decode(ctx, L.llama_batch_get_one(arr, len(tokens)))
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def run_pp(n: int) -> None:  # llama-bench test_prompt: n random tokens in n_batch chunks
        done = 0
        while done < n:
            k = min(int(s["n_batch"]), n - done)
            decode([rng.randrange(n_vocab) for _ in range(k)])
            done += k
        L.llama_synchronize(ctx)

    def run_tg(n: int) -> None:  # llama-bench test_gen: n single-token decodes
        for _ in range(n):
            decode([rng.randrange(n_vocab)])
            L.llama_synchronize(ctx)

    results = {}
    for test, n, fn in (("pp", int(s["pp"]), run_pp), ("tg", int(s["tg"]), run_tg)):
        if n <= 0:
            continue
        if s.get("warmup", True):
            L.llama_memory_clear(mem, False)
            fn(min(n, int(s["n_batch"])) if test == "pp" else 1)
        times = []
        for rep in range(int(s["repeats"])):
            L.llama_memory_clear(mem, False)
            t0 = time.perf_counter()
            fn(n)
            times.append(time.perf_counter() - t0)
            _emit({"event": "progress", "test": test, "rep": rep + 1, "seconds": times[-1]})
        results[test] = {"n_tokens": n, "seconds": times}

    _emit({"event": "result", "tests": results, "peak_rss_bytes": _peak_rss_bytes(), "baseline_rss_bytes": baseline_rss,
           "n_vocab": n_vocab,
           "llama_cpp_version": getattr(L, "__version__", "unknown")})
    L.llama_free(ctx)
    L.llama_model_free(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
