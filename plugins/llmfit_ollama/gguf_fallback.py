"""A small streaming GGUF header reader, used only while `llmfit_core.readers.gguf` is not available.

It reads key/values and tensor infos from any `read(n) -> bytes` callable (a local file or ranged
HTTP reads), skips fixed-size arrays without materialising them, and caps every count and length.
"""

from __future__ import annotations

import re
import struct

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

from llmfit_core.errors import HeaderTooLargeError, ModelReadError
from llmfit_core.model_spec import ModelSpec

_SCALAR = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i", GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
MAX_STRING = 1 << 20
MAX_ITEMS = 1 << 24
MAX_TENSORS = 1 << 20
MAX_KV = 1 << 16
_BLK = re.compile(r"^blk\.(\d+)\.")


class _Stream:
    def __init__(self, read):
        self._read = read
        self.pos = 0

    def take(self, n: int) -> bytes:
        data = self._read(n)
        if len(data) != n:
            raise ModelReadError("GGUF header is truncated")
        self.pos += n
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > MAX_STRING:
            raise HeaderTooLargeError(f"GGUF string of {n} bytes is larger than allowed")
        return self.take(n).decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        while n > 0:
            k = min(n, 1 << 20)
            self.take(k)
            n -= k


def _value(s: _Stream, vtype: int, keep_arrays: bool):
    vtype = GGUFValueType(vtype)
    if vtype == GGUFValueType.STRING:
        return s.string()
    if vtype in _SCALAR:
        return s.unpack(_SCALAR[vtype])
    if vtype == GGUFValueType.ARRAY:
        sub = GGUFValueType(s.unpack("<I"))
        n = s.unpack("<Q")
        if n > MAX_ITEMS:
            raise HeaderTooLargeError(f"GGUF array of {n} items is larger than allowed")
        if sub in _SCALAR and not keep_arrays:
            s.skip(n * struct.calcsize(_SCALAR[sub]))
            return ("array", n)
        if sub == GGUFValueType.STRING and not keep_arrays:
            for _ in range(n):
                length = s.unpack("<Q")
                if length > MAX_STRING:
                    raise HeaderTooLargeError(f"GGUF string of {length} bytes is larger than allowed")
                s.skip(length)
            return ("array", n)
        return [_value(s, sub, keep_arrays) for _ in range(n)]
    raise ModelReadError(f"unknown GGUF value type {vtype}")


def read_header(read, ref: str, file_bytes: int | None = None) -> ModelSpec:
    """Parse a GGUF header from `read(n)` and return a ModelSpec with exact weight bytes."""
    s = _Stream(read)
    if s.take(4) != b"GGUF":
        raise ModelReadError(f"{ref}: not a GGUF file (bad magic)")
    version = s.unpack("<I")
    if version not in (2, 3):
        raise ModelReadError(f"{ref}: unsupported GGUF version {version}")
    n_tensors, n_kv = s.unpack("<Q"), s.unpack("<Q")
    if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
        raise HeaderTooLargeError(f"{ref}: GGUF header declares {n_tensors} tensors / {n_kv} keys")
    kv: dict = {}
    for _ in range(n_kv):
        key = s.string()
        try:
            kv[key] = _value(s, s.unpack("<I"), keep_arrays=key.endswith("swa_pattern") or key.endswith("head_count_kv"))
        except ValueError:
            raise ModelReadError(f"{ref}: invalid GGUF value type for key {key!r}") from None
    tensors = []
    for _ in range(n_tensors):
        name = s.string()
        n_dims = s.unpack("<I")
        if n_dims > 8:
            raise ModelReadError(f"{ref}: tensor {name!r} has {n_dims} dimensions")
        shape = [s.unpack("<Q") for _ in range(n_dims)]
        ttype = s.unpack("<I")
        s.unpack("<Q")  # offset
        try:
            qtype = GGMLQuantizationType(ttype)
            block, size = GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            raise ModelReadError(f"{ref}: tensor {name!r} has unknown ggml type {ttype}") from None
        n = 1
        for d in shape:
            n *= d
        tensors.append((name, shape, qtype, n, n * size // block))
    return _spec(ref, kv, tensors, file_bytes)


def _spec(ref, kv, tensors, file_bytes) -> ModelSpec:
    arch = str(kv.get("general.architecture", "unknown"))

    def k(name, default=0):
        v = kv.get(f"{arch}.{name}", default)
        if isinstance(v, list):
            return max(v) if v else default
        return v if not isinstance(v, tuple) else default

    n_layers = int(k("block_count"))
    hidden = int(k("embedding_length"))
    n_heads = int(k("attention.head_count")) or 1
    n_kv = int(k("attention.head_count_kv", n_heads)) or n_heads
    head_dim = int(k("attention.key_length", hidden // n_heads if n_heads else 0))
    head_dim_v = kv.get(f"{arch}.attention.value_length")
    groups: dict[str, int] = {}
    layer_bytes = [0] * n_layers
    types: dict[str, int] = {}
    params = expert_params = 0
    vocab = 0
    for name, shape, qtype, n, nbytes in tensors:
        params += n
        types[qtype.name] = types.get(qtype.name, 0) + 1
        if name.startswith("token_embd."):
            group = "token_embd"
            vocab = shape[1] if len(shape) > 1 else vocab
        elif name.startswith("output."):
            group = "output"
        elif "_exps" in name:
            group = "ffn_experts"
            expert_params += n
        elif "norm" in name:
            group = "norm"
        elif ".attn_" in name:
            group = "attn"
        elif ".ffn_" in name:
            group = "ffn"
        else:
            group = "other"
        groups[group] = groups.get(group, 0) + nbytes
        m = _BLK.match(name)
        if m and int(m.group(1)) < n_layers:
            layer_bytes[int(m.group(1))] += nbytes
    n_experts = int(k("expert_count"))
    n_used = int(k("expert_used_count"))
    active = params - expert_params + (expert_params * n_used // n_experts if n_experts else 0)
    ftype = kv.get("general.file_type")
    try:
        quant = LlamaFileType(ftype).name.replace("MOSTLY_", "") if ftype is not None else None
    except ValueError:
        quant = None
    if quant is None and types:
        quant = max(types, key=types.get)
    tok = kv.get("tokenizer.ggml.tokens")
    if not vocab and isinstance(tok, tuple):
        vocab = tok[1]
    kv_list = kv.get(f"{arch}.attention.head_count_kv")
    return ModelSpec(
        ref=ref, arch=arch, params=params, active_params=active, n_layers=n_layers, hidden_size=hidden,
        n_heads=n_heads, n_kv_heads=n_kv, head_dim=head_dim, vocab_size=int(vocab),
        max_context=int(k("context_length")), head_dim_v=int(head_dim_v) if head_dim_v else None,
        ffn_size=int(k("feed_forward_length")), sliding_window=int(k("attention.sliding_window")) or None,
        layer_kv_heads=[int(x) for x in kv_list] if isinstance(kv_list, list) else None,
        n_experts=n_experts, n_experts_used=n_used, expert_ffn_size=int(k("expert_feed_forward_length")),
        tied_embeddings="output" not in groups, format="gguf", quant=quant, file_bytes=file_bytes,
        weight_bytes=sum(groups.values()), group_bytes=groups, layer_bytes=layer_bytes, tensor_types=types,
        source="gguf-header", exact=True, notes=["read by the Ollama adapter's fallback GGUF reader"],
    )
