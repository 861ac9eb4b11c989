"""Streaming GGUF (v2/v3) header reader: metadata + tensor infos -> ModelSpec, never the weights.

Reads incrementally from a ByteSource (local file or HTTP Range), so a remote multi-GB file costs
only about its header. String arrays (tokens, merges) are walked and counted, never kept; fixed-size
arrays are skipped by seeking. Every count and length is checked against limits and the file size.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field

from llmfit_core.gguf_constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from llmfit_core.errors import HeaderTooLargeError, LlmfitError, ModelReadError, UnknownQuantizationError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import file_type_name, quantizable, tensor_nbytes
from llmfit_core.tensor_layout import TENSOR_GROUPS, tensor_group, tensor_layer
from llmfit_core.readers.source import DEFAULT_MAX_BYTES, ByteSource, HTTPRangeSource, LocalSource

MAX_KEY_LEN = 64 * 1024
MAX_STRING_LEN = 8 * 1024 * 1024
MAX_KV = 1 << 20
MAX_TENSORS = 1 << 20
MAX_ARRAY = 1 << 32
MAX_DEPTH = 3
MAX_DIMS = 4
KEEP_STRING = 256  # metadata keeps strings up to this length
KEEP_ARRAY = 64  # and numeric arrays up to this many items (per-layer values)
KEEP_LAYER_ARRAY = 4096  # per-layer arrays of architecture keys (head_count_kv of a 118-layer hybrid) are read
SCAN_BLOCK = 1 << 20  # string arrays of a local file are walked in blocks of this size

_U64 = struct.Struct("<Q").unpack_from

_SCALAR = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i", GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
_SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<idx>\d{5})-of-(?P<n>\d{5})\.gguf$")
_UD_RE = re.compile(r"(?:^|[-_.])UD-([A-Za-z0-9_]+?)(?:-\d{5}-of-\d{5})?\.gguf$", re.IGNORECASE)


class _Skipped:
    """Placeholder for an array we walked or skipped: its element type and length only."""

    __slots__ = ("etype", "count")

    def __init__(self, etype, count):
        self.etype, self.count = etype, count

    def __len__(self):
        return self.count

    def __repr__(self):
        return f"<array {getattr(self.etype, 'name', self.etype)} x{self.count}>"


@dataclass
class GGUFTensor:
    """One tensor info: name, ggml shape (ne0 first), ggml type, offset in the data section."""

    name: str
    shape: tuple[int, ...]
    type: GGMLQuantizationType
    offset: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return tensor_nbytes(self.type, self.shape)


@dataclass
class GGUFHeader:
    """The parsed header of one GGUF file."""

    version: int
    metadata: dict
    tensors: list[GGUFTensor]
    data_offset: int
    alignment: int
    file_size: int | None
    bytes_read: int = 0
    name: str = ""
    array_counts: dict = field(default_factory=dict)


class _Cursor:
    def __init__(self, src: ByteSource):
        self.src = src
        self.pos = 0

    def read(self, n: int) -> bytes:
        data = self.src.read_at(self.pos, n)
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if self.src.size is not None and self.pos + n > self.src.size:
            raise ModelReadError(f"{self.src.name}: truncated (an array runs past the end of the file)")
        self.pos += n

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def remaining(self) -> int | None:
        return None if self.src.size is None else self.src.size - self.pos


def _read_string(c: _Cursor, limit: int, what: str, keep: bool = True) -> str | None:
    n = c.unpack("<Q")
    if n > limit:
        raise HeaderTooLargeError(f"{c.src.name}: {what} declares a string of {n} bytes (limit {limit})")
    rem = c.remaining()
    if rem is not None and n > rem:
        raise ModelReadError(f"{c.src.name}: truncated ({what} string of {n} bytes runs past the end)")
    if not keep:
        c.skip(n)  # walk without reading the text
        return None
    raw = c.read(n)
    return raw.decode("utf-8", errors="replace")


def _skip_strings(c: _Cursor, count: int, what: str) -> None:
    """Walk `count` strings (u64 length + bytes) without keeping them, charging their 8-byte lengths.

    A source that can scan (a local file) gives blocks walked in one tight loop: a tokenizer of 400,000
    strings costs ~50 ms instead of ~0.3 s read length by length. A string that does not fit in what is left
    of a block, or one the cap or the limits stop, is read alone by _read_string: same errors, same count.
    """
    src = c.src
    left = count
    while left:
        block = src.scan(c.pos, SCAN_BLOCK)
        if block is None:  # no cheap local reads (HTTP): length by length, the buffer window fetches ahead
            src.readahead(left * 12)
            for _ in range(left):
                _read_string(c, MAX_STRING_LEN, what, keep=False)
            return
        most = min(left, (src.max_bytes - src.bytes_read) // 8)  # lengths the cap still allows
        pos, end, walked = 0, len(block), 0
        try:
            for walked in range(most):  # the hot loop: one unpack and one comparison per string
                after = pos + 8 + _U64(block, pos)[0]
                if after > end:  # the string runs past the block (so each walked one is < MAX_STRING_LEN)
                    break
                pos = after
            else:
                walked = most
        except struct.error:  # the block ends inside this string's length
            pass
        src.charge(8 * walked)
        c.pos += pos
        left -= walked
        if walked == 0:
            _read_string(c, MAX_STRING_LEN, what, keep=False)
            left -= 1


def _value_type(c: _Cursor, key: str) -> GGUFValueType:
    raw = c.unpack("<I")
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise ModelReadError(f"{c.src.name}: metadata {key!r} has unknown value type {raw}") from None


def _read_value(c: _Cursor, vtype: GGUFValueType, key: str, depth: int = 0):
    if vtype in _SCALAR:
        return c.unpack(_SCALAR[vtype])
    if vtype == GGUFValueType.STRING:
        return _read_string(c, MAX_STRING_LEN, f"metadata {key!r}")
    if vtype == GGUFValueType.ARRAY:
        if depth >= MAX_DEPTH:
            raise ModelReadError(f"{c.src.name}: metadata {key!r} nests arrays deeper than {MAX_DEPTH}")
        etype = _value_type(c, key)
        count = c.unpack("<Q")
        if count > MAX_ARRAY:
            raise HeaderTooLargeError(f"{c.src.name}: metadata {key!r} declares {count} array items")
        rem = c.remaining()
        if etype in _SCALAR:
            size = struct.calcsize(_SCALAR[etype])
            if rem is not None and count * size > rem:
                raise ModelReadError(f"{c.src.name}: truncated (array {key!r} of {count} items runs past the end)")
            if count <= KEEP_ARRAY or (count <= KEEP_LAYER_ARRAY and not key.startswith("tokenizer.")):
                fmt = "<" + _SCALAR[etype][1] * count
                return list(struct.unpack(fmt, c.read(size * count)))
            c.skip(count * size)
            return _Skipped(etype, count)
        if etype == GGUFValueType.STRING:
            if rem is not None and count * 8 > rem:
                raise ModelReadError(f"{c.src.name}: truncated (array {key!r} of {count} strings runs past the end)")
            if count > 16:
                _skip_strings(c, count, f"metadata {key!r}")
                return _Skipped(etype, count)
            return [_read_string(c, MAX_STRING_LEN, f"metadata {key!r}") for _ in range(count)]
        # nested arrays
        if rem is not None and count * 12 > rem:
            raise ModelReadError(f"{c.src.name}: truncated (array {key!r} of {count} arrays runs past the end)")
        for _ in range(count):
            _read_value(c, etype, key, depth + 1) if etype != GGUFValueType.ARRAY else _read_value(
                c, GGUFValueType.ARRAY, key, depth + 1
            )
        return _Skipped(etype, count)
    raise ModelReadError(f"{c.src.name}: metadata {key!r} has unknown value type {vtype}")


def read_gguf_header(source: ByteSource) -> GGUFHeader:
    """Parse magic, version, metadata and tensor infos of one GGUF file."""
    try:
        return _parse_header(source)
    except LlmfitError:
        raise
    except (UnicodeDecodeError, struct.error, OverflowError, ValueError, RecursionError) as exc:
        raise ModelReadError(f"{source.name}: malformed GGUF header ({type(exc).__name__})") from None


def _parse_header(source: ByteSource) -> GGUFHeader:
    c = _Cursor(source)
    try:
        magic = c.unpack("<I")
    except HeaderTooLargeError:
        raise
    except ModelReadError:
        raise ModelReadError(f"{source.name}: not a GGUF file (too short)") from None
    if magic != GGUF_MAGIC:
        raise ModelReadError(f"{source.name}: not a GGUF file (bad magic)")
    version = c.unpack("<I")
    if version in (2 << 24, 3 << 24):
        raise ModelReadError(f"{source.name}: big-endian GGUF (s390x builds) is not supported")
    if version not in (2, 3):
        raise ModelReadError(f"{source.name}: unsupported GGUF version {version} (supported: 2, 3)")
    n_tensors = c.unpack("<Q")
    n_kv = c.unpack("<Q")
    if n_tensors > MAX_TENSORS:
        raise HeaderTooLargeError(f"{source.name}: declares {n_tensors} tensors (limit {MAX_TENSORS})")
    if n_kv > MAX_KV:
        raise HeaderTooLargeError(f"{source.name}: declares {n_kv} metadata entries (limit {MAX_KV})")
    rem = c.remaining()
    if rem is not None and (n_kv * 12 + n_tensors * 24) > rem:
        raise ModelReadError(f"{source.name}: truncated (declares {n_kv} metadata entries and {n_tensors} tensors)")
    meta: dict = {}
    tensors = None
    for i in range(n_kv):
        key = _read_string(c, MAX_KEY_LEN, "a metadata key")
        vtype = _value_type(c, key)
        if vtype == GGUFValueType.ARRAY and getattr(source, "sparse", False):
            mark = c.pos
            etype, count = c.unpack("<I"), c.unpack("<Q")
            if etype == GGUFValueType.STRING and JUMP_MIN <= count <= MAX_ARRAY:
                jumped = _jump_string_array(c, n_kv - i - 1, n_tensors, meta)
                if jumped is not None:
                    meta[key] = _Skipped(GGUFValueType.STRING, count)
                    meta.update(jumped[0])
                    tensors, c.pos = jumped[1], jumped[2]
                    meta["gguf.skipped_string_bytes"] = True
                    break
            c.pos = mark
        meta[key] = _read_value(c, vtype, key)
    if tensors is None:
        tensors = _read_tensor_infos(c, n_tensors)
    align = meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    meta.pop("gguf.skipped_string_bytes", None)
    if not isinstance(align, int) or align <= 0 or align > 1 << 20 or align & (align - 1):
        raise ModelReadError(f"{source.name}: invalid general.alignment {align!r}")
    data_offset = (c.pos + align - 1) // align * align
    if source.size is not None and tensors:
        end = max(t.offset + t.nbytes for t in tensors)
        if data_offset + end > source.size:
            raise ModelReadError(
                f"{source.name}: truncated (tensor data needs {data_offset + end} bytes, file has {source.size})"
            )
    counts = {k: len(v) for k, v in meta.items() if isinstance(v, (_Skipped, list))}
    small = {k: v for k, v in meta.items() if not isinstance(v, _Skipped)}
    return GGUFHeader(version, small, tensors, data_offset, align, source.size, source.bytes_read, source.name, counts)


def _read_tensor_infos(c: _Cursor, n_tensors: int) -> list[GGUFTensor]:
    source = c.src
    tensors: list[GGUFTensor] = []
    source.readahead(n_tensors * 72 + 64)
    for _ in range(n_tensors):
        name = _read_string(c, MAX_KEY_LEN, "a tensor name")
        n_dims = c.unpack("<I")
        if n_dims == 0 or n_dims > MAX_DIMS:
            raise ModelReadError(f"{source.name}: tensor {name!r} has {n_dims} dimensions (1..{MAX_DIMS} allowed)")
        shape = struct.unpack("<" + "Q" * n_dims, c.read(8 * n_dims))
        if any(d == 0 or d > 1 << 40 for d in shape):
            raise ModelReadError(f"{source.name}: tensor {name!r} has an invalid shape {list(shape)}")
        raw_type = c.unpack("<I")
        try:
            gtype = GGMLQuantizationType(raw_type)
        except ValueError:
            raise UnknownQuantizationError(
                f"{source.name}: tensor {name!r} has unknown ggml type {raw_type} (a newer llama.cpp format?)"
            ) from None
        if gtype not in GGML_QUANT_SIZES:
            raise UnknownQuantizationError(f"{source.name}: tensor {name!r} has ggml type {gtype.name} without size facts")
        offset = c.unpack("<Q")
        t = GGUFTensor(name, tuple(int(d) for d in shape), gtype, offset)
        if t.n_elements > 1 << 48:
            raise ModelReadError(f"{source.name}: tensor {name!r} declares {t.n_elements} elements")
        t.nbytes  # validates block alignment of ne0
        tensors.append(t)
    return tensors


# --------------------------------------------------------------------------------------------------
# Remote shortcut: skip the bulk of big string arrays (tokens, merges) instead of transferring them.
#
# A string array can only be walked, but over HTTP we can probe: small windows inside a string array
# parse as a chain of short length-prefixed UTF-8 strings, windows past it do not. A galloping +
# binary search finds where the string data ends, a short walk finds the exact end, and the rest of
# the header is parsed from there. The result is accepted only if the remaining metadata and all
# tensor infos parse and the tensor data then ends exactly at the end of the file (within the
# alignment); otherwise we fall back to walking every string.

JUMP_MIN = 8192  # string arrays with at least this many items are worth skipping
PROBE = 4096
_KEY_RE = re.compile(rb"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)+$")


def _chain_start(buf: bytes, need: int = 12) -> int | None:
    """Offset in `buf` where a chain of `need` plausible GGUF strings starts, if any."""
    for k in range(0, min(64, len(buf))):
        pos, ok = k, 0
        while ok < need and pos + 8 <= len(buf):
            n = int.from_bytes(buf[pos:pos + 8], "little")
            if not 1 <= n <= 512 or pos + 8 + n > len(buf):
                break
            try:
                buf[pos + 8:pos + 8 + n].decode("utf-8")
            except UnicodeDecodeError:
                break
            pos += 8 + n
            ok += 1
        if ok >= need:
            return k
    return None


def _inside_strings(src: ByteSource, x: int) -> bool:
    if src.size is not None and x + PROBE > src.size:
        return False
    return _chain_start(src.probe(x, PROBE)) is not None


def _jump_string_array(c: _Cursor, kv_left: int, n_tensors: int, meta: dict, depth: int = 0):
    """Try to skip a big string array starting at c.pos. Returns (metadata, tensors, end pos) or None."""
    src = c.src
    start = c.pos
    if src.size is None:
        return None
    try:
        lo, step = start, 64 * 1024
        while start + step < src.size and _inside_strings(src, start + step):
            lo = start + step
            step *= 2
        hi = min(start + step, src.size)
        while hi - lo > 2 * PROBE:
            mid = (lo + hi) // 2
            if _inside_strings(src, mid):
                lo = mid
            else:
                hi = mid
        window = src.probe(lo, min(PROBE, src.size - lo))
        k = _chain_start(window) if lo != start else 0
        if k is None:
            return None
        # walk the strings from a known boundary up to the first implausible one; the metadata key that
        # follows the array also looks like a string (and so may the value after it), so the last few
        # key-like strings are all candidates for the first key after the array
        w = _Cursor(src)
        w.pos = lo + k
        src.readahead(hi - lo + 2 * PROBE)
        recent: list[tuple[int, bytes]] = []
        limit = hi + 64 * 1024
        while w.pos < limit:
            here = w.pos
            if here + 8 > src.size:
                break
            n = int.from_bytes(w.read(8), "little")
            if not 1 <= n <= 512 or w.pos + n > src.size:
                break
            text = w.read(n)
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                break
            recent.append((here, text))
            del recent[:-16]
        else:
            return None
        cands = [pos for pos, text in recent if _KEY_RE.match(text)] + [w.pos - 8]
        src.readahead(64 * 1024)
        for cand in cands:
            got = _finish_from(src, cand, kv_left, n_tensors, meta, depth)
            if got is not None:
                return got
    except (LlmfitError, struct.error, ValueError, UnicodeDecodeError):
        if src.bytes_read >= src.max_bytes:
            raise
    return None


def _finish_from(src: ByteSource, pos: int, kv_left: int, n_tensors: int, meta: dict, depth: int = 0):
    """Parse the remaining metadata from `pos`, then the tensor infos; validate against the file size."""
    found: dict = {}
    c = _Cursor(src)
    c.pos = pos
    align = meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    for j in range(kv_left + 1):
        here = c.pos
        try:
            tensors = _read_tensor_infos(c, n_tensors)
            a = found.get("general.alignment", align)
            if isinstance(a, int) and a > 0 and (not tensors or min(t.offset for t in tensors) == 0):
                data_offset = (c.pos + a - 1) // a * a
                end = max((t.offset + t.nbytes for t in tensors), default=0)
                slack = src.size - data_offset - end
                if (0 <= slack < max(a, 32)) if tensors else src.size == c.pos:
                    return found, tensors, c.pos
        except LlmfitError:
            if src.bytes_read >= src.max_bytes:
                raise
        if j == kv_left:
            return None
        c.pos = here
        raw_len = c.unpack("<Q")
        if not 1 <= raw_len <= 256:
            return None
        key = c.read(raw_len)
        if not _KEY_RE.match(key):
            return None
        key = key.decode("ascii")
        vtype = _value_type(c, key)
        if vtype == GGUFValueType.STRING:
            mark = c.pos
            if c.unpack("<Q") > 1 << 20:  # implausible here: a wrong candidate, do not fetch it
                return None
            c.pos = mark
        if vtype == GGUFValueType.ARRAY and depth < 3:
            mark = c.pos
            etype, count = c.unpack("<I"), c.unpack("<Q")
            if etype == GGUFValueType.STRING and JUMP_MIN <= count <= MAX_ARRAY:
                got = _jump_string_array(c, kv_left - j - 1, n_tensors, {**meta, **found}, depth + 1)
                if got is not None:
                    found[key] = _Skipped(GGUFValueType.STRING, count)
                    found.update(got[0])
                    return found, got[1], got[2]
            c.pos = mark
        found[key] = _read_value(c, vtype, key)
    return None


# --------------------------------------------------------------------------------------------------
# header -> ModelSpec

# architectures with sliding-window layers: (default pattern period, dense_first) as in llama.cpp's
# load_swa_pattern calls (src/models/*.cpp); a sliding_window_pattern key in the file overrides it.
_SWA_PATTERN = {
    "gemma2": (2, False), "gemma3": (6, False), "gemma3n": (5, False), "gemma-embedding": (6, False),
    "cohere2": (4, False), "llama4": (4, False), "gpt-oss": (2, False), "exaone4": (4, False),
    "exaone-moe": (4, False), "olmo2": (4, False), "afmoe": (4, False), "smallthinker": (4, True),
    "plamo3": (8, False), "modern-bert": (3, True),
}


def _swa_layers(n_pattern: int, dense_first: bool, n_layers: int) -> list[bool]:
    if dense_first:
        return [n_pattern == 0 or (i % n_pattern != 0) for i in range(n_layers)]
    return [n_pattern == 0 or (i % n_pattern < n_pattern - 1) for i in range(n_layers)]


def _int(v, default=0):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return default


def _per_layer(v) -> list[int] | None:
    if isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return [int(x) for x in v]
    return None


def _scalar_or_max(v, default=0) -> int:
    lst = _per_layer(v)
    if lst:
        return max(lst)
    return _int(v, default)


# Recurrent (SSM / delta-net / short conv / RWKV) layers, as each architecture's load_arch_hparams marks them
# (llama.cpp src/models/*.cpp) and llama-model.cpp create_memory filters them:
_PURE_RECURRENT = {"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"}  # llm_arch_is_recurrent: every layer
_KV0_RECURRENT = {"jamba", "granitehybrid", "lfm2", "lfm2moe", "plamo2", "kimi-linear", "kimi-k3", "glm5-next",
                  "bailingmoe3"}  # recurrent iff head_count_kv(il) == 0
_FF0_RECURRENT = {"nemotron_h", "nemotron_h_moe"}  # recurrent iff head_count_kv(il) == 0 and feed_forward_length(il) == 0
# attention.recurrent_layers, else full_attention_interval (default 4; minimax-01: 8); minimax-01: linear attention
# of key_length heads
_DELTANET = {"qwen3next", "qwen35", "qwen35moe", "minimax-01"}
_ALL_BOTH = {"falcon-h1"}  # every layer has both an attention KV cache and an SSM state


def _recurrent_facts(arch: str, meta: dict, n_layers: int, layer_kv: list[int] | None, n_kv: int, where: str):
    """(recurrent flags, n_embd_r, n_embd_s, note, KV-layer flags or None), or None for non-recurrent models.

    Key names are gguf-py's (constants.py Keys.SSM / ShortConv / WKV / KDA / Attention.RECURRENT_LAYERS /
    LLM.FULL_ATTENTION_INTERVAL / LLM.TOKEN_SHIFT_COUNT / LLM.NEXTN_PREDICT_LAYERS)."""
    from llmfit_core.recurrent import GGUF_FULL_ATTENTION_INTERVAL, state_sizes

    def k(name, default=None):
        return meta.get(f"{arch}.{name}", default)

    has_keys = any(key.startswith((f"{arch}.ssm.", f"{arch}.wkv.", f"{arch}.shortconv.", f"{arch}.kda."))
                   for key in meta)
    known = _PURE_RECURRENT | _KV0_RECURRENT | _FF0_RECURRENT | _DELTANET | _ALL_BOTH
    if arch not in known:
        if has_keys:
            return None, 0, 0, f"{arch}: recurrent layers not modelled (recurrent state not counted)", None
        return None
    n_layers = max(int(n_layers), 0)
    n_main = max(n_layers - _int(k("nextn_predict_layers")), 0)  # llama.cpp n_layer(): without MTP blocks
    kv = layer_kv if layer_kv and len(layer_kv) == n_layers else None
    note = None
    kv_flags = None
    if arch in _PURE_RECURRENT:
        flags = [i < n_main for i in range(n_layers)]
    elif arch in _ALL_BOTH:
        flags = [True] * n_layers
    elif arch in _DELTANET:
        arr = k("attention.recurrent_layers")
        if isinstance(arr, list) and len(arr) == n_layers:
            flags = [bool(x) and i < n_main for i, x in enumerate(arr)]
        else:
            default = GGUF_FULL_ATTENTION_INTERVAL.get(arch, 4)  # minimax-01.cpp: 8, the delta-net loaders: 4
            interval = _int(k("full_attention_interval"), default) or default
            flags = [i < n_main and (i + 1) % interval != 0 for i in range(n_layers)]
        kv_flags = [i < n_main and not f for i, f in enumerate(flags)]
    elif kv is None:
        flags = None
        note = f"{arch}: per-layer head_count_kv missing, recurrent layers unknown (recurrent state not counted)"
    elif arch in _FF0_RECURRENT:
        ff = _per_layer(k("feed_forward_length"))
        if ff and len(ff) == n_layers:
            flags = [i < n_main and kv[i] == 0 and ff[i] == 0 for i in range(n_layers)]
            kv_flags = [i < n_main and kv[i] > 0 and ff[i] == 0 for i in range(n_layers)]
        else:
            flags = [i < n_main and kv[i] == 0 for i in range(n_layers)]
            note = f"{arch}: per-layer feed_forward_length missing: every layer without KV heads counted as recurrent"
    else:
        flags = [i < n_main and kv[i] == 0 for i in range(n_layers)]
    if not flags or not any(flags):
        return (None, 0, 0, note, kv_flags) if (note or kv_flags) else None
    heads = _per_layer(k("attention.head_count"))
    n_head = heads[0] if heads else _int(k("attention.head_count"))
    la = 0
    if arch == "minimax-01":  # llama.cpp: n_embd_head_la = n_embd_head_k_full (key_length, else n_embd / n_head)
        la = _int(k("attention.key_length")) or (_int(k("embedding_length")) // n_head if n_head else 0)
    r, s = state_sizes(
        _int(k("embedding_length")), d_conv=_int(k("ssm.conv_kernel")), d_inner=_int(k("ssm.inner_size")),
        d_state=_int(k("ssm.state_size")), n_group=_int(k("ssm.group_count")),
        l_cache=_int(k("shortconv.l_cache")), wkv_head_size=_int(k("wkv.head_size")),
        token_shift_count=_int(k("token_shift_count"), 2), kda_head_dim=_int(k("kda.head_dim")),
        n_head=n_head, la_head_dim=la, where=where)
    if not (r or s):
        note = f"{arch}: recurrent state sizes missing from the header (recurrent state not counted)"
    return flags, r, s, note, kv_flags


def recurrent_fields(arch: str, meta: dict, n_layers: int, where: str = "model") -> tuple[dict, list[str]]:
    """ModelSpec fields (recurrent layers and sizes, KV layers of hybrids) from GGUF-style metadata, and notes.

    For sources that give GGUF keys without a header to read (Ollama's /api/show model_info)."""
    kv_v = meta.get(f"{arch}.attention.head_count_kv")
    layer_kv = _per_layer(kv_v)
    n_kv = _scalar_or_max(kv_v, _scalar_or_max(meta.get(f"{arch}.attention.head_count"))) if kv_v is not None else 0
    rec = _recurrent_facts(arch, meta, n_layers, layer_kv, n_kv, where)
    if rec is None:
        return {}, []
    flags, r, s, note, kv_flags = rec
    out: dict = {}
    if flags:
        out.update(n_recurrent_layers=sum(flags), recurrent_r=r, recurrent_s=s, recurrent_layers=flags)
    if kv_flags is not None:
        layer_kv = [(layer_kv[i] if layer_kv and len(layer_kv) == n_layers else n_kv) if kv_flags[i] else 0
                    for i in range(n_layers)]
    if layer_kv and len(layer_kv) == n_layers and 0 in layer_kv:
        out.update(layer_kv_heads=layer_kv, n_kv_layers=sum(1 for x in layer_kv if x > 0))
    elif flags and all(flags) and arch in _PURE_RECURRENT:
        out.update(n_kv_layers=0)
    return out, [note] if note else []


def header_to_spec(headers: list[GGUFHeader], ref: str, files: list[str]) -> ModelSpec:
    """Map one or more (split) GGUF headers to a ModelSpec."""
    meta = headers[0].metadata
    counts = headers[0].array_counts
    notes: list[str] = []
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        arch = "unknown"
        notes.append("general.architecture missing")

    def k(name, default=None):
        return meta.get(f"{arch}.{name}", default)

    tensors = [t for h in headers for t in h.tensors]
    n_layers = _int(k("block_count"))
    if n_layers <= 0 or n_layers > 10000:
        layer_ids = [tensor_layer(t.name) for t in tensors]
        n_layers = max((i for i in layer_ids if i is not None), default=-1) + 1
        notes.append(f"{arch}.block_count missing: {n_layers} layers counted from tensor names")

    hidden = _int(k("embedding_length"))
    n_heads_v = k("attention.head_count")
    n_heads = _scalar_or_max(n_heads_v)
    kv_v = k("attention.head_count_kv")
    layer_kv = _per_layer(kv_v)
    n_kv = _scalar_or_max(kv_v, n_heads) if kv_v is not None else n_heads
    head_dim = _int(k("attention.key_length")) or (hidden // n_heads if n_heads else 0)
    head_dim_v = _int(k("attention.value_length")) or None
    if head_dim_v == head_dim:
        head_dim_v = None

    by_name = {t.name: t for t in tensors}
    vocab = _int(k("vocab_size")) or counts.get("tokenizer.ggml.tokens", 0)
    if not vocab and "token_embd.weight" in by_name:
        vocab = by_name["token_embd.weight"].shape[-1]

    # layers with a KV cache: those with attention K projections (hybrid SSM models have fewer)
    attn_layers = {tensor_layer(t.name) for t in tensors
                   if re.search(r"\.attn_(k|qkv|kv_a_mqa|k_b)\.weight$", t.name)} - {None}
    n_kv_layers = None
    if layer_kv and len(layer_kv) == n_layers and any(x == 0 for x in layer_kv):
        n_kv_layers = sum(1 for x in layer_kv if x > 0)
    elif attn_layers and len(attn_layers) < n_layers:
        n_kv_layers = len(attn_layers)
    elif not attn_layers and any(key.startswith(f"{arch}.ssm.") or key.startswith(f"{arch}.wkv") for key in meta):
        n_kv_layers = 0
    rec = _recurrent_facts(arch, meta, n_layers, layer_kv, n_kv, headers[0].name or arch)
    if rec is not None:
        flags, rec_r, rec_s, rec_note, kv_flags = rec
        if rec_note:
            notes.append(rec_note)
        if kv_flags is not None:  # which layers keep a KV cache, as llama.cpp's hybrid filters say
            layer_kv = [(layer_kv[i] if layer_kv and len(layer_kv) == n_layers else n_kv) if kv_flags[i] else 0
                        for i in range(n_layers)]
            n_kv_layers = sum(1 for x in layer_kv if x > 0)
    else:
        flags, rec_r, rec_s = None, 0, 0
    if layer_kv and len(set(layer_kv)) == 1:
        layer_kv = None

    sliding = _int(k("attention.sliding_window")) or None
    swa = None
    pat = k("attention.sliding_window_pattern")
    if isinstance(pat, list) and len(pat) == n_layers:
        swa = [bool(x) for x in pat]
    elif sliding and (arch in _SWA_PATTERN or isinstance(pat, int)):
        period, dense_first = _SWA_PATTERN.get(arch, (0, False))
        if isinstance(pat, int) and not isinstance(pat, bool):
            period = pat
        swa = _swa_layers(period, dense_first, n_layers)
    elif arch == "llama4" and k("attention.sliding_window") is None:
        sliding, swa = 8192, _swa_layers(4, False, n_layers)
        notes.append("llama4 chunked attention: 3 of 4 layers use 8192-token chunks")
    if arch == "phi3" and sliding:
        sliding, swa = None, None  # llama.cpp disables Phi SWA
    if swa is not None and not any(swa):
        swa = None

    n_experts = _int(k("expert_count"))
    n_used = _int(k("expert_used_count"))
    expert_ff = _scalar_or_max(k("expert_feed_forward_length"))

    # sizes
    groups = {g: 0 for g in TENSOR_GROUPS}
    layers = [0] * max(n_layers, 0)
    types: dict[str, int] = {}
    qbytes: dict[str, int] = {}
    params = 0
    expert_params = 0
    for t in tensors:
        nb = t.nbytes
        params += t.n_elements
        g = tensor_group(t.name)
        groups[g] += nb
        if g == "ffn_experts" and "shexp" not in t.name:
            expert_params += t.n_elements
        li = tensor_layer(t.name)
        if li is not None and 0 <= li < len(layers):
            layers[li] += nb
        types[t.type.name] = types.get(t.type.name, 0) + 1
        if quantizable(t.name, len(t.shape)):
            qbytes[t.type.name] = qbytes.get(t.type.name, 0) + nb
    active = params
    if n_experts > 1 and expert_params:
        per_expert = expert_params // n_experts
        active = params - max(0, n_experts - max(n_used, 1)) * per_expert

    ftype = file_type_name(meta["general.file_type"]) if isinstance(meta.get("general.file_type"), int) else None
    dominant = max(qbytes, key=qbytes.get) if qbytes else None
    quant = ftype or dominant
    if ftype is None and dominant:
        notes.append(f"general.file_type missing: quant is the dominant tensor type {dominant}")
    mixed = _mix_differences(tensors, ftype, arch, n_layers, n_heads, n_kv, n_experts)
    m = _UD_RE.search(os.path.basename(files[0])) if files else None
    if m:
        quant = "UD-" + m.group(1).upper()
        notes.append("Unsloth dynamic quant (UD- in the file name)")
    if mixed:
        notes.append(f"{mixed} tensors differ from llama.cpp's standard {ftype} mix (dynamic or custom quant)")

    tied = "output.weight" not in by_name
    ffn = _scalar_or_max(k("feed_forward_length"))
    total_size = sum(h.file_size or 0 for h in headers) or None
    md = {key: v for key, v in meta.items()
          if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= KEEP_STRING)}
    for key, v in meta.items():
        if isinstance(v, list) and len(v) <= KEEP_ARRAY and all(isinstance(x, (int, float, bool)) for x in v):
            md[key] = v
    md["gguf.version"] = headers[0].version
    md["gguf.mix_differences"] = mixed
    md["gguf.data_offset"] = headers[0].data_offset
    md["gguf.header_bytes_read"] = sum(h.bytes_read for h in headers)
    md["gguf.tensor_count"] = len(tensors)
    if "tokenizer.ggml.tokens" in counts:
        md["tokenizer.ggml.tokens.count"] = counts["tokenizer.ggml.tokens"]
    if total_size:
        md["gguf.tensor_data_bytes"] = sum((h.file_size or 0) - h.data_offset for h in headers)

    return ModelSpec(
        ref=ref,
        arch=arch,
        params=params,
        active_params=active,
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        head_dim_v=head_dim_v,
        vocab_size=vocab,
        max_context=_int(k("context_length")),
        ffn_size=ffn,
        sliding_window=sliding if swa else None,
        swa_layers=swa,
        layer_kv_heads=layer_kv,
        n_kv_layers=n_kv_layers,
        n_experts=n_experts,
        n_experts_used=n_used,
        expert_ffn_size=expert_ff,
        n_shared_experts=_int(k("expert_shared_count")),
        shared_expert_ffn_size=_int(k("expert_shared_feed_forward_length")),
        n_dense_layers=_int(k("leading_dense_block_count")),
        kv_lora_rank=_int(k("attention.kv_lora_rank")),
        n_recurrent_layers=sum(flags) if flags else 0,
        recurrent_r=rec_r,
        recurrent_s=rec_s,
        recurrent_layers=flags or None,
        tied_embeddings=tied,
        format="gguf",
        quant=quant,
        file_bytes=total_size,
        weight_bytes=sum(groups.values()),
        group_bytes={g: b for g, b in groups.items() if b},
        layer_bytes=layers,
        tensor_types=types,
        files=list(files),
        source="gguf-header",
        exact=True,
        notes=notes,
        metadata=md,
        tensors=[(t.name, t.shape, t.type.name) for t in tensors],
    )


def _mix_differences(tensors, ftype, arch, n_layers, n_heads, n_kv, n_experts) -> int:
    """How many quantizable tensors have a ggml type other than llama.cpp's standard mix for `ftype`."""
    from llmfit_core.quant import MixContext, llamacpp_tensor_types

    if not ftype or ftype in ("F32", "F16", "BF16") or not tensors or n_layers <= 0:
        return 0
    try:
        ctx = MixContext(n_layers=n_layers, n_gqa=max(1, n_heads // n_kv) if n_kv else 1, n_experts=n_experts,
                         arch=arch)
        want = llamacpp_tensor_types([(t.name, t.shape, "F16") for t in tensors], ftype, ctx)
    except LlmfitError:
        return 0
    return sum(1 for t, w in zip(tensors, want) if quantizable(t.name, len(t.shape)) and t.type != w)


# --------------------------------------------------------------------------------------------------
# entry points


def split_names(name: str) -> list[str] | None:
    """All shard names of a split GGUF (`x-00001-of-00003.gguf`), or None if not split."""
    base = name.rsplit("/", 1)
    m = _SPLIT_RE.match(base[-1])
    if not m:
        return None
    n = int(m.group("n"))
    if n < 1 or n > 999:
        raise ModelReadError(f"{name}: implausible split count {n}")
    names = [f"{m.group('prefix')}-{i:05d}-of-{n:05d}.gguf" for i in range(1, n + 1)]
    return [base[0] + "/" + x for x in names] if len(base) == 2 else names


def read_gguf(source_or_path, ref: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> ModelSpec:
    """Read a GGUF header (path, URL or ByteSource) into a ModelSpec with exact weight bytes.

    A split GGUF given by any shard reads every shard's header and sums them.
    Raises ModelReadError / HeaderTooLargeError / UnknownQuantizationError / RemoteError subclasses.
    """
    if isinstance(source_or_path, ByteSource):
        src = source_or_path
        with src:
            h = read_gguf_header(src)
        name = getattr(src, "path", None) or getattr(src, "url", None) or src.name
        return header_to_spec([h], ref or name, [name])
    loc = os.fspath(source_or_path)
    remote = loc.startswith(("http://", "https://"))
    shards = split_names(loc.split("?")[0] if remote else loc) or [loc]
    if remote and len(shards) > 1 and "?" in loc:
        shards = [s + "?" + loc.split("?", 1)[1] for s in shards]
    headers = []
    budget = max_bytes
    for s in shards:
        src = HTTPRangeSource(s, max_bytes=budget) if remote else LocalSource(s, max_bytes=budget)
        with src:
            headers.append(read_gguf_header(src))
        budget -= src.bytes_read
    if len(headers) > 1:
        n_split = headers[0].metadata.get("split.count")
        if isinstance(n_split, int) and n_split != len(headers):
            raise ModelReadError(f"{shards[0]}: split.count says {n_split} shards, file names say {len(headers)}")
    return header_to_spec(headers, ref or loc, shards)


def read_gguf_url(url: str, ref: str | None = None, headers: dict | None = None,
                  max_bytes: int = DEFAULT_MAX_BYTES, timeout: float | None = None) -> ModelSpec:
    """Read a remote GGUF header with HTTP Range requests (split files: every shard)."""
    if headers is None:
        return read_gguf(url, ref=ref, max_bytes=max_bytes)
    shards = split_names(url) or [url]
    hs = []
    for s in shards:
        with HTTPRangeSource(s, headers=headers, timeout=timeout, max_bytes=max_bytes) as src:
            hs.append(read_gguf_header(src))
    return header_to_spec(hs, ref or url, shards)
