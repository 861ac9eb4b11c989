"""Memory estimator: KV cache, compute and output buffers against llama.cpp's own figures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from llmfit_core.errors import LlmfitError, UnknownQuantizationError
from llmfit_core.memory import (
    estimate_memory,
    estimate_totals,
    ggml_row_bytes,
    kv_cells,
    swa_cells,
)
from llmfit_core.synth import shape_spec

MIB = 1024 * 1024
GIB = 1024 * MIB


def test_kv_llama8b_8k_is_one_gib():
    # 32 layers x 8192 cells x (8 heads x 128) x 2 bytes x (K + V) = 1 GiB exactly
    m = estimate_memory(shape_spec("llama-8b"), "cpu", 8192)
    assert m.kv_cache_bytes == GIB
    assert m.kv_layer_bytes == [32 * MIB] * 32
    assert "KV cache at 8k context needs 1.0 GiB (f16)" in m.reasons


def test_context_padding_and_sequences():
    assert kv_cells(1000) == 1024
    assert kv_cells(4096) == 4096
    assert kv_cells(4096, n_seq=3) == 3 * 1536  # per sequence: pad(4096 / 3, 256)
    assert kv_cells(4096, n_seq=3, kv_unified=True) == 4096


def test_sliding_window_cells():
    # llama-kv-cache-iswa.cpp: pad(min(n_ctx, n_swa + n_ubatch), 256)
    assert swa_cells(8192, 256, 512) == 768
    assert swa_cells(2048, 256, 128) == 512
    assert swa_cells(512, 4096, 512) == 512
    assert swa_cells(8192, 256, 512, swa_full=True) == 8192
    spec = shape_spec("gemma2-tiny")  # layers 0, 2 use the window
    m = estimate_memory(spec, "cpu", 8192)
    per_cell = 2 * 128 * 2  # K + V, 2 kv heads x 64, f16
    assert m.kv_layer_bytes == [768 * per_cell, 8192 * per_cell, 768 * per_cell, 8192 * per_cell]
    assert m.n_ctx_swa == 768


def test_quantized_kv_types():
    assert ggml_row_bytes("q8_0", 1024) == 32 * 34
    assert ggml_row_bytes("q4_0", 1024) == 32 * 18
    assert ggml_row_bytes("f16", 1024) == 2048
    spec = shape_spec("llama-8b")
    m = estimate_memory(spec, "cpu", 8192, cache_type_k="q8_0", cache_type_v="q8_0")
    assert m.kv_cache_bytes == GIB * 34 // 64
    with pytest.raises(UnknownQuantizationError):
        estimate_memory(spec, "cpu", 8192, cache_type_k="q9_9")
    with pytest.raises(LlmfitError, match="flash attention"):
        estimate_memory(spec, "cpu", 8192, cache_type_v="q8_0", flash_attn=False)


# Recorded from llama-cpp-python 0.3.36 (CPU): "CPU compute buffer size is N MiB" and the KV buffer,
# for synthetic shapes (see llmfit_core.synth) at n_ubatch 512.
RECORDED = [
    # shape, vocab override, n_ctx, flash_attn, compute bytes, kv bytes
    ("llama-tiny", None, 512, True, 9437184, 1048576),
    ("llama-tiny", None, 512, False, 9961472, 1048576),
    ("llama-tiny", None, 8192, True, 15214838, 16777216),
    ("llama-tiny", None, 8192, False, 87042294, 16777216),
    ("llama-tiny", 32000, 512, True, 66584576, 1048576),
    ("llama-tiny", 32000, 8192, False, 87042294, 16777216),
    ("gemma2-tiny", None, 8192, True, 16011756, 9175040),
    ("gemma2-tiny", None, 8192, False, 89139446, 9175040),
    ("qwen3moe-tiny", None, 8192, True, 13641974, 16777216),
    ("qwen3moe-tiny", None, 512, False, 9961472, 1048576),
    ("qwen2-tiny", None, 8192, True, 15214838, 16777216),
]


@pytest.mark.parametrize("shape,vocab,ctx,fa,compute,kv", RECORDED)
def test_compute_and_kv_match_recorded(shape, vocab, ctx, fa, compute, kv):
    m = estimate_memory(shape_spec(shape, vocab=vocab), "cpu", ctx, flash_attn=fa)
    assert m.kv_cache_bytes == kv
    assert abs(m.compute_bytes - compute) / compute < 0.01


def test_output_buffer_and_batch_clamp():
    spec = shape_spec("llama-tiny", vocab=32000)
    m = estimate_memory(spec, "cpu", 300)
    assert m.output_bytes == 32000 * 4
    assert m.n_ubatch == 300  # n_batch = min(n_ctx, n_batch), n_ubatch = min(n_batch, n_ubatch)
    assert estimate_memory(spec, "cpu", 4096, n_seq=4).output_bytes == 4 * 32000 * 4


def test_backend_overhead_and_totals():
    spec = shape_spec("llama-1b")
    cpu = estimate_memory(spec, "cpu", 4096)
    cuda = estimate_memory(spec, "cuda", 4096)
    assert cuda.overhead_bytes > cpu.overhead_bytes
    assert cpu.total_bytes == cpu.weights_bytes + cpu.kv_cache_bytes + cpu.compute_bytes + cpu.output_bytes + cpu.overhead_bytes
    assert sum(cpu.layer_bytes) + cpu.input_bytes + cpu.output_layer_bytes == cpu.weights_bytes
    assert cpu.repack_bytes == 0  # F16 weights are not repacked


def test_vectorised_matches_scalar():
    names = ["llama-0.1b", "llama-1b", "llama-8b"]
    specs = [shape_spec(n) for n in names]
    ctx = np.array([512, 4096, 32768])
    tot = estimate_totals([s.weight_bytes for s in specs], [s.n_layers for s in specs], [s.n_kv_heads for s in specs],
                          [s.head_dim for s in specs], [s.hidden_size for s in specs], [s.vocab_size for s in specs],
                          [s.ffn_size for s in specs], [s.n_heads for s in specs], ctx)
    for s, c, t in zip(specs, ctx, tot):
        m = estimate_memory(s, "cpu", int(c))
        assert abs(t - m.buffers_bytes) / m.buffers_bytes < 1e-6


def test_mlx_estimate():
    spec = shape_spec("llama-1b")
    m = estimate_memory(spec, "mlx", 1000)
    assert m.n_ctx == 1024
    assert m.kv_cache_bytes == 16 * 1024 * 8 * 64 * 2 * 2
    assert m.weights_bytes == spec.weight_bytes


@pytest.mark.parametrize("ctx", [0, -5, 10**9])
def test_bad_context(ctx):
    with pytest.raises(LlmfitError):
        estimate_memory(shape_spec("llama-tiny"), "cpu", ctx)


@pytest.mark.slow
@pytest.mark.parametrize("shape,ctx,ctk,fa,quant", [
    ("llama-tiny", 1000, "q8_0", None, "Q4_0"),
    ("gemma2-tiny", 3000, "f16", False, "F16"),
    ("qwen3moe-tiny", 700, "f16", True, "F16"),
])
def test_real_loads_match(tmp_path, shape, ctx, ctk, fa, quant):
    """KV exact (to the log's 0.01 MiB), compute within 1% (f16 KV), total within 3% of llama.cpp's buffers."""
    from llmfit_core.llamacpp_runner import load_and_measure
    from llmfit_core.readers.gguf import read_gguf
    from llmfit_core.synth import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / "m.gguf", shape, quant=quant)
    rep = load_and_measure(path, n_ctx=ctx, type_k=ctk, type_v=ctk, flash_attn=fa, n_threads=1)
    spec = read_gguf(path)
    m = estimate_memory(spec, "cpu", ctx, cache_type_k=ctk, cache_type_v=ctk, flash_attn=fa, repack=False,
                        swa_full=False)
    # KV per cache as logged: "K (type): X MiB" for the full cache, then the SWA cache
    full_k = sum(b for b, swa in zip(m.kv_layer_bytes, spec.swa_layers or [False] * spec.n_layers) if not swa) / 2
    assert abs(rep.log.kv_k_mib[0] - full_k / MIB) <= 0.005 + 1e-9
    assert rep.log.kv_cells[0] == m.n_ctx
    assert abs(rep.log.kv_bytes - m.kv_cache_bytes) <= 0.005 * MIB * len(rep.log.kv_cells)
    tol = 0.01 if ctk == "f16" else 0.06  # quantized KV: allocator reuse varies, we take the upper envelope
    assert -0.001 < (m.compute_bytes - rep.log.compute_bytes) / rep.log.compute_bytes < tol
    assert abs(rep.log.model_bytes - m.weights_bytes) <= 0.01 * MIB
    assert abs(rep.log.total_bytes - m.buffers_bytes) / rep.log.total_bytes < 0.03


# Recorded from llama-cpp-python 0.3.36 (CPU) loading synth's gemma4-tiny (8 layers: three sliding ones of head dim 64
# and 1 KV head, then a global one of head dim 128 and 2 KV heads, twice; the last 4 read layer 2's or 3's cache):
# "llama_kv_cache: size = ... (cells, layers, ...), K (type): X MiB, V (type): Y MiB", global cache first, then SWA.
GEMMA4_KV_LOG = [  # context, flash attention, cache type, [(cells, layers, K MiB, V MiB) per cache]
    (3000, True, "f16", [(3072, 1, 1.5, 1.5), (768, 3, 0.28, 0.28)]),
    (3000, False, "f16", [(3072, 1, 1.5, 1.5), (768, 3, 0.28, 1.12)]),  # no FA: V rows padded to the widest layer's
    (1000, True, "q8_0", [(1024, 1, 0.27, 0.27), (768, 3, 0.15, 0.15)]),
    (5000, None, "f16", [(5120, 1, 2.5, 2.5), (768, 3, 0.28, 0.28)]),
]


def _per_cache(spec, m):
    """(cells, layers, MiB) of the global cache and of the SWA cache, from our per-layer KV bytes."""
    swa = spec.swa_layers or [False] * spec.n_layers
    out = []
    for want_swa, cells in ((False, m.n_ctx), (True, m.n_ctx_swa)):
        layers = [b for b, f in zip(m.kv_layer_bytes, swa) if f == want_swa and b]
        out.append((cells, len(layers), sum(layers) / MIB))
    return out


@pytest.mark.parametrize("ctx,fa,ctk,caches", GEMMA4_KV_LOG)
def test_gemma4_kv_matches_recorded(ctx, fa, ctk, caches):
    """Per-layer head dims (global key_length vs key_length_swa), per-layer KV heads, shared-KV layers without a cache
    and, without flash attention, V rows padded to the widest: llama.cpp's KV buffers to its log's 0.01 MiB."""
    spec = shape_spec("gemma4-tiny")
    m = estimate_memory(spec, "cpu", ctx, cache_type_k=ctk, cache_type_v=ctk, flash_attn=fa, repack=False)
    for (cells, layers, mib), (l_cells, l_layers, k_mib, v_mib) in zip(_per_cache(spec, m), caches, strict=True):
        assert (cells, layers) == (l_cells, l_layers)
        assert abs(mib - (k_mib + v_mib)) <= 0.01 + 1e-9
    assert m.kv_layer_bytes[4:] == [0, 0, 0, 0]  # the shared-KV layers
    assert m.kv_cache_bytes < 0.5 * estimate_memory(  # one head dim and a cache in every layer: over 2x too much
        replace(spec, head_dim_swa=None, head_dim_v_swa=None, n_kv_shared_layers=0, layer_kv_heads=None),
        "cpu", ctx, cache_type_k=ctk, cache_type_v=ctk, flash_attn=fa, repack=False).kv_cache_bytes


@pytest.mark.slow
@pytest.mark.parametrize("ctx,fa,ctk,caches", GEMMA4_KV_LOG[:3])
def test_gemma4_real_load_matches(tmp_path, ctx, fa, ctk, caches):
    """A real gemma4 GGUF (no K/V projections in its shared-KV layers) read by our reader: KV per cache as llama.cpp
    logs it, weights exact; compute within the envelope of gemma4's per-layer inputs (see compute_buffer_bytes)."""
    from llmfit_core.llamacpp_runner import load_and_measure
    from llmfit_core.readers.gguf import read_gguf
    from llmfit_core.synth import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / "g4.gguf", "gemma4-tiny")
    rep = load_and_measure(path, n_ctx=ctx, type_k=ctk, type_v=ctk, flash_attn=fa, n_threads=1)
    spec = read_gguf(path)
    m = estimate_memory(spec, "cpu", ctx, cache_type_k=ctk, cache_type_v=ctk, flash_attn=fa, repack=False)
    assert [(c, n) for c, n, _ in _per_cache(spec, m)] == list(zip(rep.log.kv_cells, rep.log.kv_layers, strict=True))
    for (_, _, mib), k_mib, v_mib in zip(_per_cache(spec, m), rep.log.kv_k_mib, rep.log.kv_v_mib, strict=True):
        assert abs(mib - (k_mib + v_mib)) <= 0.01 + 1e-9
    assert abs(rep.log.model_bytes - m.weights_bytes) <= 0.01 * MIB
    assert -0.15 < (m.compute_bytes - rep.log.compute_bytes) / rep.log.compute_bytes < 0.08


def test_mla_and_hybrid_kv():
    from dataclasses import replace

    base = shape_spec("llama-tiny")
    mla = replace(base, kv_lora_rank=512, metadata={"qk_rope_head_dim": 64})
    m = estimate_memory(mla, "cpu", 1024)
    assert m.kv_layer_bytes == [1024 * 576 * 2] * base.n_layers  # latent + rope as K, no V
    assert any("MLA" in n for n in m.notes)
    hybrid = replace(base, n_kv_layers=2)
    h = estimate_memory(hybrid, "cpu", 1024)
    per_layer = 1024 * 2 * 64 * 2 * 2
    assert sorted(h.kv_layer_bytes) == [0, 0, per_layer, per_layer]
    assert any("hybrid" in n for n in h.notes)


def test_repack_types_by_cpu():
    from llmfit_core.memory import repack_split, repack_types

    assert "Q4_K" in repack_types(["avx2", "fma"]) and "Q8_0" not in repack_types(["avx2"])
    assert "Q2_K" in repack_types(["avx2", "avx512f"])
    assert "Q8_0" in repack_types(["neon", "dotprod"], "arm64")
    assert repack_types(["sse4_2"]) == ()
    from dataclasses import replace

    spec = replace(shape_spec("llama-tiny"), quant="Q4_0",
                   tensors=[("token_embd.weight", (256, 4096), "Q4_0"), ("blk.0.ffn_up.weight", (256, 768), "Q4_0"),
                            ("blk.0.attn_norm.weight", (256,), "F32"), ("output.weight", (256, 4096), "Q6_K")])
    up, out = 256 * 768 // 32 * 18, 256 * 4096 // 256 * 210
    # x86: only the layer matmul is repacked (not token_embd, not Q6_K); its original stays in the mapped range
    assert repack_split(spec) == (up, up)
    # ARM also repacks the Q6_K output; as the file's last tensor it drops out of the mapped range
    assert repack_split(spec, repack_types(["neon", "dotprod"], "arm64")) == (up + out, up)
    assert estimate_memory(spec, "cuda", 512).repack_bytes == 0


def test_repacked_originals_are_allocated_not_resident():
    """The CPU_REPACK copy replaces its mapped original in what must be resident (issue 12 item 2)."""
    from dataclasses import replace

    spec = replace(shape_spec("llama-tiny"), quant="Q4_0",
                   tensors=[("token_embd.weight", (256, 4096), "Q4_0"), ("blk.0.ffn_up.weight", (256, 768), "Q4_0"),
                            ("blk.0.attn_norm.weight", (256,), "F32"), ("output.weight", (256, 4096), "Q6_K")])
    on = estimate_memory(spec, "cpu", 512, cpu_isa=["avx2"])
    off = estimate_memory(spec, "cpu", 512, repack=False)
    up = 256 * 768 // 32 * 18
    assert on.repack_bytes == on.repack_mapped_bytes == up
    assert on.total_bytes == off.total_bytes  # resident: the weights once, repacked or not
    assert on.allocated_bytes == off.allocated_bytes + up  # llama.cpp's buffers: mapped original + copy
    assert estimate_memory(spec, "cpu", 512, cpu_isa=["avx2"], mmap=False).allocated_bytes == off.allocated_bytes


def test_mlx_kv_matches_mlx_lm_cache():
    """mlx-lm's KVCache grows in 256-token steps: our MLX KV figure equals the real cache arrays."""
    mx = pytest.importorskip("mlx.core")
    llama = pytest.importorskip("mlx_lm.models.llama")
    from mlx_lm.models.cache import make_prompt_cache

    from llmfit_core.synth import SynthShape

    shape = SynthShape("llama", 2, 256, 4, 2, 64, 512, 1024)
    args = llama.ModelArgs(model_type="llama", hidden_size=256, num_hidden_layers=2, intermediate_size=512,
                           num_attention_heads=4, rms_norm_eps=1e-5, vocab_size=1024, num_key_value_heads=2)
    model = llama.Model(args)
    model.set_dtype(mx.float16)
    cache = make_prompt_cache(model)
    model(mx.array([[i % 1000 for i in range(700)]]), cache=cache)
    mx.eval([c.state for c in cache])
    real = sum(c.keys.nbytes + c.values.nbytes for c in cache)
    assert estimate_memory(shape_spec(shape), "mlx", 700).kv_cache_bytes == real == 2 * 768 * 2 * 64 * 2 * 2


@pytest.mark.slow
def test_real_repack_matches_log(tmp_path):
    """With extra buffer types on, llama.cpp's CPU_REPACK buffer is our copy and mapped + repack is allocated."""
    from llmfit_core.llamacpp_runner import load_and_measure
    from llmfit_core.readers.gguf import read_gguf
    from llmfit_core.synth import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / "q.gguf", "llama-tiny", quant="Q4_0")
    rep = load_and_measure(path, n_ctx=512, n_threads=1, extra_bufts=True)
    if not rep.log.repack_bytes:
        pytest.skip("this CPU/build does not repack Q4_0 (no AVX2)")
    m = estimate_memory(read_gguf(path), "cpu", 512, cpu_isa=["avx2"])
    assert abs(rep.log.repack_bytes - m.repack_bytes) <= 0.01 * MIB
    assert abs(rep.log.model_bytes - (m.weights_bytes + m.repack_mapped_bytes)) <= 0.02 * MIB


@pytest.mark.parametrize("fa,compute_mib", [(True, 25.5137), (False, 45.0098)])
def test_parallel_sequences_recorded(fa, compute_mib):
    """Recorded (llama.cpp 0.3.36 CPU): 4 sequences at n_ctx 4096 -> 4 streams of 1024 cells; the KQ mask
    and scores cover one stream."""
    from llmfit_core.synth import SynthShape

    shape = SynthShape("llama", 2, 1024, 16, 4, 64, 2816, 8192)
    m = estimate_memory(shape_spec(shape), "cpu", 4096, n_seq=4, flash_attn=fa)
    assert m.kv_cache_bytes == 8388608
    assert m.output_bytes == 4 * 8192 * 4
    assert abs(m.compute_bytes / MIB - compute_mib) / compute_mib < 0.01


# Recorded (CPU, quantized KV, flash attention, llama-cpp-python 0.3.36): llama.cpp's compute buffer in MiB.
# The ffn stage keeps one residual less once the KQ mask is a residual's size; the output stage may keep a
# third one: our figure must never be below llama.cpp's and at most 6% above (1.5% where the ffn stage peaks).
def _qkv_shape(name):
    from llmfit_core.synth import SynthShape

    return {"w": SynthShape("llama", 2, 1024, 16, 4, 64, 2816, 8192),
            "a512": SynthShape("llama", 2, 512, 8, 2, 64, 1536, 8192, ctx_train=65536),
            "a1024": SynthShape("llama", 2, 1024, 16, 4, 64, 2816, 8192, ctx_train=65536),
            "a2048": SynthShape("llama", 2, 2048, 16, 4, 128, 5632, 4096, ctx_train=65536),
            "m512": SynthShape("qwen3moe", 2, 512, 8, 2, 64, 1536, 4096, ctx_train=65536, qk_norm=True, n_experts=16,
                               n_experts_used=4, expert_ff=512)}.get(name, name)


QUANT_KV_RECORDED = [  # shape, n_ctx, n_ubatch, KV type, MiB
    ("w", 768, 512, "q8_0", 25.2949), ("w", 2048, 512, "q8_0", 24.5449), ("w", 512, 128, "q8_0", 6.2847),
    ("gemma2-tiny", 256, 512, "q8_0", 4.751), ("gemma2-tiny", 768, 512, "q8_0", 9.002),
    ("qwen3moe-tiny", 512, 512, "q8_0", 9.502),
    ("a512", 1024, 512, "q8_0", 19.0020), ("a512", 16384, 512, "q8_0", 28.0449), ("a512", 2048, 512, "q4_0", 19.0020),
    ("a1024", 1024, 512, "q8_0", 25.5449), ("a1024", 4096, 512, "q8_0", 26.5449), ("a1024", 16384, 512, "q8_0", 38.5449),
    ("a1024", 2048, 512, "q4_0", 24.5449), ("a1024", 4096, 256, "q8_0", 13.2881),
    ("a2048", 1024, 512, "q8_0", 50.0918), ("a2048", 4096, 512, "q8_0", 49.0918), ("a2048", 2048, 512, "q4_0", 51.0918),
    ("a2048", 4096, 256, "q8_0", 24.5850),
    ("m512", 1024, 512, "q8_0", 16.1074), ("m512", 16384, 512, "q8_0", 31.1074), ("m512", 2048, 512, "q4_0", 17.1074),
    ("m512", 4096, 256, "q8_0", 9.5693),
]


@pytest.mark.parametrize("shape,ctx,ub,kv,mib", QUANT_KV_RECORDED)
def test_quantized_kv_compute_envelope(shape, ctx, ub, kv, mib):
    m = estimate_memory(shape_spec(_qkv_shape(shape)), "cpu", ctx, n_ubatch=ub, cache_type_k=kv, cache_type_v=kv)
    over = m.compute_bytes / MIB - mib
    assert 0 <= over <= 0.06 * mib
    if m.compute_stages["ffn"] >= m.compute_stages["output"]:
        assert over <= 0.015 * mib


_LLAMA_DEFAULTS_CHILD = """
import sys, llama_cpp
llama_cpp.Llama(sys.argv[1], n_ctx=int(sys.argv[2]), n_threads=1, verbose=True)
"""


@pytest.mark.slow
def test_llama_cpp_python_defaults_on_a_moe_model_at_4k(tmp_path):
    """Issue 12 item 11: a qwen3moe GGUF loaded by llama-cpp-python's Llama() at 4k context (its defaults: flash
    attention off) allocates 4.8x the compute buffer of llama.cpp's own default (flash attention auto = on), which
    is what `fit` assumes. The compute formula is right for both (to 1%); the fix names the runner's defaults
    (RUNNER_DEFAULTS) and `fit` states what Llama()'s defaults need."""
    import subprocess
    import sys

    import llmfit_core
    from llmfit_core.llamacpp_runner import parse_llama_log
    from llmfit_core.memory import RUNNER_DEFAULTS
    from llmfit_core.readers.gguf import read_gguf
    from llmfit_core.synth import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / "moe.gguf", "qwen3moe-tiny", quant="F16")
    res = subprocess.run([sys.executable, "-c", _LLAMA_DEFAULTS_CHILD, str(path), "4096"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-500:]
    log = parse_llama_log(res.stderr)
    assert log.flash_attn is False and log.n_ctx == 4096
    spec = read_gguf(path)
    py = estimate_memory(spec, "cpu", 4096, repack=False, **RUNNER_DEFAULTS["llama-cpp-python"].memory_kwargs())
    assert abs(py.compute_bytes - log.compute_bytes) / log.compute_bytes < 0.01
    assert abs(py.kv_cache_bytes - log.kv_bytes) <= 0.005 * MIB
    own = estimate_memory(spec, "cpu", 4096, repack=False, **RUNNER_DEFAULTS["llama.cpp"].memory_kwargs())
    assert log.compute_bytes > 4 * own.compute_bytes  # what `fit` showed alone before
    rep = llmfit_core.fit(str(path), hardware="cpu-only-16gb", context=4096)
    note = next(r for r in rep.reasons if r.startswith("llama-cpp-python's Llama() defaults"))
    assert f"compute buffers {log.compute_bytes / MIB:.0f} MiB" in note


def _header_only_gguf(path, spec, quant: str):
    """A real GGUF header of `spec` stored as llama.cpp's quantizer stores `quant`; the tensor data is a hole: the
    path a downloaded file takes through the reader."""
    from llmfit_core.synth import finish_sparse_gguf, header_gguf_writer

    w, tensors = header_gguf_writer(path, spec, quant)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(spec.vocab_size)])
    finish_sparse_gguf(w, path, tensors)
    return path


def _pi5_with_dotprod():
    """The Raspberry Pi 5 (Cortex-A76: NEON + dotprod), on which llama.cpp repacks Q4_K and Q6_K weights."""
    from llmfit_core.hardware.registry import resolve_hardware

    hw = resolve_hardware("Raspberry Pi 5 8GB")
    hw.cpu.isa = ["neon", "asimd", "dotprod"]
    return hw


def test_real_gguf_and_catalog_agree_on_a_pi5(tmp_path):
    """Issue 12 item 2: a real Llama-3.1-8B Q4_K_M GGUF on an 8 GB Pi 5 runs (the catalog said so, the GGUF path
    said "no-fit, 9.3 GiB": the CPU_REPACK copy was counted on top of its mapped original)."""
    import llmfit_core
    from llmfit_core.readers.gguf import read_gguf
    from llmfit_core.resolve import resolve_model

    hw = _pi5_with_dotprod()
    catalog = llmfit_core.fit("llama-3.1-8b", hardware=hw, quant="Q4_K_M", offline=True)
    path = _header_only_gguf(tmp_path / "Llama-3.1-8B-Q4_K_M.gguf", resolve_model("llama-3.1-8b", offline=True),
                             "Q4_K_M")
    real = llmfit_core.fit(str(path), hardware=hw)
    assert real.model_ref and read_gguf(path).exact
    d = real.to_dict()["memory"]
    assert real.verdict == catalog.verdict == "runs", real.reasons
    assert d["total_bytes"] < 6 * GIB
    assert abs(d["total_bytes"] - catalog.memory.total_bytes) / catalog.memory.total_bytes < 0.02
    # what llama.cpp allocates: the mapped file plus the repacked copy of nearly all of it
    assert d["detail"]["repack_bytes"] > 4 * GIB
    assert d["detail"]["allocated_bytes"] > d["total_bytes"] + 3.5 * GIB
    assert any("clean page cache" in r for r in real.reasons)
    # the what-if quant of the catalog stores the same tensor types, so llama.cpp's buffers agree too
    cat_alloc = catalog.memory.detail.allocated_bytes
    assert abs(d["detail"]["allocated_bytes"] - cat_alloc) / cat_alloc < 0.02


def test_70b_q4_k_m_never_above_its_q8_0(tmp_path):
    import llmfit_core
    from llmfit_core.resolve import resolve_model

    spec = resolve_model("llama-3.1-70b", offline=True)
    box = {"name": "avx2-box", "cpu": {"model": "x86", "cores": 16, "isa": ["avx2", "fma"], "mem_bandwidth_gbs": 80},
           "memory": {"total_gb": 128, "available_gb": 120}, "gpus": []}
    reps = {q: llmfit_core.fit(str(_header_only_gguf(tmp_path / f"70b-{q}.gguf", spec, q)), hardware=box)
            for q in ("Q4_K_M", "Q8_0")}
    assert reps["Q4_K_M"].memory.total_bytes < 0.6 * reps["Q8_0"].memory.total_bytes
    # x86 AVX2 repacks Q4_K (allocated > resident), not Q8_0
    assert reps["Q4_K_M"].memory.detail.allocated_bytes > reps["Q4_K_M"].memory.total_bytes + 30 * GIB
    assert reps["Q8_0"].memory.detail.repack_bytes == 0


@pytest.mark.slow
def test_repacked_originals_leave_the_working_set(tmp_path):
    """Real loads with CPU weight repacking: right after the load the RSS holds the mapped originals too (llama.cpp's
    allocation), but once the file's pages are evicted (MADV_PAGEOUT) decoding brings back only what it uses: the
    working set is our resident figure, not the allocated one, and the same as without repacking."""
    from llmfit_core.llamacpp_runner import load_and_measure
    from llmfit_core.readers.gguf import read_gguf
    from llmfit_core.synth import write_synthetic_gguf

    path = write_synthetic_gguf(tmp_path / "q.gguf", "llama-0.1b", quant="Q4_0", n_threads=2)
    spec = read_gguf(path)
    runs = {rp: load_and_measure(path, n_ctx=1024, n_threads=2, extra_bufts=rp, prompt_tokens=508, gen_tokens=4,
                                 page_out=True) for rp in (True, False)}
    rep = runs[True]
    if not rep.log.repack_bytes:
        pytest.skip("this CPU/build does not repack Q4_0 (no AVX2)")
    m = estimate_memory(spec, "cpu", 1024, cpu_isa=["avx2"])
    assert m.repack_mapped_bytes > 30 * MIB
    assert abs(rep.log.total_bytes - m.allocated_bytes) / rep.log.total_bytes < 0.01
    # never touched by a prompt whose only output is its last token: the reserve graph's logits for 512 outputs,
    # token_embd rows of unused tokens
    untouched = 512 * spec.vocab_size * 4 + m.input_bytes
    assert rep.rss_after_load - rep.rss_start > m.resident_buffers_bytes - untouched + 0.8 * m.repack_mapped_bytes
    assert rep.rss_growth <= m.resident_buffers_bytes  # what must stay resident: never above our figure ...
    assert rep.rss_growth < m.allocated_bytes - 0.8 * m.repack_mapped_bytes  # ... and the originals stay out
    assert abs(rep.rss_growth - runs[False].rss_growth) < 0.1 * runs[False].rss_growth
