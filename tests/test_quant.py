"""Quantization facts: names, type sizes, llama.cpp mixes checked against llama.cpp's real quantizer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from fixtures.models.gen import make_gguf

from llmfit_core.errors import UnknownQuantizationError
from llmfit_core.quant import (
    MixContext,
    apply_quant,
    base_file_type,
    bits_per_weight,
    llamacpp_tensor_types,
    normalize_quant,
    quant_fact,
    tensor_nbytes,
)
from llmfit_core.readers.gguf import read_gguf
from llmfit_core.tensor_layout import Layout, gguf_float_type, layout_tensors, tensor_group


@pytest.mark.parametrize("raw,canon", [
    ("q4_k_m", "Q4_K_M"), ("Q4KM", "Q4_K_M"), ("4bit", "Q4_K_M"), ("int4", "Q4_K_M"), ("int8", "Q8_0"),
    ("fp16", "F16"), ("float32", "F32"), ("bf16", "BF16"), ("iq4_xs", "IQ4_XS"), ("mxfp4", "MXFP4_MOE"),
    ("MLX-4bit", "MLX-4bit"), ("mlx_8bit", "MLX-8bit"), ("gptq-4bit", "GPTQ-4bit"), ("nf4", "BNB-4bit"),
    ("UD-Q4_K_XL", "UD-Q4_K_XL"), ("ud-q2_k_xl", "UD-Q2_K_XL"), ("GGUF-Q8_0", "Q8_0"), ("tq1_0", "TQ1_0"),
])
def test_normalize(raw, canon):
    assert normalize_quant(raw) == canon


@pytest.mark.parametrize("bad", ["", "Q9_K", "int7", "mlx-7bit", "x" * 200, "Q4_K_Z"])
def test_normalize_rejects(bad):
    with pytest.raises(UnknownQuantizationError):
        normalize_quant(bad)


def test_sizes_from_gguf_constants():
    assert bits_per_weight("Q4_K") == 4.5 and bits_per_weight("Q6_K") == 6.5625 and bits_per_weight("Q8_0") == 8.5
    assert tensor_nbytes("Q4_0", (4096, 11008)) == 11008 * 4096 // 32 * 18
    assert tensor_nbytes("F32", (7,)) == 28
    assert base_file_type("UD-Q4_K_XL") == "Q4_K_M"
    assert quant_fact("MLX-4bit").bits == 4.5  # 4 bits + fp16 scale and bias per 64
    with pytest.raises(UnknownQuantizationError):
        tensor_nbytes("Q9_9", (32,))


def test_tensor_groups():
    assert [tensor_group(n) for n in ("token_embd.weight", "output.weight", "output_norm.weight",
                                      "blk.3.attn_k.weight", "blk.3.ffn_down_exps.weight", "blk.0.ffn_up.weight",
                                      "blk.0.attn_norm.weight", "rope_freqs.weight")] == [
        "token_embd", "output", "norm", "attn", "ffn_experts", "ffn", "norm", "other"]


def _llama_tensors(n_layers, hidden=4096, kv=1024, ff=14336, vocab=128256, tied=False):
    lay = Layout(n_layers=n_layers, hidden=hidden, vocab=vocab, n_heads=hidden // 128, n_kv_heads=kv // 128, head_dim=128,
                 ffn=ff, tied=tied)
    return [(name, dims, gguf_float_type(name, dims, "BF16")) for name, dims in layout_tensors(lay)]


def test_q4_k_m_mix_llama_8b_shape():
    """Llama-3.1-8B Q4_K_M: attn_v/ffn_down Q6_K on use_more_bits layers, output Q6_K, rest Q4_K, norms F32."""
    ts = _llama_tensors(32)
    types = dict(zip([t[0] for t in ts], llamacpp_tensor_types(ts, "Q4_K_M", MixContext(n_layers=32, n_gqa=4))))
    six = [i for i in range(32) if types[f"blk.{i}.attn_v.weight"].name == "Q6_K"]
    assert six == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert [i for i in range(32) if types[f"blk.{i}.ffn_down.weight"].name == "Q6_K"] == six
    assert types["output.weight"].name == "Q6_K" and types["token_embd.weight"].name == "Q4_K"
    assert types["blk.5.attn_q.weight"].name == "Q4_K" and types["blk.5.attn_norm.weight"].name == "F32"
    total = sum(tensor_nbytes(types[n], s) for n, s, _ in ts)
    # published Llama-3.1-8B-Instruct-Q4_K_M.gguf: 4,920,739,232 bytes including its header (a few MB)
    assert abs(total / 4.915e9 - 1) < 0.01
    # tied embeddings: token_embd takes the output type
    tied = _llama_tensors(4, tied=True)
    ty = llamacpp_tensor_types(tied, "Q4_0", MixContext(n_layers=4))
    assert ty[0].name == "Q6_K"


def test_apply_quant_other_families(tmp_path):
    spec = read_gguf(make_gguf(tmp_path / "a.gguf", n_layers=2))
    mlx = apply_quant(spec, "MLX-4bit")
    lin = sum(int(__import__("math").prod(s)) for n, s, _ in spec.tensors if len(s) == 2)
    norms = sum(tensor_nbytes(t, s) for n, s, t in spec.tensors if len(s) == 1)
    assert mlx.weight_bytes == pytest.approx(lin * 4.5 / 8 + norms, rel=1e-6)
    assert mlx.quant == "MLX-4bit" and mlx.format == "mlx" and not mlx.exact
    assert any("MLX-4bit" in n for n in mlx.notes)
    assert sum(mlx.group_bytes.values()) == mlx.weight_bytes
    gptq = apply_quant(spec, "gptq-4bit")  # embeddings and lm_head stay 16-bit
    assert gptq.group_bytes["token_embd"] == spec.group_bytes["token_embd"]
    f16 = apply_quant(spec, "f16")
    assert f16.weight_bytes == spec.weight_bytes


_QUANTIZE = textwrap.dedent("""
    import ctypes, sys, llama_cpp
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = int(sys.argv[3]); p.nthread = 1
    sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)))
""")


@pytest.mark.slow
@pytest.mark.parametrize("quant,ftype,experts", [("Q4_K_M", 15, 0), ("Q8_0", 7, 0), ("Q4_0", 2, 0), ("Q4_K_M", 15, 8)])
def test_apply_quant_matches_llama_cpp_quantizer(tmp_path, quant, ftype, experts):
    pytest.importorskip("llama_cpp")
    src = make_gguf(tmp_path / "f16.gguf", n_layers=8, hidden=256, heads=8, kv=2, ff=512 if not experts else 256,
                    vocab=256, experts=experts, experts_used=2 if experts else 0)
    out = tmp_path / f"{quant}.gguf"
    r = subprocess.run([sys.executable, "-c", _QUANTIZE, str(src), str(out), str(ftype)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    real = read_gguf(out)
    assert real.quant == quant
    predicted = apply_quant(read_gguf(src), quant)
    assert predicted.weight_bytes == pytest.approx(real.weight_bytes, rel=0.01)
    # and tensor by tensor: the same ggml types
    assert {n: t for n, _, t in real.tensors} == {
        n: t for (n, _, _), t in zip(read_gguf(src).tensors, _types(read_gguf(src), quant))}
    assert predicted.group_bytes == real.group_bytes and predicted.layer_bytes == real.layer_bytes
    assert real.metadata["gguf.mix_differences"] == 0


def test_apply_quant_without_tensor_list():
    """Catalog/Ollama specs carry only architecture fields: the layout is rebuilt from them."""
    from llmfit_core.model_spec import ModelSpec
    spec = ModelSpec(ref="x", arch="llama", params=8_030_261_248, active_params=8_030_261_248, n_layers=32,
                     hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, vocab_size=128256,
                     max_context=131072, ffn_size=14336)
    q = apply_quant(spec, "Q4_K_M")
    assert q.weight_bytes == pytest.approx(4.913e9, rel=0.01) and q.group_bytes["output"] == 128256 * 4096 // 256 * 210
    assert any("rebuilt" in n for n in q.notes)


def _types(spec, quant):
    from llmfit_core.quant import _mix_context
    return [t.name for t in llamacpp_tensor_types(spec.tensors, quant, _mix_context(spec))]


def test_mix_summaries():
    from llmfit_core.quant import describe_mix, typical_bits_per_weight
    mix = describe_mix("Q4_K_M")
    assert mix["attn_v"] == {"Q6_K": 16, "Q4_K": 16} and mix["output"] == {"Q6_K": 1} and mix["norm"] == {"F32": 65}
    assert describe_mix("Q8_0")["output"] == {"Q8_0": 1}
    assert describe_mix("Q4_K_M", n_experts=8)["attn_v"] == {"Q8_0": 32}  # llama.cpp's 8-expert rule
    # llama.cpp reports 4.89 BPW when it quantizes Llama-3-8B to Q4_K_M
    assert typical_bits_per_weight("Q4_K_M") == pytest.approx(4.89, abs=0.01)
    assert typical_bits_per_weight("q8_0") == pytest.approx(8.50, abs=0.01)


# ---------------------------------------------------------------- one name normaliser for every path

# name -> (canonical name or None when unknown, throughput kernel family, bits per weight, base ggml type)
NAME_TABLE = [
    ("q4_k_m", "Q4_K_M", "kquant", 4.5, "Q4_K"),
    ("Q4_K_M", "Q4_K_M", "kquant", 4.5, "Q4_K"),
    ("  Q4KM ", "Q4_K_M", "kquant", 4.5, "Q4_K"),
    ("GGUF-Q4_K_M", "Q4_K_M", "kquant", 4.5, "Q4_K"),
    ("4bit", "Q4_K_M", "kquant", 4.5, "Q4_K"),
    ("UD-Q4_K_XL", "UD-Q4_K_XL", "kquant", 4.5, "Q4_K"),
    ("Q3_K_S", "Q3_K_S", "kquant", 3.4375, "Q3_K"),
    ("mostly_q8_0", "Q8_0", "legacy", 8.5, "Q8_0"),
    ("MOSTLY_Q4_K_M", "Q4_K_M", "kquant", 4.5, "Q4_K"),
    ("Q4_0", "Q4_0", "legacy", 4.5, "Q4_0"),
    ("Q4_0_4_4", "Q4_0", "legacy", 4.5, "Q4_0"),  # old ARM repack of Q4_0: same bytes
    ("Q5_0", "Q5_0", "legacy", 5.5, "Q5_0"),
    ("IQ4_NL", "IQ4_NL", "legacy", 4.5, "IQ4_NL"),
    ("IQ4_XS", "IQ4_XS", "iq", 4.25, "IQ4_XS"),
    ("IQ3_M", "IQ3_M", "iq", 3.4375, "IQ3_S"),  # llama.cpp's default type of the IQ3_M mix
    ("TQ1_0", "TQ1_0", "iq", 1.6875, "TQ1_0"),
    ("MXFP4_MOE", "MXFP4_MOE", "fp4", 4.25, "MXFP4"),
    ("mxfp4", "MXFP4_MOE", "fp4", 4.25, "MXFP4"),
    ("BF16", "BF16", "float", 16.0, "BF16"),
    ("fp16", "F16", "float", 16.0, "F16"),
    ("bfloat16", "BF16", "float", 16.0, "BF16"),
    ("F32", "F32", "float", 32.0, "F32"),
    ("MLX 4bit", "MLX-4bit", "mlx", 4.5, None),
    ("MLX-4BIT", "MLX-4bit", "mlx", 4.5, None),
    ("MLX-6BIT", "MLX-6bit", "mlx", 6.5, None),
    ("MLX-4bit-g32", "MLX-4bit-g32", "mlx", 5.0, None),
    ("MLX-16BIT", "MLX-16bit", "mlx", 16.0, None),  # unquantized MLX weights: no group scales
    ("GPTQ-4bit", "GPTQ-4bit", "other", 4.15625, None),
    ("BNB-4bit", "BNB-4bit", "other", pytest.approx(4.1270, abs=1e-4), None),
    ("FP8", "FP8", "other", 8.0, None),
    # unknown or hostile: rejected by normalize_quant, "other" / no bits on the throughput side
    ("unspecified", None, "other", None, None),
    ("", None, "other", None, None),
    (None, None, "other", None, None),
    ("MLX", None, "other", None, None),
    ("MLX-58bit", None, "other", None, None),
    ("AutoRound-4bit", "GPTQ-4bit", "other", 4.15625, None),  # Intel AutoRound exports pack GPTQ's way
    ("Q4_K_M_MOE", None, "other", None, None),
    ("Q8_0-GGUF", None, "other", None, None),
    ("F16; rm -rf /", None, "other", None, None),
    ("Q4_K_M\x00", None, "other", None, None),
    ("x" * 200, None, "other", None, None),
]


@pytest.mark.parametrize("name,canon,family,bits,base", NAME_TABLE)
def test_one_normaliser_for_every_path(name, canon, family, bits, base):
    """quant.py (readers, resolve, catalog, fit) and the throughput model give the same answer for a name."""
    from llmfit_core.model_spec import ModelSpec
    from llmfit_core.quant import quant_fact_or_none
    from llmfit_core.throughput.calibration import family_of
    from llmfit_core.throughput.quantfamily import quant_family
    from llmfit_core.throughput.roofline import model_figures

    fact = quant_fact_or_none(name)
    if canon is None:
        assert fact is None
        with pytest.raises(UnknownQuantizationError):
            normalize_quant(name)
    else:
        assert normalize_quant(name) == canon and fact.name == canon
        assert (fact.bits, fact.default_type) == (bits, base)
        assert quant_fact(name) == fact
    assert quant_family(name) == family_of(name) == family
    # the roofline's figures of a spec without stored bytes: bits from the same fact, 16 when unknown
    spec = ModelSpec(ref="x", arch="llama", params=10**9, active_params=10**9, n_layers=16, hidden_size=2048, n_heads=16,
                     n_kv_heads=8, head_dim=128, vocab_size=32000, max_context=4096, quant=name)
    mf = model_figures(spec)
    assert mf.quant_family == family
    assert mf.bits_per_weight == (16.0 if bits is None else bits)
    assert any("unknown" in n for n in mf.notes) == (bits is None)


@pytest.mark.parametrize("label,canonical", [
    ("GPTQ-Int4", "GPTQ-4bit"), ("GPTQ-Int8", "GPTQ-8bit"), ("gptq_int2", "GPTQ-2bit"), ("AWQ-Int4", "AWQ-4bit"),
    ("AutoRound-4bit", "GPTQ-4bit"), ("AutoRound-8bit", "GPTQ-8bit"), ("autoround-w4a16", "GPTQ-4bit"),
])
def test_vendor_labels_of_gptq_style_exports(label, canonical):
    """Qwen's GPTQ-IntN and Intel AutoRound labels (the catalog has 211 such entries) size as GPTQ, not as Q4_K_M."""
    assert normalize_quant(label) == canonical
    assert quant_fact(label).bits == quant_fact(canonical).bits


@pytest.mark.parametrize("label", ["GPTQ-Int5", "AutoRound-5bit", "AutoRound-0bit", "GPTQ-Int44"])
def test_impossible_vendor_labels_are_unknown(label):
    with pytest.raises(UnknownQuantizationError):
        normalize_quant(label)
