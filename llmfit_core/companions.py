"""Companions a llama.cpp model loads beside it: a vision projector (mmproj) and a draft model (speculative decoding).

Both are read from their own headers, like the model, and take memory where llama.cpp puts them:
- the projector (`--mmproj FILE`, or the one `llama-server -hf` picks: common/download.cpp find_best_sibling, the
  repo's `.gguf` whose name contains "mmproj", in the model's folder, nearest in quant bits) goes on the main GPU
  unless `--no-mmproj-offload` (common/arg.cpp mmproj_use_gpu, default on): its weights plus the compute buffer
  clip.cpp reserves at load for its warmup image (see mmproj_from_header);
- the draft model (`-md`) gets its own context of the same size (`-cd` 0 = the main one) with its own KV cache
  and compute buffer, its layers on the GPU (`-ngld`, llama-server's default: all) when there is room.
`reserve` takes their memory out of the machine before the main model is placed, so the verdict, the layers on
the GPU and the largest context all account for them.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

from llmfit_core.hardware.profile import GIB, HardwareProfile
from llmfit_core.memory import estimate_memory
from llmfit_core.readers.gguf_header import read_gguf_header
from llmfit_core.readers.source import LocalSource
from llmfit_core.units import fmt_bytes

MMPROJ_KEYWORD = "mmproj"  # common/download.cpp find_best_mmproj
F32 = 4


@dataclass
class Companion:
    """One companion's memory (bytes) and where it goes."""

    kind: str  # "mmproj" | "draft"
    name: str
    weights_bytes: int
    kv_bytes: int = 0
    compute_bytes: int = 0
    on_gpu: bool = False  # set by `reserve`
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.compute_bytes


def quant_bits(filename: str) -> int:
    """llama.cpp's extract_quant_bits: the digits of the name's last `-TAG`/`.TAG` (Q4_K_M -> 4, F16 -> 16), else 0."""
    prefix = filename[:-5] if filename.lower().endswith(".gguf") else filename
    prefix = re.sub(r"-\d{5}-of-\d{5}$", "", prefix, flags=re.I)
    m = re.search(r"[-.]([A-Z0-9_]+)$", prefix, re.I)
    digits = re.search(r"\d+", m.group(1)) if m else None
    return int(digits.group(0)) if digits else 0


def best_sibling(files, model_path: str, keyword: str = MMPROJ_KEYWORD) -> str | None:
    """The file `llama-server -hf` would load beside `model_path` (common/download.cpp find_best_sibling, no tag):
    a `.gguf` containing `keyword` in the model's folder or a parent of it; the deepest shared folder wins, then
    the nearest quant bits to the model's, then the first listed."""
    model_dir = model_path.split("/")[:-1]
    model_bits = quant_bits(model_path)
    best, best_key = None, None
    for f in files:
        if not f.endswith(".gguf") or keyword not in f:
            continue
        sib_dir = f.split("/")[:-1]
        depth = 0
        while depth < min(len(model_dir), len(sib_dir)) and model_dir[depth] == sib_dir[depth]:
            depth += 1
        if depth != len(sib_dir):
            continue  # the sibling must sit in the model's folder or above it
        key = (-depth, abs(quant_bits(f) - model_bits))
        if best_key is None or key < best_key:
            best, best_key = f, key
    return best


# Projector types that llama.cpp warms up with a capped token count instead of one image of clip.vision.image_size
# (tools/mtmd/clip.cpp load_hparams: hparams.set_warmup_n_tokens(N), "avoid OOM on warmup"): type -> (N output
# tokens, n_merge when the header gives none). The warmup image then has (sqrt(N) * n_merge)^2 patches.
WARMUP_TOKENS = {
    "qwen2vl_merger": (46 * 46, 2), "qwen2.5vl_merger": (46 * 46, 2), "qwen3vl_merger": (46 * 46, 2),
    "pixtral": (256, 1), "lightonocr": (256, 1), "gemma4v": (256, 3), "phi4": (16 * 16, 1),
}
MERGE_KEYS = ("clip.vision.spatial_merge_size", "clip.vision.projector.scale_factor")  # clip.cpp KEY_SPATIAL_MERGE_SIZE


def mmproj_from_header(header, name: str, flash_attn: bool = True) -> Companion:
    """A projector's memory from its GGUF header: the tensors, and the compute buffer clip.cpp reserves at load.

    clip.cpp's warmup (clip_model_loader::warmup) reserves the graph of one image: clip.vision.image_size, or for
    the types in WARMUP_TOKENS a capped token count. Per patch, the peak of the ViT graph is, in f32 values:
    with flash attention max(n_ff + 3 n_embd, 5 n_embd); without it patches x heads (the KQ scores) + 6 n_embd.
    Measured with libmtmd (llama-cpp-python 0.3.36, CPU) on SigLIP/gemma3-shaped projectors: exact to the log's
    0.01 MiB at 576-4096 patches, 1152-2304 wide (benchmarks/mmproj_compute.py). Flash attention: llama-server's
    default (`-fa auto`) turns it on where the backend supports it; llama-cpp-python's chat handlers pass the
    model's setting (off by default). Other projector graphs (window attention, mergers) are priced the same way.
    """
    md = header.metadata
    weights = sum(int(t.nbytes) for t in header.tensors)

    def key(k, default=0):
        v = md.get(k if k.startswith("clip.") else f"clip.vision.{k}")
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default

    size, patch = key("image_size"), key("patch_size")
    warmup = WARMUP_TOKENS.get(str(md.get("clip.projector_type") or md.get("clip.vision.projector_type") or ""))
    if warmup and patch:
        merge = next((key(k) for k in MERGE_KEYS if key(k)), warmup[1])
        patches = warmup[0] * merge * merge
    else:
        patches = (size // patch) ** 2 if size and patch else 0
    n_embd, n_ff = key("embedding_length"), key("feed_forward_length")
    per_patch = max(n_ff + 3 * n_embd, 5 * n_embd) if flash_attn else patches * key("attention.head_count", 1) + 6 * n_embd
    compute = patches * per_patch * F32
    notes = [] if patches else [f"{name}: no clip.vision image/patch size in the header: compute buffer not counted"]
    return Companion("mmproj", name, weights, 0, compute, notes=notes)


def read_mmproj(path: str, flash_attn: bool = True) -> Companion:
    """The projector companion of a local mmproj GGUF."""

    return mmproj_from_header(read_gguf_header(LocalSource(path)), os.path.basename(path), flash_attn)


def local_mmproj(model_file: str) -> str | None:
    """`auto` for a model on this disk: the projector llama.cpp's rule picks among the GGUFs in its folder."""
    folder = os.path.dirname(os.path.abspath(model_file))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    pick = best_sibling(names, os.path.basename(model_file))
    return os.path.join(folder, pick) if pick else None


def draft_companion(spec, backend, context: int, cache_type_k: str = "f16", cache_type_v: str = "f16",
                    flash_attn=None) -> Companion:
    """A draft model's weights, KV cache (same context as the main model) and compute buffer."""

    mem = estimate_memory(spec, backend, context, cache_type_k=cache_type_k, cache_type_v=cache_type_v,
                          flash_attn=flash_attn)
    return Companion("draft", spec.ref, int(mem.weights_bytes), int(mem.kv_cache_bytes),
                     int(mem.compute_bytes + mem.output_bytes))


def reserve(hw: HardwareProfile, companions: list[Companion], gpu_backend: bool) -> HardwareProfile:
    """A copy of `hw` with the companions' memory taken out: on the first GPU while it has room (discrete GPU
    backends), else RAM. Sets each companion's `on_gpu`."""
    view = copy.deepcopy(hw)
    unified = view.unified_memory or any(g.vendor == "apple" for g in view.gpus)
    ram = view.memory.available_bytes
    for c in companions:
        g = view.gpus[0] if gpu_backend and view.gpus and not unified else None
        free = int((g.vram_free_gb if g.vram_free_gb is not None else (g.vram_gb or 0.0)) * GIB) if g else 0
        c.on_gpu = g is not None and c.total_bytes <= free
        if c.on_gpu:
            g.vram_free_gb = (free - c.total_bytes) / GIB
        else:
            ram -= c.total_bytes
    view.memory.available_gb = max(ram, 0) / GIB
    return view


def describe(companions: list[Companion], gpu_name: str | None) -> list[str]:
    """One reason per companion: what it holds and where."""
    out = []
    for c in companions:
        where = f"on the {gpu_name}" if c.on_gpu and gpu_name else "in RAM"
        what = "vision projector" if c.kind == "mmproj" else "draft model"
        parts = [f"{fmt_bytes(c.weights_bytes)} weights"]
        if c.kv_bytes:
            parts.append(f"{fmt_bytes(c.kv_bytes)} KV cache")
        if c.compute_bytes:
            parts.append(f"{fmt_bytes(c.compute_bytes)} compute" + (" (estimated)" if c.kind == "mmproj" else ""))
        out.append(f"{what} {c.name}: {', '.join(parts)} {where}")
        out += c.notes
    return out
