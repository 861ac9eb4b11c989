"""Synthetic GGUF writer: files carry the shapes, vocabulary and types we asked for."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from llmfit_core.errors import LlmfitError
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.synth import (
    SHAPES,
    finish_sparse_gguf,
    header_gguf_writer,
    shape_params,
    shape_spec,
    shape_tensors,
    write_synthetic_gguf,
)


def _field(reader, key):
    f = reader.fields[key]
    return f.contents()


@pytest.mark.parametrize("name", ["llama-tiny", "gemma2-tiny", "qwen3moe-tiny", "qwen2-tiny"])
def test_f16_file_matches_shape(tmp_path, name):
    path = write_synthetic_gguf(tmp_path / f"{name}.gguf", name)
    r = gguf.GGUFReader(path)
    s = SHAPES[name]
    assert _field(r, "general.architecture") == s.arch
    assert _field(r, f"{s.arch}.block_count") == s.n_layers
    assert _field(r, f"{s.arch}.attention.head_count_kv") == s.n_kv_heads
    tokens = _field(r, "tokenizer.ggml.tokens")
    assert len(tokens) == s.vocab and "<0x41>" in tokens
    got = {t.name: (tuple(int(x) for x in t.shape), t.tensor_type.name) for t in r.tensors}
    want = shape_tensors(s)
    assert [n for n, _ in want] == [t.name for t in r.tensors]
    for n, ne in want:
        assert got[n][0] == ne
        # convert_hf_to_gguf keeps 1-D tensors and the MoE router (ffn_gate_inp) in F32
        assert got[n][1] == ("F32" if len(ne) == 1 or n.endswith("ffn_gate_inp.weight") else "F16")
    assert sum(int(t.n_bytes) for t in r.tensors) == shape_spec(name).weight_bytes
    assert sum(int(np.prod(t.shape)) for t in r.tensors) == shape_params(name)
    if s.sliding_window:
        assert _field(r, f"{s.arch}.attention.sliding_window") == s.sliding_window
    if s.n_experts:
        assert _field(r, f"{s.arch}.expert_count") == s.n_experts


def test_weights_are_random_not_constant(tmp_path):
    path = write_synthetic_gguf(tmp_path / "a.gguf", "llama-tiny", seed=1)
    r = gguf.GGUFReader(path)
    q = next(t for t in r.tensors if t.name == "blk.0.attn_q.weight")
    data = np.asarray(q.data, dtype=np.float32)
    assert 0.005 < float(data.std()) < 0.1


def test_shape_spec_moe_active_params():
    spec = shape_spec("qwen3moe-tiny")
    s = SHAPES["qwen3moe-tiny"]
    per_expert = 3 * s.n_embd * s.expert_ff
    assert spec.params - spec.active_params == s.n_layers * per_expert * (s.n_experts - s.n_experts_used)
    assert spec.swa_layers is None
    assert shape_spec("gemma2-tiny").swa_layers == [True, False, True, False]


def test_real_scale_shape_counts():
    # Llama-3.2-3B has 3.21 B parameters (tied embeddings), Qwen2.5-0.5B 0.49 B
    assert abs(shape_params("llama-3b") / 3.2128e9 - 1) < 0.005
    assert abs(shape_params("qwen2-0.5b") / 0.494e9 - 1) < 0.01


def test_unknown_shape_and_quant(tmp_path):
    with pytest.raises(LlmfitError, match="unknown synthetic shape"):
        write_synthetic_gguf(tmp_path / "x.gguf", "llama-999b")
    with pytest.raises(LlmfitError, match="cannot quantize"):
        write_synthetic_gguf(tmp_path / "x.gguf", "llama-tiny", quant="Q3_XYZ")
    with pytest.raises(LlmfitError, match="at least 259"):
        write_synthetic_gguf(tmp_path / "x.gguf", "llama-tiny", vocab=100)


@pytest.mark.slow
def test_quantized_with_llama_cpp(tmp_path):
    path = write_synthetic_gguf(tmp_path / "q.gguf", "llama-tiny", quant="Q8_0")
    r = gguf.GGUFReader(path)
    types = {t.name: t.tensor_type.name for t in r.tensors}
    assert types["blk.0.ffn_up.weight"] == "Q8_0"
    assert types["blk.0.attn_norm.weight"] == "F32"
    assert not (tmp_path / "q.gguf.f16.tmp").exists()


@pytest.mark.parametrize("quant, ffn_type", [("IQ4_XS", "IQ4_XS"), ("Q4_1", "Q4_1"), ("Q3_K_L", "Q3_K")])
def test_quantizer_types_without_imatrix(tmp_path, quant, ffn_type):
    # file types llama.cpp makes without an importance matrix: calibration runs can cover the IQ and legacy kernels
    pytest.importorskip("llama_cpp")
    path = write_synthetic_gguf(tmp_path / f"{quant}.gguf", "llama-tiny", quant=quant)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}
    assert types["blk.0.ffn_gate.weight"] == ffn_type


# Qwen3-30B-A3B's config.json: an MoE model whose head_dim is not n_embd / n_head
QWEN3_30B_A3B_CONFIG = dict(model_type="qwen3_moe", hidden_size=2048, num_hidden_layers=48, num_attention_heads=32,
                            num_key_value_heads=4, head_dim=128, intermediate_size=6144, moe_intermediate_size=768,
                            num_experts=128, num_experts_per_tok=8, vocab_size=151936, max_position_embeddings=40960)


def _qwen3_30b_header(tmp_path):
    """(spec, path, writer, tensors) of a header-only Q4_K_M GGUF of Qwen3-30B-A3B, keys not yet written."""
    spec = spec_from_config(QWEN3_30B_A3B_CONFIG, "Qwen3-30B-A3B")
    path = tmp_path / "Qwen3-30B-A3B-Q4_K_M.gguf"
    writer, tensors = header_gguf_writer(path, spec, "Q4_K_M")
    return spec, path, writer, tensors


def test_header_writer_keeps_moe_and_head_dim_keys(tmp_path):
    """A header-only GGUF of an MoE model whose head_dim is not n_embd / n_head (Qwen3-30B-A3B) reads back as the
    same model: without expert_used_count it read as a dense 30B (decode 7x too slow), without key_length its KV
    cache was half size."""
    spec, path, writer, tensors = _qwen3_30b_header(tmp_path)
    finish_sparse_gguf(writer, path, tensors)
    back = read_gguf(path)
    assert (back.n_experts, back.n_experts_used, back.expert_ffn_size) == (128, 8, 768)
    assert back.head_dim == 128
    assert back.active_params < back.params / 8


@pytest.mark.parametrize("drop, n_used", [(("expert_used_count",), 8), (("expert_count", "expert_used_count"), 8)])
def test_moe_header_without_expert_counts_is_read_as_moe_with_a_warning(tmp_path, drop, n_used):
    """A real MoE GGUF that lacks expert_used_count (or expert_count too) is one llama.cpp refuses to load: it must
    not read as a dense or one-expert model, and the reasons must say llama.cpp will not load it."""
    spec, path, writer, tensors = _qwen3_30b_header(tmp_path)
    for key in drop:
        del writer.kv_data[0][f"{spec.arch}.{key}"]
    finish_sparse_gguf(writer, path, tensors)
    back = read_gguf(path)
    assert (back.n_experts, back.n_experts_used) == (128, n_used)
    assert back.active_params < back.params / 8
    assert "will not load" in back.load_error and "expert_used_count" in back.load_error
    assert back.notes[0] == back.load_error
    assert ("expert_count missing" in " ".join(back.notes)) == ("expert_count" in drop)


def test_check_of_an_moe_file_llama_cpp_will_not_load_exits_1(tmp_path):
    """`check` is the scripts' gate: a file whose memory fits but which llama.cpp refuses must not exit 0."""
    from click.testing import CliRunner

    from llmfit_core.cli.main import cli

    config = dict(model_type="qwen3_moe", hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                  num_key_value_heads=2, head_dim=64, intermediate_size=1024, moe_intermediate_size=256,
                  num_experts=16, num_experts_per_tok=4, vocab_size=32000, max_position_embeddings=4096)
    spec = spec_from_config(config, "tiny-moe")
    path = tmp_path / "tiny-moe-Q4_K_M.gguf"
    writer, tensors = header_gguf_writer(path, spec, "Q4_K_M")
    del writer.kv_data[0][f"{spec.arch}.expert_used_count"]
    finish_sparse_gguf(writer, path, tensors)
    result = CliRunner().invoke(cli, ["check", str(path), "--backend", "llama.cpp-cpu"])
    assert result.exit_code == 1, result.output
    assert "will not load" in result.stderr and result.stdout == ""
    fit = CliRunner().invoke(cli, ["fit", str(path), "--backend", "llama.cpp-cpu"])
    assert fit.exit_code == 0 and "will not load" in fit.stdout
