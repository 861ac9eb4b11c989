"""Rows of `data/benchdata/llamabench_threads.csv` (llama-bench tables from GitHub threads and raw-log
repositories, 2023-2026; sources in data/benchdata/SOURCES_llamabench_threads.md) as training `Row`s.

Each row becomes the query a user would ask `llmfit fit`: the device (llmfit's own device table first, so
training sees the figures inference sees; else the row's device file), the model as a ModelSpec (the
shipped catalog's config facts for the model, plus the architecture facts the catalog lacks, from the
models' published config.json, `ARCH_FACTS`; stored bytes rescaled to the file size the table prints),
the quant, n_gpu_layers, flash attention and the test with its depth (`pp2048@d16384`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
from pathlib import Path

from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from training.model_configs import Arch, build_spec

THREADS_FILE = "llamabench_threads.csv"
THREADS_DEVICES = "devices_llamabench_threads.csv"
THREADS_MODELS = "threads_models.json"  # catalog entries of MODEL_MAP's refs, frozen (see _catalog_snapshot)
GIB = 1024**3

# model column (lower-cased, regex) + params_b range -> catalog ref or training Arch key.
# The file names in the notes say which release each row ran (e.g. "Qwen3.6-35B-A3B" = qwen35moe 35B.A3B).
MODEL_MAP = [
    (r"^qwen3next", None, "Qwen/Qwen3-Next-80B-A3B-Instruct"),
    (r"^qwen3\.5-35b-a3b|^qwen35moe 35b", None, "Qwen/Qwen3.5-35B-A3B"),
    (r"^qwen35moe 122b", None, "Qwen/Qwen3.5-122B-A10B"),
    (r"^qwen35 27b", None, "Qwen/Qwen3.5-27B"),
    (r"^qwen3-coder-30b|^qwen3moe 30b", None, "Qwen/Qwen3-30B-A3B"),
    (r"^qwen3 4b", None, "Qwen/Qwen3-4B"),
    (r"^qwen3 14b", None, "Qwen/Qwen3-14B"),
    (r"^qwen2 7b", None, "Qwen/Qwen2.5-7B-Instruct"),
    (r"^qwen2 14b", None, "Qwen/Qwen2.5-14B-Instruct"),
    (r"^deepseek2 30b", None, "zai-org/GLM-4.7-Flash"),
    (r"^deepseek2 16b", None, "deepseek-ai/DeepSeek-V2-Lite"),
    (r"^gpt-oss 120b", None, "openai/gpt-oss-120b"),
    (r"^gpt-oss", None, "openai/gpt-oss-20b"),
    (r"^gemma4 26b", None, "google/gemma-4-26B-A4B-it"),
    (r"^gemma4 31b", None, "google/gemma-4-31B-it"),
    (r"^gemma3 1b", None, "google/gemma-3-1b-it"),
    (r"^gemma3 4b", None, "arch:gemma-3-4b"),
    (r"^gemma3 12b", None, "google/gemma-3-12b-it"),
    (r"^gemma3 27b", None, "google/gemma-3-27b-it"),
    (r"^gemma 2b", None, "google/gemma-2b"),
    (r"^minimax-m2", None, "MiniMaxAI/MiniMax-M2"),
    (r"^lfm2moe", None, "LiquidAI/LFM2-8B-A1B"),
    (r"^nemotron_h_moe 31b", None, "arch:nemotron-3-nano-30b-a3b"),
    # nemotron_h_moe 120B.A12B (Nemotron-3-Super, latent MoE): layer and expert shapes not published in the
    # sources we have -> not mapped (its rows are skipped as "model not mapped")
    (r"^mistral3 14b", None, "arch:ministral-3-14b"),
    (r"^mistral3 8b", None, "arch:ministral-3-8b"),
    (r"^llama 70b", None, "arch:llama-2-70b"),
    (r"^llama 13b", None, "arch:llama-2-13b"),
    (r"^llama \?b q3_k", None, "arch:devstral-2-123b"),
    (r"^llama \?b", None, "arch:llama-2-115m"),
    (r"^llama 3\.1 8b|^llama 8b", None, "meta-llama/Llama-3.1-8B-Instruct"),
    (r"^llama 7b", (7.0, 7.5), "mistralai/Mistral-7B-Instruct-v0.2"),
    (r"^llama 7b|^llama 7b mostly", None, "arch:llama-2-7b"),
    (r"^llama 3b", None, "meta-llama/Llama-3.2-3B-Instruct"),
    (r"^llama 1b", (1.05, 1.15), "arch:tinyllama-1.1b"),
    (r"^llama 1b", None, "meta-llama/Llama-3.2-1B-Instruct"),
]
# models not in the catalog (published config.json figures)
EXTRA_ARCHS = {
    "ministral-3-14b": Arch("mistral3", 40, 5120, 32, 8, 16384, 131072, head_dim=128, max_context=262144),
    "ministral-3-8b": Arch("mistral3", 34, 4096, 32, 8, 14336, 131072, head_dim=128, max_context=262144),
    "devstral-2-123b": Arch("llama", 88, 12288, 96, 8, 28672, 131072, head_dim=128, max_context=262144),
    "gemma-3-4b": Arch("gemma3", 34, 2560, 8, 4, 10240, 262208, head_dim=256, tied=True, max_context=131072),
    "llama-2-115m": Arch("llama", 12, 768, 12, 12, 2048, 32000, max_context=1024),
    # nemotron_h_moe: every layer is ONE of Mamba-2 / attention / MoE FFN (llama.cpp nemotron_h)
    "nemotron-3-nano-30b-a3b": Arch("nemotron_h_moe", 52, 2688, 32, 2, 0, 131072, head_dim=128, n_experts=128,
                                    n_experts_used=6, expert_ffn=1856, shared_ffn=3712, max_context=262144),
}
# Architecture facts the catalog's config summary does not carry, for the rows whose model the shipped catalog path
# cannot complete: training-only architectures ("arch:" keys) and LFM2 (no published layer layout in
# llmfit_core/catalog/reference_configs.py). Everything else (Gemma 3/4 windows, MLA latents, the Qwen 3.5 / Qwen3-Next
# gated delta-net states) comes from the catalog path itself, so the rows price a model as `fit` does
# (tests/test_catalog_parity.py).
ARCH_FACTS = {
    "arch:gemma-3-4b": {"sliding_window": 1024, "swa_every": 6},  # 5 sliding-window layers to 1 global layer
    # LFM2: 18 short-conv layers + 6 attention layers
    "LiquidAI/LFM2-8B-A1B": {"n_kv_layers": 6, "n_recurrent_layers": 18, "recurrent_r": 4096, "recurrent_s": 0},
    # Nemotron-H: Mamba-2 layers (d_inner 4096, state 128, 8 groups, conv 4) and 6 / 8 attention layers
    # (23 Mamba-2 + 6 attention + 23 MoE layers; non-gated relu^2 experts: 31.6B total, 3.5B active as its name says)
    "arch:nemotron-3-nano-30b-a3b": {"n_kv_layers": 6, "n_recurrent_layers": 23, "recurrent_r": 18432, "recurrent_s": 524288,
                                     "params": 31_580_000_000, "active_params": 3_500_000_000},
}
# the row's quant column -> the llama.cpp type llmfit prices (file sizes come from the row when printed)
QUANT_ALIASES = {"UD-Q4_K_XL": "Q4_K_M", "Q2_K_M": "Q2_K", "MXFP4": "MXFP4_MOE"}
# flash-attention kernel PRs whose tables leave the fa column out: their runs are flash attention on
FA_PRS = ("/pull/10171", "/pull/15982", "/pull/17505")
# llama-bench prints the fa column only when it is not the default, and its default is "auto" in the llama.cpp of the
# late-2025 / 2026 threads (tools/llama-bench/llama-bench.cpp cmd_params_defaults: LLAMA_FLASH_ATTN_TYPE_AUTO, on for
# the GPU backends): a blank fa column in a llama.cpp thread numbered from here on is flash attention on
FA_AUTO_FROM_THREAD = 17000
LLAMA_CPP_THREAD = re.compile(r"ggml-org/llama\.cpp/(?:pull|issues)/(\d+)")
# llama-bench -ub / -b as a row's note states them (else llama-bench's defaults, 512 / 2048)
UBATCH_NOTE = re.compile(r"n_ubatch=(\d+)|-ub (\d+)|microbatch size=(\d+)")
NBATCH_NOTE = re.compile(r"n_batch=(\d+)|-b (\d+)")
PI_HOST_WEIGHT = 0.3  # below training.train_throughput.PRIMARY_MIN_WEIGHT: counted in "all rows" only
PI_HOST = re.compile(r"Raspberry Pi|Pi CM5|Pi 5\b|Pi 500|SiFive|RISC-V", re.I)


@functools.lru_cache(maxsize=None)
def _base_spec(ref: str, quant: str):
    if ref.startswith("arch:"):
        from training.model_configs import ARCHS

        key = ref[5:]
        arch = EXTRA_ARCHS.get(key) or ARCHS[key]
        if key in EXTRA_ARCHS:
            ARCHS.setdefault(key, arch)
        q = quant if quant in ("F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q6_K", "Q3_K_S", "MXFP4_MOE") else "Q4_K_M"
        spec = build_spec(key, q)
        if q != quant:
            from llmfit_core.quant import apply_quant

            spec = apply_quant(spec, quant)
        return spec
    from llmfit_core.catalog.entry import CatalogEntry

    return CatalogEntry.from_dict(_catalog_snapshot()[ref]).to_spec(quant)


@functools.lru_cache(maxsize=1)
def _catalog_snapshot() -> dict:
    """The catalog entries of the table's models as they were when the correction was trained
    (data/benchdata/threads_models.json): training rows must not move when the shipped catalog is edited."""
    import json

    from training.data import DATA_DIR

    return json.loads((DATA_DIR / THREADS_MODELS).read_text())


def with_arch_facts(spec, ref: str):
    """A copy of `spec` with ARCH_FACTS[ref] applied (sliding-window layers, recurrent layers and their KV split)."""
    facts = dict(ARCH_FACTS.get(ref, {}))
    every = facts.pop("swa_every", None)
    if every:
        facts["swa_layers"] = [(i + 1) % every != 0 for i in range(spec.n_layers)]
    if facts.get("n_recurrent_layers") or facts.get("recurrent_r"):
        n_rec = facts.get("n_recurrent_layers", spec.n_recurrent_layers)
        facts.setdefault("n_kv_layers", spec.n_layers - n_rec)
    return dataclasses.replace(spec, **facts)


def row_spec(model: str, params_b: str, size_gib: str, quant: str):
    """ModelSpec of one table row (None when the model is not mapped)."""
    name = model.strip().lower()
    try:
        pb = float(params_b) if params_b else None
    except ValueError:
        pb = None
    ref = None
    for pat, rng, target in MODEL_MAP:
        if re.search(pat, name) and (rng is None or (pb is not None and rng[0] <= pb <= rng[1])):
            ref = target
            break
    if ref is None:
        return None, None
    q = QUANT_ALIASES.get(quant.strip(), quant.strip())
    if ref.startswith("openai/gpt-oss"):
        q = "MXFP4_MOE"  # the F16-labelled file is 12.83 GiB: MXFP4 experts (SOURCES caveat)
    spec = with_arch_facts(_base_spec(ref, q), ref)
    try:
        size = float(size_gib) * GIB if size_gib else None
    except ValueError:
        size = None
    if size and spec.weight_bytes:
        scale = size / spec.weight_bytes
        spec.group_bytes = {k: int(v * scale) for k, v in (spec.group_bytes or {}).items()}
        spec.weight_bytes = int(size)
    return spec, ref


def _num(x):
    try:
        return float(x) if x not in (None, "") else None
    except ValueError:
        return None


def device_table(path: Path) -> dict[str, dict]:
    with open(path, newline="") as fh:
        return {r["device"]: r for r in csv.DictReader(fh)}


CPU_DEVICES = {  # CPU-only devices of the file (spec sheets)
    "Intel N100": dict(cores=4, threads=4, arch="x86_64", isa=["avx2", "fma"], p_cores=0, e_cores=4),
    "Core i3-14100": dict(cores=4, threads=8, arch="x86_64", isa=["avx2", "fma", "avx_vnni"]),
    "Ryzen Threadripper 3970X": dict(cores=32, threads=64, arch="x86_64", isa=["avx2", "fma"], vendor="AMD"),
}


def row_hardware(device: str, devices: dict[str, dict], note: str) -> tuple[HardwareProfile | None, str, int]:
    """(hardware, physical device group, GPUs) of a row's device ("... xN" = N GPUs in a layer split)."""
    from llmfit_core.hardware.devices import lookup_device

    m = re.fullmatch(r"(.*) x(\d+)", device)
    base, n = (m.group(1), int(m.group(2))) if m else (device, 1)
    r = devices.get(device) or devices.get(base)
    if r is None:
        return None, base, n
    if r["kind"] == "cpu":
        facts = CPU_DEVICES.get(base)
        if facts is None:
            return None, base, n
        cpu = CPUInfo(model=base, mem_bandwidth_gbs=_num(r["bandwidth_gbs"]), **facts)
        return HardwareProfile(name=base, cpu=cpu, memory=MemoryInfo(_num(r["mem_gb"]) or 16.0)), base, 0
    per = 1.0 / n if devices.get(device) is r and m else 1.0  # the file sums "xN" rows over the GPUs
    bw = (_num(r["bandwidth_gbs"]) or 0) * per or None
    tf = (_num(r["fp16_tflops"]) or 0) * per or None
    mem = (_num(r["mem_gb"]) or 0) * per or None
    ccg = r["compute_capability_or_gfx"]
    cc = re.search(r"CC (\d+\.\d+)", ccg)
    gfx = re.search(r"gfx\w+", ccg)
    dev = lookup_device(base)
    if dev is not None and dev.kind != "cpu":  # the figures llmfit itself would use for this GPU
        bw, tf = dev.bandwidth_gbs or bw, dev.fp16_tflops or tf
    vendor = r["kind"]
    unified = vendor == "apple" or "iGPU" in r["notes"] or "unified" in r["notes"].lower()
    gpu = GPUInfo(vendor, dev.name if dev is not None else base, None if vendor == "apple" else mem, bandwidth_gbs=bw,
                  fp16_tflops=tf, compute_capability=(dev.compute_capability if dev is not None and dev.compute_capability
                                                      else (cc.group(1) if cc else None)),
                  arch=(gfx.group(0) if gfx else (dev.arch if dev is not None else None)))
    if vendor == "apple":
        m2 = re.search(r"\bM(\d)( Pro| Max| Ultra)?", base)
        from training.data import APPLE_CPU

        p, e = APPLE_CPU.get(f"M{m2.group(1)}{m2.group(2) or ''}" if m2 else "", (4, 4))
        cpu = CPUInfo(model=f"Apple {base}", cores=p + e, threads=p + e, arch="arm64", isa=["neon", "dotprod"], p_cores=p, e_cores=e)
        return HardwareProfile(name=base, cpu=cpu, memory=MemoryInfo(mem or 64.0), gpus=[gpu], unified_memory=True), base, 1
    if PI_HOST.search(note):
        cpu = CPUInfo(model="Raspberry Pi 5 host", cores=4, threads=4, arch="arm64", isa=["neon", "dotprod"], mem_bandwidth_gbs=17.1)
    elif unified:
        cpu = CPUInfo(model="Ryzen AI Max+ 395", cores=16, threads=32, isa=["avx2", "fma", "avx512f"], vendor="AMD", mem_bandwidth_gbs=bw)
    else:
        cpu = CPUInfo(model="host CPU", cores=8, threads=16, isa=["avx2", "fma"], mem_bandwidth_gbs=64.0)
    ram = max(mem or 0.0, 64.0) if not unified else (mem or 64.0)
    return HardwareProfile(name=device, cpu=cpu, memory=MemoryInfo(ram), gpus=[gpu] * n, unified_memory=unified), base, n


def parse_depth_test(test: str) -> tuple[str, int, int] | None:
    """(pp|tg, tokens, depth) of `pp2048@d16384` / `tg128`; None for combined tests (pp512+tg128)."""
    m = re.fullmatch(r"(pp|tg)(\d+)(?:@d(\d+))?", test.strip())
    if not m:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3) or 0)


BACKEND_NAMES = {"cuda": "llama.cpp-cuda", "rocm": "llama.cpp-rocm", "vulkan": "llama.cpp-vulkan", "sycl": "llama.cpp-sycl",
                 "metal": "llama.cpp-metal", "cpu": "llama.cpp-cpu"}


def fa_by_default(source_url: str) -> bool:
    """Whether a table without an fa column ran flash attention (a FA kernel PR, or llama-bench's "auto" default)."""
    m = LLAMA_CPP_THREAD.search(source_url)
    return source_url.endswith(FA_PRS) or bool(m and int(m.group(1)) >= FA_AUTO_FROM_THREAD)


def threads_rows(data_dir: Path, report) -> list:
    """Rows of llamabench_threads.csv (see the module docstring); skipped rows counted in `report`."""
    from training.data import Row

    devices = device_table(data_dir / THREADS_DEVICES)
    rows = []
    with open(data_dir / THREADS_FILE, newline="") as fh:
        for r in csv.DictReader(fh):
            t = parse_depth_test(r["test"])
            if t is None:
                report.skipped[f"test {r['test']} (combined pp+tg) not modelled"] += 1
                continue
            kind, n, depth = t
            hw, group, n_gpus = row_hardware(r["device"].strip(), devices, r["note"])
            if hw is None:
                report.skipped["device facts missing"] += 1
                continue
            backend = BACKEND_NAMES.get(r["backend"].strip().lower())
            if backend is None:
                report.skipped[f"backend {r['backend']} not modelled"] += 1
                continue
            spec, ref = row_spec(r["model"], r["params_b"], r["size_gib"], r["quant"])
            if spec is None:
                report.skipped["model not mapped"] += 1
                continue
            ngl = _num(r["n_gpu_layers"])
            total = spec.n_layers + 1
            placement = None
            if hw.gpus and backend != "llama.cpp-cpu":
                gl = total if ngl is None or ngl >= total or (ngl == 1 and "ngl 1 = Metal on" in r["note"]) else int(ngl)
                per_gpu = [1.0] * len(hw.gpus) if gl > 0 else None
                placement = {"gpu_layers": gl, "total_layers": total, "per_gpu_bytes": per_gpu}
            prompt, pos = (n, 0.0) if kind == "pp" else (0, n / 2.0)
            # eGPUs on Raspberry Pi / RISC-V hosts (PCIe x1, a slow host CPU submitting every kernel): physics this
            # predictor does not model (SOURCES caveat: prefill and sometimes decode depressed) -> secondary weight
            weight = PI_HOST_WEIGHT if PI_HOST.search(r["note"]) and hw.gpus else 1.0
            fa = r["flash_attn"].strip() == "1" or (not r["flash_attn"].strip() and fa_by_default(r["source_url"]))
            ub, nb = (next(int(g) for g in m.groups() if g) if m else d
                      for m, d in ((UBATCH_NOTE.search(r["note"]), 512), (NBATCH_NOTE.search(r["note"]), 2048)))
            rows.append(Row(THREADS_FILE, group, spec, hw, backend, kind, prompt if kind == "pp" else 512, pos,
                            float(r["tok_s"]), weight, int(_num(r["threads"])) if _num(r["threads"]) else None, 0, placement,
                            r["note"], depth=depth, flash_attn=fa, model_ref=ref, n_gpus=n_gpus, test_label=r["test"].strip(),
                            backend_label=r["backend"].strip(), n_ubatch=ub, n_batch=max(nb, ub)))
            report.used[THREADS_FILE] += 1
    return rows


PI_HOST_REASON = "eGPU on a Raspberry Pi / RISC-V host (PCIe x1, slow host CPU)"
# Why a row may be far from any model of llama.cpp's speed (named in the model card when a row is > 3x off).
DOUBT_RULES = (
    (r"excessively slow", "its issue reports this prompt speed as a bug (excessively slow PP)"),
    (r"Raspberry Pi|Pi CM5|Pi 5\b|Pi 500|SiFive|RISC-V", PI_HOST_REASON),
    (r"regression", "from a regression report (one of its builds has a known prompt-speed regression)"),
    (r"spread|high variance", "the source shows a very large run-to-run spread"),
    (r"first run shown", "first run of a fresh build as shown in the comment (the thread reports it as unexpectedly slow)"),
    (r"IPEX-LLM", "Intel's IPEX-LLM fork, not mainline llama.cpp"),
    (r"normiebench", "app submission, not a raw llama-bench table"),
    (r"summary table", "summary table, not raw llama-bench output"),
    (r"llama-v2-115m", "a 115M-parameter test model: per-kernel launch costs dominate"),
    (r"PR #16095|pull/16095|gyhor|Qwen3-Next", "Qwen3-Next on llama.cpp b7189-b7423 (Nov-Dec 2025, the first weeks after PR #16095): "
     "its gated delta-net ran as a graph of small ops, before the fused GGML_OP_GATED_DELTA_NET kernels of today's source"),
)


# ggml-vulkan decodes routed experts with its mat-vec kernel only for F32 / F16 / quantized weights
# (ggml-vulkan.cpp ggml_vk_use_mul_mat_vec_id): BF16 experts take the tile (mat-mat) kernels at batch 1. Priced since
# round 10 (roofline.MOE_DECODE_TILE_PATHS: the prompt path's tile cost at one token per expert, not fitted on these
# rows); GLM-4.7-Flash and Qwen3.5-35B-A3B stay 1.6-2.1x slower than that on the one device with such rows (Strix Halo).
VULKAN_BF16_MOE_DECODE = ("BF16 experts on Vulkan decode through the tile kernels (ggml_vk_use_mul_mat_vec_id excludes BF16): "
                          "priced at the prompt path's tile cost, only one device has such rows to check it")


# A comment naming one test of its table as unreliable ("pp512 has huge variance (+-9881.63) - doubtful"): that test's row only
TEST_VARIANCE_NOTE = re.compile(r"\b((?:pp|tg)\d+) has (?:huge|high|very large) variance")


# a layer split never runs a llama-bench prompt at less than this share of one of its GPUs elsewhere in the public
# tables (xiongjiedai: 114 of 116 split / one-GPU pairs of the same model, quant and test keep 0.83x or more)
SPLIT_PROMPT_FLOOR = 0.5


def _split_prompt_doubt(row, rows) -> str:
    """A layer-split prompt row far below the same source's one-GPU row of the same model, quant and test."""
    n = len(row.hardware.gpus)
    if rows is None or row.test != "pp" or n < 2 or getattr(row, "bench_kind", 0) != 0:
        return ""
    one = next((r for r in rows if r.source == row.source and r.device == row.device and len(r.hardware.gpus) == 1
                and r.test == "pp" and r.prompt_tokens == row.prompt_tokens and r.spec.ref == row.spec.ref
                and r.spec.quant == row.spec.quant and getattr(r, "bench_kind", 0) == 0), None)
    if one is None or row.tok_s >= SPLIT_PROMPT_FLOOR * one.tok_s:
        return ""
    return (f"{n} GPUs run this prompt at {row.tok_s / one.tok_s:.2f}x the same source's one-GPU row ({row.tok_s:.0f} "
            f"vs {one.tok_s:.0f} tok/s); every other llama-bench split row of the public tables keeps over half of one GPU's rate")


def doubt_reason(row, rows=None) -> str:
    """The reason a row is doubtful, from its source and note ("" when none is known); `rows`: the table it is in,
    for reasons read from the source's other rows."""
    m = TEST_VARIANCE_NOTE.search(row.note or "")
    if m and m.group(1) == (getattr(row, "test_label", None) or ""):
        return f"the source gives this test a run-to-run spread as large as its value ({m.group(0)})"
    if row.backend == "llama.cpp-vulkan" and row.test == "tg" and row.spec.is_moe and str(row.spec.quant).upper() == "BF16":
        return VULKAN_BF16_MOE_DECODE
    if getattr(row, "bench_kind", 0) == 1:
        return "Dec-2023 `./main` run: prompt length unknown, old multi-GPU code (not scored as primary)"
    if "unverified" in row.source:
        return "secondary transcription, not verified against the original page"
    if row.hardware.gpus and "Raspberry Pi" in (row.hardware.cpu.model or ""):
        return PI_HOST_REASON  # before the Ollama-table reason: the geerlingguy eGPU rows on a Pi are llama.cpp Vulkan runs
    if row.source.startswith("geerlingguy"):
        return "Ollama table: quantization and placement not stated (assumed)"
    text = f"{row.note} {row.device}"
    for pat, reason in DOUBT_RULES:
        if re.search(pat, text, re.I):
            return reason
    return _split_prompt_doubt(row, rows)
