"""safetensors headers (local, sharded, remote), local model paths, hostile headers."""

from __future__ import annotations

import json
import struct

import pytest
from fixtures.models.gen import hf_llama_tensors, llama_hf_config, make_gguf, write_safetensors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmfit_core.errors import HeaderTooLargeError, LlmfitError, ModelReadError
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.readers.local import read_local
from llmfit_core.readers.safetensors import read_safetensors, read_safetensors_model
from llmfit_core.readers.source import MemorySource


def _model_dir(tmp_path, cfg, shards=1, mlx_bits=None):
    tensors = hf_llama_tensors(cfg, mlx_bits=mlx_bits)
    names = list(tensors)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    if shards == 1:
        write_safetensors(tmp_path / "model.safetensors", tensors)
    else:
        wm = {}
        per = -(-len(names) // shards)
        for k in range(shards):
            fn = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[k * per:(k + 1) * per]}
            write_safetensors(tmp_path / fn, part)
            wm.update({n: fn for n in part})
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": wm}))
    return tensors


def test_exact_bytes_and_params(tmp_path):
    cfg = llama_hf_config()
    tensors = _model_dir(tmp_path, cfg)
    spec = read_local(tmp_path)
    assert spec.source == "safetensors-header" and spec.exact and spec.quant == "BF16"
    n = sum(__import__("math").prod(s) for _, s in tensors.values())
    assert spec.params == n and spec.weight_bytes == 2 * n
    assert spec.group_bytes["token_embd"] == spec.group_bytes["output"] == 512 * 256 * 2
    assert spec.layer_bytes[0] == spec.layer_bytes[1] > 0
    assert sum(spec.group_bytes.values()) == spec.weight_bytes
    # the config-only estimate agrees with the headers for a plain checkpoint
    assert spec_from_config(cfg, "c").weight_bytes == spec.weight_bytes
    assert spec.metadata["safetensors.header_bytes_read"] < 4096


def test_sharded_index(tmp_path):
    cfg = llama_hf_config()
    _model_dir(tmp_path, cfg, shards=3)
    spec = read_safetensors_model(tmp_path)
    single = tmp_path / "single"
    single.mkdir()
    _model_dir(single, cfg)
    assert len(spec.files) == 3 and spec.weight_bytes == read_local(single).weight_bytes
    assert read_local(tmp_path / "model.safetensors.index.json").weight_bytes == spec.weight_bytes


def test_mlx_packed_weights(tmp_path):
    cfg = llama_hf_config(quantization={"group_size": 64, "bits": 4})
    _model_dir(tmp_path, cfg, mlx_bits=4)
    spec = read_local(tmp_path / "config.json")
    assert spec.quant == "MLX-4bit" and spec.format == "mlx" and spec.exact
    assert spec.params == spec_from_config(llama_hf_config(), "x").params  # from config, not packed U32 counts
    assert spec.weight_bytes == spec_from_config(cfg, "c").weight_bytes  # our MLX formula = the real layout


def test_read_local_forms(tmp_path):
    g = make_gguf(tmp_path / "m-Q8_0.gguf", n_layers=1)
    assert read_local(g).format == "gguf"
    assert read_local(tmp_path).files == [str(g)]  # a directory holding one GGUF
    make_gguf(tmp_path / "m-F16.gguf", n_layers=1)
    with pytest.raises(ModelReadError, match="several GGUF"):
        read_local(tmp_path)
    assert read_local(tmp_path, quant="q8_0").files == [str(g)]
    cfg_only = tmp_path / "cfg"
    cfg_only.mkdir()
    (cfg_only / "config.json").write_text(json.dumps(llama_hf_config()))
    spec = read_local(cfg_only)
    assert spec.source == "config" and not spec.exact
    with pytest.raises(ModelReadError, match="no such file"):
        read_local(tmp_path / "nope")
    (tmp_path / "x.bin").write_bytes(b"hello")
    with pytest.raises(ModelReadError, match="not a model file"):
        read_local(tmp_path / "x.bin")
    (cfg_only / "config.json").write_text("{broken")
    with pytest.raises(ModelReadError, match="invalid JSON"):
        read_local(cfg_only)


def test_hostile_headers():
    with pytest.raises(HeaderTooLargeError):
        read_safetensors(MemorySource(struct.pack("<Q", 1 << 40) + b"{}"))
    with pytest.raises(ModelReadError, match="truncated"):
        read_safetensors(MemorySource(struct.pack("<Q", 1000) + b"{}"))
    with pytest.raises(ModelReadError, match="not JSON"):
        read_safetensors(MemorySource(struct.pack("<Q", 4) + b"abcd"))
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 15]}}).encode()
    with pytest.raises(ModelReadError, match="needs 16"):
        read_safetensors(MemorySource(struct.pack("<Q", len(hdr)) + hdr + bytes(16)))
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    with pytest.raises(ModelReadError, match="truncated"):
        read_safetensors(MemorySource(struct.pack("<Q", len(hdr)) + hdr + bytes(8)))
    assert read_safetensors(MemorySource(struct.pack("<Q", len(hdr)) + hdr + bytes(16))).tensors[0].nbytes == 16


def test_remote_shards(httpserver, tmp_path):
    cfg = llama_hf_config()
    _model_dir(tmp_path, cfg, shards=2)
    urls = []
    for p in sorted(tmp_path.glob("*.safetensors")):
        data = p.read_bytes()
        httpserver.expect_request("/" + p.name).respond_with_data(data[:70000], status=206, headers={
            "Content-Range": f"bytes 0-{min(len(data), 70000) - 1}/{len(data)}"})
        urls.append(httpserver.url_for("/" + p.name))
    spec = read_safetensors_model(urls, cfg)
    assert spec.weight_bytes == read_local(tmp_path).weight_bytes


@pytest.fixture(scope="module")
def small_st(tmp_path_factory):
    p = tmp_path_factory.mktemp("st") / "m.safetensors"
    write_safetensors(p, hf_llama_tensors(llama_hf_config(hidden=64, layers=1, ff=64, vocab=32)))
    return p.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_headers_never_crash(small_st, data):
    blob = bytearray(small_st)
    n = int.from_bytes(small_st[:8], "little")
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, 8 + n - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    src = MemorySource(bytes(blob), "m.safetensors", max_bytes=32 * 1024)
    try:
        h = read_safetensors(src)
        assert all(t.nbytes >= 0 for t in h.tensors)
    except LlmfitError:
        pass
    assert src.bytes_read <= 32 * 1024


def test_vision_tower_kept_apart(tmp_path):
    cfg = llama_hf_config()
    tensors = hf_llama_tensors(cfg)
    plain = tmp_path / "plain"
    plain.mkdir()
    _model_dir(plain, cfg)
    tensors["vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight"] = ("BF16", (64, 64))
    write_safetensors(tmp_path / "model.safetensors", tensors)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    spec, ref = read_local(tmp_path), read_local(plain)
    assert spec.params == ref.params and spec.layer_bytes == ref.layer_bytes
    assert spec.weight_bytes == ref.weight_bytes + 64 * 64 * 2 and spec.group_bytes["other"] == 64 * 64 * 2
    assert any("mmproj" in n for n in spec.notes)
