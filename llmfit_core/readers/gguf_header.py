"""Safe, streaming GGUF (v2/v3) header parser: bytes -> GGUFHeader (metadata + tensor infos), never the weights.

Reads incrementally from a ByteSource (local file or HTTP Range), so a remote multi-GB file costs only about its
header. String arrays (tokens, merges) are walked and counted, never kept; fixed-size arrays are skipped by seeking.
Every count and length is checked against limits and the file size: malformed or hostile bytes give one named
error (ModelReadError, HeaderTooLargeError, UnknownQuantizationError), never a traceback or unbounded memory.
What the header means (architecture, sizes, quantization) is readers.gguf's.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from llmfit_core.errors import HeaderTooLargeError, LlmfitError, ModelReadError, UnknownQuantizationError
from llmfit_core.gguf_constants import (
    GGML_QUANT_SIZES,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGMLQuantizationType,
    GGUFValueType,
)
from llmfit_core.quant import tensor_nbytes
from llmfit_core.readers.source import ByteSource

MAX_KEY_LEN = 64 * 1024
MAX_STRING_LEN = 8 * 1024 * 1024
MAX_KV = 1 << 20
MAX_TENSORS = 1 << 20
MAX_ARRAY = 1 << 32
MAX_DEPTH = 3
MAX_DIMS = 4
KEEP_ARRAY = 64  # numeric arrays up to this many items are read (per-layer values)
KEEP_LAYER_ARRAY = 4096  # per-layer arrays of architecture keys (head_count_kv of a 118-layer hybrid) are read
SCAN_BLOCK = 1 << 20  # string arrays of a local file are walked in blocks of this size

_U64 = struct.Struct("<Q").unpack_from

_SCALAR = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i", GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}


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
            for walked in range(most):  # noqa: B007 (read after the loop) -- the hot loop: one unpack and one comparison per string
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
        t.nbytes  # noqa: B018 -- the property validates block alignment of ne0
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
