"""Architecture- and backend-aware throughput physics: kernel classes per backend x vendor x generation, MoE
routing cost and small per-expert prompt batches, recurrent scans, MLA, BF16 paths, layer splits, -ngl 0
prompt offload, and prefill/decode never falling when more layers go to the GPU (issue 12 item 4)."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import pytest

import llmfit_core
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.throughput import model_figures, predict
from llmfit_core.throughput.quantfamily import FAMILY_CODE
from llmfit_core.throughput.roofline import (
    AMD_DECODE_STREAM,
    BACKEND_CODE,
    CLASS_DECODE_EFF,
    KERNEL_CLASS_CODE,
    KERNEL_CLASSES,
    kernel_class,
    roofline_arrays,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from training.model_configs import build_spec  # noqa: E402


def box(vendor="nvidia", name="RTX 4090", bw=1008.0, tflops=330.0, vram=24.0, n=1, cc="8.9", arch=None):
    return HardwareProfile(name="box", cpu=CPUInfo(model="x86", cores=16, threads=32, isa=["avx2", "fma"], mem_bandwidth_gbs=83.0),
                           memory=MemoryInfo(128.0),
                           gpus=[GPUInfo(vendor, name, vram, bandwidth_gbs=bw, fp16_tflops=tflops,
                                         compute_capability=cc if vendor == "nvidia" else None, arch=arch) for _ in range(n)])


@pytest.fixture(scope="module")
def llama8b():
    return build_spec("llama-3.1-8b", "Q4_K_M")


def _cls(kind, gpu):
    return KERNEL_CLASSES[kernel_class(kind, gpu)][0]


def test_kernel_class_per_backend_vendor_and_generation():
    g = lambda vendor, name, **kw: GPUInfo(vendor, name, 16.0, **kw)  # noqa: E731
    assert _cls("cuda", g("nvidia", "RTX 4090", compute_capability="8.9")) == "cuda tensor-core MMQ"
    assert _cls("cuda", g("nvidia", "Tesla P40", compute_capability="6.1")) == "cuda dp4a MMQ (pre-Turing)"
    assert _cls("rocm", g("amd", "RX 7900 XTX", arch="gfx1100")) == "rocm WMMA (RDNA3/4)"
    assert _cls("rocm", g("amd", "RX 6700 XT", arch="gfx1031")) == "rocm int8-dot (RDNA1/2, Vega)"
    assert _cls("rocm", g("amd", "Instinct MI300X", arch="gfx942")) == "rocm MFMA (CDNA)"
    assert _cls("rocm", g("amd", "RX 580", arch="gfx803")) == "rocm no int8 dot (GCN4 and older)"
    assert _cls("vulkan", g("amd", "RX 9070 XT", arch="gfx1201")) == "vulkan KHR coopmat (RDNA3/4)"
    assert _cls("vulkan", g("amd", "RX 6700 XT", arch="gfx1031")) == "vulkan AMD scalar (RDNA2, GCN)"
    assert _cls("vulkan", g("intel", "Arc A770", arch="Xe-HPG")) == "vulkan Intel scalar (Xe-HPG)"
    assert _cls("vulkan", g("intel", "Arc B580", arch="Xe2-HPG")) == "vulkan Intel coopmat (Xe2)"
    assert _cls("sycl", g("intel", "Arc B580")) == "sycl XMX"
    assert _cls("metal", g("apple", "Apple M3 Max")) == "metal simdgroup"
    assert kernel_class("vulkan", g("unknown", "Mystery GPU")) == 0  # not in the table: the backend's default


def test_vulkan_without_coopmat_is_slower_than_with_it_at_equal_figures(llama8b):
    rdna3 = box("amd", "RX 7900 XTX", 960, 122.8, arch="gfx1100")
    rdna2 = box("amd", "RX 7900 XTX", 960, 122.8, arch="gfx1031")  # same figures, RDNA2 kernels
    a, b = (predict(llama8b, h, "llama.cpp-vulkan", apply_correction=False) for h in (rdna3, rdna2))
    assert a.prefill_tok_s != b.prefill_tok_s
    intel_old = box("intel", "Arc A770", 960, 122.8, arch="Xe-HPG")
    c = predict(llama8b, intel_old, "llama.cpp-vulkan", apply_correction=False)
    assert c.prefill_tok_s < 0.5 * a.prefill_tok_s


def test_moe_decode_has_a_routing_cost_and_prefill_small_expert_batches():
    moe = build_spec("qwen3-30b-a3b", "Q4_K_M")
    mf = model_figures(moe)
    assert mf.n_moe_layers == moe.n_layers and 0.3 < mf.moe_flop_frac < 1 and mf.expert_used_ratio == 8 / 128
    hw = box()
    p = predict(moe, hw, "llama.cpp-vulkan", apply_correction=False)
    # the same per-token bytes and FLOPs as a dense model: MoE decode pays its per-layer routing / launch cost
    dense = dataclasses.replace(mf, n_moe_layers=0.0, moe_flop_frac=0.0, moe_expert_bytes=0.0, expert_used_ratio=0.0)
    from llmfit_core.throughput.predict import hardware_arrays, model_arrays, predict_batch
    from llmfit_core.throughput.roofline import hardware_figures

    hf = hardware_figures(hw, "llama.cpp-vulkan", None, n_layers=mf.n_layers)
    out = predict_batch({**model_arrays([mf, dense]), **hardware_arrays(hf)}, apply_correction=False)
    d_moe, d_dense = out["decode_tok_s"]
    p_moe, p_dense = out["prefill_tok_s"]
    assert d_moe < 0.85 * d_dense and p_moe < 0.7 * p_dense
    assert p.decode_tok_s == pytest.approx(d_moe, rel=0.05)
    # ~3B-active MoE decode is bounded by fixed costs: a 2x faster memory system gains far less than 2x
    fast = box(bw=2016.0, tflops=660.0)
    q = predict(moe, fast, "llama.cpp-vulkan", apply_correction=False)
    assert q.decode_tok_s < 1.6 * p.decode_tok_s


def test_recurrent_scan_and_mla_costs():
    base = build_spec("llama-3.1-8b", "Q4_K_M")
    hyb = dataclasses.replace(base, n_recurrent_layers=24, recurrent_r=24576, recurrent_s=524288, n_kv_layers=8)
    hw = box("amd", "RX 7900 XTX", 960, 122.8, arch="gfx1100")
    a, b = (predict(s, hw, "llama.cpp-rocm", apply_correction=False) for s in (base, hyb))
    assert model_figures(hyb).n_rec_layers == 24
    # fewer KV layers: the hybrid's decode falls less with depth than the full-attention model's
    a32, b32 = (predict(s, hw, "llama.cpp-rocm", depth=32768, apply_correction=False) for s in (base, hyb))
    assert b32.decode_tok_s / b.decode_tok_s > a32.decode_tok_s / a.decode_tok_s
    no_scan = dataclasses.replace(hyb, n_recurrent_layers=0, recurrent_r=0, recurrent_s=0)
    c = predict(no_scan, hw, "llama.cpp-rocm", apply_correction=False)
    assert b.prefill_tok_s < c.prefill_tok_s and b.decode_tok_s < c.decode_tok_s  # the scans cost time
    mla = dataclasses.replace(base, kv_lora_rank=512, head_dim=576, head_dim_v=512, n_kv_heads=1)
    assert model_figures(mla).mla_k_share == pytest.approx(576 / (576 + 512))


def test_mla_attends_in_the_latent_and_reads_it_once_on_cuda():
    """llama.cpp's deepseek2 graph absorbs MLA for every batch (prompt attention per position costs what decode's does,
    one latent K/V stream shared by all heads: flash attention near GEMM rate); CUDA/HIP's MMA kernel reads V from the
    K tile, Vulkan reads the V view again."""
    from llmfit_core.throughput.roofline import ATTN_FA_COST, BACKEND_CODE, MLA_FA_COST, roofline_arrays

    assert MLA_FA_COST < min(ATTN_FA_COST[BACKEND_CODE[b]] for b in ("cuda", "vulkan", "rocm"))
    common = dict(weight_bytes=2e9, kv_bytes_per_pos=47 * 1088 * 2.0, active_params=3e9, attn_dim_layers=47 * 20 * 576.0,
                  n_layers=47, qfam_code=2, gpu_frac=1.0, n_gpus=1, gpu_bw_gbs=1000.0, gpu_tflops=200.0, cpu_bw_gbs=80.0,
                  cpu_gflops=1000.0, unified=False, prompt_tokens=512, depth=16384.0, flash_attn=1.0)

    def run(backend, mla):
        return roofline_arrays(**common, backend_code=BACKEND_CODE[backend], decode_pos=16384.0 + 512,
                               mla_k_share=576 / 1088 if mla else 0.0)

    for be in ("cuda", "vulkan"):
        assert run(be, True)["prefill_tok_s"] > 1.1 * run(be, False)["prefill_tok_s"]  # cheaper attention FLOPs
    assert run("cuda", True)["decode_bytes"] < 0.6 * run("cuda", False)["decode_bytes"] + 0.4 * 2e9
    assert run("vulkan", True)["decode_bytes"] == pytest.approx(run("vulkan", False)["decode_bytes"])


def test_mla_geometry_is_the_latent_whatever_the_spec_head_dim_says():
    """A config.json / catalog spec of an MLA model states the per-head widths of the uncompressed attention
    (GLM-4.7-Flash: 20 KV heads of 102); llama.cpp attends in the latent (K 512 + 64 RoPE dims, V its first 512, one
    row per layer), as a GGUF states it. Both must price the same bytes and FLOPs."""
    from llmfit_core.catalog import load_catalog

    e = next(m for m in load_catalog().models if m.id == "zai-org/GLM-4.7-Flash")
    gguf = e.to_spec("Q4_K_M")
    assert (gguf.head_dim, gguf.head_dim_v, gguf.n_kv_heads, gguf.kv_lora_rank) == (576, 512, 1, 512)  # catalog: the latent
    cfg = dataclasses.replace(gguf, head_dim=102, head_dim_v=None, n_kv_heads=20)  # a config's per-head widths
    a, b = model_figures(cfg), model_figures(gguf)
    assert a.kv_bytes_per_pos == b.kv_bytes_per_pos == cfg.kv_layers * (576 + 512) * 2
    assert a.attn_dim_layers == b.attn_dim_layers == cfg.kv_layers * cfg.n_heads * 576
    assert a.mla_k_share == b.mla_k_share == pytest.approx(576 / 1088)


def test_bf16_experts_decode_through_vulkan_tile_kernels():
    """ggml-vulkan has no BF16 mat-vec-id kernel (ggml_vk_use_mul_mat_vec_id): BF16 experts of a decoded token run
    through the prompt tile kernels, one token per expert. Quantized experts, dense BF16 models and the backends with
    a BF16 mat-vec-id (CUDA / HIP mmvf) keep the bandwidth-bound mat-vec."""
    moe_bf, moe_q = build_spec("qwen3-30b-a3b", "BF16"), build_spec("qwen3-30b-a3b", "Q8_0")
    dense_bf = build_spec("llama-3.1-8b", "BF16")
    hw = box("amd", "Radeon 8060S", 256.0, 59.4, vram=96.0, arch="gfx1151")

    def ratio(spec):  # Vulkan over ROCm decode: the same bandwidth, the kernels differ
        v, r = (predict(spec, hw, be, apply_correction=False).decode_tok_s for be in ("llama.cpp-vulkan", "llama.cpp-rocm"))
        return v / r

    assert ratio(moe_bf) < 0.8 * ratio(moe_q)
    assert ratio(dense_bf) == pytest.approx(ratio(build_spec("llama-3.1-8b", "F16")), rel=0.02)
    # the tile cost is the prompt path's: prefill of the same model is untouched
    from llmfit_core.throughput.roofline import MOE_DECODE_TILE_PATHS

    assert ("vulkan", "bf16") in {(k, t) for k, t, _ in MOE_DECODE_TILE_PATHS}


def test_micro_batch_size_sets_pipelining_and_expert_batches(llama8b):
    """-ub 2048: one micro-batch per 2048-token batch (a layer split has nothing to pipeline), four times the tokens per
    expert (MoE prompt tiles run nearer the dense rate); -b 512 likewise leaves nothing to pipeline."""
    two = box(n=2)
    split = {"gpu_layers": 33, "total_layers": 33, "per_gpu_bytes": [1.0, 1.0]}
    kw = dict(apply_correction=False, prompt_tokens=2048)
    base = predict(llama8b, two, "llama.cpp-cuda", split, **kw).prefill_tok_s
    assert predict(llama8b, two, "llama.cpp-cuda", split, n_ubatch=2048, **kw).prefill_tok_s < 0.8 * base
    assert predict(llama8b, two, "llama.cpp-cuda", split, n_batch=512, **kw).prefill_tok_s < 0.8 * base
    moe = build_spec("qwen3-30b-a3b", "Q4_K_M")
    small, big = (predict(moe, box(), "llama.cpp-vulkan", n_ubatch=ub, **kw).prefill_tok_s for ub in (512, 2048))
    assert big > 1.2 * small
    with pytest.raises(llmfit_core.errors.LlmfitError):
        predict(moe, box(), "llama.cpp-vulkan", n_ubatch=0)


def test_fit_prices_the_asked_micro_batch():
    from llmfit_core.api import fit_spec

    moe = build_spec("qwen3-30b-a3b", "Q4_K_M")
    a, b = (fit_spec(moe, hardware=box(), backend="llama.cpp-vulkan", prompt_tokens=2048, n_ubatch=ub, calibrated=False)
            for ub in (512, 2048))
    assert b.prefill_tok_s > 1.1 * a.prefill_tok_s


def test_blank_fa_column_of_2026_llama_bench_tables_is_flash_attention_on():
    """llama-bench prints fa only when not its default, which is "auto" (on for GPUs) in the 2026 threads; -ub as the
    row's note gives it."""
    from training.data import DATA_DIR, LoadReport
    from training.threads_data import fa_by_default, threads_rows

    assert fa_by_default("https://github.com/ggml-org/llama.cpp/pull/26284")
    assert not fa_by_default("https://github.com/ggml-org/llama.cpp/pull/7676")
    assert fa_by_default("https://github.com/ggml-org/llama.cpp/pull/17505")  # a flash-attention kernel PR
    rows = threads_rows(DATA_DIR, LoadReport())
    xtx = [r for r in rows if r.device == "RX 7900 XTX" and r.depth == 4096]
    assert xtx and all(r.flash_attn for r in xtx)
    long_r9700 = [r for r in rows if "R9700" in r.device and r.depth == 16384]
    assert long_r9700 and all(r.n_ubatch == 2048 for r in long_r9700)
    assert all(r.n_ubatch == 512 for r in rows if "microbatch size=512" in r.note)


def test_bf16_takes_the_slow_path_on_vulkan_not_on_cuda():
    f16, bf16 = build_spec("llama-3-8b", "F16"), build_spec("llama-3-8b", "BF16")
    hw = box()
    for be, slower in (("llama.cpp-vulkan", True), ("llama.cpp-cuda", False)):
        a, b = (predict(s, hw, be, apply_correction=False) for s in (f16, bf16))
        assert (b.prefill_tok_s < 0.7 * a.prefill_tok_s) is slower


def test_prefill_and_decode_never_fall_when_more_layers_go_to_the_gpu(llama8b):
    """Issue 12: prefill with 32 of 33 layers on the GPU was faster than with all 33 (the learned correction was
    taken at the partial placement's features; it now applies to the GPU part of the time)."""
    pre, dec = [], []
    for gl in range(0, 34):
        r = llmfit_core.fit(llama8b, hardware="RTX 4090", gpu_layers=gl)
        pre.append(r.prefill_tok_s)
        dec.append(r.decode_tok_s)
    assert all(b >= a * 0.999 for a, b in zip(pre, pre[1:])), pre
    assert all(b >= a * 0.999 for a, b in zip(dec, dec[1:])), dec


def test_ngl_0_with_a_gpu_still_runs_large_prompt_batches_on_it(llama8b):
    hw = box()
    gpu0 = predict(llama8b, hw, "llama.cpp-cuda", placement={"gpu_layers": 0, "total_layers": 33})
    cpu = predict(llama8b, hw, "llama.cpp-cpu")
    assert gpu0.prefill_tok_s > 5 * cpu.prefill_tok_s  # weights copied over PCIe per 512-token batch
    assert gpu0.decode_tok_s == pytest.approx(cpu.decode_tok_s, rel=0.35)  # one token: below the op-offload batch
    short = predict(llama8b, hw, "llama.cpp-cuda", placement={"gpu_layers": 0, "total_layers": 33}, prompt_tokens=16)
    assert short.prefill_tok_s < gpu0.prefill_tok_s / 5  # under 32 tokens ggml keeps the ops on the CPU


def test_layer_split_decode_sequential_prefill_pipelined(llama8b):
    one, two = box(), box(n=2)
    split = {"gpu_layers": 33, "total_layers": 33, "per_gpu_bytes": [1.0, 1.0]}
    a = predict(llama8b, one, "llama.cpp-cuda", apply_correction=False, prompt_tokens=2048)
    b = predict(llama8b, two, "llama.cpp-cuda", split, apply_correction=False, prompt_tokens=2048)
    assert b.decode_tok_s < a.decode_tok_s  # sequential over the GPUs plus a hand-over
    assert b.prefill_tok_s > 1.3 * a.prefill_tok_s  # 4 micro-batches of 512 pipeline through 2 GPUs


def test_band_is_wider_where_the_data_is_thin(llama8b):
    """The likely range widens for MoE / recurrent models (few rows) and for a backend x GPU generation no training
    device had (here ROCm on CDNA: MFMA kernels), next to the per-backend band measured on left-out devices."""
    width = lambda p: p.decode_range[1] / p.decode_range[0]  # noqa: E731
    hw = box()
    moe = build_spec("qwen3-30b-a3b", "Q4_K_M")
    a, b = predict(llama8b, hw, "llama.cpp-cuda"), predict(moe, hw, "llama.cpp-cuda")
    assert a.correction_applied and width(b) > width(a)
    rdna3 = box("amd", "RX 7900 XTX", 960, 122.8, arch="gfx1100")
    cdna = box("amd", "Instinct MI210", 1638, 181.0, vram=64.0, arch="gfx90a")
    from llmfit_core.throughput import load_correction
    from llmfit_core.throughput.roofline import KERNEL_CLASS_CODE

    seen = load_correction().heads["decode"].kernel_classes
    assert KERNEL_CLASS_CODE["rocm WMMA (RDNA3/4)"] in seen and KERNEL_CLASS_CODE["rocm MFMA (CDNA)"] not in seen
    r, c = predict(llama8b, rdna3, "llama.cpp-rocm"), predict(llama8b, cdna, "llama.cpp-rocm")
    assert width(c) > width(r)


def test_bf16_decode_reads_like_f16_on_cuda_hip_and_vulkan():
    """Decode is a mat-vec: ggml-cuda/mmvf.cu (CUDA and HIP) and Vulkan's mul_mat_vec_bf16 shaders read BF16 weights
    at the F16 rate (the 8060S / R9700 BF16 rows stream at ~85-90% of the bandwidth); prefill keeps Vulkan's slow path."""
    f16, bf16 = build_spec("llama-3-8b", "F16"), build_spec("llama-3-8b", "BF16")
    rdna4 = box("amd", "Radeon AI PRO R9700", 640, 191.0, vram=32.0, arch="gfx1201")
    for be, hw in (("llama.cpp-rocm", rdna4), ("llama.cpp-vulkan", rdna4), ("llama.cpp-cuda", box())):
        a, b = (predict(s, hw, be, apply_correction=False) for s in (f16, bf16))
        assert b.decode_tok_s == pytest.approx(a.decode_tok_s, rel=0.01), be
    a, b = (predict(s, rdna4, "llama.cpp-rocm", apply_correction=False) for s in (f16, bf16))
    assert b.prefill_tok_s == pytest.approx(a.prefill_tok_s, rel=0.01)  # RDNA3+ has BF16 WMMA (bf16_mma_hardware_available)


def test_float_experts_on_cuda_and_hip_pay_one_gemm_per_expert_in_prompt_batches():
    """ggml_cuda_mul_mat_id: float experts in large batches sync with the host and run one BLAS GEMM per expert;
    quantized experts (MMQ) and Vulkan / Metal (one mul_mat_id dispatch) do not."""
    from llmfit_core.throughput.predict import hardware_arrays, model_arrays, predict_batch
    from llmfit_core.throughput.roofline import hardware_figures

    moe = build_spec("qwen3-30b-a3b", "BF16")
    mf = model_figures(moe)
    assert mf.n_experts == 128
    no_loop = dataclasses.replace(mf, n_experts=0.0)
    rdna4 = box("amd", "Radeon AI PRO R9700", 640, 191.0, vram=32.0, arch="gfx1201")
    for be, slower in (("llama.cpp-rocm", True), ("llama.cpp-cuda", True), ("llama.cpp-vulkan", False)):
        hw = box() if be == "llama.cpp-cuda" else rdna4
        hf = hardware_figures(hw, be, None, n_layers=mf.n_layers)
        out = predict_batch({**model_arrays([mf, no_loop]), **hardware_arrays(hf)}, apply_correction=False)
        p_loop, p_none = out["prefill_tok_s"]
        assert bool(p_loop < 0.9 * p_none) is slower, be
        assert out["decode_tok_s"][0] == pytest.approx(out["decode_tok_s"][1])
    q8 = model_figures(build_spec("qwen3-30b-a3b", "Q8_0"))
    hf = hardware_figures(rdna4, "llama.cpp-rocm", None, n_layers=q8.n_layers)
    out = predict_batch({**model_arrays([q8, dataclasses.replace(q8, n_experts=0.0)]), **hardware_arrays(hf)}, apply_correction=False)
    assert out["prefill_tok_s"][0] == pytest.approx(out["prefill_tok_s"][1])  # MMQ: one kernel over all experts


def test_band_is_wider_at_depth(llama8b):
    """The public rows at a filled context come from one or two devices per backend: the likely range there is wider."""
    from llmfit_core.throughput.correction import DEPTH_BAND_WIDEN

    width = lambda p: p.decode_range[1] / p.decode_range[0]  # noqa: E731
    a, b = predict(llama8b, box(), "llama.cpp-cuda"), predict(llama8b, box(), "llama.cpp-cuda", depth=16384)
    assert DEPTH_BAND_WIDEN > 1 and width(b) > width(a)


def test_qwen3_next_rows_of_the_first_builds_are_named_doubtful():
    from training.data import DATA_DIR, LoadReport
    from training.threads_data import doubt_reason, threads_rows

    rows = [r for r in threads_rows(DATA_DIR, LoadReport()) if "Qwen3-Next" in r.model_ref]
    assert rows and all("GATED_DELTA_NET" in doubt_reason(r) for r in rows)


def test_a_test_its_source_calls_high_variance_is_named_doubtful_and_only_that_test():
    from training.data import DATA_DIR, LoadReport
    from training.threads_data import doubt_reason, threads_rows

    rows = [r for r in threads_rows(DATA_DIR, LoadReport()) if "pp512 has huge variance" in r.note]
    named = [r for r in rows if "run-to-run spread" in doubt_reason(r)]
    assert named and all(r.test_label == "pp512" for r in named)
    assert any(r.test_label != "pp512" for r in rows)  # the comment's other tests keep no such reason


def test_unknown_quant_and_architecture_get_an_estimate_a_wider_band_and_the_reason(llama8b):
    width = lambda p: p.decode_range[1] / p.decode_range[0]  # noqa: E731
    base = predict(llama8b, box(), "llama.cpp-cuda")
    odd_quant = predict(dataclasses.replace(llama8b, quant="ZQ3_WEIRD"), box(), "llama.cpp-cuda")
    odd_arch = predict(dataclasses.replace(llama8b, arch="frobnicator", notes=[
        "model_type frobnicator not modelled exactly: estimated as a llama-like decoder"]), box(), "llama.cpp-cuda")
    for p, word in ((odd_quant, "ZQ3_WEIRD"), (odd_arch, "frobnicator")):
        assert p.decode_tok_s > 0 and p.prefill_tok_s > 0
        assert math.log(width(p)) > 1.4 * math.log(width(base))  # x1.5 in log units
        assert p.decode_range[0] < p.decode_tok_s < p.decode_range[1]
        assert any(word in r and "band widened" in r for r in p.reasons), p.reasons


def test_a_slow_host_bounds_decode_of_small_models_on_mesa_vulkan():
    """An eGPU on a Raspberry Pi: the host builds and submits each token's graph; with Mesa's Vulkan drivers (AMD,
    Intel) a small model's decode waits for that host, with NVIDIA's driver and with a large model it does not."""
    small, large = build_spec("llama-3.2-3b", "Q4_K_M"), build_spec("llama-3.1-70b", "Q4_K_M")
    pi = CPUInfo(model="Cortex-A76", cores=4, threads=4, arch="arm64", isa=["neon", "dotprod"], mem_bandwidth_gbs=17.1)

    def decode(spec, vendor, name, bw, tflops, cpu=None, **kw):
        hw = box(vendor, name, bw, tflops, vram=48.0, **kw)
        if cpu is not None:
            hw = dataclasses.replace(hw, cpu=cpu)
        return predict(spec, hw, "llama.cpp-vulkan", apply_correction=False).decode_tok_s

    amd = dict(vendor="amd", name="Radeon AI PRO R9700", bw=640.0, tflops=191.0, arch="gfx1201")
    nvidia = dict(vendor="nvidia", name="RTX 4090", bw=1008.0, tflops=330.0)
    assert decode(small, cpu=pi, **amd) < 0.7 * decode(small, **amd)
    hw = dataclasses.replace(box(amd["vendor"], amd["name"], amd["bw"], amd["tflops"], vram=48.0, arch=amd["arch"]), cpu=pi)
    reasons = predict(small, hw, "llama.cpp-vulkan", apply_correction=False).reasons
    assert any(r.startswith("decode waits for the host CPU") and "Cortex-A76" in r for r in reasons)
    assert decode(small, cpu=pi, **nvidia) == pytest.approx(decode(small, **nvidia), rel=0.01)
    assert decode(large, cpu=pi, **amd) == pytest.approx(decode(large, **amd), rel=0.01)
    # hyper-threads do not make the desktop host's cores slower: its decode stays GPU-bound
    desktop = box(amd["vendor"], amd["name"], amd["bw"], amd["tflops"], vram=48.0, arch=amd["arch"])
    smt = predict(small, desktop, "llama.cpp-vulkan", threads=32, apply_correction=False)
    assert smt.decode_tok_s == pytest.approx(decode(small, **amd), rel=0.01)
    assert not any(r.startswith("decode waits for the host CPU") for r in smt.reasons)


def test_bf16_experts_decoded_on_vulkan_are_named_doubtful_with_the_kernel_reason():
    from training.data import DATA_DIR, LoadReport
    from training.threads_data import VULKAN_BF16_MOE_DECODE, doubt_reason, threads_rows

    rows = threads_rows(DATA_DIR, LoadReport())
    named = [r for r in rows if doubt_reason(r) == VULKAN_BF16_MOE_DECODE]
    assert {r.model_ref for r in named} >= {"zai-org/GLM-4.7-Flash", "Qwen/Qwen3.5-35B-A3B"}
    assert all(r.backend == "llama.cpp-vulkan" and r.test == "tg" and r.spec.quant == "BF16" for r in named)
    assert not any(doubt_reason(r) == VULKAN_BF16_MOE_DECODE for r in rows if r.backend == "llama.cpp-rocm")


def test_egpu_rows_on_a_raspberry_pi_host_are_named_for_the_host():
    """The geerlingguy table's eGPU rows on a Pi (llama.cpp Vulkan) name the host as their doubt, as the threads table's do."""
    from training.data import load_rows
    from training.threads_data import PI_HOST_REASON, doubt_reason

    rows, _ = load_rows([])
    pi = [r for r in rows if r.source.startswith("geerlingguy") and r.hardware.gpus and "Raspberry Pi" in r.hardware.cpu.model]
    assert {r.device for r in pi} >= {"Radeon AI PRO R9700", "RTX 4090"}
    assert all(doubt_reason(r) == PI_HOST_REASON for r in pi)
    assert any(doubt_reason(r).startswith("Ollama table") for r in rows if r.source.startswith("geerlingguy") and r not in pi)


def test_prompt_scan_of_a_hybrid_runs_token_by_token():
    """The gated delta-net / Mamba-2 prompt scans loop over the micro-batch's tokens (ggml-cuda gated_delta_net.cu,
    ssm-scan.cu; Vulkan gated_delta_net.comp): latency-bound, a large share of a ~3B-active hybrid MoE's prompt time
    (Qwen3.5-35B-A3B: 30 delta-net layers, 16.5M state elements per token)."""
    from llmfit_core.throughput.roofline import BACKEND_CODE, roofline_arrays

    common = dict(weight_bytes=1.8e9, kv_bytes_per_pos=20480.0, active_params=3e9, attn_dim_layers=40960.0, n_layers=40,
                  qfam_code=2, backend_code=BACKEND_CODE["rocm"], gpu_frac=1.0, n_gpus=1, gpu_bw_gbs=256.0,
                  gpu_tflops=59.4, cpu_bw_gbs=80.0, cpu_gflops=1000.0, unified=True, prompt_tokens=512, decode_pos=576.0,
                  n_moe_layers=40.0, moe_flop_frac=0.34, expert_used_ratio=8 / 256, n_experts=256.0)
    scan = roofline_arrays(**common, rec_state_elems=16.47e6, n_rec_layers=30.0)["prefill_tok_s"]
    none = roofline_arrays(**common)["prefill_tok_s"]
    assert scan < 0.8 * none


def test_attention_cost_does_not_depend_on_the_weights_type():
    """Prompt attention at depth runs in the F16 attention kernels and decode streams the F16 KV cache whatever the
    weights are: BF16's slow Vulkan GEMM path and a K-quant's dequantizing do not slow the attention part."""
    from llmfit_core.throughput.quantfamily import FAMILY_CODE
    from llmfit_core.throughput.roofline import BACKEND_CODE, roofline_arrays

    common = dict(weight_bytes=8e9, kv_bytes_per_pos=131072.0, active_params=8e9, attn_dim_layers=131072.0, n_layers=32,
                  backend_code=BACKEND_CODE["vulkan"], gpu_frac=1.0, n_gpus=1, gpu_bw_gbs=256.0, gpu_tflops=59.4,
                  cpu_bw_gbs=80.0, cpu_gflops=1000.0, unified=True, prompt_tokens=512, kernel_class=9)

    def extra_time(head, **kw):  # seconds per token that 32k tokens of context add
        at = lambda d: 1.0 / roofline_arrays(**common, **kw, depth=d, decode_pos=d + 512.0)[f"{head}_tok_s"]  # noqa: E731
        return at(32768.0) - at(0.0)

    f16 = extra_time("prefill", qfam_code=FAMILY_CODE["float"])
    assert extra_time("prefill", qfam_code=FAMILY_CODE["float"], bf16=1.0) == pytest.approx(f16, rel=0.02)
    assert extra_time("prefill", qfam_code=FAMILY_CODE["kquant"]) == pytest.approx(f16, rel=0.02)
    kv = extra_time("decode", qfam_code=FAMILY_CODE["float"])
    assert extra_time("decode", qfam_code=FAMILY_CODE["iq"]) == pytest.approx(kv, rel=0.02)


def test_per_layer_embedding_tables_are_a_row_lookup():
    """Gemma 3n / Gemma 4 E2B-E4B: a token reads one row of its per-layer embedding table (gemma3n.cpp, gemma4.cpp
    ggml_get_rows), even with tied embeddings where the token embedding is read whole as the output head; the table
    does no multiply-adds either."""
    from llmfit_core.quant import tensor_nbytes

    base = dataclasses.replace(build_spec("llama-3.1-8b", "Q4_K_M"), tied_embeddings=True)
    shape = (256 * base.n_layers, base.vocab_size)
    ple = tensor_nbytes("Q8_0", shape)
    gb = dict(base.group_bytes)
    gb["token_embd"] += ple
    with_ple = dataclasses.replace(base, group_bytes=gb, weight_bytes=base.weight_bytes + ple,
                                   params=base.params + shape[0] * shape[1], active_params=base.params + shape[0] * shape[1],
                                   tensors=[*(base.tensors or []), ("per_layer_token_embd.weight", shape, "Q8_0")])
    a, b = model_figures(base), model_figures(with_ple)
    assert ple > 0.2 * a.weight_bytes  # a table that would be a large share of the bytes if it were read whole
    assert b.weight_bytes == pytest.approx(a.weight_bytes) and b.active_params == pytest.approx(base.params)


def test_gemma4_kv_reads_per_layer_head_dims():
    """Gemma 4: every attention layer reads K/V rows at its own width (sliding: 1 KV head of 64, global: 2 of 128;
    shared-KV layers read an earlier layer's rows); the sliding layers' share is their share of those bytes."""
    from llmfit_core.synth import shape_spec

    spec = shape_spec("gemma4-tiny")
    mf = model_figures(spec)
    per_pos = 6 * 1 * (64 + 64) + 2 * 2 * (128 + 128)  # elements per cached position, all 8 layers
    assert mf.kv_bytes_per_pos == 2.0 * per_pos
    assert mf.swa_frac == pytest.approx(6 * 128 / per_pos)
    assert mf.attn_dim_layers == 4 * (6 * 64 + 2 * 128)
    one_dim = model_figures(dataclasses.replace(spec, head_dim_swa=None, head_dim_v_swa=None))
    assert one_dim.kv_bytes_per_pos == 2.0 * (6 * 1 + 2 * 2) * 256 and one_dim.swa_frac == 0.75  # the old pricing


def test_amd_rdna_decode_streams_dense_weights_near_the_dram_rate_and_pays_a_gap_per_layer():
    """RDNA3/4 (ROCm and Vulkan): a large dense model decodes at ~0.85 of the bandwidth (gemma-4-31B BF16, 61 GB, on
    Strix Halo's 256 GB/s: 3.5 tok/s measured on both backends), a layer costs a fixed dependent-kernel gap, routed
    experts keep the class's fitted fraction, and other vendors' classes are unchanged."""
    def tok_s(kind, cls, **kw):
        args = dict(weight_bytes=61.4e9, kv_bytes_per_pos=0.0, active_params=30.7e9, attn_dim_layers=0.0, n_layers=60,
                    qfam_code=FAMILY_CODE["float"], backend_code=BACKEND_CODE[kind], gpu_frac=1.0, n_gpus=1,
                    gpu_bw_gbs=256.0, gpu_tflops=59.4, cpu_bw_gbs=80.0, cpu_gflops=1000.0, unified=True,
                    prompt_tokens=512, decode_pos=0.0, kernel_class=KERNEL_CLASS_CODE[cls], bf16=1.0)
        return float(roofline_arrays(**{**args, **kw})["decode_tok_s"])

    for kind, cls in (("rocm", "rocm WMMA (RDNA3/4)"), ("vulkan", "vulkan KHR coopmat (RDNA3/4)")):
        frac, gap = AMD_DECODE_STREAM[cls]
        assert tok_s(kind, cls) == pytest.approx(3.5, rel=0.08)
        t = 1.0 / tok_s(kind, cls)
        assert t > 61.4e9 / (frac * 256e9) + 60 * gap  # bytes at the streaming rate plus the gaps, plus the token cost
        # the gap: twice the layers at equal bytes costs about 60 more gaps
        assert 1.0 / tok_s(kind, cls, n_layers=120) - t == pytest.approx(60 * gap, rel=0.05)
        # routed experts (here: all of a token's bytes) stream at the class's fitted fraction, slower than dense bytes
        moe = tok_s(kind, cls, moe_expert_bytes=61.4e9 * 16, expert_used_ratio=1 / 16)
        assert moe < 0.85 * tok_s(kind, cls)
        assert 1.0 / moe > 61.4e9 / (CLASS_DECODE_EFF[KERNEL_CLASS_CODE[cls]] * 256e9)
    # NVIDIA's Vulkan class is not an AMD stream class: its decode keeps the fitted class fraction
    nv = "vulkan NVIDIA coopmat"
    assert nv not in AMD_DECODE_STREAM
    assert 1.0 / tok_s("vulkan", nv) > 61.4e9 / (CLASS_DECODE_EFF[KERNEL_CLASS_CODE[nv]] * 256e9)
