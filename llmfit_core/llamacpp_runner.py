"""Run llama-cpp-python in a subprocess and report what llama.cpp allocated (and how fast it ran).

The child (`python -m llmfit_core.llamacpp_runner --json ARGS`) loads the model with the low-level
API (so every knob is reachable: n_ubatch, flash attention, KV types, extra buffer types), writes
llama.cpp's log to its stderr and a JSON result to stdout. The parent parses the log with the pure
functions below. A segfault or an out-of-memory kill in native code becomes a `BenchError`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gguf

from llmfit_core.errors import BenchError
from llmfit_core.settings_check import KV_CACHE_TYPES as KV_TYPES  # llama.cpp's --cache-type-k/v names

MIB = 1024 * 1024


@dataclass
class BufferLine:
    """One 'X buffer size = N MiB' line of llama.cpp's log."""

    kind: str  # model | kv | compute | output | rs
    backend: str  # CPU, CPU_Mapped, CPU_REPACK, CUDA0, Metal, ...
    mib: float

    @property
    def bytes(self) -> int:
        return int(round(self.mib * MIB))


@dataclass
class LlamaLog:
    """The memory facts found in one llama.cpp load log (sizes in bytes, rounded to the log's 0.01 MiB)."""

    buffers: list[BufferLine] = field(default_factory=list)
    n_ctx: int | None = None  # after llama.cpp's padding
    n_ctx_seq: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: bool | None = None
    kv_cells: list[int] = field(default_factory=list)  # per KV cache (non-SWA, SWA)
    kv_layers: list[int] = field(default_factory=list)
    kv_k_mib: list[float] = field(default_factory=list)
    kv_v_mib: list[float] = field(default_factory=list)
    graph_nodes: int | None = None
    graph_splits: int | None = None
    # "compute buffer size is N MiB" (4 decimals, logged when the context is freed), per backend
    compute_precise: dict[str, float] = field(default_factory=dict)
    # llama_memory_recurrent "size = ... (N cells, L layers, S seqs ...), R (f32): x MiB, S (f32): y MiB"
    rs_cells: list[int] = field(default_factory=list)
    rs_r_mib: list[float] = field(default_factory=list)
    rs_s_mib: list[float] = field(default_factory=list)
    # a vision projector loaded through libmtmd (tools/mtmd/clip.cpp): its weights ("load_hparams: model size")
    # and the compute buffer its warmup reserved (the last "reserve_compute_meta: ... compute buffer size" per
    # backend: with flash attention on auto, clip.cpp reserves twice when the backend lacks it)
    mmproj_model_mib: float | None = None
    mmproj_compute_mib: dict[str, float] = field(default_factory=dict)

    def total(self, kind: str) -> int:
        """Sum of the buffers of one kind, in bytes."""
        return sum(b.bytes for b in self.buffers if b.kind == kind)

    def by_backend(self, kind: str) -> dict[str, int]:
        """Bytes of one kind of buffer per backend (CPU_Mapped, CPU_REPACK, CUDA0, ...)."""
        out: dict[str, int] = {}
        for b in self.buffers:
            if b.kind == kind:
                out[b.backend] = out.get(b.backend, 0) + b.bytes
        return out

    @property
    def model_bytes(self) -> int:
        return self.total("model")

    @property
    def repack_bytes(self) -> int:
        return sum(b.bytes for b in self.buffers if b.kind == "model" and "REPACK" in b.backend.upper())

    @property
    def kv_bytes(self) -> int:
        return self.total("kv")

    @property
    def rs_bytes(self) -> int:
        """The recurrent-state ("RS") buffers: conv + SSM state of recurrent layers."""
        return self.total("rs")

    @property
    def compute_bytes(self) -> int:
        if self.compute_precise:
            return int(round(sum(self.compute_precise.values()) * MIB))
        return self.total("compute")

    @property
    def output_bytes(self) -> int:
        return self.total("output")

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.kv_bytes + self.compute_bytes + self.output_bytes + self.total("rs")


_BUF_RE = re.compile(r"^(?!reserve_compute_meta:)\S*:\s*(\S+)\s+(model|KV|compute|output|RS)\s+buffer size\s*=\s*([0-9.]+)\s*MiB",
                     re.M)
_CLIP_COMPUTE_RE = re.compile(r"^reserve_compute_meta:\s*(\S+)\s+compute buffer size\s*=\s*([0-9.]+)\s*MiB", re.M)
_CLIP_MODEL_RE = re.compile(r"^load_hparams:\s*model size:\s*([0-9.]+)\s*MiB", re.M)
_OLD_MODEL_RE = re.compile(r"^llm_load_tensors:\s*(\S+)\s+buffer size\s*=\s*([0-9.]+)\s*MiB", re.M)  # 2024 builds
_KV_SELF_RE = re.compile(r"KV self size\s*=\s*([0-9.]+)\s*MiB")
_KV_RE = re.compile(r"llama_kv_cache:\s+size\s*=\s*[0-9.]+\s*MiB\s*\(\s*(\d+)\s+cells,\s*(\d+)\s+layers.*?K \((\w+)\):\s*([0-9.]+)\s*MiB,\s*V \((\w+)\):\s*([0-9.]+)\s*MiB")
_RS_RE = re.compile(r"llama_memory_recurrent:\s+size\s*=\s*[0-9.]+\s*MiB\s*\(\s*(\d+)\s+cells.*?R \((\w+)\):\s*([0-9.]+)\s*MiB,\s*S \((\w+)\):\s*([0-9.]+)\s*MiB")
_INT_RE = {k: re.compile(rf"^\S*:\s*{k}\s*=\s*(\d+)\s*$", re.M) for k in ("n_ctx", "n_ctx_seq", "n_batch", "n_ubatch")}
_FA_RE = re.compile(r"(?:flash_attn\s*=\s*(?:\w+\s*->\s*)?|Flash Attention )(\w+)")
_GRAPH_RE = re.compile(r"graph(?: nodes|: nodes)\s*=\s*(\d+)")
_COMPUTE_PRECISE_RE = re.compile(r"(\S+)\s+compute buffer size is\s+([0-9.]+)\s*MiB")
_SPLITS_RE = re.compile(r"(?:graph splits|splits)\s*=\s*(\d+)")


def parse_llama_log(text: str) -> LlamaLog:
    """Parse llama.cpp's verbose load log (pure: tests feed recorded text)."""
    log = LlamaLog()
    for backend, kind, mib in _BUF_RE.findall(text):
        log.buffers.append(BufferLine(kind.lower(), backend, float(mib)))
    for backend, mib in _CLIP_COMPUTE_RE.findall(text):
        log.mmproj_compute_mib[backend] = float(mib)
    m = _CLIP_MODEL_RE.search(text)
    log.mmproj_model_mib = float(m.group(1)) if m else None
    for backend, mib in _OLD_MODEL_RE.findall(text):
        log.buffers.append(BufferLine("model", backend, float(mib)))
    if not log.total("kv"):  # older builds: "KV self size  =  X MiB"
        for mib in _KV_SELF_RE.findall(text):
            log.buffers.append(BufferLine("kv", "CPU", float(mib)))
    for cells, layers, _tk, kmib, _tv, vmib in _KV_RE.findall(text):
        log.kv_cells.append(int(cells))
        log.kv_layers.append(int(layers))
        log.kv_k_mib.append(float(kmib))
        log.kv_v_mib.append(float(vmib))
    for cells, _tr, rmib, _ts, smib in _RS_RE.findall(text):
        log.rs_cells.append(int(cells))
        log.rs_r_mib.append(float(rmib))
        log.rs_s_mib.append(float(smib))
    for key, rx in _INT_RE.items():
        m = rx.search(text)
        if m:
            setattr(log, key, int(m.group(1)))
    fa = _FA_RE.findall(text)
    if fa:
        val = fa[-1].lower()
        log.flash_attn = True if val in ("enabled", "1", "true", "on") else False if val in ("disabled", "0", "false", "off") else None
    for backend, mib in _COMPUTE_PRECISE_RE.findall(text):
        log.compute_precise[backend] = float(mib)
    if "enabling flash_attn since it is required" in text:
        log.flash_attn = True
    m = _GRAPH_RE.search(text)
    log.graph_nodes = int(m.group(1)) if m else None
    m = _SPLITS_RE.search(text)
    log.graph_splits = int(m.group(1)) if m else None
    return log


@dataclass
class LoadReport:
    """What one load (and optional evaluation) cost: llama.cpp's buffers, RSS, timings."""

    path: str
    file_bytes: int
    n_ctx: int
    n_batch: int
    n_ubatch: int
    type_k: str
    type_v: str
    flash_attn: bool | None
    extra_bufts: bool
    log: LlamaLog
    rss_start: int  # child RSS before loading the model
    rss_after_load: int  # after model + context creation
    rss_after_decode: int  # after evaluating the prompt / tokens (== after_load if nothing was evaluated)
    load_seconds: float = 0.0
    prompt_tokens: int = 0
    prompt_seconds: float = 0.0
    gen_tokens: int = 0
    gen_seconds: float = 0.0
    # page_out: after the prompt the model file's mapped pages were evicted (madvise MADV_PAGEOUT) before the
    # generated tokens; rss_after_decode then holds only the mapped pages decoding touches again (what must be
    # resident), mapped_rss those pages alone. Both 0 / False without page_out.
    page_out: bool = False
    mapped_rss: int = 0
    log_text: str = ""

    @property
    def rss_growth(self) -> int:
        return self.rss_after_decode - self.rss_start

    @property
    def prefill_tok_s(self) -> float:
        return self.prompt_tokens / self.prompt_seconds if self.prompt_seconds > 0 else 0.0

    @property
    def decode_tok_s(self) -> float:
        return self.gen_tokens / self.gen_seconds if self.gen_seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("log_text")
        return d


def _ggml_type_id(name: str) -> int:
    key = name.strip().upper()
    try:
        if key.lower() not in KV_TYPES:
            raise KeyError(key)  # a ggml type llama.cpp's context refuses for the KV cache (e.g. q2_k)
        return int(gguf.GGMLQuantizationType[key])
    except KeyError:
        raise BenchError(f"unknown KV cache type {name!r}; choose one of: {', '.join(KV_TYPES)}") from None


def load_and_measure(path: str | os.PathLike, n_ctx: int = 2048, n_batch: int = 2048, n_ubatch: int = 512,
                     type_k: str = "f16", type_v: str = "f16", flash_attn: bool | None = None,
                     n_threads: int | None = None, extra_bufts: bool = False, prompt_tokens: int = 0,
                     gen_tokens: int = 0, swa_full: bool = False, n_seq: int = 1, use_mmap: bool = True,
                     page_out: bool = False, mmproj: str | os.PathLike | None = None,
                     timeout: float = 600) -> LoadReport:
    """Load `path` in a child process, optionally evaluate tokens, and report allocations and RSS.

    `flash_attn` None = llama.cpp's auto. `extra_bufts` False disables CPU weight repacking (the
    AMX/repack path crashes on some CPUs). `prompt_tokens` are evaluated in one llama_decode call
    (split into n_ubatch micro-batches), then `gen_tokens` one at a time. Raises BenchError when
    the child crashes, times out, or llama.cpp refuses the model. `page_out`: evict the model file's mapped pages
    after the prompt (Linux MADV_PAGEOUT), so that the RSS after the generated tokens is the working set.
    `mmproj`: a vision projector GGUF loaded beside the model through libmtmd as llama-cpp-python's chat
    handlers do (flash attention as the model's), with its warmup; its buffers land in `log.mmproj_*`.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"model file not found: {path}")
    _ggml_type_id(type_k), _ggml_type_id(type_v)
    if prompt_tokens + gen_tokens > n_ctx:
        raise BenchError(f"{prompt_tokens}+{gen_tokens} tokens do not fit a context of {n_ctx}")
    args = [sys.executable, "-m", "llmfit_core.llamacpp_runner", str(path), "--n-ctx", str(n_ctx),
            "--n-batch", str(n_batch), "--n-ubatch", str(n_ubatch), "--type-k", type_k, "--type-v", type_v,
            "--flash-attn", {None: "auto", True: "on", False: "off"}[flash_attn],
            "--threads", str(n_threads or os.cpu_count() or 1), "--prompt-tokens", str(prompt_tokens),
            "--gen-tokens", str(gen_tokens), "--n-seq", str(n_seq)]
    if extra_bufts:
        args.append("--extra-bufts")
    if swa_full:
        args.append("--swa-full")
    if not use_mmap:
        args.append("--no-mmap")
    if page_out:
        args.append("--page-out")
    if mmproj is not None:
        args += ["--mmproj", str(mmproj)]
    try:
        res = subprocess.run(args, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        raise BenchError(f"llama.cpp run timed out after {timeout:.0f} s on {path.name}") from None
    if res.returncode != 0:
        if res.returncode < 0:
            sig = signal.Signals(-res.returncode).name
            raise BenchError(f"llama.cpp crashed ({sig}) on {path.name}; try extra_bufts=False or a portable build")
        raise BenchError(f"llama.cpp failed on {path.name}: {_failure_line(res.stderr, res.returncode)}")
    try:
        out = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"llama.cpp runner gave no result for {path.name}") from None
    return LoadReport(
        path=str(path), file_bytes=path.stat().st_size, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_ubatch,
        type_k=type_k, type_v=type_v, flash_attn=flash_attn, extra_bufts=extra_bufts, log=parse_llama_log(res.stderr),
        rss_start=out["rss_start"], rss_after_load=out["rss_after_load"], rss_after_decode=out["rss_after_decode"],
        load_seconds=out["load_seconds"], prompt_tokens=out["prompt_tokens"], prompt_seconds=out["prompt_seconds"],
        gen_tokens=out["gen_tokens"], gen_seconds=out["gen_seconds"], page_out=bool(out.get("page_out")),
        mapped_rss=int(out.get("mapped_rss", 0)), log_text=res.stderr,
    )


def _failure_line(stderr: str, returncode: int) -> str:
    """The most telling line of a failed child's log: llama.cpp's own error before our generic one."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errs = [ln for ln in lines if re.search(r"error|failed|requires|unknown|invalid", ln, re.I)]
    specific = [ln for ln in errs if not ln.startswith("error: llama.cpp could not")]
    pick = (specific or errs or lines or [f"exit code {returncode}"])[-1]
    return pick[:200]


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


MADV_PAGEOUT = 21  # linux/mman.h (Linux 5.4+): reclaim these pages now; clean file pages are simply dropped


def _mapped_ranges(path: str) -> list[tuple[int, int]]:
    """(start, end) of this process's mappings of `path` (/proc/self/maps)."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip() == real:
                a, b = parts[0].split("-")
                out.append((int(a, 16), int(b, 16)))
    return out


def _page_out(path: str) -> None:
    """Evict the mapped pages of `path` from this process (they come back from the page cache or disk when touched)."""

    libc = ctypes.CDLL(None, use_errno=True)
    for a, b in _mapped_ranges(path):
        if libc.madvise(ctypes.c_void_p(a), ctypes.c_size_t(b - a), MADV_PAGEOUT) != 0:
            raise OSError(ctypes.get_errno(), "madvise(MADV_PAGEOUT) failed")


def _mapped_rss(path: str) -> int:
    """Resident bytes of this process's mappings of `path` (/proc/self/smaps)."""
    real = os.path.realpath(path)
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):  # a mapping line: "start-end perms offset dev inode path"
                inside = line.split(None, 5)[-1].strip() == real
            elif inside and head == "Rss:":
                total += int(line.split()[1]) * 1024
    return total


def _load_mmproj(path: str, model, flash_attn_type: int, threads: int) -> bool:
    """Load a projector with libmtmd on the CPU, warmup included (its compute buffer is reserved and logged).
    The context is left for the process to free at exit."""
    from llama_cpp import mtmd_cpp  # lazy: optional runner (llama-cpp-python)

    p = mtmd_cpp.mtmd_context_params_default()
    p.use_gpu, p.warmup, p.n_threads, p.flash_attn_type = False, True, threads, flash_attn_type
    return bool(mtmd_cpp.mtmd_init_from_file(path.encode(), model, p))


def _child(argv: list[str]) -> int:
    """Child process body: load, evaluate, print one JSON line on stdout; llama.cpp logs go to stderr."""
    ap = argparse.ArgumentParser(prog="python -m llmfit_core.llamacpp_runner")
    ap.add_argument("model")
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--n-batch", type=int, default=2048)
    ap.add_argument("--n-ubatch", type=int, default=512)
    ap.add_argument("--type-k", default="f16")
    ap.add_argument("--type-v", default="f16")
    ap.add_argument("--flash-attn", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--prompt-tokens", type=int, default=0)
    ap.add_argument("--gen-tokens", type=int, default=0)
    ap.add_argument("--n-seq", type=int, default=1)
    ap.add_argument("--extra-bufts", action="store_true")
    ap.add_argument("--swa-full", action="store_true")
    ap.add_argument("--no-mmap", action="store_true")
    ap.add_argument("--page-out", action="store_true")
    ap.add_argument("--mmproj", default=None)
    a = ap.parse_args(argv)

    rss_start = _rss()

    import llama_cpp  # lazy: optional runner (llama-cpp-python)

    @llama_cpp.llama_log_callback
    def _log(level, text, user_data):  # every llama.cpp/ggml log line goes to our stderr
        sys.stderr.write(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    rss_start = max(rss_start, _rss())

    t0 = time.perf_counter()
    mp = llama_cpp.llama_model_default_params()
    mp.use_extra_bufts = bool(a.extra_bufts)
    mp.use_mmap = not a.no_mmap
    model = llama_cpp.llama_model_load_from_file(a.model.encode(), mp)
    if not model:
        print("error: llama.cpp could not load the model", file=sys.stderr)
        return 2
    cp = llama_cpp.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = a.n_ctx, a.n_batch, a.n_ubatch
    cp.n_seq_max = a.n_seq
    cp.n_threads = cp.n_threads_batch = a.threads
    cp.type_k, cp.type_v = _ggml_type_id(a.type_k), _ggml_type_id(a.type_v)
    cp.flash_attn_type = {"auto": llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO, "on": llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
                          "off": llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED}[a.flash_attn]
    cp.swa_full = bool(a.swa_full)
    ctx = llama_cpp.llama_init_from_model(model, cp)
    if not ctx:
        print("error: llama.cpp could not create the context", file=sys.stderr)
        return 2
    if a.mmproj and not _load_mmproj(a.mmproj, model, cp.flash_attn_type, a.threads):
        print("error: libmtmd could not load the projector", file=sys.stderr)
        return 2
    load_s = time.perf_counter() - t0
    rss_load = _rss()

    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    prompt_s = gen_s = 0.0
    if a.prompt_tokens:
        toks = (llama_cpp.llama_token * a.prompt_tokens)(*[(i * 7919 + 300) % n_vocab for i in range(a.prompt_tokens)])
        t0 = time.perf_counter()
        for start in range(0, a.prompt_tokens, a.n_batch):
            n = min(a.n_batch, a.prompt_tokens - start)
            chunk = ctypes.cast(ctypes.byref(toks, start * ctypes.sizeof(llama_cpp.llama_token)),
                                ctypes.POINTER(llama_cpp.llama_token))
            if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(chunk, n)) != 0:
                print("error: llama_decode failed on the prompt", file=sys.stderr)
                return 2
        prompt_s = time.perf_counter() - t0
    if a.page_out:
        _page_out(a.model)
    if a.gen_tokens:
        tok = (llama_cpp.llama_token * 1)()
        t0 = time.perf_counter()
        for i in range(a.gen_tokens):
            tok[0] = (i * 104729 + 500) % n_vocab
            if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(tok, 1)) != 0:
                print("error: llama_decode failed while generating", file=sys.stderr)
                return 2
        gen_s = time.perf_counter() - t0
    rss_decode = _rss()
    sys.stdout.write(json.dumps({
        "rss_start": rss_start, "rss_after_load": rss_load, "rss_after_decode": rss_decode, "load_seconds": load_s,
        "prompt_tokens": a.prompt_tokens, "prompt_seconds": prompt_s, "gen_tokens": a.gen_tokens, "gen_seconds": gen_s,
        "page_out": a.page_out, "mapped_rss": _mapped_rss(a.model) if a.page_out else 0,
    }) + "\n")
    sys.stdout.flush()
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
