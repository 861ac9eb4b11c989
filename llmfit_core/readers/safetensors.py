"""safetensors header reader: the 8-byte little-endian length + JSON header, never the weights.

Works on local files and URLs (HTTP Range), single files and sharded repos
(`model.safetensors.index.json`). `read_safetensors_model` combines the exact stored bytes of the
headers with the architecture facts of config.json.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass, field

from llmfit_core.errors import HeaderTooLargeError, LlmfitError, ModelReadError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.readers.source import DEFAULT_MAX_BYTES, ByteSource, open_source
from llmfit_core.tensor_layout import TENSOR_GROUPS

MAX_HEADER = 100 * 1024 * 1024
# the safetensors format's dtypes, in bits per element (F4/F6 are packed MX sub-byte types)
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64, "F4": 4, "F6_E2M3": 6,
    "F6_E3M2": 6, "C64": 64,
}
_PACKED_SUFFIX = (".qweight", ".qzeros", ".scales", ".biases", ".g_idx", ".absmax", ".quant_map",
                  ".weight_scale_inv", ".weight_scale", ".quant_state", ".nested_absmax", ".nested_quant_map")


@dataclass
class STTensor:
    """One tensor of a safetensors header."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int


@dataclass
class SafetensorsHeader:
    """The parsed header of one .safetensors file."""

    name: str
    tensors: list[STTensor]
    metadata: dict = field(default_factory=dict)
    header_bytes: int = 0
    file_size: int | None = None
    bytes_read: int = 0


def read_safetensors(source_or_path, max_bytes: int = MAX_HEADER + 8) -> SafetensorsHeader:
    """Read one safetensors header (path, URL or ByteSource)."""
    src = open_source(source_or_path, max_bytes=max_bytes)
    with src:
        try:
            return _parse(src)
        except LlmfitError:
            raise
        except (UnicodeDecodeError, ValueError, TypeError, KeyError, RecursionError, OverflowError) as exc:
            raise ModelReadError(f"{src.name}: malformed safetensors header ({type(exc).__name__})") from None


def _parse(src: ByteSource) -> SafetensorsHeader:
    try:
        (n,) = struct.unpack("<Q", src.read_at(0, 8))
    except ModelReadError:
        raise ModelReadError(f"{src.name}: not a safetensors file (too short)") from None
    if n > MAX_HEADER:
        raise HeaderTooLargeError(f"{src.name}: safetensors header declares {n} bytes (limit {MAX_HEADER})")
    if n < 2:
        raise ModelReadError(f"{src.name}: not a safetensors file (header length {n})")
    if src.size is not None and 8 + n > src.size:
        raise ModelReadError(f"{src.name}: truncated (header of {n} bytes, file has {src.size})")
    raw = src.read_at(8, n)
    if raw[:1] != b"{":
        raise ModelReadError(f"{src.name}: not a safetensors file (header is not JSON)")
    try:
        obj = json.loads(raw.decode("utf-8").rstrip(" "))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelReadError(f"{src.name}: malformed safetensors header (invalid JSON)") from None
    if not isinstance(obj, dict):
        raise ModelReadError(f"{src.name}: malformed safetensors header (not an object)")
    meta = obj.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        meta = {}
    tensors = []
    data_len = 0
    for name, info in obj.items():
        if not isinstance(info, dict):
            raise ModelReadError(f"{src.name}: tensor {name!r} has no dtype/shape")
        dtype = info.get("dtype")
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if not isinstance(dtype, str) or not isinstance(shape, list) or not (
                isinstance(offs, list) and len(offs) == 2):
            raise ModelReadError(f"{src.name}: tensor {name!r} lacks dtype, shape or data_offsets")
        if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 40 for d in shape) or len(
                shape) > 8:
            raise ModelReadError(f"{src.name}: tensor {name!r} has an invalid shape")
        a, b = offs
        if not (isinstance(a, int) and isinstance(b, int) and 0 <= a <= b):
            raise ModelReadError(f"{src.name}: tensor {name!r} has invalid data_offsets")
        nbytes = b - a
        bits = DTYPE_BITS.get(dtype.upper())
        if bits is None:  # the safetensors library itself refuses such a file
            raise ModelReadError(f"{src.name}: tensor {name!r} has unknown dtype {dtype[:32]!r}")
        expect = math.prod(shape) * bits
        if (expect + 7) // 8 != nbytes:
            raise ModelReadError(
                f"{src.name}: tensor {name!r} is {nbytes} bytes but {dtype}{shape} needs {(expect + 7) // 8}")
        tensors.append(STTensor(name, dtype.upper(), tuple(shape), nbytes))
        data_len = max(data_len, b)
    if src.size is not None and 8 + n + data_len > src.size:
        raise ModelReadError(f"{src.name}: truncated (tensor data needs {8 + n + data_len} bytes, file has {src.size})")
    small_meta = {k: v for k, v in meta.items() if isinstance(v, str) and len(v) <= 256}
    return SafetensorsHeader(src.name, tensors, small_meta, 8 + n, src.size, src.bytes_read)


# --------------------------------------------------------------------------------------------------
# HF tensor names -> groups

_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)\.")


_TOWER = ("vision_tower", "vision_model", "visual.", "multi_modal_projector", "mm_projector", "audio_tower",
          "vision_encoder", "image_newline", "embed_vision", "embed_audio")


def is_tower_tensor(name: str) -> bool:
    """A vision/audio encoder or projector tensor of a multimodal checkpoint (llama.cpp: the mmproj file)."""
    n = name.lower()
    return any(k in n for k in _TOWER)


def hf_tensor_group(name: str) -> str:
    """Sort a Hugging Face tensor name into one of TENSOR_GROUPS (encoder towers: "other")."""
    n = name.lower()
    if is_tower_tensor(n):
        return "other"
    if any(k in n for k in ("embed_tokens", "wte.", "word_embeddings", "tok_embeddings", "embeddings.weight")):
        return "token_embd"
    if n.startswith("lm_head") or ".lm_head" in n or n.startswith("output.") or "embed_out" in n:
        return "output"
    if "norm" in n or n.endswith("ln_f.weight") or ".ln_" in n:
        return "norm"
    if "experts" in n or "switch_mlp" in n:
        return "ffn_experts"
    if "attn" in n or "attention" in n:
        return "attn"
    if "mlp" in n or "feed_forward" in n or "ffn" in n or "moe" in n:
        return "ffn"
    return "other"


def hf_tensor_layer(name: str) -> int | None:
    """Layer index of a Hugging Face tensor name (`model.layers.N.`), else None."""
    m = _LAYER_RE.search(name)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------------
# model = config.json + headers


def shard_files(index: dict) -> list[str]:
    """Shard file names listed in a model.safetensors.index.json (in first-seen order)."""
    wm = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wm, dict) or not wm:
        raise ModelReadError("model.safetensors.index.json has no weight_map")
    seen: dict[str, None] = {}
    for f in wm.values():
        if not isinstance(f, str) or not f or f.startswith(("/", "\\")) or ".." in f.replace("\\", "/").split("/"):
            raise ModelReadError(f"model.safetensors.index.json lists an invalid file {f!r}")
        seen.setdefault(f, None)
    if len(seen) > 10000:
        raise HeaderTooLargeError("model.safetensors.index.json lists more than 10000 shards")
    return list(seen)


def _local_files(path: str) -> list[str]:
    if os.path.isdir(path):
        idx = os.path.join(path, "model.safetensors.index.json")
        if os.path.isfile(idx):
            with open(idx, "rb") as f:
                raw = f.read(MAX_HEADER + 1)
            if len(raw) > MAX_HEADER:
                raise HeaderTooLargeError(f"{idx}: larger than {MAX_HEADER} bytes")
            try:
                index = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ModelReadError(f"{idx}: invalid JSON") from None
            return [os.path.join(path, f) for f in shard_files(index)]
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".safetensors"))
        if not files:
            raise ModelReadError(f"{path}: no .safetensors files")
        return files
    return [path]


def read_safetensors_model(dir_or_files, config: dict | None = None, ref: str | None = None,
                           max_bytes: int = DEFAULT_MAX_BYTES * 8) -> ModelSpec:
    """ModelSpec from safetensors headers (a directory, a file, or a list of paths/URLs) + config.json.

    Weight bytes, group and layer bytes are exact (from the headers); architecture facts come from
    `config` (read from the directory when not given). Parameters are exact for unquantized weights.
    """
    if isinstance(dir_or_files, (list, tuple)):
        files = [os.fspath(f) for f in dir_or_files]
        base = os.path.dirname(files[0]) if files else ""
    else:
        p = os.fspath(dir_or_files)
        files = _local_files(p) if not p.startswith(("http://", "https://")) else [p]
        base = p if os.path.isdir(p) else os.path.dirname(p)
    if not files:
        raise ModelReadError("no safetensors files given")
    if config is None and base and os.path.isfile(os.path.join(base, "config.json")):
        config = _read_json(os.path.join(base, "config.json"))
    ref = ref or (base if base and os.path.isdir(base) else files[0])
    headers = []
    budget = max_bytes
    for f in files:
        h = read_safetensors(f, max_bytes=min(budget, MAX_HEADER + 8))
        budget -= h.bytes_read
        if budget <= 0:
            raise HeaderTooLargeError(f"{ref}: safetensors headers exceed {max_bytes} bytes in total")
        headers.append(h)
    return headers_to_spec(headers, config, ref, files)


def _read_json(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read(16 * 1024 * 1024 + 1)
    except OSError as exc:
        raise ModelReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > 16 * 1024 * 1024:
        raise HeaderTooLargeError(f"{path}: larger than 16 MiB")
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelReadError(f"{path}: invalid JSON") from None
    if not isinstance(obj, dict):
        raise ModelReadError(f"{path}: not a JSON object")
    return obj


def headers_to_spec(headers: list[SafetensorsHeader], config: dict | None, ref: str, files: list[str]) -> ModelSpec:
    """Combine safetensors headers with config.json facts into a ModelSpec."""
    tensors = [t for h in headers for t in h.tensors]
    if config is not None:
        spec = spec_from_config(config, ref)
    else:
        spec = _spec_without_config(tensors, ref)
    groups = {g: 0 for g in TENSOR_GROUPS}
    layers = [0] * spec.n_layers
    dtypes: dict[str, int] = {}
    dbytes: dict[str, int] = {}
    packed = False
    elements = 0
    tower = 0
    for t in tensors:
        g = hf_tensor_group(t.name)
        groups[g] += t.nbytes
        li = hf_tensor_layer(t.name)
        if is_tower_tensor(t.name):
            tower += t.nbytes
            li = None
        if li is not None and li < len(layers):
            layers[li] += t.nbytes
        dtypes[t.dtype] = dtypes.get(t.dtype, 0) + 1
        dbytes[t.dtype] = dbytes.get(t.dtype, 0) + t.nbytes
        if t.name.endswith(_PACKED_SUFFIX) or t.dtype in ("U32", "I32", "U8") and t.name.endswith(".weight"):
            packed = True
        if not is_tower_tensor(t.name):
            elements += math.prod(t.shape)
    total = sum(groups.values())
    notes = list(spec.notes)
    if tower:
        notes.append(f"{tower} bytes of vision/audio encoder weights included (group 'other'; llama.cpp keeps them "
                     "in a separate mmproj file)")
    if not packed and elements:
        if config is not None and spec.params and abs(elements / spec.params - 1) > 0.02:
            notes.append(f"config.json formula gives {spec.params} parameters, headers {elements}")
        ratio = spec.active_params / spec.params if spec.params else 1.0
        spec.params = elements
        spec.active_params = int(round(elements * ratio))
    elif packed:
        notes.append("packed quantized weights: parameter count from config.json")
    if spec.quant is None or not spec.quant.startswith(("MLX", "GPTQ", "AWQ", "BNB", "FP8", "MXFP4")):
        spec.quant = max(dbytes, key=dbytes.get) if dbytes else spec.quant
        if spec.quant == "F8_E4M3":
            spec.quant = "FP8"
    spec.weight_bytes = total
    spec.group_bytes = {g: b for g, b in groups.items() if b}
    spec.layer_bytes = layers
    spec.tensor_types = dtypes
    spec.file_bytes = sum(h.file_size or 0 for h in headers) or None
    spec.files = list(files)
    spec.format = "mlx" if (spec.quant or "").startswith("MLX") else "safetensors"
    spec.source = "safetensors-header"
    spec.exact = True
    spec.notes = [n for n in notes if not n.startswith("stored as")]
    spec.metadata["safetensors.header_bytes_read"] = sum(h.bytes_read for h in headers)
    spec.metadata["safetensors.tensor_count"] = len(tensors)
    return spec


def _spec_without_config(tensors: list[STTensor], ref: str) -> ModelSpec:
    layers = {hf_tensor_layer(t.name) for t in tensors} - {None}
    n_layers = max(layers) + 1 if layers else 0
    emb = next((t for t in tensors if hf_tensor_group(t.name) == "token_embd" and len(t.shape) == 2), None)
    vocab, hidden = (emb.shape if emb else (0, 0))
    return ModelSpec(ref=ref, arch="unknown", params=0, active_params=0, n_layers=n_layers, hidden_size=hidden,
                     n_heads=0, n_kv_heads=0, head_dim=0, vocab_size=vocab, max_context=0,
                     notes=["no config.json: architecture unknown, only weight sizes are exact"])
