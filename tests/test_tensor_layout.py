"""llmfit_core.tensor_layout: one home for llama.cpp's tensor layout, built on gguf-py's tensor tables, shared by
the config reader, the quantization mix of models without tensor infos, the synthetic writer and the test fakes."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import gguf
import pytest

from llmfit_core.quant import apply_quant
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.synth import SHAPES, shape_spec, shape_tensors, write_synthetic_gguf
from llmfit_core.tensor_layout import (
    Layout,
    gguf_float_type,
    layout_tensors,
    n_params,
    spec_layout,
    tensor_group,
    tensors_from_spec,
)

CONFIGS = Path(__file__).parent / "fixtures" / "models" / "configs"


def _allowed_names(arch: str) -> set[str]:
    """The tensor names gguf-py's MODEL_TENSORS gives llama.cpp's architecture `arch` (blk.{bid} form)."""
    a = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)
    return {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[a]}


def _unknown_tensors(tensors, arch: str) -> list[str]:
    allowed = _allowed_names(arch)
    return [name for name, *_ in tensors
            if re.sub(r"^blk\.\d+\.", "blk.{bid}.", name.rsplit(".", 1)[0] if name.endswith((".weight", ".bias"))
                      else name) not in allowed]


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.json")), ids=lambda p: p.stem)
def test_config_layouts_use_only_the_tensors_llama_cpp_knows_for_the_architecture(config):
    spec = spec_from_config(json.loads(config.read_text()), config.stem)
    assert spec.tensors and not _unknown_tensors(spec.tensors, spec.arch), _unknown_tensors(spec.tensors, spec.arch)


@pytest.mark.parametrize("shape", sorted(SHAPES), ids=str)
def test_synthetic_layouts_use_only_the_tensors_llama_cpp_knows_for_the_architecture(shape):
    assert not _unknown_tensors(shape_tensors(SHAPES[shape]), SHAPES[shape].arch)


def test_a_model_without_tensor_infos_gets_the_config_readers_layout():
    # quant.apply_quant on a catalog / Ollama spec rebuilds the tensors here, as the config reader builds them
    cfg = json.loads((CONFIGS / "llama-3.1-8b.json").read_text())
    spec = spec_from_config(cfg, "llama")
    assert tensors_from_spec(dataclasses.replace(spec, tensors=[]), dtype="BF16") == spec.tensors
    moe = spec_from_config(json.loads((CONFIGS / "mixtral-8x7b.json").read_text()), "mixtral")
    assert tensors_from_spec(dataclasses.replace(moe, tensors=[]), dtype="BF16") == moe.tensors
    bare = dataclasses.replace(spec, tensors=[])
    assert apply_quant(bare, "Q4_K_M").weight_bytes == apply_quant(spec, "Q4_K_M").weight_bytes
    assert spec_layout(dataclasses.replace(spec, hidden_size=0)) is None


@pytest.mark.parametrize("shape", ["llama-tiny", "qwen2-tiny", "qwen3moe-tiny", "lfm2-tiny", "mamba2-tiny"])
def test_a_synthetic_shape_spec_is_what_the_gguf_reader_reads_from_its_file(tmp_path, shape):
    path = write_synthetic_gguf(tmp_path / f"{shape}.gguf", shape)
    want, got = shape_spec(shape), read_gguf(str(path))
    assert (want.weight_bytes, want.params) == (got.weight_bytes, got.params)
    assert want.group_bytes == got.group_bytes and want.layer_bytes == got.layer_bytes


def test_convert_keeps_norms_routers_and_convolutions_in_f32():
    # convert_hf_to_gguf.py (conversion/base.py): 1-D, *_norm, FFN_GATE_INP, SSM_CONV1D, ... are F32
    assert gguf_float_type("blk.0.ffn_gate_inp.weight", (256, 8)) == "F32"
    assert gguf_float_type("blk.0.ssm_conv1d.weight", (4, 512)) == "F32"
    assert gguf_float_type("blk.0.attn_q.bias", (256,)) == "F32"
    assert gguf_float_type("blk.0.ssm_a", (1, 8)) == "F32"
    assert gguf_float_type("blk.0.ffn_up_exps.weight", (256, 64, 8), "BF16") == "BF16"


def test_layout_facts():
    lay = Layout(n_layers=2, hidden=64, vocab=100, n_heads=4, n_kv_heads=2, head_dim=16, ffn=128, tied=True)
    ts = layout_tensors(lay)
    assert [n for n, _ in ts[:6]] == ["token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
                                      "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight"]
    assert ts[-1][0] == "output_norm.weight" and n_params(ts) == 100 * 64 + 2 * (64 * (64 + 32 + 32 + 64 + 3 * 128) + 128) + 64
    assert {tensor_group(n) for n, _ in ts} == {"token_embd", "norm", "attn", "ffn"}


def test_the_layout_and_the_readers_do_not_import_gguf():
    code = ("import sys; import llmfit_core.tensor_layout, llmfit_core.readers.hf_config, llmfit_core.quant; "
            "print(sorted(m for m in ('gguf', 'numpy', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
