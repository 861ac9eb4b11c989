"""GGUF header reader: exact round trip against gguf's own reader, architectures, hostile files."""

from __future__ import annotations

import struct

import gguf
import numpy as np
import pytest
from fixtures.models.gen import make_gguf, make_gguf_header_only
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmfit_core.errors import HeaderTooLargeError, LlmfitError, ModelReadError, UnknownQuantizationError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import tensor_nbytes
from llmfit_core.readers.gguf import read_gguf, split_names
from llmfit_core.readers.gguf_header import JUMP_MIN, read_gguf_header
from llmfit_core.readers.source import LocalSource, MemorySource
from llmfit_core.tensor_layout import Layout, layout_tensors


@pytest.fixture(scope="module")
def llama_file(tmp_path_factory):
    return make_gguf(tmp_path_factory.mktemp("g") / "tiny-llama.gguf")


def test_round_trip_matches_gguf_reader(llama_file):
    spec = read_gguf(llama_file)
    ref = gguf.GGUFReader(llama_file)
    assert spec.params == sum(int(t.n_elements) for t in ref.tensors)
    assert spec.weight_bytes == sum(int(t.n_bytes) for t in ref.tensors)
    # every tensor's exact byte count, padded to the alignment, fills the data section exactly
    sizes = {t.name: int(t.n_bytes) for t in ref.tensors}
    mine = {name: tensor_nbytes(ty, shape) for name, shape, ty in spec.tensors}
    assert mine == sizes
    padded = sum((b + 31) // 32 * 32 for b in sizes.values())
    assert spec.metadata["gguf.tensor_data_bytes"] == padded
    assert spec.metadata["gguf.data_offset"] == ref.data_offset
    assert spec.file_bytes == llama_file.stat().st_size
    assert (spec.arch, spec.n_layers, spec.hidden_size, spec.n_heads, spec.n_kv_heads, spec.head_dim) == (
        "llama", 4, 256, 4, 2, 64)
    assert spec.vocab_size == 512 and spec.max_context == 2048 and spec.ffn_size == 512
    assert spec.quant == "F16" and spec.exact and spec.format == "gguf"
    assert spec.group_bytes["token_embd"] == spec.group_bytes["output"] == 512 * 256 * 2
    assert spec.group_bytes["norm"] == (2 * 4 + 1) * 256 * 4
    assert len(spec.layer_bytes) == 4 and len(set(spec.layer_bytes)) == 1
    assert sum(spec.group_bytes.values()) == spec.weight_bytes
    assert spec.tensor_types == {"F16": 30, "F32": 9}
    assert not spec.tied_embeddings
    assert spec.metadata["tokenizer.ggml.tokens.count"] == 512


def test_moe_active_params(tmp_path):
    spec = read_gguf(make_gguf(tmp_path / "moe.gguf", n_layers=2, experts=4, experts_used=2, ff=128))
    per_expert = 3 * 128 * 256  # gate, up, down of one expert in one layer
    assert spec.n_experts == 4 and spec.n_experts_used == 2 and spec.is_moe
    assert spec.params - spec.active_params == 2 * (4 - 2) * per_expert
    assert spec.group_bytes["ffn_experts"] == 2 * 4 * per_expert * 2


def test_sliding_window_gemma2_pattern_and_tied(tmp_path):
    spec = read_gguf(make_gguf(tmp_path / "g2.gguf", arch="gemma2", n_layers=6, sliding_window=128, tied=True))
    assert spec.sliding_window == 128
    assert spec.swa_layers == [True, False] * 3  # llama.cpp: pattern 2, last of each period is global
    assert spec.tied_embeddings


def test_sliding_window_pattern_key_and_per_layer_kv(tmp_path):
    def extra(w):
        w.add_sliding_window_pattern([True, True, False, True])
    spec = read_gguf(make_gguf(tmp_path / "g3.gguf", arch="gemma3", n_layers=4, sliding_window=64, kv_extra=extra))
    assert spec.swa_layers == [True, True, False, True]
    spec = read_gguf(make_gguf(tmp_path / "g3b.gguf", arch="gemma3", n_layers=12, sliding_window=64))
    assert spec.swa_layers == ([True] * 5 + [False]) * 2


def test_gemma4_head_dims_and_shared_kv_layers(tmp_path):
    """gemma4: key_length is the global layers' head dim, key_length_swa the sliding ones'; head_count_kv per layer;
    the last shared_kv_layers layers keep no KV cache, and their missing K projections do not make it a hybrid."""
    from llmfit_core.synth import write_synthetic_gguf

    spec = read_gguf(write_synthetic_gguf(tmp_path / "g4.gguf", "gemma4-tiny"))
    assert (spec.head_dim, spec.head_dim_v, spec.head_dim_swa, spec.head_dim_v_swa) == (128, None, 64, 64)
    assert spec.swa_layers == [True, True, True, False] * 2
    assert spec.layer_kv_heads == [1, 1, 1, 2] * 2
    assert spec.layer_head_dims() == [(64, 64)] * 3 + [(128, 128)] + [(64, 64)] * 3 + [(128, 128)]
    assert spec.n_kv_shared_layers == 4 and spec.n_kv_layers is None and spec.n_recurrent_layers == 0
    assert [spec.has_own_kv(i) for i in range(8)] == [True] * 4 + [False] * 4
    assert not any(t[0].startswith("blk.5.attn_k") for t in spec.tensors)


def test_kv_shared_layers_per_architecture():
    from llmfit_core.readers.gguf import kv_shared_layers

    assert kv_shared_layers("gemma3n", {"gemma3n.attention.shared_kv_layers": 3}, 35) == 15  # gemma3n.cpp: 20 keep one
    assert kv_shared_layers("gemma4", {"gemma4.attention.shared_kv_layers": 20}, 35) == 20
    assert kv_shared_layers("gemma4", {}, 30) == 0
    assert kv_shared_layers("llama", {"llama.attention.shared_kv_layers": 4}, 32) == 0  # llama.cpp ignores it


def test_split_gguf_summed(tmp_path, llama_file):
    w = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "llama", split_max_tensors=20)
    w.add_block_count(2); w.add_embedding_length(64); w.add_head_count(2); w.add_context_length(128)
    rng = np.random.default_rng(1)
    for i in range(30):
        w.add_tensor(f"blk.{i % 2}.t{i}.weight", rng.standard_normal((4, 64)).astype(np.float16))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    shards = sorted(p.name for p in tmp_path.glob("m-*.gguf"))
    assert shards == ["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"]
    spec = read_gguf(tmp_path / shards[0])
    assert spec.params == 30 * 4 * 64 and spec.weight_bytes == 30 * 4 * 64 * 2
    assert len(spec.files) == 2 and spec.file_bytes == sum((tmp_path / s).stat().st_size for s in shards)
    assert split_names("a/x-00002-of-00003.gguf") == [f"a/x-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert split_names("x.gguf") is None


def test_ud_quant_label_from_name(tmp_path):
    spec = read_gguf(make_gguf(tmp_path / "Qwen3-8B-UD-Q4_K_XL.gguf", n_layers=1))
    assert spec.quant == "UD-Q4_K_XL"


# ---- hostile input ------------------------------------------------------------------------------

def _header(n_tensors, n_kv):
    return struct.pack("<IIQQ", gguf.GGUF_MAGIC, 3, n_tensors, n_kv)


def _str(s: bytes):
    return struct.pack("<Q", len(s)) + s


def test_not_gguf_and_truncated(tmp_path, llama_file):
    with pytest.raises(ModelReadError, match="not a GGUF"):
        read_gguf_header(MemorySource(b"PK\x03\x04" + bytes(100), "x.zip"))
    data = llama_file.read_bytes()
    with pytest.raises(ModelReadError, match="truncated"):
        read_gguf_header(MemorySource(data[:5000], "cut.gguf"))
    with pytest.raises(ModelReadError, match="truncated"):  # header whole, weights cut off
        read_gguf_header(MemorySource(data[: len(data) // 2], "cut.gguf"))
    with pytest.raises(ModelReadError, match="version"):
        read_gguf_header(MemorySource(struct.pack("<II", gguf.GGUF_MAGIC, 7) + bytes(64)))
    with pytest.raises(ModelReadError, match="big-endian"):
        read_gguf_header(MemorySource(struct.pack("<I", gguf.GGUF_MAGIC) + struct.pack(">I", 3) + bytes(64)))


def test_absurd_counts_and_lengths():
    with pytest.raises(HeaderTooLargeError):
        read_gguf_header(MemorySource(_header(1 << 40, 0)))
    with pytest.raises(HeaderTooLargeError):
        read_gguf_header(MemorySource(_header(0, 1 << 40)))
    # a key string claiming 1 TB
    with pytest.raises(HeaderTooLargeError, match="string"):
        read_gguf_header(MemorySource(_header(0, 1) + struct.pack("<Q", 1 << 40) + bytes(64)))
    # an array claiming 2^60 uint32 items
    body = _str(b"k") + struct.pack("<IIQ", 9, 4, 1 << 60)
    with pytest.raises(LlmfitError):
        read_gguf_header(MemorySource(_header(0, 1) + body + bytes(64)))


def test_bad_tensor_infos():
    def one_tensor(n_dims, dims, gtype):
        return (_header(1, 0) + _str(b"w.weight") + struct.pack("<I", n_dims)
                + struct.pack("<" + "Q" * len(dims), *dims) + struct.pack("<IQ", gtype, 0) + bytes(4096))
    with pytest.raises(ModelReadError, match="5 dimensions"):
        read_gguf_header(MemorySource(one_tensor(5, [32] * 5, 0)))
    with pytest.raises(UnknownQuantizationError, match="unknown ggml type 4242"):
        read_gguf_header(MemorySource(one_tensor(1, [32], 4242)))
    with pytest.raises(ModelReadError, match="block size"):  # Q4_0 row of 33 elements
        read_gguf_header(MemorySource(one_tensor(1, [33], 2)))
    assert read_gguf_header(MemorySource(one_tensor(1, [32], 2))).tensors[0].nbytes == 18


def test_byte_cap(llama_file):
    src = LocalSource(llama_file, max_bytes=4000)
    with pytest.raises(HeaderTooLargeError):
        read_gguf_header(src)
    assert src.bytes_read <= 4000
    src = LocalSource(llama_file)
    h = read_gguf_header(src)
    assert src.bytes_read < h.data_offset  # fixed-size arrays were skipped, weights never read


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory):
    path = make_gguf(tmp_path_factory.mktemp("s") / "s.gguf", n_layers=1, hidden=64, heads=2, kv=1, ff=64, vocab=40)
    return path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_headers_never_crash(small_gguf, data):
    blob = bytearray(small_gguf)
    header_end = read_gguf_header(MemorySource(small_gguf)).data_offset
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, header_end - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    cap = 64 * 1024
    src = MemorySource(bytes(blob), "m.gguf", max_bytes=cap)
    try:
        spec = read_gguf(src)
        assert isinstance(spec, ModelSpec)
    except LlmfitError:
        pass
    assert src.bytes_read <= cap


def _k_quant_tensors(n_layers, attn_v="Q4_K"):
    lay = Layout(n_layers=n_layers, hidden=256, vocab=512, n_heads=2, n_kv_heads=1, head_dim=128, ffn=512)
    kinds = {"attn_v": attn_v, "output": "Q6_K"}
    return [(name, dims, "F32" if len(dims) == 1 else kinds.get(name.split(".")[-2 if name.startswith("blk.") else 0], "Q4_K"))
            for name, dims in layout_tensors(lay)]


def test_dynamic_quant_recognised_by_name_and_types(tmp_path):
    kv = {"add_block_count": 8, "add_embedding_length": 256, "add_head_count": 4, "add_head_count_kv": 2}
    # every attn_v/ffn_down left at Q4_K: not llama.cpp's Q4_K_M mix (which raises some to Q6_K)
    p = make_gguf_header_only(tmp_path / "Model-UD-Q4_K_XL.gguf", _k_quant_tensors(8), file_type="MOSTLY_Q4_K_M", kv=kv)
    spec = read_gguf(p)
    assert spec.quant == "UD-Q4_K_XL"
    # llama.cpp gives attn_v and ffn_down of layers 0, 3, 6, 7 (use_more_bits) Q6_K: 8 tensors differ
    assert spec.metadata["gguf.mix_differences"] == 8
    assert any("standard Q4_K_M mix" in n for n in spec.notes)
    assert spec.tensor_types == {"Q4_K": 57, "F32": 17, "Q6_K": 1}


class _SparseMemory(MemorySource):
    sparse = True  # behave like a Range-capable server: the string-array skip is attempted


@pytest.fixture(scope="module")
def skip_gguf(tmp_path_factory):
    def extra(w):
        w.add_token_merges([f"m{i} x{i}" for i in range(9000)])
        w.add_bos_token_id(3)
    p = make_gguf(tmp_path_factory.mktemp("k") / "k.gguf", n_layers=1, hidden=64, heads=2, kv=1, ff=64, vocab=9000,
                  kv_extra=None)
    return p.read_bytes(), make_gguf(p.parent / "k2.gguf", n_layers=1, hidden=64, heads=2, kv=1, ff=64,
                                     vocab=9000, kv_extra=extra).read_bytes()


def test_skip_matches_full_walk(skip_gguf):
    for blob in skip_gguf:
        full = read_gguf_header(MemorySource(blob))
        src = _SparseMemory(blob)
        fast = read_gguf_header(src)
        assert fast.tensors == full.tensors and fast.data_offset == full.data_offset
        # keys between two skipped string arrays may be lost, but nothing read differs
        assert all(full.metadata[k] == v for k, v in fast.metadata.items())
        assert src.bytes_read < full.bytes_read
        assert read_gguf(_SparseMemory(blob)).vocab_size == 9000  # from token_embd when the count was skipped


def _mutated(blobs, data, fewest_changes: int = 1) -> bytes:
    """One of `blobs` with a few header bytes changed, perhaps cut short."""
    blob = bytearray(blobs[data.draw(st.integers(0, len(blobs) - 1))])
    end = read_gguf_header(MemorySource(bytes(blob))).data_offset
    for _ in range(data.draw(st.integers(fewest_changes, 6))):
        blob[data.draw(st.integers(0, end - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    return bytes(blob)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_headers_with_skip_never_crash(skip_gguf, data):
    src = _SparseMemory(_mutated(skip_gguf, data), "m.gguf", max_bytes=512 * 1024)
    try:
        read_gguf(src)
    except LlmfitError:
        pass
    assert src.bytes_read <= 512 * 1024


class _ItemByItemMemory(MemorySource):
    def scan(self, offset, n):
        return None  # like an HTTP source: string arrays are read length by length


def _outcome(src):
    try:
        h = read_gguf_header(src)
        result = (h.metadata, h.array_counts, h.tensors, h.data_offset)
    except LlmfitError as exc:
        result = (type(exc), str(exc))
    return result, src.bytes_read


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_string_arrays_walked_in_blocks_as_item_by_item(skip_gguf, data, monkeypatch):
    """Block walking (local files) finds the same header, errors and byte count as reading each length."""
    import llmfit_core.readers.gguf_header as gguf_reader

    monkeypatch.setattr(gguf_reader, "SCAN_BLOCK", data.draw(st.sampled_from([9, 64, 1000, 1 << 20])))
    blob = _mutated(skip_gguf, data, fewest_changes=0)
    cap = data.draw(st.sampled_from([1000, 40_000, 100_003, 512 * 1024]))
    assert _outcome(MemorySource(blob, "m.gguf", max_bytes=cap)) == _outcome(_ItemByItemMemory(blob, "m.gguf", max_bytes=cap))


def test_local_string_arrays_read_in_blocks_not_per_string(skip_gguf, tmp_path):
    """A 9,000-token tokenizer plus 9,000 merges takes a few reads of a local file, not one per string."""
    path = tmp_path / "k2.gguf"
    path.write_bytes(skip_gguf[1])
    calls = []

    class Counting(LocalSource):
        def scan(self, offset, n):
            calls.append(n)
            return super().scan(offset, n)

    src = Counting(path)
    assert read_gguf_header(src).array_counts["tokenizer.ggml.merges"] == 9000
    assert len(calls) < 100
    assert _outcome(Counting(path)) == _outcome(_ItemByItemMemory(skip_gguf[1], "k2.gguf"))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), alphabet=st.sampled_from(["abc", "a.b_c", "tokenizer.ggml", "xyzĠ▁é"]),
       after=st.lists(st.sampled_from(["bos", "tmpl", "flag", "merges", "types", "scores"]), max_size=5),
       n_layers=st.integers(0, 3))
def test_skip_equals_full_walk_property(tmp_path_factory, seed, alphabet, after, n_layers):
    """Whatever the token text and the keys around the big arrays, the skip finds what the full walk finds."""
    import random
    rng = random.Random(seed)
    vocab = JUMP_MIN + rng.randint(0, 2000)
    toks = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(vocab)]
    path = tmp_path_factory.mktemp("p") / "p.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(n_layers)
    w.add_token_list(toks)
    for a in after:
        {"bos": lambda: w.add_bos_token_id(rng.randint(0, 9)),
         "tmpl": lambda: w.add_chat_template("t" * rng.randint(1, 3000)),
         "flag": lambda: w.add_add_bos_token(True),
         "merges": lambda: w.add_token_merges([t + " " + t for t in toks[:vocab - 5]]),
         "types": lambda: w.add_token_types([1] * vocab),
         "scores": lambda: w.add_token_scores([0.5] * vocab)}[a]()
    for i in range(n_layers):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((4, 32), np.float16))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    blob = path.read_bytes()
    full = read_gguf_header(MemorySource(blob))
    fast = read_gguf_header(_SparseMemory(blob))
    assert fast.tensors == full.tensors and fast.data_offset == full.data_offset
    assert all(full.metadata[k] == v for k, v in fast.metadata.items())
